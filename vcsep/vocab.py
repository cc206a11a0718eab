"""The instrument vocabulary: the 13 URMP instruments, their order (= output slot), and name maps.

Everything that talks about instruments (datasets, detector class maps, the separator's output
slots, reports) goes through this module so that slot ``i`` means the same instrument everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Instrument:
    """One instrument of the vocabulary.

    ``low``/``high`` bound the comfortable playable range as MIDI note numbers (sounding pitch);
    ``gm_program`` is the 0-based General MIDI program used to render it.
    """

    code: str
    name: str
    gm_program: int
    low: int
    high: int

    @property
    def centre(self) -> float:
        """Middle of the playable range, in MIDI note numbers."""
        return (self.low + self.high) / 2


INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("vn", "violin", 40, 55, 100),
    Instrument("va", "viola", 41, 48, 88),
    Instrument("vc", "cello", 42, 36, 76),
    Instrument("db", "double bass", 43, 28, 67),
    Instrument("fl", "flute", 73, 60, 96),
    Instrument("ob", "oboe", 68, 58, 91),
    Instrument("cl", "clarinet", 71, 50, 91),
    Instrument("sax", "saxophone", 65, 49, 81),
    Instrument("bn", "bassoon", 70, 34, 75),
    Instrument("tpt", "trumpet", 56, 54, 84),
    Instrument("hn", "horn", 60, 34, 77),
    Instrument("tbn", "trombone", 57, 40, 72),
    Instrument("tba", "tuba", 58, 28, 58),
)

CODES: tuple[str, ...] = tuple(i.code for i in INSTRUMENTS)
K: int = len(INSTRUMENTS)
BY_CODE: Mapping[str, Instrument] = {i.code: i for i in INSTRUMENTS}

# The members of a slot's family that General MIDI plays with programs of their own, each at its
# sounding range (the slot's own instrument above is one of them). Real players of the sax slot
# play all four (ISFEE has each; MedleyDB maps any saxophone to it); a synth corpus drawn with
# ``vcsep synth --variants`` renders them (without it, every sax is an alto).
VARIANTS: Mapping[str, tuple[Instrument, ...]] = {
    "sax": (
        Instrument("sax", "soprano saxophone", 64, 56, 88),
        BY_CODE["sax"],
        Instrument("sax", "tenor saxophone", 66, 44, 76),
        Instrument("sax", "baritone saxophone", 67, 37, 68),
    ),
}


def index(code: str) -> int:
    """Output slot of an instrument code (``'vn'`` -> 0); a clear ``ValueError`` for unknown codes."""
    try:
        return CODES.index(code)
    except ValueError:
        raise ValueError(f"unknown instrument code {code!r}; known codes: {', '.join(CODES)}") from None


def multi_hot(codes: Iterable[str], sources: Sequence[str] = CODES) -> np.ndarray:
    """Multi-hot presence vector, shape ``[len(sources)]`` float32 (default: the 13 URMP slots), 1 for
    every code of ``codes``; a ValueError names a code that is not one of ``sources``.

    Repeated codes (two players of one instrument) set the same slot once.
    """
    sources = tuple(sources)
    vec = np.zeros(len(sources), dtype=np.float32)
    for code in codes:
        if code not in sources:
            raise ValueError(f"unknown source {code!r}; known: {', '.join(sources)}")
        vec[sources.index(code)] = 1.0
    return vec


def codes_of(vector: np.ndarray, threshold: float = 0.5, sources: Sequence[str] = CODES) -> list[str]:
    """Codes of ``sources`` whose entry of a presence vector ``[len(sources)]`` reaches ``threshold``."""
    vector = np.asarray(vector)
    if vector.shape != (len(sources),):
        raise ValueError(f"expected a presence vector of shape ({len(sources)},), got {vector.shape}")
    return [code for code, p in zip(sources, vector) if p >= threshold]


def display_name(code: str) -> str:
    """What to call a source in titles and track names: the instrument name of a URMP code
    (``'vn'`` -> ``'violin'``), the code itself otherwise (``'vocals'``)."""
    return BY_CODE[code].name if code in BY_CODE else code


# Open Images V7 detector classes (the ones that exist; OIV7 has no viola, double bass, clarinet,
# bassoon or tuba, and its generic 'Musical instrument' maps to no slot).
OIV7_TO_CODE: Mapping[str, str] = {
    "Violin": "vn",
    "Cello": "vc",
    "Flute": "fl",
    "Oboe": "ob",
    "Saxophone": "sax",
    "Trumpet": "tpt",
    "French horn": "hn",
    "Trombone": "tbn",
}

# MedleyDB instrument labels (as written in its <T>_METADATA.yaml) that correspond to a slot.
# Close relatives played the same way go to the same slot (piccolo -> flute, bass clarinet ->
# clarinet, any saxophone -> saxophone); sections go to their instrument's slot.
MEDLEYDB_TO_CODE: Mapping[str, str] = {
    "violin": "vn",
    "violin section": "vn",
    "viola": "va",
    "viola section": "va",
    "cello": "vc",
    "cello section": "vc",
    "double bass": "db",
    "flute": "fl",
    "flute section": "fl",
    "piccolo": "fl",
    "oboe": "ob",
    "clarinet": "cl",
    "clarinet section": "cl",
    "bass clarinet": "cl",
    "alto saxophone": "sax",
    "baritone saxophone": "sax",
    "soprano saxophone": "sax",
    "tenor saxophone": "sax",
    "bassoon": "bn",
    "trumpet": "tpt",
    "trumpet section": "tpt",
    "french horn": "hn",
    "french horn section": "hn",
    "horn section": "hn",
    "trombone": "tbn",
    "trombone section": "tbn",
    "tuba": "tba",
}

# Bach10 stem file names: NN-Title-<name>.wav (the dataset spells saxophone 'saxphone').
BACH10_TO_CODE: Mapping[str, str] = {
    "violin": "vn",
    "clarinet": "cl",
    "saxphone": "sax",
    "bassoon": "bn",
}


@dataclass(frozen=True)
class Vocabulary:
    """An ordered set of source names; position = output slot of a separator trained on it."""

    name: str
    codes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.codes)

    def index(self, code: str) -> int:
        """Slot of ``code``; a clear ``ValueError`` when it is not in this vocabulary."""
        try:
            return self.codes.index(code)
        except ValueError:
            raise ValueError(
                f"{code!r} is not in vocabulary {self.name!r} ({', '.join(self.codes)})"
            ) from None


URMP = Vocabulary("urmp", CODES)
# MUSDB18 targets, as the `musdb` package names them: 4 stems, or vocals/accompaniment.
MUSDB4 = Vocabulary("musdb4", ("vocals", "drums", "bass", "other"))
MUSDB2 = Vocabulary("musdb2", ("vocals", "accompaniment"))
VOCABULARIES: Mapping[str, Vocabulary] = {v.name: v for v in (URMP, MUSDB4, MUSDB2)}
