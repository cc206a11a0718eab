"""MUSDB18 through the ``musdb`` package: 4 stems, or vocals/accompaniment, each its own vocabulary.

Stems mp4 files need Debian's ``ffmpeg``/``ffprobe`` commands (``musdb`` decodes them with
stempeg); MUSDB18-HQ WAV folders are read with ``is_wav=True``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vcsep.datasets.track import DatasetError, Track
from vcsep.vocab import MUSDB2, MUSDB4, Vocabulary

SAMPLE_RATE = 44100


def _loader(track, target: str | None):
    """Zero-argument loader of a musdb target (None: the mixture): float32 ``[C, N]`` and its rate."""

    def load() -> tuple[np.ndarray, int]:
        audio = track.audio if target is None else track.targets[target].audio
        return np.ascontiguousarray(audio.T, dtype=np.float32), int(track.rate)

    return load


def load_musdb(
    root: Path | str, subset: str = "train", is_wav: bool = False, vocabulary: Vocabulary = MUSDB4
) -> list[Track]:
    """Tracks of one MUSDB18 subset (``train``/``test``) over ``MUSDB4`` or ``MUSDB2``."""
    import musdb

    if vocabulary not in (MUSDB4, MUSDB2):
        raise ValueError(f"MUSDB18 tracks come in vocabularies musdb4 or musdb2, not {vocabulary.name}")
    root = Path(root)
    if not (root / subset).is_dir():
        raise DatasetError(f"MUSDB18 folder {root} has no {subset}/ subset")
    db = musdb.DB(root=str(root), subsets=subset, is_wav=is_wav, download=False)
    if not db.tracks:
        raise DatasetError(f"no MUSDB18 tracks found in {root / subset} (is_wav={is_wav})")
    tracks = []
    for t in db.tracks:
        stems = {code: [_loader(t, code)] for code in vocabulary.codes}
        tracks.append(Track(t.name, SAMPLE_RATE, stems, _loader(t, None), vocabulary=vocabulary))
    return tracks
