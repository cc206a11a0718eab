"""Encoding media files with PyAV (its bundled FFmpeg and x264: no system ``ffmpeg`` needed).

The one encoder of the project: the synthetic corpus writes its performance videos with it and the
vision stack its stems videos and test clips. Audio arrays are float32 ``[C, N]`` in [-1, 1].
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vcsep.files import atomic_path


def audio_layout(n_channels: int, what: str) -> str:
    """The FFmpeg channel layout of ``n_channels`` audio; ``what`` names the file in the error."""
    try:
        return {1: "mono", 2: "stereo"}[n_channels]
    except KeyError:
        raise ValueError(f"{what}: audio must have 1 or 2 channels, got {n_channels}") from None


def av_reason(err: Exception) -> str:
    """What a PyAV (FFmpeg) or OS error opening or decoding a file means, in words, without FFmpeg's
    error number (``[Errno 1094995529]`` is its code for invalid data) or the file name (the caller
    names the file)."""
    if isinstance(err, av.error.InvalidDataError):
        return "invalid data: not a media file FFmpeg reads, or a damaged or truncated one"
    return getattr(err, "strerror", None) or str(err)


# Sample rates the AAC encoder takes; audio at any other rate (192 kHz PCM...) is encoded at
# _AAC_FALLBACK_RATE (a WAV written beside it keeps the original rate).
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
_AAC_FALLBACK_RATE = 48000


def aac_rate(sample_rate: int) -> int:
    """The rate (Hz) an AAC track of ``sample_rate`` Hz audio is encoded at."""
    return sample_rate if sample_rate in _AAC_RATES else _AAC_FALLBACK_RATE


def audio_blocks(audio: np.ndarray | str | os.PathLike, chunk: int) -> tuple[int, Iterator[np.ndarray]]:
    """(channels, float32 ``[C, n]`` blocks of at most ``chunk`` samples) of an array or of a sound
    file; a file is read a block at a time, never whole."""
    if isinstance(audio, (str, os.PathLike)):
        import soundfile as sf

        channels = sf.info(str(audio)).channels
        return channels, (b.T for b in sf.blocks(str(audio), chunk, dtype="float32", always_2d=True))
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        raise ValueError(f"audio must be [C, N], got shape {audio.shape}")
    return audio.shape[0], (audio[:, s : s + chunk] for s in range(0, audio.shape[1], chunk))


def encode_audio(
    stream: av.audio.stream.AudioStream, blocks: Iterable[np.ndarray], sample_rate: int
) -> Iterator[av.Packet]:
    """Encode float32 ``[C, n]`` blocks at ``sample_rate`` Hz into packets of ``stream``, resampled to
    the stream's rate when it differs (see :func:`aac_rate`)."""
    layout = stream.layout.name
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=stream.rate)
    pts = 0
    for block in itertools.chain(blocks, [None]):
        frame = None
        if block is not None:
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(block, dtype=np.float32), format="fltp", layout=layout
            )
            frame.sample_rate = sample_rate
            frame.pts = pts
            frame.time_base = Fraction(1, sample_rate)
            pts += block.shape[1]
        for out in resampler.resample(frame):
            yield from stream.encode(out)
    yield from stream.encode(None)


def encode_video(
    stream: av.video.stream.VideoStream, frames: Iterable[np.ndarray | av.VideoFrame]
) -> Iterator[av.Packet]:
    """Encode frames into packets of ``stream``: RGB uint8 ``[H, W, 3]`` arrays, or ready
    ``av.VideoFrame`` objects (the corpus composes its frames directly in YUV 4:2:0)."""
    for image in frames:
        if not isinstance(image, av.VideoFrame):
            image = av.VideoFrame.from_ndarray(image, format="rgb24")
        yield from stream.encode(image)
    yield from stream.encode(None)


def packet_time(packet: av.Packet) -> float:
    """A packet's decode time in seconds (its presentation time when it has no decode time)."""
    ts = packet.dts if packet.dts is not None else packet.pts
    return float(ts * packet.time_base)


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray | av.VideoFrame],
    fps: float | Fraction,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int = 48_000,
    crf: int = 23,
    preset: str = "veryfast",
    gop: int | None = None,
) -> Path:
    """Encode frames (RGB uint8 ``[H, W, 3]`` or ``av.VideoFrame``) as H.264 (yuv420p), plus float32
    ``[C, N]`` AAC audio at ``sample_rate`` Hz.

    ``fps`` in frames/s (29.97 is stored as 30000/1001); ``gop`` is the keyframe interval in frames
    (None: x264's default). Written to a temporary sibling and renamed when complete.
    """
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path) as tmp, av.open(str(tmp), "w") as dst:
        frames = iter(frames)
        first = next(frames, None)
        if first is None:
            raise ValueError(f"{path}: no frames to write")
        video = dst.add_stream("libx264", rate=rate)
        video.height, video.width = (
            (first.height, first.width) if isinstance(first, av.VideoFrame) else first.shape[:2]
        )
        video.pix_fmt = "yuv420p"
        video.options = {"crf": str(crf), "preset": preset}
        if gop is not None:
            video.codec_context.gop_size = gop
        packets = [encode_video(video, itertools.chain([first], frames))]
        if audio is not None:
            channels, blocks = audio_blocks(audio, 1 << 14)
            audio_stream = dst.add_stream(
                "aac", rate=aac_rate(sample_rate), layout=audio_layout(channels, str(path))
            )
            packets.append(encode_audio(audio_stream, blocks, sample_rate))
        for packet in heapq.merge(*packets, key=packet_time):
            dst.mux(packet)
    return path
