"""URMP's file naming: one place that writes and parses the names of the official layout.

A piece folder is ``NN_Title_c1_c2...`` (instrument codes in part order) and holds::

    AuMix_NN_Title_c1_c2.wav    Vid_NN_Title_c1_c2.mp4    Sco_NN_Title_c1_c2.mid
    AuSep_P_cP_NN_Title.wav     Notes_P_cP_NN_Title.txt   F0s_P_cP_NN_Title.txt   (P = part, from 1)

The table of the 44 real pieces ships as ``urmp_pieces.tsv`` beside this module.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from vcsep import vocab

FOLDER_RE = re.compile(r"^(?P<number>\d{2})_(?P<title>[A-Za-z0-9]+)_(?P<codes>[a-z]+(?:_[a-z]+)*)$")
PART_FILE_RE = re.compile(
    r"^(?P<kind>AuSep|Notes|F0s)_(?P<part>\d+)_(?P<code>[a-z]+)_(?P<number>\d{2})_(?P<title>[A-Za-z0-9]+)"
    r"\.(?P<ext>wav|txt)$"
)
PIECE_FILE_RE = re.compile(
    r"^(?P<kind>AuMix|Vid|Sco)_(?P<number>\d{2})_(?P<title>[A-Za-z0-9]+)_(?P<codes>[a-z]+(?:_[a-z]+)*)"
    r"\.(?P<ext>wav|mp4|mid)$"
)
# Notes and F0s annotation hop of the synthetic corpus: 256 samples at 44.1 kHz, in seconds.
F0_HOP_S = 256 / 44100


@dataclass(frozen=True)
class PieceName:
    """The identity of one piece: its number, title and instrument codes in part order."""

    number: int
    title: str
    codes: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 0 <= self.number <= 99:
            raise ValueError(f"piece number must be 0..99, got {self.number}")
        if not self.title.isalnum() or not self.title.isascii():
            raise ValueError(f"piece title must be ASCII letters and digits, got {self.title!r}")
        if not self.codes:
            raise ValueError("a piece needs at least one part")
        for code in self.codes:
            vocab.index(code)

    @property
    def stem(self) -> str:
        """``NN_Title_c1_c2``: the folder name and the suffix of the piece-level files."""
        return f"{self.number:02d}_{self.title}_{'_'.join(self.codes)}"

    @property
    def folder(self) -> str:
        return self.stem

    @property
    def mix(self) -> str:
        return f"AuMix_{self.stem}.wav"

    @property
    def video(self) -> str:
        return f"Vid_{self.stem}.mp4"

    @property
    def boxes(self) -> str:
        """Sidecar of the synthetic corpus: ground-truth boxes of every video frame (not in URMP)."""
        return f"Vid_{self.stem}.boxes.csv"

    @property
    def score(self) -> str:
        return f"Sco_{self.stem}.mid"

    def part_file(self, kind: str, part: int) -> str:
        """``AuSep``/``Notes``/``F0s`` file of part ``part`` (counted from 1)."""
        ext = {"AuSep": "wav", "Notes": "txt", "F0s": "txt"}[kind]
        code = self.codes[part - 1]
        return f"{kind}_{part}_{code}_{self.number:02d}_{self.title}.{ext}"

    @classmethod
    def parse(cls, folder: str) -> PieceName:
        """Parse a folder name ``NN_Title_c1_c2``; a ``ValueError`` says what does not fit."""
        m = FOLDER_RE.match(folder)
        if m is None:
            raise ValueError(f"{folder!r} is not a URMP piece folder name (NN_Title_code_code...)")
        return cls(int(m["number"]), m["title"], tuple(m["codes"].split("_")))


@dataclass(frozen=True)
class UrmpPiece:
    """A row of the official piece table: number, title, instrument codes in part order."""

    number: int
    title: str
    codes: tuple[str, ...]


@cache
def urmp_pieces() -> tuple[UrmpPiece, ...]:
    """The 44 pieces of the real URMP dataset, from the table shipped with the package."""
    text = resources.files("vcsep.datasets").joinpath("urmp_pieces.tsv").read_text()
    rows = csv.DictReader((line for line in text.splitlines() if not line.startswith("#")), delimiter="\t")
    return tuple(UrmpPiece(int(r["number"]), r["title"], tuple(r["instruments"].split())) for r in rows)
