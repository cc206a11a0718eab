"""From a performance video (or plain audio) to one track per instrument: the user-facing API.

    from vcsep import Separator
    sep = Separator.from_pretrained()                   # the shipped models, or a folder with
                                                        # separator.pt (+ detector.pt, baseline.pt)
    result = sep.separate_video("quartet.mp4", out_dir="quartet_stems")
    result.stems["vn"]                                  # float32 [C, N] at result.sample_rate

The instruments come from the detector (or are given: ``instruments=["vn", "vc"]``). When the
detector finds nothing, a shipped unconditioned ``baseline.pt`` separates without labels; without
one, a clear error asks for the instruments.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vcsep import DEFAULT_MODELS, vocab
from vcsep.audio.inference import check_precision, separate_long
from vcsep.audio.io import write_audio
from vcsep.audio.spectrogram import draw_spectrogram
from vcsep.files import write_text
from vcsep.fusion.checkpoint import load_separator, read_checkpoint
from vcsep.fusion.separator import ConditionedSeparator

SEPARATOR_FILE, BASELINE_FILE, DETECTOR_FILE = "separator.pt", "baseline.pt", "detector.pt"


@dataclass
class SeparationResult:
    """Stems of the instruments judged present: code -> float32 ``[C, N]`` at ``sample_rate`` Hz.

    ``presence`` is the detector's clip-level presence ``[K]`` (None when the instruments were
    given); ``labels`` what the separator was told (``[K]``, None for the unconditioned baseline).
    """

    stems: dict[str, np.ndarray]
    mixture: np.ndarray
    sample_rate: int
    instruments: list[str]
    labels: np.ndarray | None
    presence: np.ndarray | None = None
    files: dict[str, Path] = field(default_factory=dict)


def parse_instruments(text: str) -> list[str]:
    """``"vn,vc"`` -> ``["vn", "vc"]``, each checked against the vocabulary (codes or names)."""
    names = {i.name: i.code for i in vocab.INSTRUMENTS}
    codes = [names.get(t.strip(), t.strip()) for t in text.split(",") if t.strip()]
    if not codes:
        raise ValueError("--instruments needs at least one instrument code, e.g. vn,vc")
    for code in codes:
        vocab.index(code)
    return codes


class Separator:
    """A conditioned separator with its detector (optional) and unconditioned fallback (optional).

    ``precision`` is the arithmetic of the separator's forward pass (see
    :data:`vcsep.audio.inference.PRECISIONS`): ``"32"``, or ``"bf16"``, faster on CPUs with
    AVX512-BF16 or AMX and on recent GPUs.
    """

    def __init__(
        self,
        model: ConditionedSeparator,
        detector=None,
        baseline: ConditionedSeparator | None = None,
        visual_head: torch.nn.Module | None = None,
        device: str = "cpu",
        precision: str = "32",
    ) -> None:
        if model.mechanism is None and baseline is None:
            baseline = model
        check_precision(precision)
        self.model, self.detector, self.baseline, self.visual_head = model, detector, baseline, visual_head
        self.device, self.precision = device, precision

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike = DEFAULT_MODELS,
        device: str = "cpu",
        detector: str | None = None,
        precision: str = "32",
    ) -> Separator:
        """Load ``path`` (default: the models shipped with vcsep): a folder with ``separator.pt`` (and
        optionally ``detector.pt``, ``baseline.pt``) or a separator checkpoint file; ``detector``
        overrides the detector weights."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"model path {path} does not exist")
        folder = path if path.is_dir() else path.parent
        separator_path = path / SEPARATOR_FILE if path.is_dir() else path
        if not separator_path.is_file():
            raise FileNotFoundError(f"{path} has no {SEPARATOR_FILE}")
        expect = {"num_sources": vocab.K}
        model = load_separator(separator_path, expect=expect, device=device)
        head = _visual_head(read_checkpoint(separator_path)["extra"], device)
        baseline_path = folder / BASELINE_FILE
        baseline = (
            load_separator(baseline_path, expect=expect, device=device) if baseline_path.is_file() else None
        )
        detector_path = Path(detector) if detector else folder / DETECTOR_FILE
        found = None
        if detector_path.is_file():
            from vcsep.vision.detector import Detector

            found = Detector(detector_path, device=device)
        elif detector:
            raise FileNotFoundError(f"detector weights {detector_path} do not exist")
        return cls(model, found, baseline, head, device, precision)

    def separate_audio(
        self,
        audio: np.ndarray,
        sample_rate: int,
        instruments: list[str] | None,
        presence: np.ndarray | None = None,
        progress: bool = False,
    ) -> SeparationResult:
        """Separate float32 ``audio [C, N]`` at ``sample_rate`` Hz.

        ``instruments`` (codes) are what the conditioned model is told; None means unknown: the
        unconditioned baseline separates and every slot with audible output is kept.
        """
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2:
            raise ValueError(f"audio must be [channels, samples], got shape {audio.shape}")
        model = self.model if instruments else self.baseline
        if model is None:
            raise ValueError(
                "no instrument detected and no unconditioned baseline model: pass the instruments "
                "(--instruments vn,vc or instruments=[...])"
            )
        if audio.shape[0] != model.channels:  # the model's format; stems come out in it
            audio = (
                audio.mean(axis=0, keepdims=True) if model.channels == 1 else np.repeat(audio[:1], 2, axis=0)
            )
        labels = None
        if model.mechanism is not None:
            labels = vocab.multi_hot(instruments)
            if self.visual_head is not None and presence is not None:
                with torch.no_grad():
                    z = torch.as_tensor(presence, dtype=torch.float32, device=self.device)[None]
                    labels = torch.sigmoid(self.visual_head(z))[0].cpu().numpy()
        stems = separate_long(
            model, audio, sample_rate, labels, device=self.device, progress=progress, precision=self.precision
        )
        if instruments:
            keep = list(dict.fromkeys(instruments))
        else:  # unknown instrumentation: keep the slots that carry a meaningful share of the energy
            energy = np.square(stems).mean(axis=(1, 2))
            keep = [c for c, e in zip(vocab.CODES, energy) if e > 1e-3 * max(energy.max(), 1e-12)]
        return SeparationResult(
            {c: stems[vocab.index(c)] for c in keep}, audio, sample_rate, keep, labels, presence
        )

    def separate_video(
        self,
        video: str | os.PathLike,
        instruments: list[str] | None = None,
        out_dir: str | os.PathLike | None = None,
        progress: bool = False,
    ) -> SeparationResult:
        """Separate the audio track of ``video``; the instruments come from the detector unless
        given. With ``out_dir``, writes the stems (see :func:`write_outputs`)."""
        from vcsep.vision.labels import video_labels
        from vcsep.vision.video import probe
        from vcsep.vision.video import read_audio as read_video_audio

        video = Path(video)
        if not video.is_file():
            raise FileNotFoundError(f"video {video} does not exist")
        info = probe(video)
        if not info.has_audio:
            raise ValueError(f"{video}: the file has no audio track to separate")
        rate = info.audio_sample_rate
        _stage(progress, f"reading the audio track ({info.duration_s:.1f} s at {rate} Hz)")
        audio = read_video_audio(video, rate)
        presence = None
        if instruments is None:
            if self.detector is None:
                raise ValueError(
                    "no detector weights: pass the instruments (--instruments vn,vc) or a detector"
                )
            _stage(progress, "detecting instruments on the frames")
            found, _ = video_labels(video, self.detector, progress=progress)
            presence = None if found.fallback else found.presence
            instruments = found.present or None
            _stage(progress, f"found: {', '.join(instruments) if instruments else 'nothing'}")
        _stage(progress, "separating")
        result = self.separate_audio(audio, rate, instruments, presence, progress=progress)
        if out_dir is not None:
            write_outputs(result, out_dir, video=video, progress=progress)
        return result


