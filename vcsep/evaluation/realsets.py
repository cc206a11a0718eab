"""Real players to measure on: the ISFEE solo videos and the realdev solo clips, split once into a
validation half (to choose on) and a report half (to report on), and real ensembles made of them.

* ``../shared/realvideo/isfee``: real solo performances, video and sound, every instrument;
  ``labels.tsv`` names each clip's instrument. Measurement only: never train a shipped model on
  them.
* ``../shared/realdev/solos``: real solo clips (Medley-solos-DB, Freesound; CC BY) in folders
  named by instrument.

:func:`split_clips` assigns every clip to ``validation`` or ``report``, per instrument half and half
(a lone clip reports), from a fixed seed: experiments and tuning read the validation half,
``bench/real_ensembles.py`` and ``bench/real_players.py`` report on the other. The halves share
players (one studio, one player per instrument in ISFEE): what is chosen on one half is checked on
other recordings of the same players.
"""

from __future__ import annotations

import csv
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from vcsep.datasets.solos import RATE, draw_ensembles, find_clips, read_clip
from vcsep.datasets.track import DatasetError, Track
from vcsep.vision.video import read_audio_track

SHARED = Path(__file__).resolve().parents[3] / "shared"
ISFEE_ENV, REALDEV_ENV = "VCSEP_ISFEE", "VCSEP_REALDEV"
HALVES = ("validation", "report")
SPLIT_SEED = 2026
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm")


def isfee_default() -> Path:
    """The ISFEE clips: ``$VCSEP_ISFEE``, else ``../shared/realvideo/isfee`` beside the repository."""
    return Path(os.environ.get(ISFEE_ENV) or SHARED / "realvideo" / "isfee")


def realdev_default() -> Path:
    """The realdev recordings: ``$VCSEP_REALDEV``, else ``../shared/realdev`` beside the repository."""
    return Path(os.environ.get(REALDEV_ENV) or SHARED / "realdev")


def isfee_clips(root: Path) -> dict[str, list[Path]]:
    """Instrument code -> its clips (sorted) from ``root/labels.tsv`` (``path``, ``instruments``: one
    code per clip). Raises ``DatasetError`` naming the file when it or a clip is missing."""
    table = Path(root) / "labels.tsv"
    if not table.is_file():
        raise DatasetError(f"{table} does not exist: no ISFEE clips at {root}")
    clips: dict[str, list[Path]] = {}
    with open(table, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            path = Path(root) / row["path"]
            if not path.is_file():
                raise DatasetError(f"{table}: {path} does not exist")
            clips.setdefault(row["instruments"], []).append(path)
    return {code: sorted(paths) for code, paths in sorted(clips.items())}


def split_clips(clips: dict[str, list[Path]], seed: int = SPLIT_SEED) -> dict[str, dict[str, list[Path]]]:
    """``{"validation": {code: clips}, "report": {code: clips}}``: each instrument's clips shuffled
    by ``seed`` and cut in half, the odd one (and a lone clip) to ``report``."""
    halves: dict[str, dict[str, list[Path]]] = {half: {} for half in HALVES}
    for code, paths in sorted(clips.items()):
        order = np.random.default_rng([seed, *code.encode()]).permutation(len(paths))
        shuffled = [sorted(paths)[i] for i in order]
        cut = len(shuffled) // 2
        for half, part in zip(HALVES, (shuffled[:cut], shuffled[cut:])):
            if part:
                halves[half][code] = sorted(part)
    return halves


def real_clips(half: str, isfee: Path | None = None, realdev: Path | None = None) -> dict[str, list[Path]]:
    """The ``half`` (``validation`` or ``report``) of the ISFEE videos and realdev solo clips
    together, by instrument. A folder that does not exist is left out; ``DatasetError`` when
    neither does."""
    if half not in HALVES:
        raise ValueError(f"half must be one of {HALVES}, got {half!r}")
    isfee, realdev = Path(isfee or isfee_default()), Path(realdev or realdev_default())
    merged: dict[str, list[Path]] = {}
    sources = []
    if (isfee / "labels.tsv").is_file():
        sources.append(isfee_clips(isfee))
    if (realdev / "solos").is_dir():
        sources.append(find_clips(realdev / "solos"))
    if not sources:
        raise DatasetError(f"no real clips: neither {isfee}/labels.tsv nor {realdev}/solos exists")
    for clips in sources:
        for code, paths in split_clips(clips)[half].items():
            merged.setdefault(code, []).extend(paths)
    return merged


@lru_cache(maxsize=256)
def read_real_clip(path: Path) -> tuple[np.ndarray, int]:
    """A clip's audio, float32 ``[C, N]``, and its rate: a video's first audio track (decoded at
    44.1 kHz) or a sound file. Decoded once per process."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return read_audio_track(path, RATE), RATE
    return read_clip(path)


def real_ensembles(
    clips: dict[str, list[Path]], count: int = 64, seed: int = 0, max_seconds: float = 12.0
) -> list[Track]:
    """``count`` seeded ensembles of 2 to 4 different instruments from ``clips``, each part a real
    solo recording at its own level, cut to the shortest (at most ``max_seconds``) and summed;
    instruments drawn alike whatever their number of clips. 44.1 kHz mono tracks."""
    return draw_ensembles(
        clips,
        count,
        seed,
        sizes=(2, 3, 4),
        read=read_real_clip,
        gains_db=(0.0, 0.0),
        by_clips=False,
        max_seconds=max_seconds,
        where="real clips",
    )
