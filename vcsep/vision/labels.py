"""Detections -> label vectors: clip-level presence ``[K]`` and time-varying activity ``[K, T]``.

Per sampled frame, each instrument slot gets the best score of the boxes of that instrument (0 when
none), a ``[K, F]`` score matrix. From it:

- presence ``[K]``: the score that at least ``min_fraction`` of the frames reach (the
  ``1 - min_fraction`` quantile over frames). One confident false positive on a single frame does not
  make an instrument present, and a player hidden part of the time still counts. An instrument is
  reported present when its presence reaches ``threshold``.
- activity ``[K, T]`` at ``rate_hz``: the per-frame scores, gaps of a frame bridged by a running max
  over ``smooth_frames`` frames, linearly interpolated at the centre of each label frame.

No detection at all (an empty stage, a detector that does not know these instruments) is not the
same as "all instruments absent": a warning is issued and both outputs are the constant
:data:`UNKNOWN` = 0.5, the separator's "no information" input (a mixture of unknown instrumentation),
so a separator conditioned on it falls back to what it does without a label.

Detections are cached on disk per (video content, detector weights, settings): see :func:`detect_video`.
"""

from __future__ import annotations

import hashlib
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from vcsep import vocab
from vcsep.vision.detector import NO_SLOT, Detections, Detector, cache_root
from vcsep.vision.video import iter_frames, prefetch, probe

UNKNOWN = 0.5
DEFAULT_FPS = 2.0
DEFAULT_MIN_FRACTION = 0.2
DEFAULT_THRESHOLD = 0.25
DEFAULT_RATE_HZ = 4.0
# Sampled blocks for the content hash: enough to tell apart any two real videos of equal size.
_HASH_BLOCKS = 8
_HASH_BLOCK_SIZE = 1 << 16
# Part of every cache key: raised when the frames a video is sampled at change (2: no frame twice),
# so that detections cached before are not read back.
_CACHE_VERSION = 2


@dataclass(frozen=True)
class InstrumentLabels:
    """Label vectors of one video.

    Attributes:
        presence: float32 ``[K]`` in [0, 1], clip-level presence per slot of ``codes``.
        activity: float32 ``[K, T]`` in [0, 1], ``T = ceil(duration x rate_hz)``; column ``j`` covers
            ``[j / rate_hz, (j + 1) / rate_hz)`` seconds.
        rate_hz: label frames per second of ``activity``.
        threshold: presence at or above which an instrument counts as present.
        fallback: True when nothing was detected and both arrays hold :data:`UNKNOWN`.
        codes: the source code of each row, in order (the detector's slots: the 13 URMP instruments).
    """

    presence: np.ndarray
    activity: np.ndarray
    rate_hz: float
    threshold: float
    fallback: bool
    codes: tuple[str, ...] = vocab.CODES

    @property
    def present(self) -> list[str]:
        """Codes of the instruments judged present (none in the fallback case)."""
        return [] if self.fallback else vocab.codes_of(self.presence, self.threshold, self.codes)

    def for_sources(self, sources: Sequence[str]) -> InstrumentLabels:
        """The same labels with one row per code of ``sources`` (a separator's output order): rows
        of sources this vision stack cannot see hold :data:`UNKNOWN`."""
        sources = tuple(sources)
        rows = [self.codes.index(c) if c in self.codes else None for c in sources]

        def pick(values: np.ndarray) -> np.ndarray:
            unknown = np.full_like(values[:1], UNKNOWN)
            return np.concatenate([values[[r]] if r is not None else unknown for r in rows])

        return replace(self, presence=pick(self.presence), activity=pick(self.activity), codes=sources)

    def to_dict(self) -> dict:
        """JSON-ready summary: presence per code, present codes, activity rows per code."""
        return {
            "presence": {
                code: round(float(p), 4) for code, p in zip(self.codes, self.presence, strict=True)
            },
            "present": self.present,
            "threshold": self.threshold,
            "fallback": self.fallback,
            "activity_rate_hz": self.rate_hz,
            "activity": {
                code: np.round(row, 3).tolist() for code, row in zip(self.codes, self.activity, strict=True)
            },
        }


def clip_presence(scores: np.ndarray, min_fraction: float = DEFAULT_MIN_FRACTION) -> np.ndarray:
    """Presence per slot from per-frame scores ``[K, F]``: the score reached by ``min_fraction`` of frames.

    Returns float32 ``[K]``; zeros when ``F == 0``.
    """
    if not 0 < min_fraction <= 1:
        raise ValueError(f"min_fraction must be in (0, 1], got {min_fraction}")
    if scores.shape[1] == 0:
        return np.zeros(scores.shape[0], dtype=np.float32)
    return np.quantile(scores, 1 - min_fraction, axis=1).astype(np.float32)


