"""MedleyDB: ``Audio/<T>/<T>_MIX.wav``, ``<T>_STEMS/<T>_STEM_NN.wav``, ``<T>_METADATA.yaml``.

Each stem's ``instrument`` label goes to a slot through :data:`vcsep.vocab.MEDLEYDB_TO_CODE`.
Stems without a slot (drums, vocals, piano...) follow the ``unmapped`` policy:

- ``"residual"`` (default): they stay in the mixture as interference and are never targets;
- ``"skip"``: tracks that have any are left out;
- ``"error"``: they raise :class:`DatasetError`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from vcsep.datasets.track import DatasetError, Track
from vcsep.vocab import MEDLEYDB_TO_CODE

SAMPLE_RATE = 44100
POLICIES = ("residual", "skip", "error")


def load_medleydb_track(folder: Path, unmapped: str = "residual") -> Track | None:
    """One MedleyDB track folder; None when ``unmapped='skip'`` leaves it out."""
    if unmapped not in POLICIES:
        raise ValueError(f"unmapped must be one of {POLICIES}, got {unmapped!r}")
    name = folder.name
    meta_path = folder / f"{name}_METADATA.yaml"
    if not meta_path.is_file():
        raise DatasetError(f"{folder}: missing {meta_path.name}")
    with open(meta_path) as f:
        meta = yaml.safe_load(f) or {}
    stems: dict[str, list[Path]] = {}
    residual: list[Path] = []
    for stem_id, stem in sorted((meta.get("stems") or {}).items()):
        path = folder / f"{name}_STEMS" / stem["filename"]
        if not path.is_file():
            raise DatasetError(f"{folder}: stem {stem_id} file {path.name} is missing")
        instrument = stem.get("instrument")
        instrument = instrument[0] if isinstance(instrument, list) else instrument
        code = MEDLEYDB_TO_CODE.get(str(instrument).lower())
        if code is not None:
            stems.setdefault(code, []).append(path)
        elif unmapped == "error":
            raise DatasetError(f"{meta_path}: stem {stem_id} instrument {instrument!r} has no slot")
        elif unmapped == "skip":
            return None
        else:
            residual.append(path)
    if not stems:
        if unmapped == "error":
            raise DatasetError(f"{meta_path}: no stem maps to an instrument slot")
        return None
    mix = folder / f"{name}_MIX.wav"
    return Track(name, SAMPLE_RATE, stems, mix if mix.is_file() else None, residual=residual)


def load_medleydb(root: Path | str, unmapped: str = "residual") -> list[Track]:
    """Tracks under ``root/Audio`` with at least one stem that maps to a slot."""
    audio = Path(root) / "Audio"
    if not audio.is_dir():
        raise DatasetError(f"MedleyDB folder {root} has no Audio/ folder")
    tracks = [load_medleydb_track(f, unmapped) for f in sorted(audio.iterdir()) if f.is_dir()]
    return [t for t in tracks if t is not None]
