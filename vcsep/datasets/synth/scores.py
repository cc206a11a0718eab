"""Real multi-part scores from music21's offline corpus, fitted to a URMP instrument combination.

Sources: Bach chorales (4 voices), Monteverdi madrigals (5 voices) and Haydn, Mozart and
Beethoven string quartet movements (4 parts). A piece with ``n`` instruments takes ``n`` voices of
a score with at least ``n`` parts (outer voices first), and each voice is moved by whole octaves
into its instrument's playable range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np

from vcsep import vocab


@dataclass(frozen=True)
class ScoreSource:
    """A score in music21's corpus: its path relative to the corpus root and its part count."""

    path: str
    parts: int

    @property
    def title(self) -> str:
        """A URMP-style title (ASCII letters and digits): ``bach/bwv10.7.mxl`` -> ``Bwv10x7``,
        ``haydn/opus1no1/movement2.mxl`` -> ``HaydnOpus1no1M2``."""
        composer, *rest = Path(self.path).with_suffix("").parts
        text = "".join(rest).replace("movement", "M")
        text = "".join(ch if ch.isalnum() else "x" for ch in text)
        prefix = "" if composer in ("bach", "monteverdi") else composer.title()
        return prefix + text[0].upper() + text[1:]


@dataclass(frozen=True)
class Note:
    """One note of a voice: onset and duration in quarter notes, pitch as a MIDI number, and the
    score's dynamic at the note (music21's volume scalar: pp about 0.2, mf 0.55, ff 0.85; None when
    the score marks none)."""

    onset_q: float
    duration_q: float
    pitch: int
    dynamic: float | None = None


# Part counts are fixed by the corpus: chorales and quartets have 4 parts, the madrigals 5.
_POOLS = (
    ("bach", 4, lambda p: p.endswith(".mxl")),
    ("monteverdi", 5, lambda p: p.endswith(".mxl") and "_old" not in p),
    ("haydn", 4, lambda p: p.endswith(".mxl")),
    ("mozart", 4, lambda p: p.endswith(".mxl") and "k545" not in p),
    ("beethoven", 4, lambda p: p.endswith(".mxl") and "/movement" in p),
)


@cache
def score_sources() -> tuple[ScoreSource, ...]:
    """Every usable score, sorted by path so that a seed always picks the same one."""
    from music21 import corpus

    root = Path(corpus.getComposer("bach")[0]).parents[1]
    found = []
    for composer, parts, keep in _POOLS:
        for path in corpus.getComposer(composer):
            rel = Path(path).relative_to(root).as_posix()
            if keep(rel):
                found.append(ScoreSource(rel, parts))
    return tuple(sorted(found, key=lambda s: s.path))


def _voice_notes(part) -> list[Note]:
    """Monophonic line of a music21 part (ties merged, chords reduced to their top note)."""
    notes = []
    flat = part.stripTies().flatten()
    marks = [(float(d.offset), float(d.volumeScalar)) for d in flat.getElementsByClass("Dynamic")]
    for element in flat.notes:
        duration = float(element.quarterLength)
        if duration <= 0:  # grace notes have no length of their own
            continue
        pitch = max(p.midi for p in element.pitches)
        before = [v for t, v in marks if t <= element.offset]
        notes.append(Note(float(element.offset), duration, int(pitch), before[-1] if before else None))
    notes.sort(key=lambda n: (n.onset_q, -n.pitch))
    # keep one note per onset and cut each note at the next onset: a monophonic line
    mono: list[Note] = []
    for note in notes:
        if mono and note.onset_q <= mono[-1].onset_q:
            continue
        if mono and mono[-1].onset_q + mono[-1].duration_q > note.onset_q:
            last = mono[-1]
            mono[-1] = replace(last, duration_q=note.onset_q - last.onset_q)
        mono.append(note)
    return mono


def _fit_range(notes: list[Note], instrument: vocab.Instrument) -> list[Note]:
    """Move a voice by the octave shift that leaves fewest notes outside the instrument's range;
    the few notes still outside are folded in by octaves."""
    pitches = np.array([n.pitch for n in notes])
    shifts = range(-4, 5)
    misses = [
        np.sum((pitches + 12 * s < instrument.low) | (pitches + 12 * s > instrument.high)) for s in shifts
    ]
    # ties go to the shift that puts the voice nearest the middle of the range
    mean = pitches.mean()
    best = min(
        shifts,
        key=lambda s: (misses[s + 4], abs(mean + 12 * s - instrument.centre)),
    )
    fitted = []
    for note in notes:
        pitch = note.pitch + 12 * best
        while pitch < instrument.low:
            pitch += 12
        while pitch > instrument.high:
            pitch -= 12
        fitted.append(replace(note, pitch=pitch))
    return fitted


def pick_voices(n_voices: int, n_parts: int) -> list[int]:
    """Indices of ``n_parts`` voices out of ``n_voices`` (top to bottom), outer voices first kept.

    >>> pick_voices(4, 2), pick_voices(4, 3), pick_voices(5, 5)
    ([0, 3], [0, 2, 3], [0, 1, 2, 3, 4])
    """
    if n_parts > n_voices:
        raise ValueError(f"a score with {n_voices} voices cannot give {n_parts} parts")
    return sorted({int(round(x)) for x in np.linspace(0, n_voices - 1, n_parts)})


def load_parts(source: ScoreSource, instruments: Sequence[vocab.Instrument]) -> list[list[Note]]:
    """The voices of ``source`` for ``instruments`` (part order), each fitted to its range.

    Voices go to instruments by register: the highest-sounding instrument of the combination
    plays the top voice, and so on down (players of one instrument keep their part order).
    Returns one note list per part, in the order of ``instruments``.
    """
    from music21 import corpus

    score = corpus.parse(source.path)
    voices = [_voice_notes(p) for p in score.parts]
    voices = [v for v in voices if v]
    chosen = [voices[i] for i in pick_voices(len(voices), len(instruments))]
    by_register = sorted(range(len(instruments)), key=lambda i: (-instruments[i].centre, i))
    parts: list[list[Note]] = [[] for _ in instruments]
    for voice, part_index in zip(chosen, by_register):
        parts[part_index] = _fit_range(voice, instruments[part_index])
    return parts
