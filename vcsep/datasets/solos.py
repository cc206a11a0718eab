"""Artificial ensembles of real solo recordings: each clip its own ground truth.

A folder of single-instrument recordings (such as ``../shared/realdev``: Medley-solos-DB excerpts
under ``solos/<code>/`` and TinySOL notes named ``tinysol_<code>_*.wav``) becomes seeded mixtures
of two or three different instruments, one clip each, cut to the shortest clip and given random
gains. The stems sum to the mixture exactly (the mixture is their sum); the recordings are read
where they lie, never copied.

An instrument is named by the clip's folder (a code or name of :mod:`vcsep.vocab`) or else by a
``_``-separated word of its file name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import soundfile as sf

from vcsep.audio.io import resample
from vcsep.datasets.track import DatasetError, Track
from vcsep.vocab import INSTRUMENTS

AUDIO = (".wav", ".flac", ".ogg", ".mp3")
RATE = 44100
_BY_NAME = {i.code: i.code for i in INSTRUMENTS} | {i.name.replace(" ", "_"): i.code for i in INSTRUMENTS}


def instrument_of(path: Path) -> str | None:
    """Instrument code of a clip: its folder's name, else a word of its file name; None if neither."""
    folder = _BY_NAME.get(path.parent.name.lower())
    if folder:
        return folder
    return next((_BY_NAME[w] for w in path.stem.lower().split("_") if w in _BY_NAME), None)


def find_clips(root: Path) -> dict[str, list[Path]]:
    """Instrument code -> its clips under ``root`` (any depth), sorted by path."""
    clips: dict[str, list[Path]] = {}
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO and p.is_file()):
        code = instrument_of(path)
        if code is not None:
            clips.setdefault(code, []).append(path)
    return clips


def read_clip(path: Path) -> tuple[np.ndarray, int]:
    """A sound file as float32 ``[C, N]`` and its rate; ``DatasetError`` naming the file otherwise."""
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise DatasetError(f"{path}: cannot read audio ({err})") from None
    return audio.T, rate


def _clip(
    read: Callable[[Path], tuple[np.ndarray, int]], path: Path, length: int, gain: float
) -> tuple[np.ndarray, int]:
    """One clip as a stem: mono float32 ``[1, length]`` at 44.1 kHz, scaled by ``gain``."""
    audio, rate = read(path)
    mono = resample(audio.mean(axis=0, keepdims=True), rate, RATE)
    return (mono[:, :length] * np.float32(gain)).astype(np.float32), RATE


def _length(read: Callable[[Path], tuple[np.ndarray, int]], path: Path) -> int:
    """A clip's length in samples at 44.1 kHz (a sound file's header, else the decoded audio)."""
    if read is read_clip:
        info = sf.info(str(path))
        return int(info.frames * RATE // info.samplerate)
    audio, rate = read(path)
    return int(audio.shape[1] * RATE // rate)


def load_solo_ensembles(
    root: Path | str, mixtures: int = 24, seed: int = 0, sizes: tuple[int, ...] = (2, 3)
) -> list[Track]:
    """``mixtures`` seeded ensembles from the clips under ``root`` (:func:`find_clips`), drawn by
    :func:`draw_ensembles` with its defaults."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"solo recordings folder {root} does not exist")
    return draw_ensembles(find_clips(root), mixtures, seed, sizes, where=str(root))


def draw_ensembles(
    clips: dict[str, list[Path]],
    mixtures: int,
    seed: int,
    sizes: tuple[int, ...] = (2, 3),
    *,
    read: Callable[[Path], tuple[np.ndarray, int]] = read_clip,
    gains_db: tuple[float, float] = (-6.0, 0.0),
    by_clips: bool = True,
    max_seconds: float | None = None,
    where: str = "the clips",
) -> list[Track]:
    """``mixtures`` seeded ensembles of ``clips`` (instrument code -> its clips).

    Each draws a size from ``sizes``, that many different instruments (weighted by their number of
    clips, or alike with ``by_clips=False``), one clip of each (a clip appears in at most one
    ensemble until every clip of its instrument has been used) and a gain per clip, uniform in
    ``gains_db`` dB (``(0, 0)``: the recordings' own levels); the ensemble lasts as long as its
    shortest clip (at most ``max_seconds``). ``read(path)`` gives a clip's ``[C, N]`` audio and rate
    (default: a sound file). Tracks are 44.1 kHz mono, their stems callables that read the clips
    (the mixture is the sum of the stems). ``where`` names the clips in errors.
    """
    if len(clips) < min(sizes):
        raise DatasetError(
            f"{where}: clips of {len(clips)} instrument(s) ({', '.join(clips) or 'none'}); "
            f"ensembles need {min(sizes)} different ones"
        )
    rng = np.random.default_rng(seed)
    codes = sorted(clips)
    # instruments weighted by their clips: a lone note does not sit in every ensemble
    weights = np.array([len(clips[c]) if by_clips else 1 for c in codes], dtype=np.float64)
    weights /= weights.sum()
    unused = {c: list(rng.permutation(len(clips[c]))) for c in codes}
    lengths: dict[Path, int] = {}
    tracks = []
    for number in range(1, mixtures + 1):
        size = min(int(rng.choice(sizes)), len(codes))
        chosen = sorted(codes[i] for i in rng.choice(len(codes), size=size, replace=False, p=weights))
        picks = {}
        for code in chosen:
            if not unused[code]:
                unused[code] = list(rng.permutation(len(clips[code])))
            picks[code] = clips[code][int(unused[code].pop(0))]
        for path in picks.values():
            if path not in lengths:
                lengths[path] = _length(read, path)
        length = min(lengths[p] for p in picks.values())
        if max_seconds is not None:
            length = min(length, int(max_seconds * RATE))
        stems = {
            code: [partial(_clip, read, path, length, float(10 ** (rng.uniform(*gains_db) / 20)))]
            for code, path in picks.items()
        }
        tracks.append(Track(f"ensemble{number:03d}_{'_'.join(chosen)}", RATE, stems))
    return tracks
