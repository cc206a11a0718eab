"""Note activity from URMP ``Notes_*`` files: when each player sounds, as label frames over time.

A Notes file has one line per note: onset (s), pitch (Hz), duration (s). Activity is what the
separator can be told instead of clip-level presence: 1 while a note of the slot sounds, 0 between
notes, per frame of a training window.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

LINE = "onset s, pitch Hz, duration s"


def note_intervals(paths: Iterable[str | Path]) -> np.ndarray:
    """The notes of one slot (all its players' Notes files) as ``[n, 2]`` float64 (onset s, end s),
    sorted by onset; a ValueError names a file that is not three numbers per line."""
    rows = []
    for path in paths:
        try:
            table = np.loadtxt(path, ndmin=2, dtype=np.float64)
        except ValueError as err:
            raise ValueError(f"{path}: not a Notes file ({LINE} per line): {err}") from None
        if table.size and table.shape[1] != 3:
            raise ValueError(f"{path}: expected 3 columns ({LINE}), found {table.shape[1]}")
        if table.size:
            rows.append(np.stack([table[:, 0], table[:, 0] + table[:, 2]], axis=1))
    if not rows:
        return np.zeros((0, 2))
    intervals = np.concatenate(rows)
    return intervals[np.argsort(intervals[:, 0], kind="stable")]


def activity_frames(intervals: np.ndarray, start_s: float, length_s: float, frames: int) -> np.ndarray:
    """Float32 ``[frames]``: the share of each of ``frames`` equal frames of ``[start_s, start_s +
    length_s)`` that a note of ``intervals`` (``[n, 2]``, seconds) covers, in [0, 1]."""
    edges = start_s + np.arange(frames + 1) * (length_s / frames)
    lo, hi = edges[:-1, None], edges[1:, None]
    covered = np.clip(np.minimum(hi, intervals[None, :, 1]) - np.maximum(lo, intervals[None, :, 0]), 0, None)
    return np.clip(covered.sum(axis=1) / (length_s / frames), 0.0, 1.0).astype(np.float32)