def frame_activity(
    scores: np.ndarray, times_s: np.ndarray, duration_s: float, rate_hz: float, smooth_frames: int = 3
) -> np.ndarray:
    """Per-frame scores ``[K, F]`` at ``times_s`` (s) -> activity float32 ``[K, T]`` at ``rate_hz``.

    ``T = ceil(duration_s x rate_hz)``. A running max over ``smooth_frames`` sampled frames bridges a
    frame where a visible player was missed; values are held constant before the first and after the
    last sampled frame.
    """
    if rate_hz <= 0:
        raise ValueError(f"activity rate must be positive, got {rate_hz} Hz")
    n_out = max(1, math.ceil(duration_s * rate_hz - 1e-9))
    if scores.shape[1] == 0:
        return np.zeros((scores.shape[0], n_out), dtype=np.float32)
    half = smooth_frames // 2
    padded = np.pad(scores, ((0, 0), (half, half)), mode="edge")
    smoothed = np.lib.stride_tricks.sliding_window_view(padded, smooth_frames, axis=1).max(axis=2)
    centres = (np.arange(n_out) + 0.5) / rate_hz
    return np.stack([np.interp(centres, times_s, row) for row in smoothed]).astype(np.float32)


def labels_from_detections(
    detections: Detections,
    duration_s: float,
    *,
    rate_hz: float = DEFAULT_RATE_HZ,
    min_fraction: float = DEFAULT_MIN_FRACTION,
    threshold: float = DEFAULT_THRESHOLD,
    source: str | Path = "video",
) -> InstrumentLabels:
    """Aggregate detections into :class:`InstrumentLabels` (see the module docstring).

    ``duration_s`` is the video's duration; ``source`` names the video in the no-detection warning.
    """
    n_out = max(1, math.ceil(duration_s * rate_hz - 1e-9))
    if not (detections.slots != NO_SLOT).any():
        warnings.warn(
            f"{source}: no instrument detected on {detections.n_frames} frames; "
            f"using the 'unknown' label vector ({UNKNOWN} for every instrument)",
            stacklevel=2,
        )
        return InstrumentLabels(
            presence=np.full(vocab.K, UNKNOWN, dtype=np.float32),
            activity=np.full((vocab.K, n_out), UNKNOWN, dtype=np.float32),
            rate_hz=rate_hz,
            threshold=threshold,
            fallback=True,
        )
    scores = detections.slot_scores()
    return InstrumentLabels(
        presence=clip_presence(scores, min_fraction),
        activity=frame_activity(scores, detections.times_s, duration_s, rate_hz),
        rate_hz=rate_hz,
        threshold=threshold,
        fallback=False,
    )


def content_hash(path: str | Path) -> str:
    """Cheap fingerprint of a (large) file: SHA-256 of its size and ``_HASH_BLOCKS`` evenly spaced blocks.

    Reads at most 512 KiB whatever the file size; changing any sampled block or the size changes it.
    """
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        for i in range(_HASH_BLOCKS):
            f.seek(max(0, size - _HASH_BLOCK_SIZE) * i // (_HASH_BLOCKS - 1))
            h.update(f.read(_HASH_BLOCK_SIZE))
    return h.hexdigest()




def detect_video(
    path: str | Path,
    detector: Detector,
    *,
    fps: float = DEFAULT_FPS,
    max_side: int | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    threads: int = 0,
    progress: bool = False,
) -> Detections:
    """Sample a video at ``fps`` frames/s and run the detector on the frames, through the cache.

    Frames are decoded at ``max_side`` (default: the detector's ``imgsz``) since the detector
    letterboxes them to that size anyway. The result is cached as ``.npz`` in ``cache_dir`` (default
    ``<cache_root>/detections``) under a key made of the video's :func:`content_hash`, the detector's
    :attr:`~Detector.fingerprint` and the sampling settings; class -> slot mapping is applied after
    loading, so changing the class map needs no re-detection. ``progress`` shows a bar over the
    sampled frames.
    """
    path = Path(path)
    info = probe(path)
    max_side = detector.imgsz if max_side is None else max_side
    cache_file = None
    if use_cache:
        key = hashlib.sha256(
            f"{_CACHE_VERSION}|{content_hash(path)}|{detector.fingerprint}|{fps}|{max_side}".encode()
        ).hexdigest()
        cache_file = Path(cache_dir) if cache_dir is not None else cache_root() / "detections"
        cache_file = cache_file / f"{key[:32]}.npz"
        if cache_file.is_file():
            return Detections.load(cache_file).with_slots(detector.slots)
    frames = iter_frames(path, fps, max_side=max_side, threads=threads)
    if progress:
        from tqdm.auto import tqdm

        frames = tqdm(frames, total=math.ceil(info.duration_s * fps), unit="frame", desc="detecting")
    frames = prefetch(frames, depth=2 * detector.batch)
    detections = detector.detect(frames, (info.width, info.height))
    if cache_file is not None:
        os.makedirs(cache_file.parent, exist_ok=True)
        detections.save(cache_file)
    return detections


def video_labels(
    path: str | Path,
    detector: Detector,
    *,
    fps: float = DEFAULT_FPS,
    rate_hz: float = DEFAULT_RATE_HZ,
    min_fraction: float = DEFAULT_MIN_FRACTION,
    threshold: float = DEFAULT_THRESHOLD,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: bool = False,
) -> tuple[InstrumentLabels, Detections]:
    """From a video file to its label vectors (and the detections they came from)."""
    detections = detect_video(
        path, detector, fps=fps, cache_dir=cache_dir, use_cache=use_cache, progress=progress
    )
    labels = labels_from_detections(
        detections,
        probe(path).duration_s,
        rate_hz=rate_hz,
        min_fraction=min_fraction,
        threshold=threshold,
        source=path,
    )
    return labels, detections
