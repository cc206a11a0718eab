"""Bach10: ``NN-Title/NN-Title-{violin,clarinet,saxphone,bassoon}.wav`` (sic: saxphone) and the
mix ``NN-Title/NN-Title.wav``."""

from __future__ import annotations

import re
from pathlib import Path

from vcsep.datasets.track import DatasetError, Track
from vcsep.vocab import BACH10_TO_CODE

SAMPLE_RATE = 44100
_FOLDER = re.compile(r"^\d{2}-[^/]+$")


def load_bach10(root: Path | str) -> list[Track]:
    """The pieces under ``root``; every piece must have its four stems."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"Bach10 folder {root} does not exist")
    tracks = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and _FOLDER.match(p.name)):
        stems = {}
        for name, code in BACH10_TO_CODE.items():
            path = folder / f"{folder.name}-{name}.wav"
            if not path.is_file():
                raise DatasetError(f"{folder}: missing stem {path.name}")
            stems[code] = [path]
        mix = folder / f"{folder.name}.wav"
        tracks.append(Track(folder.name, SAMPLE_RATE, stems, mix if mix.is_file() else None))
    if not tracks:
        raise DatasetError(f"{root} holds no Bach10 piece folders (NN-Title)")
    return tracks
