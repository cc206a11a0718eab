"""One track type for every dataset: stems per instrument slot, mixture, labels, extras.

Audio is read lazily (a track of a large dataset is a handful of paths) and resampled with soxr
(through :mod:`vcsep.audio.io`, the one place that reads waveforms);
resampled audio is cached in memory per (source, rate) so an epoch does not resample twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from vcsep.audio.io import read_audio, resample
from vcsep.vocab import URMP, Vocabulary

# A stem or mixture: a WAV path, or a zero-argument callable returning (float32 [C, N], rate)
# for datasets whose audio comes from another reader (MUSDB18 through `musdb`).
AudioSource = Path | Callable[[], tuple[np.ndarray, int]]


class DatasetError(ValueError):
    """A dataset on disk does not match its official layout; the message names the file."""


def fit_channels(audio: np.ndarray, channels: int, where: object) -> np.ndarray:
    """Mono -> ``channels`` by copying, stereo -> mono by averaging; other mismatches are errors."""
    if audio.shape[0] == channels:
        return audio
    if audio.shape[0] == 1:
        return np.repeat(audio, channels, axis=0)
    if channels == 1:
        return audio.mean(axis=0, keepdims=True)
    raise DatasetError(f"{where}: cannot turn {audio.shape[0]} channels into {channels}")


@lru_cache(maxsize=512)
def _load_cached(source: AudioSource, rate: int) -> np.ndarray:
    audio, native = read_audio(source) if isinstance(source, Path) else source()
    audio = resample(audio, native, rate)
    audio.setflags(write=False)  # shared by every example cut from it
    return audio


def load_source(source: AudioSource, rate: int, channels: int) -> np.ndarray:
    """Audio of one source at ``rate`` Hz with ``channels`` channels: float32 ``[C, N]`` (cached)."""
    return fit_channels(_load_cached(source, rate), channels, source)


@dataclass
class Track:
    """A piece of a dataset.

    ``stems`` maps an instrument code of ``vocabulary`` to its sources, summed into that slot (two
    players of one instrument share a slot). ``mixture`` is the dataset's own mix, or None when
    the mix is the sum of the stems. ``title`` groups variants of one piece for splits.
    """

    name: str
    sample_rate: int
    stems: dict[str, list[AudioSource]]
    mixture: AudioSource | None = None
    vocabulary: Vocabulary = URMP
    title: str = ""
    video: Path | None = None
    notes: dict[str, list[Path]] = field(default_factory=dict)
    # stems the dataset has but the vocabulary has no slot for: in the mixture, never targets
    residual: list[AudioSource] = field(default_factory=list)

    def __post_init__(self) -> None:
        for code in self.stems:
            self.vocabulary.index(code)
        if not self.stems:
            raise DatasetError(f"track {self.name} has no stems")
        self.title = self.title or self.name

    @property
    def codes(self) -> list[str]:
        """Instrument codes present, in slot order."""
        return [c for c in self.vocabulary.codes if c in self.stems]

    @property
    def labels(self) -> np.ndarray:
        """Multi-hot presence vector ``[K]`` float32 over the track's vocabulary."""
        vec = np.zeros(len(self.vocabulary), dtype=np.float32)
        for code in self.stems:
            vec[self.vocabulary.index(code)] = 1.0
        return vec

    def slot_audio(self, rate: int, channels: int) -> dict[str, np.ndarray]:
        """Each present slot's summed audio at ``rate`` Hz: code -> float32 ``[C, N]``, one length N.

        Stems of different lengths are an error (they cannot be aligned), except a difference of
        up to 10 ms, which is padded with silence (resampling and encoders leave such tails).
        """
        loaded = {
            code: [load_source(s, rate, channels) for s in sources] for code, sources in self.stems.items()
        }
        loaded_residual = [load_source(s, rate, channels) for s in self.residual]
        lengths = [a.shape[1] for group in [*loaded.values(), loaded_residual] for a in group]
        n = max(lengths)
        if n - min(lengths) > 0.01 * rate:
            raise DatasetError(
                f"track {self.name}: stems have different lengths "
                f"({min(lengths)} vs {n} samples at {rate} Hz)"
            )
        out = {}
        for code, group in loaded.items():
            total = np.zeros((channels, n), dtype=np.float32)
            for a in group:
                total[:, : a.shape[1]] += a
            out[code] = total
        return out

    def residual_audio(self, rate: int, channels: int, length: int) -> np.ndarray:
        """Sum of the stems without a slot, float32 ``[C, length]`` (zeros when there are none)."""
        total = np.zeros((channels, length), dtype=np.float32)
        for source in self.residual:
            a = load_source(source, rate, channels)[:, :length]
            total[:, : a.shape[1]] += a
        return total

    def mixture_audio(self, rate: int, channels: int) -> np.ndarray:
        """The dataset's mixture at ``rate`` Hz, float32 ``[C, N]``, or the sum of all stems."""
        if self.mixture is not None:
            return load_source(self.mixture, rate, channels)
        slots = self.slot_audio(rate, channels)
        n = next(iter(slots.values())).shape[1]
        return sum(slots.values()) + self.residual_audio(rate, channels, n)
