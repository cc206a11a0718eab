"""From a performance video (or plain audio) to one track per instrument: the user-facing API.

    from vcsep import Separator
    sep = Separator.from_pretrained()                   # the shipped models, or a folder with
                                                        # separator.pt (+ baseline.pt, tagger.pt...)
    result = sep.separate_video("quartet.mp4", out_dir="quartet_stems")   # or an audio file
    result.stems["vn"]                                  # float32 [C, N] at result.sample_rate

The instruments come from sight and sound (:func:`vcsep.fusion.labels.label_recording`: the
ImageNet recogniser, or a YOLO detector, on the frames and the listening tagger on the audio; an
audio file has sound only), or are given: ``instruments=["vn", "vc"]``. When neither finds
anything, a shipped unconditioned ``baseline.pt`` separates without labels; without one, a clear
error asks for the instruments.
"""

from __future__ import annotations

import errno
import html
import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vcsep import DEFAULT_MODELS, vocab
from vcsep.audio.fullband import BAND_EDGE, TopBandStream, restore_top_band
from vcsep.audio.inference import check_precision, separate_long, separate_stream
from vcsep.audio.io import match_channels, read_audio, write_audio
from vcsep.devices import check_device
from vcsep.evaluation.report import separation_page
from vcsep.files import (
    atomic_path,
    check_output_folder,
    existing_file,
    folder_lock,
    remove,
    temporary_name,
    write_json,
)
from vcsep.fusion.checkpoint import load_separator
from vcsep.fusion.separator import ConditionedSeparator

SEPARATOR_FILE, BASELINE_FILE, DETECTOR_FILE = "separator.pt", "baseline.pt", "detector.pt"
HEAD_FILE, TAGGER_FILE = "recognizer_head.pt", "tagger.pt"
PAGE_FILE = "index.html"  # written by vcsep.evaluation.report.separation_page
# The outputs of the last run into a folder (JSON list of names): the next run deletes those it
# does not write again, so the folder never shows stems of an earlier run.
OUTPUTS_LIST = ".vcsep.outputs"


class AudioFiles(Mapping):
    """name -> float32 ``[C, N]`` audio, each read from its file when asked for: the stems of a long
    recording separated into a folder are never all in memory."""

    def __init__(self, files: Mapping[str, Path]) -> None:
        self.paths = dict(files)

    def __getitem__(self, name: str) -> np.ndarray:
        return read_audio(self.paths[name])[0]

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class SeparationResult:
    """Stems of the instruments judged present: code -> float32 ``[C, N]`` at ``sample_rate`` Hz.

    ``sources`` are the separator's output slots (codes, in order); ``presence`` is the fused (sight
    and sound) clip-level presence ``[K]`` over them (None when the instruments were given);
    ``labels`` what the separator was told (``[K]``, None for the unconditioned baseline);
    ``label_sources`` the sight/sound/fused rows of :meth:`vcsep.fusion.labels.SightSound.rows`
    (None when the instruments were given). A video separated into a
    folder is streamed: its ``stems`` (an :class:`AudioFiles`) and ``mixture`` are read from the
    written WAV files on access.
    """

    stems: Mapping[str, np.ndarray]
    _mixture: np.ndarray | Path
    sample_rate: int
    instruments: list[str]
    labels: np.ndarray | None
    sources: tuple[str, ...]
    presence: np.ndarray | None = None
    files: dict[str, Path] = field(default_factory=dict)
    label_sources: list[dict] | None = None

    @property
    def mixture(self) -> np.ndarray:
        """The mixture the separator heard, float32 ``[C, N]`` (the model's channels)."""
        return read_audio(self._mixture)[0] if isinstance(self._mixture, Path) else self._mixture


def parse_instruments(text: str, sources: Sequence[str], flag: str = "--instruments") -> list[str]:
    """``"vn,vc"`` -> ``["vn", "vc"]``: codes (or URMP instrument names) checked against ``sources``,
    the separator's output slots; errors name the option ``flag`` the text came from."""
    names = {i.name: i.code for i in vocab.INSTRUMENTS}
    codes = [names.get(t.strip(), t.strip()) for t in text.split(",") if t.strip()]
    if not codes:
        raise ValueError(f"{flag} needs at least one code, e.g. {','.join(sources[:2])}")
    unknown = [c for c in codes if c not in sources]
    if unknown:
        raise ValueError(
            f"{flag}: unknown instruments {', '.join(unknown)}; this separator has {', '.join(sources)}"
        )
    return codes


