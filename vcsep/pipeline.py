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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vcsep import DEFAULT_MODELS, vocab
from vcsep.audio.inference import check_precision, separate_long
from vcsep.audio.io import write_audio
from vcsep.evaluation.report import separation_page
from vcsep.fusion.checkpoint import load_separator
from vcsep.fusion.separator import ConditionedSeparator

SEPARATOR_FILE, BASELINE_FILE, DETECTOR_FILE = "separator.pt", "baseline.pt", "detector.pt"


@dataclass
class SeparationResult:
    """Stems of the instruments judged present: code -> float32 ``[C, N]`` at ``sample_rate`` Hz.

    ``sources`` are the separator's output slots (codes, in order); ``presence`` is the detector's
    clip-level presence ``[K]`` over them (None when the instruments were given); ``labels`` what the
    separator was told (``[K]``, None for the unconditioned baseline).
    """

    stems: dict[str, np.ndarray]
    mixture: np.ndarray
    sample_rate: int
    instruments: list[str]
    labels: np.ndarray | None
    sources: tuple[str, ...]
    presence: np.ndarray | None = None
    files: dict[str, Path] = field(default_factory=dict)


def parse_instruments(text: str, sources: Sequence[str]) -> list[str]:
    """``"vn,vc"`` -> ``["vn", "vc"]``: codes (or URMP instrument names) checked against ``sources``,
    the separator's output slots."""
    names = {i.name: i.code for i in vocab.INSTRUMENTS}
    codes = [names.get(t.strip(), t.strip()) for t in text.split(",") if t.strip()]
    if not codes:
        raise ValueError(f"--instruments needs at least one code, e.g. {','.join(sources[:2])}")
    unknown = [c for c in codes if c not in sources]
    if unknown:
        raise ValueError(f"unknown instruments {', '.join(unknown)}; this separator has {', '.join(sources)}")
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
        device: str = "cpu",
        precision: str = "32",
    ) -> None:
        if model.mechanism is None and baseline is None:
            baseline = model
        if baseline is not None and baseline.sources != model.sources:
            raise ValueError(
                f"the baseline separates {', '.join(baseline.sources)}, the model {', '.join(model.sources)}"
            )
        check_precision(precision)
        self.model, self.detector, self.baseline = model, detector, baseline
        self.device, self.precision = device, precision

    @property
    def sources(self) -> tuple[str, ...]:
        """The codes of the separator's output slots, in order."""
        return self.model.sources

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
        model = load_separator(separator_path, device=device)
        baseline_path = folder / BASELINE_FILE
        baseline = load_separator(baseline_path, device=device) if baseline_path.is_file() else None
        detector_path = Path(detector) if detector else folder / DETECTOR_FILE
        found = None
        if detector_path.is_file():
            from vcsep.vision.detector import Detector

            found = Detector(detector_path, device=device)
        elif detector:
            raise FileNotFoundError(f"detector weights {detector_path} do not exist")
        return cls(model, found, baseline, device, precision)

    def separate_audio(
        self,
        audio: np.ndarray,
        sample_rate: int,
        instruments: list[str] | None,
        presence: np.ndarray | None = None,
        progress: bool = False,
    ) -> SeparationResult:
        """Separate float32 ``audio [C, N]`` at ``sample_rate`` Hz.

        ``instruments`` (codes of :attr:`sources`) are what the conditioned model is told; None means
        unknown: the unconditioned baseline separates and every slot with audible output is kept.
        ``presence`` (``[K]`` over :attr:`sources`, from the detector) goes through the model's visual
        head, when it has one, to tell the model more than yes or no.
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
            labels = vocab.multi_hot(instruments, model.sources)
            if model.visual_head is not None and presence is not None:
                with torch.no_grad():
                    z = torch.as_tensor(presence, dtype=torch.float32, device=self.device)[None]
                    labels = model.labels_from_presence(z)[0][0].cpu().numpy()
        stems = separate_long(
            model, audio, sample_rate, labels, device=self.device, progress=progress, precision=self.precision
        )
        if instruments:
            keep = list(dict.fromkeys(instruments))
        else:  # unknown instrumentation: keep the slots that carry a meaningful share of the energy
            energy = np.square(stems).mean(axis=(1, 2))
            keep = [c for c, e in zip(model.sources, energy) if e > 1e-3 * max(energy.max(), 1e-12)]
        return SeparationResult(
            {c: stems[model.sources.index(c)] for c in keep}, audio, sample_rate, keep, labels, model.sources,
            presence,
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
        from vcsep.vision.video import probe, read_audio_track

        video = Path(video)
        if not video.is_file():
            raise FileNotFoundError(f"video {video} does not exist")
        info = probe(video)
        if not info.has_audio:
            raise ValueError(f"{video}: the file has no audio track to separate")
        rate = info.audio_sample_rate
        _stage(progress, f"reading the audio track ({info.duration_s:.1f} s at {rate} Hz)")
        audio = read_audio_track(video, rate)
        presence = None
        if instruments is None:
            if self.detector is None:
                raise ValueError(
                    "no detector weights: pass the instruments (--instruments vn,vc) or a detector"
                )
            _stage(progress, "detecting instruments on the frames")
            found = video_labels(video, self.detector, progress=progress)[0].for_sources(self.sources)
            presence = None if found.fallback else found.presence
            instruments = found.present or None
            _stage(progress, f"found: {', '.join(instruments) if instruments else 'nothing'}")
        _stage(progress, "separating")
        result = self.separate_audio(audio, rate, instruments, presence, progress=progress)
        if out_dir is not None:
            write_outputs(result, out_dir, video=video, progress=progress)
        return result


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

        tracks = {vocab.display_name(c): np.clip(s, -1.0, 1.0) for c, s in result.stems.items()}
        files["video"] = mux_audio_tracks(video, tracks, rate, out / f"{video.stem}.stems{video.suffix}")
    files["page"] = _write_page(result, out, files, video)
    result.files = files
    return files


def _write_page(result: SeparationResult, out: Path, files: dict[str, Path], video: Path | None) -> Path:
    """The separation's page: what was detected (or given), the stems video, a player and a
    spectrogram per stem (:func:`vcsep.evaluation.report.separation_page`)."""
    tracks = {"mixture": ("mixture", result.mixture, files["mixture"])}
    for code, stem in result.stems.items():
        tracks[code] = (f"{vocab.display_name(code)} ({code})", stem, files[code])
    if result.presence is not None:
        rows = "".join(
            f"<tr><td>{html.escape(vocab.display_name(code))}</td><td>{html.escape(code)}</td>"
            f"<td>{p:.2f}</td><td>{'yes' if code in result.instruments else ''}</td></tr>"
            for code, p in zip(result.sources, result.presence)
        )
        header = "<tr><th>instrument</th><th>code</th><th>presence</th><th>separated</th></tr>"
        summary = [f"<table>{header}{rows}</table>"]
    else:
        summary = [f"<p>Instruments given: {html.escape(', '.join(result.instruments))}</p>"]
    if "video" in files:
        link = html.escape(files["video"].name)
        summary.append(f'<p>Video with one audio track per stem: <a href="{link}">{link}</a></p>')
    title = f"vcsep: {video.name if video else 'audio'}"
    return separation_page(out, title, result.sample_rate, tracks, summary)
