"""One interface over every layout: ``load_dataset("urmp:/data/URMP")`` -> list of tracks."""

from __future__ import annotations

from collections.abc import Sequence
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


def dataset_specs(spec: str | Sequence[str]) -> list[str]:
    """``spec`` as a non-empty list of ``KIND:PATH`` strings (one string, or several datasets)."""
    specs = [spec] if isinstance(spec, str) else list(spec)
    if not specs:
        raise ValueError("no dataset given: expected KIND:PATH or a list of them")
    return specs


def vocabulary_of(spec: str | Sequence[str]) -> Vocabulary:
    """The sources (output slots) of the tracks of dataset ``KIND:PATH`` (or of a list of datasets,
    which must agree), known from KIND alone: the MUSDB18 kinds have their targets, every other kind
    the URMP instruments."""
    vocabularies = []
    for one in dataset_specs(spec):
        kind = one.partition(":")[0]
        if kind not in KINDS:
            raise ValueError(f"dataset must be KIND:PATH with KIND one of {', '.join(KINDS)}; got {one!r}")
        vocabularies.append({"musdb4": MUSDB4, "musdb2": MUSDB2}.get(kind.removesuffix("-hq"), URMP))
    if any(v != vocabularies[0] for v in vocabularies):
        raise ValueError(f"datasets {dataset_specs(spec)} have different sources; use one kind at a time")
    return vocabularies[0]


def load_dataset(spec: str | Sequence[str], split: str | None = None) -> list[Track]:
    """Tracks of ``KIND:PATH`` (KIND one of :data:`KINDS`; ``-hq`` reads MUSDB18-HQ WAV folders), or
    of several such datasets one after the other (a list; their sources must agree).

    ``split`` (``train``/``test``) selects one side: URMP-layout corpora by their ``split.tsv``
    (or the shipped URMP split), MUSDB18 by its subset folders; other layouts have no split.
    ``solos`` builds 24 seeded ensembles of the solo recordings under PATH (seed 0). A
    :class:`DatasetError` when no track is left (of a list: none in any of them).
    """
    vocabulary_of(spec)
    tracks = [track for one in dataset_specs(spec) for track in _tracks_of(one, split)]
    if not tracks:
        raise DatasetError(f"{spec}: no tracks" + (f" in split {split!r}" if split else ""))
    return tracks


def _tracks_of(spec: str, split: str | None) -> list[Track]:
    """The tracks of one ``KIND:PATH`` dataset (maybe none) on side ``split``."""
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
    return tracks