class Separator:
    """A conditioned separator with its sight model and listening tagger (each optional) and
    unconditioned fallback (optional). Sight (``detector``) is a
    :class:`~vcsep.vision.recognizer.Recognizer` or a YOLO :class:`~vcsep.vision.detector.Detector`,
    built by ``load_sight`` on first use.

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
        tagger=None,
        load_sight: Callable[[], object] | None = None,
    ) -> None:
        if model.mechanism is None and baseline is None:
            baseline = model
        if baseline is not None and baseline.sources != model.sources:
            raise ValueError(
                f"the baseline separates {', '.join(baseline.sources)}, the model {', '.join(model.sources)}"
            )
        check_precision(precision)
        self.model, self.baseline, self.tagger = model, baseline, tagger
        self._detector, self._load_sight = detector, load_sight
        self.device, self.precision = device, precision

    @property
    def detector(self):
        """The sight model, built on first use only: separating given instruments or an audio file
        never reads a detector file (loaded safely, see :mod:`vcsep.vision.detector`) nor the
        ImageNet backbone. None without one."""
        if self._detector is None and self._load_sight is not None:
            self._detector, self._load_sight = self._load_sight(), None
        return self._detector

    @detector.setter
    def detector(self, detector) -> None:
        self._detector, self._load_sight = detector, None

    @property
    def has_detector(self) -> bool:
        """Whether a sight model is there to load (without loading it)."""
        return self._detector is not None or self._load_sight is not None

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
        optionally ``baseline.pt``, ``recognizer_head.pt``, ``detector.pt``, ``tagger.pt``) or a
        separator checkpoint file.

        Sight, in this order: the YOLO ``detector`` weights when given; the ImageNet recogniser with
        the folder's ``recognizer_head.pt``; the folder's own YOLO ``detector.pt``; the recogniser
        with the shipped head. Sound: the folder's ``tagger.pt``, else the shipped one. Sight is
        only located here; it is loaded when frames are looked at."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"model path {path} does not exist")
        check_device(device)
        folder = path if path.is_dir() else path.parent
        separator_path = path / SEPARATOR_FILE if path.is_dir() else path
        if not separator_path.is_file():
            raise FileNotFoundError(f"{path} has no {SEPARATOR_FILE}")
        model = load_separator(separator_path, device=device)
        baseline_path = folder / BASELINE_FILE
        baseline = load_separator(baseline_path, device=device) if baseline_path.is_file() else None
        yolo = existing_file(detector, "detector weights") if detector else None
        head = folder / HEAD_FILE if (folder / HEAD_FILE).is_file() else None
        if yolo is None and head is None and (folder / DETECTOR_FILE).is_file():
            yolo = folder / DETECTOR_FILE
        if yolo is None and head is None and (DEFAULT_MODELS / HEAD_FILE).is_file():
            head = DEFAULT_MODELS / HEAD_FILE
        load_sight = None
        if yolo is not None:

            def load_sight():
                from vcsep.vision.detector import Detector

                return Detector(yolo, device=device)

        elif head is not None:

            def load_sight():
                from vcsep.vision.recognizer import Recognizer

                return Recognizer(head, device=device)

        tagger = None
        taggers = (folder / TAGGER_FILE, DEFAULT_MODELS / TAGGER_FILE)
        tagger_path = next((f for f in taggers if f.is_file()), None)
        if tagger_path is not None:
            from vcsep.audio.tagger import Tagger

            tagger = Tagger.load(tagger_path, device)
        return cls(model, None, baseline, device, precision, tagger, load_sight)

    def _model_for(self, instruments: list[str] | None) -> ConditionedSeparator:
        """The conditioned model when the instruments are known, else the unconditioned baseline."""
        model = self.model if instruments else self.baseline
        if model is None:
            raise ValueError(
                "no instrument detected and no unconditioned baseline model: pass the instruments "
                "(--instruments vn,vc or instruments=[...])"
            )
        return model

    def _labels(
        self, model: ConditionedSeparator, instruments: list[str] | None, presence: np.ndarray | None
    ) -> np.ndarray | None:
        """What ``model`` is told: ``[K]`` multi-hot over its sources (or its visual head's view of
        the detector's ``presence``), or None for the unconditioned baseline."""
        if model.mechanism is None:
            return None
        if model.visual_head is not None and presence is not None:
            with torch.no_grad():
                z = torch.as_tensor(presence, dtype=torch.float32, device=self.device)[None]
                return model.labels_from_presence(z)[0][0].cpu().numpy()
        return vocab.multi_hot(instruments, model.sources)

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
        model = self._model_for(instruments)
        audio = match_channels(audio, model.channels)  # the model's format; stems come out in it
        labels = self._labels(model, instruments, presence)
        stems = separate_long(
            model, audio, sample_rate, labels, device=self.device, progress=progress, precision=self.precision
        )
        keep = _kept(instruments, model.sources, np.square(stems).mean(axis=(1, 2)))
        rows = [model.sources.index(c) for c in keep]
        # stems come back band-limited to the model's rate: the top band is the mixture's
        stems = restore_top_band(audio, stems[rows], sample_rate, BAND_EDGE * model.sample_rate)
        return SeparationResult(
            dict(zip(keep, stems)),
            audio,
            sample_rate,
            keep,
            labels,
            model.sources,
            presence,
        )

    def separate_video(
        self,
        video: str | os.PathLike,
        instruments: list[str] | None = None,
        out_dir: str | os.PathLike | None = None,
        progress: bool = False,
        minus: Sequence[str] = (),
    ) -> SeparationResult:
        """Separate the audio of ``video``, a video or an audio file (wav, flac, mp3, m4a...); the
        instruments come from sight and sound unless given (an audio file: sound alone).

        With ``out_dir`` the work streams (memory does not grow with the length of the video): the
        folder is checked (writable, enough free space) and locked before anything starts, the
        stems go to disk window by window, and the outputs of :func:`write_outputs` (with the
        practice tracks of ``minus``) appear only when all of them are complete. Without it the
        stems are returned in memory.
        """
        from vcsep.fusion.labels import has_picture
        from vcsep.vision.video import read_audio_track

        video = existing_file(video, "video")
        picture = has_picture(video)
        info = _media_info(video, picture)
        if info.audio_sample_rate is None:
            raise ValueError(f"{video}: the file has no audio track to separate")
        if instruments is None and not (picture and self.has_detector) and self.tagger is None:
            raise ValueError(
                "no detector weights or tagger: pass the instruments (--instruments vn,vc) or a detector"
            )
        if out_dir is None:
            if minus:
                raise ValueError("practice tracks (minus) are files: give an output folder")
            instruments, presence, rows = self._detect(video, picture, instruments, progress)
            rate = info.audio_sample_rate
            _stage(progress, f"reading the audio track ({info.duration_s:.1f} s at {rate} Hz)")
            audio = read_audio_track(video, rate)
            _stage(progress, "separating")
            result = self.separate_audio(audio, rate, instruments, presence, progress=progress)
            result.label_sources = rows
            return result
        stems = len(set(instruments or self.sources))
        out = check_output_folder(out_dir, _needed_bytes(info, stems, len(set(minus))))
        with folder_lock(out):
            # the names this run may write, checked before any work (the outputs move in at the end)
            names = ["mixture.wav", *(f"{c}.wav" for c in instruments or self.sources), PAGE_FILE]
            copies = [_video_copy_name(video, kind) for kind in ("stems", "picture")] if picture else []
            _check_destinations(video, out, [*names, *copies])
            instruments, presence, rows = self._detect(video, picture, instruments, progress)
            if instruments is not None:
                _check_minus(minus, instruments)  # before the work, when the instruments are known
            return self._separate_into(
                video, info, instruments, presence, out, progress, picture, rows, minus
            )

    def _detect(
        self, video: Path, picture: bool, instruments: list[str] | None, progress: bool
    ) -> tuple[list[str] | None, np.ndarray | None, list[dict] | None]:
        """(instruments, presence, rows): the given instruments, or what sight (for a video) and
        sound find, fused (None when nothing is found), with the fused clip-level presence ``[K]``
        over :attr:`sources` and the sight/sound/fused rows."""
        if instruments is not None:
            return instruments, None, None
        sight = self.detector if picture else None  # separate_video made sure sight or sound is there
        from vcsep.fusion.labels import label_recording

        looking = " and looking at the frames" if sight is not None else ""
        _stage(progress, f"listening{looking}" if self.tagger is not None else "looking at the frames")
        found, _ = label_recording(video, sight=sight, tagger=self.tagger, progress=progress)
        fused = found.fused.for_sources(self.sources)
        presence = None if fused.fallback else fused.presence
        instruments = fused.present or None
        _stage(progress, f"found: {', '.join(instruments) if instruments else 'nothing'}")
        return instruments, presence, found.rows()

    def _separate_into(
        self,
        video: Path,
        info,
        instruments: list[str] | None,
        presence: np.ndarray | None,
        out: Path,
        progress: bool,
        picture: bool = True,
        label_sources: list[dict] | None = None,
        minus: Sequence[str] = (),
    ) -> SeparationResult:
        """Stream ``video``'s audio through the separator into WAV files, then write the rest of
        :func:`write_outputs` (the multi-track copy only when the file has a ``picture``, the
        practice tracks of ``minus``);
        everything is made in a hidden work folder inside ``out`` and moved into place only when
        complete, and the work folder goes on any failure."""
        from vcsep.vision.video import iter_audio

        model = self._model_for(instruments)
        labels = self._labels(model, instruments, presence)
        rate = info.audio_sample_rate
        # with unknown instruments every slot is written, and the quiet ones dropped at the end
        codes = list(dict.fromkeys(instruments)) if instruments else list(model.sources)
        work = temporary_name(out / "separating")
        work.mkdir()
        try:
            paths = {name: work / f"{name}.wav" for name in ["mixture", *codes]}
            energy = np.zeros(len(model.sources))
            with ExitStack() as stack:
                wavs = {
                    name: stack.enter_context(_WavWriter(path, out / path.name, rate, model.channels))
                    for name, path in paths.items()
                }

                # stems come back band-limited to the model's rate: the top band is the mixture's
                rows = [model.sources.index(code) for code in codes]  # the slots written, in order
                top_band = TopBandStream(rate, BAND_EDGE * model.sample_rate, rows)

                def mixture() -> Iterator[np.ndarray]:
                    for block in iter_audio(video):
                        block = match_channels(block, model.channels)
                        wavs["mixture"].write(block)
                        top_band.mixture(block)
                        yield block

                _stage(progress, f"separating {info.duration_s:.1f} s of audio at {rate} Hz")
                chunks = separate_stream(
                    model,
                    mixture(),
                    rate,
                    labels,
                    expected_length=round(info.duration_s * rate),
                    device=self.device,
                    progress=progress,
                    precision=self.precision,
                )
                try:
                    for chunk in top_band.run(chunks):
                        energy[rows] += np.square(chunk).sum(axis=(1, 2))
                        for code, stem in zip(codes, chunk):
                            wavs[code].write(stem)
                except ValueError as err:
                    raise ValueError(f"{video}: {err}") from None
            _warn_clipped(video, [w for w in wavs.values() if w.peak > 1.0])
            keep = _kept(instruments, model.sources, energy)
            for code in set(codes) - set(keep):
                paths.pop(code).unlink()
            result = SeparationResult(
                AudioFiles({c: paths[c] for c in keep}),
                paths["mixture"],
                rate,
                keep,
                labels,
                model.sources,
                presence,
                label_sources=label_sources,
            )
            files = _write_extras(result, work, paths, video if picture else None, progress, minus)
            _stage(progress, f"moving {len(files)} outputs into {out}")
            _move_outputs(work, out, video)  # the page's pictures and track copies included
            files = {name: out / path.name for name, path in files.items()}
        finally:
            remove(work)
        result.stems = AudioFiles({c: files[c] for c in keep})
        result._mixture, result.files = files["mixture"], files
        return result


def _video_copy_name(video: Path, kind: str) -> str:
    """The name of a copy of ``video``: ``stems`` (one audio track per stem) or ``picture`` (no sound,
    for the page)."""
    return f"{video.stem}.{kind}{video.suffix}"


def _check_destinations(video: Path, out: Path, names: Sequence[str]) -> None:
    """Refuse (before anything moves) outputs ``names`` in the folder ``out`` that would overwrite
    the input ``video`` (a ValueError naming both) or that exist as folders (an IsADirectoryError
    naming it)."""
    for name in names:
        target = out / name
        if target.exists() and os.path.samefile(target, video):
            raise ValueError(f"{target}: this output would overwrite the input {video}; choose another --out")
        if target.is_dir() and not target.is_symlink():
            raise IsADirectoryError(errno.EISDIR, "an output of this name exists as a folder", str(target))


def _move_outputs(work: Path, out: Path, video: Path) -> None:
    """Move everything in the work folder ``work`` into ``out``, once every destination is checked
    (:func:`_check_destinations`: no output moves when one cannot), then delete the outputs the
    previous run into ``out`` wrote and this one did not (a stem no longer separated; never the
    input ``video``), and list this run's in ``out/.vcsep.outputs`` for the next."""
    names = sorted(p.name for p in work.iterdir())
    _check_destinations(video, out, names)
    listing = out / OUTPUTS_LIST
    try:
        before = set(json.loads(listing.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):  # none (a first run), or not a list of names
        before = set()
    for name in names:
        os.replace(work / name, out / name)
    for name in sorted(before - set(names)):
        old = out / str(name)
        if old.name == name and old.exists() and not os.path.samefile(old, video):
            remove(old)
    write_json(listing, names)


def _media_info(path: Path, picture: bool):
    """What :func:`_separate_into` needs of a file: ``path``, ``duration_s``, ``audio_sample_rate``
    (None without audio): :func:`vcsep.vision.video.probe` for a video, the first audio stream's
    header for an audio file."""
    from types import SimpleNamespace

    import av

    from vcsep.vision.video import probe

    if picture:
        return probe(path)
    with av.open(str(path)) as container:
        streams = container.streams.audio
        if not streams:
            return SimpleNamespace(path=path, duration_s=0.0, audio_sample_rate=None)
        stream = streams[0]
        seconds = float(stream.duration * stream.time_base) if stream.duration else container.duration / 1e6
        return SimpleNamespace(path=path, duration_s=seconds, audio_sample_rate=stream.rate)


def _kept(instruments: list[str] | None, sources: Sequence[str], energy: np.ndarray) -> list[str]:
    """The codes to keep: the given instruments, or (unknown instrumentation) the ``sources`` whose
    ``energy [K]`` is a meaningful share of the loudest one's."""
    if instruments:
        return list(dict.fromkeys(instruments))
    return [c for c, e in zip(sources, energy) if e > 1e-3 * max(energy.max(), 1e-12)]


def _needed_bytes(info, stems: int, practice: int = 0) -> int:
    """Disk space (bytes) the outputs of separating the video ``info`` into ``stems`` stems need, at
    most: 16-bit WAVs of the mixture, the stems and ``practice`` practice tracks, the video copy
    with 192 kbit/s per stem and the picture's copy, the page's copy of each track (FLAC, at most
    the WAV's size, in base64: 4/3 of it) and 10 MB for its pictures."""
    wav = info.duration_s * info.audio_sample_rate * 2 * 2  # stereo at most, 16 bits
    video = 2 * info.path.stat().st_size + stems * 192_000 / 8 * info.duration_s
    return int((stems + 1 + practice) * wav + (stems + 1) * wav * 4 / 3 + video + 10e6)


class _WavWriter:
    """A 16-bit WAV written block by block (float32 ``[C, n]`` in, clipped to [-1, 1], ``peak`` the
    largest magnitude seen: above 1 means clipped samples); a failed write becomes an ``OSError``
    naming ``shown`` (the output the file becomes), with ``ENOSPC`` when the disk is full
    (libsndfile itself only says "System error")."""

    def __init__(self, path: Path, shown: Path, rate: int, channels: int) -> None:
        import soundfile as sf

        self.path, self.shown, self.peak = path, shown, 0.0
        self.file = sf.SoundFile(str(path), "w", rate, channels, subtype="PCM_16", format="WAV")

    def write(self, block: np.ndarray) -> None:
        self.peak = max(self.peak, float(np.abs(block).max(initial=0.0)))
        try:
            self.file.write(np.clip(block, -1.0, 1.0).T)
        except (RuntimeError, OSError) as err:
            raise _write_error(self.path, self.shown, err) from None

    def __enter__(self) -> _WavWriter:
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.file.close()
        except (RuntimeError, OSError) as err:
            if exc[0] is None:
                raise _write_error(self.path, self.shown, err) from None


def _warn_clipped(video: Path, clipped: Sequence[_WavWriter]) -> None:
    """One warning naming the 16-bit outputs of ``video`` whose audio went above 0 dBFS (float
    input, or a stem louder than the mixture) and was clipped to full scale."""
    if clipped:
        peak = 20 * np.log10(max(w.peak for w in clipped))
        names = ", ".join(w.shown.name for w in clipped)
        warnings.warn(
            f"{video}: the audio goes above 0 dBFS (peak +{peak:.1f} dBFS): {names} clipped to 16-bit "
            "full scale; lower the input's level to keep the peaks",
            stacklevel=3,
        )


def _write_error(path: Path, shown: Path, err: Exception) -> OSError:
    """The ``OSError`` to report for a failed write of ``path`` (shown as ``shown``)."""
    code = getattr(err, "errno", None)
    if code is None and shutil.disk_usage(path.parent).free < 1 << 20:  # libsndfile hides errno
        code = errno.ENOSPC
    reason = os.strerror(code) if code else f"cannot write ({err})"
    return OSError(code, reason, str(shown))


def _stage(progress: bool, text: str) -> None:
    if progress:
        print(f"[vcsep] {text}", flush=True)


def write_outputs(
    result: SeparationResult,
    out_dir: str | os.PathLike,
    video: Path | None = None,
    progress: bool = False,
    minus: Sequence[str] = (),
) -> dict[str, Path]:
    """Write one WAV per instrument, the video with one audio track per stem (picture copied, not
    re-encoded) when ``video`` is given, a practice track ``minus_<code>.wav`` per code of
    ``minus`` (:func:`write_minus_one`), and ``index.html``: the mixer (the video, or a still, with
    every stem in sync), the detected instruments and the spectrograms. Returns name -> path (also
    kept in ``result.files``)."""
    _check_minus(minus, result.instruments)
    out = check_output_folder(out_dir)
    rate = result.sample_rate
    files: dict[str, Path] = {}
    _stage(progress, f"writing {len(result.stems)} stems to {out}")
    files["mixture"] = write_audio(out / "mixture.wav", result.mixture, rate)
    for code, stem in result.stems.items():
        files[code] = write_audio(out / f"{code}.wav", np.clip(stem, -1.0, 1.0), rate)
    result.files = _write_extras(result, out, files, video, progress, minus)
    return result.files


def _write_extras(
    result: SeparationResult,
    out: Path,
    wavs: dict[str, Path],
    video: Path | None,
    progress: bool,
    minus: Sequence[str] = (),
) -> dict[str, Path]:
    """Beside the WAVs ``wavs`` (``mixture`` and one per stem, in ``out``): the practice tracks of
    ``minus``, when ``video`` is given the video with one audio track per stem and the picture
    alone (what the page plays beside the stems, :func:`vcsep.vision.video.copy_picture`), and the
    page. Reads the WAVs in blocks. Returns all files."""
    _check_minus(minus, result.instruments)
    files = dict(wavs)
    for code in minus:
        _stage(progress, f"writing the practice track without the {vocab.display_name(code)}")
        files[f"minus_{code}"] = write_minus_one(wavs, code, out / f"minus_{code}.wav")
    if video is not None:
        from vcsep.vision.video import copy_picture, mux_audio_tracks

        _stage(progress, "writing the video with one audio track per stem")
        tracks = {vocab.display_name(c): wavs[c] for c in result.stems}
        files["video"] = mux_audio_tracks(
            video, tracks, result.sample_rate, out / _video_copy_name(video, "stems")
        )
        files["picture"] = copy_picture(video, out / _video_copy_name(video, "picture"))
    _stage(progress, "writing the page: spectrograms and the mixer's copy of each track")
    files["page"] = _write_page(result, out, files, video)
    return files


def _write_page(result: SeparationResult, out: Path, files: dict[str, Path], video: Path | None) -> Path:
    """The separation's page (:func:`vcsep.evaluation.report.separation_page`): the mixer with the
    stems video (or a still) and every WAV, what was detected (or given), a spectrogram per track
    and the practice tracks, all read from the files a block at a time."""
    tracks = {"mixture": ("original mix", files["mixture"])}
    for code in result.stems:
        tracks[code] = (f"{vocab.display_name(code)} ({code})", files[code])
    if result.label_sources is not None:
        cell = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        rows = "".join(
            f"<tr><td>{html.escape(r['name'])}</td><td>{html.escape(r['code'])}</td>"
            f"<td>{cell(r['sight'])}</td><td>{cell(r['sound'])}</td><td>{cell(r['fused'])}</td>"
            f"<td>{'yes' if r['code'] in result.instruments else ''}</td></tr>"
            for r in result.label_sources
        )
        header = (
            "<tr><th>instrument</th><th>code</th><th>sight</th><th>sound</th><th>fused</th>"
            "<th>separated</th></tr>"
        )
        summary = [f"<h2>Instruments</h2><table>{header}{rows}</table>"]
    else:
        summary = [f"<p>Instruments given: {html.escape(', '.join(result.instruments))}</p>"]
    if "video" in files:
        link = html.escape(files["video"].name)
        summary.append(f'<p>Video with one audio track per stem: <a href="{link}">{link}</a></p>')
    title = f"vcsep: {video.name if video else 'audio'}"
    practice = [path for name, path in files.items() if name.startswith("minus_")]
    return separation_page(out, title, tracks, summary, files.get("picture"), practice)


def _check_minus(minus: Sequence[str], instruments: Sequence[str]) -> None:
    """A ``ValueError`` naming ``--minus`` when a code of ``minus`` is not among the separated
    ``instruments``."""
    missing = [code for code in minus if code not in instruments]
    if missing:
        separated = ", ".join(instruments) or "nothing"
        raise ValueError(f"--minus {','.join(missing)}: not among the separated instruments ({separated})")


def write_minus_one(wavs: Mapping[str, Path], code: str, path: Path) -> Path:
    """``path``: the practice track without instrument ``code``, the mixture less its stem, sample
    by sample, from the written WAVs ``wavs`` (``mixture`` and ``code``, one length, rate and
    channel count). 16-bit like them, clipped to [-1, 1]; read and written a block at a time.

    Of the two ways to leave an instrument out, this one measured closer to the true
    mix-minus-one than the sum of the other stems (its error is one stem's, not all the others'
    added up): 0.28 dB SDR better by the median over 49 practice tracks of 16 held-out pieces,
    better in 33 of them (``experiments/minus_one.py``, the README's "Separating a video")."""
    import soundfile as sf

    block = 1 << 16
    with ExitStack() as stack:
        mixture = stack.enter_context(sf.SoundFile(str(wavs["mixture"])))
        stem = stack.enter_context(sf.SoundFile(str(wavs[code])))
        tmp = stack.enter_context(atomic_path(path))
        writer = stack.enter_context(_WavWriter(tmp, path, mixture.samplerate, mixture.channels))
        while len(part := mixture.read(block, dtype="float32", always_2d=True)):
            less = stem.read(len(part), dtype="float32", always_2d=True)
            part[: len(less)] -= less
            writer.write(part.T)
    return path
