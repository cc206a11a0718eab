"""Training examples mixed on the fly: a mixture window with context around a target window.

An example is a dict of float32 arrays::

    mixture  [C, input_length]        what the separator hears (context on both sides)
    targets  [K, C, output_length]    one stem per slot, aligned with the centre of the mixture
    labels   [K]                      multi-hot: which slots are present
    track    []  int64                the track of a coherent mix (index into the tracks), else -1

Mixes are *coherent* (the stems of one piece at one offset, as recorded together) or *incoherent*
(each slot from any piece, at its own offset), with random gains. Every example is a pure function
of ``(seed, index)``: the same pair always gives the same arrays, in any worker, in any order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vcsep.audio.io import window
from vcsep.datasets.augment import InputChain, degrade
from vcsep.datasets.notes import activity_frames, note_intervals
from vcsep.datasets.track import DatasetError, Track
from vcsep.vocab import Vocabulary


@dataclass(frozen=True)
class Segment:
    """Window lengths in samples at ``sample_rate`` Hz (from the model's shape helper)."""

    input_length: int
    output_length: int
    sample_rate: int = 22050
    channels: int = 1

    def __post_init__(self) -> None:
        if self.output_length < 1 or self.input_length < self.output_length:
            raise ValueError(f"need input_length >= output_length >= 1, got {self}")

    @property
    def context(self) -> int:
        """Samples of context before the target window (the rest of the context comes after)."""
        return (self.input_length - self.output_length) // 2


@dataclass(frozen=True)
class MixConfig:
    """How examples are drawn.

    ``coherent`` is the probability of a coherent mix (1: always, 0: always incoherent);
    ``gain_db`` the range of a random gain per slot; ``max_sources`` the most slots of an
    incoherent mix; a target window counts as mostly silent when fewer than ``min_active`` of its
    20 ms frames are above ``silence_db`` dBFS, and is redrawn up to ``tries`` times.
    ``activity_hz`` (frames per second) adds time-varying labels from the Notes files to every
    example (``activity [K, T]``); None gives clip-level labels only.
    ``input_chain`` degrades the mixture as real inputs arrive (band limits, AAC/MP3, level;
    :class:`~vcsep.datasets.augment.InputChain`); None leaves it clean.
    """

    coherent: float = 0.5
    gain_db: tuple[float, float] = (-6.0, 3.0)
    max_sources: int = 4
    min_active: float = 0.3
    silence_db: float = -50.0
    tries: int = 10
    activity_hz: float | None = None
    input_chain: InputChain | None = None


def active_fraction(audio: np.ndarray, rate: int, silence_db: float) -> float:
    """Fraction of 20 ms frames of ``audio`` ([C, N] float32) louder than ``silence_db`` dBFS RMS."""
    hop = max(1, int(0.02 * rate))
    n = audio.shape[-1] // hop
    if n == 0:
        return 0.0
    frames = audio[..., : n * hop].reshape(-1, n, hop)
    rms = np.sqrt(np.mean(frames**2, axis=(0, 2)))
    return float(np.mean(rms > 10 ** (silence_db / 20)))


class InMemoryMixer:
    """Map-style dataset of mixed examples, with every track's slots held in memory.

    ``len`` is ``examples`` (an epoch); ``mixer[i]`` is example ``i`` for the mixer's seed.
    """

    def __init__(
        self,
        tracks: list[Track],
        segment: Segment,
        config: MixConfig = MixConfig(),
        seed: int = 0,
        examples: int = 1000,
    ):
        if not tracks:
            raise DatasetError("no tracks to mix: the dataset is empty")
        vocabularies = {t.vocabulary for t in tracks}
        if len(vocabularies) != 1:
            raise DatasetError(f"tracks mix several vocabularies: {sorted(v.name for v in vocabularies)}")
        self.vocabulary: Vocabulary = vocabularies.pop()
        self.tracks = tracks
        self.segment, self.config, self.seed, self.examples = segment, config, seed, examples
        rate, ch = segment.sample_rate, segment.channels
        self.slots = [t.slot_audio(rate, ch) for t in tracks]
        self.residuals = [
            t.residual_audio(rate, ch, next(iter(s.values())).shape[1]) for t, s in zip(tracks, self.slots)
        ]
        self.lengths = np.array([next(iter(s.values())).shape[1] for s in self.slots], dtype=np.float64)
        # each slot's notes per track, for time-varying labels (None: clip-level labels only)
        self.notes = (
            [{code: note_intervals(paths) for code, paths in t.notes.items()} for t in tracks]
            if config.activity_hz
            else None
        )
        # incoherent mixes draw each slot from the tracks that have it
        self.holders: dict[str, list[int]] = {}
        for i, slots in enumerate(self.slots):
            for code in slots:
                self.holders.setdefault(code, []).append(i)

    def __len__(self) -> int:
        return self.examples

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not 0 <= index < self.examples:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index])
        example = self._coherent(rng) if rng.random() < self.config.coherent else self._incoherent(rng)
        if self.config.input_chain is not None:
            example["mixture"], example["targets"] = degrade(
                example["mixture"], example["targets"], self.segment.sample_rate, self.config.input_chain, rng
            )
        return example

    def _start(self, rng: np.random.Generator, track: int) -> int:
        """Start of a target window inside track ``track`` (any start if the track is shorter)."""
        return int(rng.integers(0, max(1, int(self.lengths[track]) - self.segment.output_length + 1)))

    def _gain(self, rng: np.random.Generator) -> np.float32:
        return np.float32(10 ** (rng.uniform(*self.config.gain_db) / 20))

    def _mostly_silent(self, target: np.ndarray) -> bool:
        c = self.config
        return active_fraction(target, self.segment.sample_rate, c.silence_db) < c.min_active

    def _example(
        self, pieces: dict[str, list[tuple[int, int, np.float32]]], track: int = -1, extra=()
    ) -> dict:
        """Assemble an example from ``code -> [(track, target start, gain)]`` (and unslotted audio).

        With ``config.activity_hz`` the example also holds ``activity [K, T]``: the share of each of
        ``T`` frames over the input window in which a note of the slot sounds (from the tracks'
        Notes files; a slot without them counts as sounding throughout).
        """
        seg, voc = self.segment, self.vocabulary
        mixture = np.zeros((seg.channels, seg.input_length), dtype=np.float32)
        targets = np.zeros((len(voc), seg.channels, seg.output_length), dtype=np.float32)
        labels = np.zeros(len(voc), dtype=np.float32)
        span_s = seg.input_length / seg.sample_rate
        frames = math.ceil(span_s * self.config.activity_hz) if self.notes is not None else 0
        activity = np.zeros((len(voc), frames), dtype=np.float32)
        for code, items in pieces.items():
            k = voc.index(code)
            labels[k] = 1.0
            for source, start, gain in items:
                audio = self.slots[source][code]
                mixture += gain * window(audio, start - seg.context, seg.input_length)
                targets[k] += gain * window(audio, start, seg.output_length)
                if frames:
                    notes = self.notes[source].get(code)
                    first_s = (start - seg.context) / seg.sample_rate
                    row = 1.0 if notes is None else activity_frames(notes, first_s, span_s, frames)
                    activity[k] = np.maximum(activity[k], row)
        for audio, start, gain in extra:
            mixture += gain * window(audio, start - seg.context, seg.input_length)
        example = {"mixture": mixture, "targets": targets, "labels": labels, "track": np.int64(track)}
        return example | ({"activity": activity} if frames else {})

    def _coherent(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The stems of one piece at one offset, each slot with its own gain."""
        track = int(rng.choice(len(self.tracks), p=self.lengths / self.lengths.sum()))
        slots = self.slots[track]
        for _ in range(self.config.tries):
            start = self._start(rng, track)
            total = sum(window(a, start, self.segment.output_length) for a in slots.values())
            if not self._mostly_silent(total):
                break
        pieces = {code: [(track, start, self._gain(rng))] for code in slots}
        residual = [(self.residuals[track], start, np.float32(1.0))]
        return self._example(pieces, track, residual)

    def _incoherent(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Up to ``max_sources`` slots, each from a random piece that has it, at its own offset."""
        codes = sorted(self.holders)
        n = int(rng.integers(1, min(self.config.max_sources, len(codes)) + 1))
        pieces = {}
        for code in (codes[i] for i in sorted(rng.choice(len(codes), size=n, replace=False))):
            for _ in range(self.config.tries):
                track = int(rng.choice(self.holders[code]))
                start = self._start(rng, track)
                audio = self.slots[track][code]
                if not self._mostly_silent(window(audio, start, self.segment.output_length)):
                    break
            pieces[code] = [(track, start, self._gain(rng))]
        return self._example(pieces)
