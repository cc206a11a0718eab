"""One interface over every layout: ``load_dataset("urmp:/data/URMP")`` -> list of tracks."""

from __future__ import annotations

from pathlib import Path

from vcsep.datasets.bach10 import load_bach10
from vcsep.datasets.medleydb import load_medleydb
from vcsep.datasets.musdb18 import load_musdb
from vcsep.datasets.solos import load_solo_ensembles
from vcsep.datasets.stemfolder import load_stem_folders
from vcsep.datasets.track import DatasetError, Track
from vcsep.datasets.urmp import corpus_split, load_urmp, split_tracks
from vcsep.vocab import MUSDB2, MUSDB4, URMP, Vocabulary

KINDS = ("urmp", "medleydb", "bach10", "stems", "solos", "musdb4", "musdb2", "musdb4-hq", "musdb2-hq")


def vocabulary_of(spec: str) -> Vocabulary:
    """The sources (output slots) of the tracks of dataset ``KIND:PATH``, known from KIND alone: the
    MUSDB18 kinds have their targets, every other kind the URMP instruments."""
    kind = spec.partition(":")[0]
    if kind not in KINDS:
        raise ValueError(f"dataset must be KIND:PATH with KIND one of {', '.join(KINDS)}; got {spec!r}")
    return {"musdb4": MUSDB4, "musdb2": MUSDB2}.get(kind.removesuffix("-hq"), URMP)


def load_dataset(spec: str, split: str | None = None) -> list[Track]:
    """Tracks of ``KIND:PATH`` (KIND one of :data:`KINDS`; ``-hq`` reads MUSDB18-HQ WAV folders).

    ``split`` (``train``/``test``) selects one side: URMP-layout corpora by their ``split.tsv``
    (or the shipped URMP split), MUSDB18 by its subset folders; other layouts have no split.
    ``solos`` builds 24 seeded ensembles of the solo recordings under PATH (seed 0).
    """
    kind, sep, path = spec.partition(":")
    if not sep or kind not in KINDS or not path:
        raise ValueError(f"dataset must be KIND:PATH with KIND one of {', '.join(KINDS)}; got {spec!r}")
    root = Path(path)
    if kind == "urmp":
        tracks = load_urmp(root)
        tracks = split_tracks(tracks, corpus_split(root), split) if split else tracks
    elif kind.startswith("musdb"):
        vocabulary = vocabulary_of(spec)
        tracks = load_musdb(root, split or "train", is_wav=kind.endswith("-hq"), vocabulary=vocabulary)
    elif split:
        raise ValueError(f"{kind} has no official split; leave out the split")
    else:
        readers = {
            "medleydb": load_medleydb,
            "bach10": load_bach10,
            "stems": load_stem_folders,
            "solos": load_solo_ensembles,
        }
        tracks = readers[kind](root)
    if not tracks:
        raise DatasetError(f"{spec}: no tracks" + (f" in split {split!r}" if split else ""))
    return tracks
