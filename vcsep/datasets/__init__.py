"""Dataset readers (URMP, MUSDB18, MedleyDB, Bach10, stem folders), mixing, shards, synthetic corpus.

Every layout loads into :class:`~vcsep.datasets.track.Track` objects through
:func:`~vcsep.datasets.registry.load_dataset`; mixers turn tracks into training examples.
"""

from vcsep.datasets.mixing import InMemoryMixer, MixConfig, Segment
from vcsep.datasets.registry import KINDS, load_dataset, vocabulary_of
from vcsep.datasets.track import DatasetError, Track

__all__ = [
    "KINDS", "DatasetError", "InMemoryMixer", "MixConfig", "Segment", "Track", "load_dataset",
    "vocabulary_of",
]
