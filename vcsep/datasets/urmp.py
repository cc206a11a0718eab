"""URMP reader: the official layout, with its known quirks handled, and the fixed train/test split.

Quirks: the part number, not the code in a part file's name, says which instrument it is (in
``15_Surprise_tpt_tpt_tbn`` the third part's files say ``tpt`` but the folder says ``tbn``);
several pieces re-use one recording in variants (24/25 Pirates, ...), so splits go by title.
"""

from __future__ import annotations

import csv
import warnings
from importlib import resources
from pathlib import Path

from vcsep.datasets.track import DatasetError, Track
from vcsep.datasets.urmp_names import FOLDER_RE, PART_FILE_RE, PieceName

SAMPLE_RATE = 48000


def load_urmp_piece(folder: Path) -> Track:
    """One URMP piece folder as a :class:`Track` (stems per slot, mixture, video, notes)."""
    folder = Path(folder)
    try:
        name = PieceName.parse(folder.name)
    except ValueError as err:
        raise DatasetError(f"{folder}: {err}") from None
    stems: dict[str, list[Path]] = {}
    notes: dict[str, list[Path]] = {}
    for part, code in enumerate(name.codes, start=1):
        matches = [
            f
            for f in folder.glob(f"AuSep_{part}_*_{name.number:02d}_{name.title}.wav")
            if PART_FILE_RE.match(f.name)
        ]
        if not matches:
            raise DatasetError(f"{folder}: missing stem of part {part} ({code}): AuSep_{part}_{code}_*.wav")
        stem = matches[0]
        file_code = PART_FILE_RE.match(stem.name)["code"]
        if file_code != code:
            warnings.warn(
                f"{stem.name}: file says {file_code!r} but the folder says part {part} is {code!r}; "
                "using the folder's code (a known URMP quirk)",
                stacklevel=2,
            )
        stems.setdefault(code, []).append(stem)
        notes.setdefault(code, []).extend(folder.glob(f"Notes_{part}_*_{name.number:02d}_{name.title}.txt"))
    mix = folder / name.mix
    video = folder / name.video
    return Track(
        name=folder.name,
        sample_rate=SAMPLE_RATE,
        stems=stems,
        mixture=mix if mix.is_file() else None,
        title=name.title,
        video=video if video.is_file() else None,
        notes=notes,
    )


def load_urmp(root: Path | str) -> list[Track]:
    """Every piece folder under ``root`` (the real URMP or a ``vcsep synth`` corpus), by number."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"URMP folder {root} does not exist")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and FOLDER_RE.match(p.name))
    if not folders:
        raise DatasetError(f"{root} holds no URMP piece folders (NN_Title_code_code...)")
    return [load_urmp_piece(f) for f in folders]


def urmp_split() -> dict[str, str]:
    """The fixed split of the real URMP: piece folder name -> ``train``/``test`` (33/11 pieces,
    by title, every instrument in train), shipped as ``urmp_split.tsv``."""
    text = resources.files("vcsep.datasets").joinpath("urmp_split.tsv").read_text()
    rows = csv.DictReader((ln for ln in text.splitlines() if not ln.startswith("#")), delimiter="\t")
    return {r["folder"]: r["split"] for r in rows}


def corpus_split(root: Path | str) -> dict[str, str]:
    """Split of a corpus folder: its own ``split.tsv`` (synthetic corpora), else the URMP split."""
    split_file = Path(root) / "split.tsv"
    if not split_file.is_file():
        return urmp_split()
    try:
        with open(split_file, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except OSError as err:
        raise ValueError(f"{split_file}: cannot read the corpus split ({err})") from None
    if not rows or not {"folder", "split"} <= set(rows[0]):
        raise ValueError(
            f"{split_file}: expected a header 'folder<TAB>title<TAB>split' and at least one piece"
        )
    bad = [r["folder"] for r in rows if r["split"] not in ("train", "test")]
    if bad:
        raise ValueError(f"{split_file}: the split of {', '.join(bad)} must be train or test")
    return {r["folder"]: r["split"] for r in rows}


def split_tracks(tracks: list[Track], split: dict[str, str], which: str) -> list[Track]:
    """The tracks of one side (``train``/``test``) of ``split``; unknown folders are an error."""
    unknown = [t.name for t in tracks if t.name not in split]
    if unknown:
        raise DatasetError(f"pieces missing from the split: {', '.join(unknown)}")
    return [t for t in tracks if split[t.name] == which]
