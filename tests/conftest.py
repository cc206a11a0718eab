"""Fixtures shared by several test folders."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="session")
def configs() -> Path:
    """The repository's configs/ folder (base.yaml and the ablation cells)."""
    return CONFIGS


@pytest.fixture(scope="session")
def tiny_train_args() -> list[str]:
    """LightningCLI overrides that make any config train a tiny model on short windows in seconds."""
    return (
        "--model.separator.init_args.levels 2 --model.separator.init_args.features 4 "
        "--model.separator.init_args.sample_rate 8000 --data.output_length 1024 "
        "--data.num_workers 0 --data.batch_size 2 --data.train_examples 8 --data.val_examples 2 "
        "--trainer.log_every_n_steps 1"
    ).split()


def _with_pcm_audio(video: Path, audio, rate: int, out: Path, layout: str | None = None) -> Path:
    """A copy of ``video``'s picture (stream-copied) with float32 ``audio [C, N]`` at ``rate`` Hz as
    uncompressed PCM: any rate (192 kHz), any channel count (5.1 as ``layout="5.1"``), NaN samples."""
    import av
    import numpy as np

    layout = layout or {1: "mono", 2: "stereo"}[audio.shape[0]]
    with av.open(str(video)) as source, av.open(str(out), "w") as target:
        picture = target.add_stream_from_template(source.streams.video[0])
        sound = target.add_stream("pcm_f32le", rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(audio, np.float32), format="fltp", layout=layout
        )
        frame.sample_rate, frame.pts = rate, 0
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = picture
                target.mux(packet)
        target.mux(sound.encode(frame))
        target.mux(sound.encode(None))
    return out


@pytest.fixture(scope="session")
def pcm_video():
    """``pcm_video(video, audio [C, N], rate, out, layout=None)``: ``video``'s picture with PCM audio."""
    return _with_pcm_audio