def _visual_head(extra: dict, device: str) -> torch.nn.Module | None:
    """The visual head stored beside a trained separator (``extra['visual_head']``), if any."""
    if "visual_head" not in extra:
        return None
    from vcsep.training.module import VisualHead

    head = VisualHead(vocab.K, int(extra["visual_hidden"]))
    head.load_state_dict(extra["visual_head"])
    return head.to(device).eval()


def _stage(progress: bool, text: str) -> None:
    if progress:
        print(f"[vcsep] {text}", flush=True)


def write_outputs(
    result: SeparationResult, out_dir: str | os.PathLike, video: Path | None = None, progress: bool = False
) -> dict[str, Path]:
    """Write one WAV per instrument, the video with one audio track per stem (picture copied, not
    re-encoded) when ``video`` is given, and ``index.html`` with players, spectrograms and the
    detected instruments. Returns name -> path (also kept in ``result.files``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rate = result.sample_rate
    files: dict[str, Path] = {}
    _stage(progress, f"writing {len(result.stems)} stems to {out}")
    files["mixture"] = write_audio(out / "mixture.wav", result.mixture, rate)
    for code, stem in result.stems.items():
        files[code] = write_audio(out / f"{code}.wav", np.clip(stem, -1.0, 1.0), rate)
    if video is not None:
        from vcsep.vision.video import mux_audio_tracks

        tracks = {vocab.BY_CODE[c].name: np.clip(s, -1.0, 1.0) for c, s in result.stems.items()}
        files["video"] = mux_audio_tracks(video, tracks, rate, out / f"{video.stem}.stems{video.suffix}")
    files["page"] = _write_page(result, out, files, video)
    result.files = files
    return files


def _spectrogram_png(audio: np.ndarray, rate: int, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.2))
    draw_spectrogram(ax, audio, rate, title)
    ax.set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _write_page(result: SeparationResult, out: Path, files: dict[str, Path], video: Path | None) -> Path:
    rows = []
    for name in ["mixture", *result.stems]:
        audio = result.mixture if name == "mixture" else result.stems[name]
        title = "mixture" if name == "mixture" else f"{vocab.BY_CODE[name].name} ({name})"
        png = _spectrogram_png(audio, result.sample_rate, out / f"{name}.png", title)
        rows.append(
            f"<section><h2>{html.escape(title)}</h2>"
            f'<audio controls preload="none" src="{files[name].name}"></audio>'
            f'<img src="{png.name}" alt="spectrogram of {html.escape(title)}"></section>'
        )
    if result.presence is not None:
        detected = "".join(
            f"<tr><td>{i.name}</td><td>{i.code}</td><td>{p:.2f}</td>"
            f"<td>{'yes' if i.code in result.instruments else ''}</td></tr>"
            for i, p in zip(vocab.INSTRUMENTS, result.presence)
        )
        header = "<tr><th>instrument</th><th>code</th><th>presence</th><th>separated</th></tr>"
        table = f"<table>{header}{detected}</table>"
    else:
        table = f"<p>Instruments given: {html.escape(', '.join(result.instruments))}</p>"
    source = ""
    if "video" in files:
        link = files["video"].name
        source = f'<p>Video with one audio track per stem: <a href="{link}">{link}</a></p>'
    name = html.escape(video.name if video else "audio")
    page = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>vcsep: {name}</title>'
        "<style>body{font-family:sans-serif;max-width:900px;margin:auto}img{width:100%}"
        "audio{width:100%}td,th{padding:2px 10px}</style></head>"
        f"<body><h1>vcsep: {name}</h1>{table}{source}{''.join(rows)}</body></html>\n"
    )
    return write_text(out / "index.html", page)
