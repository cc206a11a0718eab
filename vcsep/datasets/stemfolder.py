"""Plain stem folders: ``<root>/<track>/<instrument>.wav``, optionally ``<track>/mixture.wav``.

``<instrument>`` is a code of the vocabulary (``vn``) or a full name (``violin``); a suffix
``_2``, ``_3``... adds another player of the same instrument (summed into its slot).
"""

from __future__ import annotations

import re
from pathlib import Path

import soundfile as sf

from vcsep.datasets.track import DatasetError, Track
from vcsep.vocab import INSTRUMENTS

_NAME = re.compile(r"^(?P<inst>.+?)(?:_(?P<player>\d+))?$")
_BY_NAME = {i.code: i.code for i in INSTRUMENTS} | {i.name.replace(" ", "_"): i.code for i in INSTRUMENTS}


def load_stem_folders(root: Path | str) -> list[Track]:
    """Every track folder under ``root`` that holds at least one stem WAV."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"stem folder {root} does not exist")
    tracks = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        stems: dict[str, list[Path]] = {}
        mixture = None
        for wav in sorted(folder.glob("*.wav")):
            if wav.stem == "mixture":
                mixture = wav
                continue
            m = _NAME.match(wav.stem)
            code = _BY_NAME.get(m["inst"].lower()) or _BY_NAME.get(wav.stem.lower())
            if code is None:
                raise DatasetError(
                    f"{wav}: unknown instrument {wav.stem!r} (use a code or name of vcsep.vocab)"
                )
            stems.setdefault(code, []).append(wav)
        if stems:
            first = next(iter(stems.values()))[0]
            try:
                rate = sf.info(str(first)).samplerate
            except (sf.LibsndfileError, RuntimeError) as err:
                raise DatasetError(f"{first}: cannot read audio ({err})") from None
            tracks.append(Track(folder.name, rate, stems, mixture))
    if not tracks:
        raise DatasetError(f"{root} holds no track folders with stems (<track>/<instrument>.wav)")
    return tracks
