"""Humanised performance of fitted voices, rendered part by part with fluidsynth.

A performance turns quarter-note scores into seconds with a drifting tempo, onset and velocity
jitter and per-part gain, so that no two pieces sound mechanically alike. Each part is rendered
alone (an isolated stem, as URMP recorded its players one by one) with a GM soundfont of sampled
real instruments, by libfluidsynth in this process: a soundfont is loaded once per process (the
86 MB MuseScore General sf3 takes a second to parse) and every part gets a fresh synthesizer, so
a part's audio never depends on what was rendered before it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pretty_midi

from vcsep import vocab
from vcsep.datasets.synth.scores import Note

SAMPLE_RATE = 48000
# Debian's fluid-soundfont-gm. TimGM6mb is no fallback: its viola is the violin's samples
# (it is the timbre source ``timgm6mb`` for the instruments it has samples of its own for).
SOUNDFONTS = (Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),)
_RELEASE_TAIL_S = 1.0
# fluidsynth's default pitch-bend range is 2 semitones either way over 14 bits
_BEND_CENTRE, _BEND_PER_CENT = 8192, 8192 / 200.0


@dataclass(frozen=True)
class PlayedNote:
    """A performed note: onset and duration in seconds, MIDI pitch, MIDI velocity 1..127;
    ``detached`` when the player shortened it (staccato: a sampler plays it with a detached
    recording, such as pizzicato, where it has one)."""

    onset: float
    duration: float
    pitch: int
    velocity: int
    detached: bool = False

    @property
    def hz(self) -> float:
        return float(440.0 * 2 ** ((self.pitch - 69) / 12))


def check_soundfont(path: Path) -> Path:
    """``path`` if it is a SoundFont (sf2 or sf3: a RIFF ``sfbk`` file), else a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"soundfont {path} does not exist")
    with open(path, "rb") as f:
        head = f.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise ValueError(f"soundfont {path} is not a SoundFont file (sf2/sf3 start with RIFF....sfbk)")
    return path


def find_soundfont(soundfont: Path | None) -> Path:
    """The GM soundfont to render with: ``soundfont`` if given (checked), else Debian's FluidR3."""
    if soundfont is not None:
        return check_soundfont(soundfont)
    for candidate in SOUNDFONTS:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "no GM soundfont found (looked for " + ", ".join(map(str, SOUNDFONTS)) + "); "
        "install the Debian package fluid-soundfont-gm (apt-get install fluid-soundfont-gm) "
        "or pass --soundfont"
    )


def find_fluidsynth() -> str:
    """Name of the fluidsynth library; a clear error naming the Debian package when it is missing."""
    name = ctypes.util.find_library("fluidsynth")
    if name is None:
        raise FileNotFoundError(
            "the fluidsynth library was not found; install the Debian package fluidsynth "
            "(apt-get install fluidsynth)"
        )
    return name


@cache
def _fluid() -> ctypes.CDLL:
    """libfluidsynth with the signatures used here; warnings (a new synth has no preset until its
    soundfont is added) are silenced."""
    lib = ctypes.CDLL(find_fluidsynth())
    v, i, d, s = ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.c_char_p
    signatures = {
        "new_fluid_settings": (v, []),
        "fluid_settings_setnum": (i, [v, s, d]),
        "fluid_settings_setint": (i, [v, s, i]),
        "new_fluid_synth": (v, [v]),
        "delete_fluid_synth": (None, [v]),
        "fluid_synth_sfload": (i, [v, s, i]),
        "fluid_synth_get_sfont_by_id": (v, [v, i]),
        "fluid_synth_add_sfont": (i, [v, v]),
        "fluid_synth_remove_sfont": (i, [v, v]),
        "fluid_synth_program_change": (i, [v, i, i]),
        "fluid_synth_pitch_bend": (i, [v, i, i]),
        "fluid_synth_noteon": (i, [v, i, i, i]),
        "fluid_synth_noteoff": (i, [v, i, i]),
        "fluid_synth_write_float": (i, [v, i, v, i, i, v, i, i]),
        "fluid_set_log_function": (v, [i, v, v]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    lib.fluid_set_log_function(2, None, None)  # FLUID_WARN
    return lib


@cache
def _settings() -> int:
    """Synth settings shared by every render: 48 kHz, gain 0.5, reverb and chorus off (stems stay
    dry, as close-miked players are; rooms are added afterwards), samples loaded on demand."""
    lib = _fluid()
    settings = lib.new_fluid_settings()
    lib.fluid_settings_setnum(settings, b"synth.sample-rate", float(SAMPLE_RATE))
    lib.fluid_settings_setnum(settings, b"synth.gain", 0.5)
    lib.fluid_settings_setint(settings, b"synth.reverb.active", 0)
    lib.fluid_settings_setint(settings, b"synth.chorus.active", 0)
    lib.fluid_settings_setint(settings, b"synth.dynamic-sample-loading", 1)
    return settings


@cache
def _loaded(soundfont: Path) -> int:
    """The soundfont loaded once per process, held by a synth that is never played."""
    lib = _fluid()
    holder = lib.new_fluid_synth(_settings())
    sfont_id = lib.fluid_synth_sfload(holder, str(soundfont).encode(), 1)
    if sfont_id < 0:
        raise ValueError(f"fluidsynth cannot load soundfont {soundfont}")
    return lib.fluid_synth_get_sfont_by_id(holder, sfont_id)


def perform(
    parts: list[list[Note]], rng: np.random.Generator, max_seconds: float, dynamics: bool = False
) -> tuple[list[list[PlayedNote]], list[float], float]:
    """Humanise the quarter-note parts of one piece.

    Returns the played notes of each part, a linear gain per part (0.6..1.0), and the piece
    duration in seconds (last note end plus a release tail, never more than ``max_seconds``).
    With ``dynamics`` the score's dynamic marks scale each player's loudness (pp 0.74x .. ff 1.2x
    of the velocity).
    """
    qpm = rng.uniform(60.0, 96.0)
    # Tempo drifts sinusoidally by a few percent over a few bars; seconds(q) is its integral.
    depth, period, phase = rng.uniform(0.01, 0.05), rng.uniform(8.0, 24.0), rng.uniform(0, 2 * np.pi)

    def seconds(q: float) -> float:
        drift = depth * period / (2 * np.pi) * (np.cos(phase) - np.cos(2 * np.pi * q / period + phase))
        return 60.0 / qpm * (q + drift)

    start_q = _busiest_start(parts, window_q=max_seconds * qpm / 60.0)
    t0 = seconds(start_q)

    played_parts, gains = [], []
    end = 0.0
    for notes in parts:
        loudness = rng.uniform(64, 100)
        legato = rng.uniform(0.85, 0.98)
        played = []
        for note in notes:
            if note.onset_q < start_q:
                continue
            onset = max(0.0, seconds(note.onset_q) - t0 + rng.normal(0.0, 0.012))
            if onset >= max_seconds:
                break
            duration = (seconds(note.onset_q + note.duration_q) - seconds(note.onset_q)) * legato
            duration = min(max(duration, 0.05), max_seconds - onset)
            velocity = loudness + rng.normal(0.0, 7.0)
            if dynamics and note.dynamic is not None:
                velocity *= 0.6 + 0.7 * note.dynamic
            velocity = int(np.clip(round(velocity), 30, 127))
            played.append(PlayedNote(onset, duration, note.pitch, velocity))
        played_parts.append(played)
        gains.append(float(rng.uniform(0.6, 1.0)))
        if played:
            end = max(end, max(n.onset + n.duration for n in played))
    return played_parts, gains, min(end + _RELEASE_TAIL_S, max_seconds)


def _busiest_start(parts: list[list[Note]], window_q: float) -> float:
    """Start (quarter notes, on a bar of 4) of the excerpt of ``window_q`` quarters in which the
    least busy part sounds longest, so that no stem of a cut piece is silent (madrigals and
    quartets often open with one voice alone)."""
    end = max((n.onset_q + n.duration_q for notes in parts for n in notes), default=0.0)
    best, best_score = 0.0, -1.0
    for start in np.arange(0.0, max(end - window_q, 0.0) + 4.0, 4.0):
        stop = start + window_q
        score = min(
            sum(max(0.0, min(n.onset_q + n.duration_q, stop) - max(n.onset_q, start)) for n in notes)
            for notes in parts
        )
        if score > best_score + 1e-9:
            best, best_score = float(start), score
    return best


def score_midi(codes: tuple[str, ...], parts: list[list[PlayedNote]]) -> pretty_midi.PrettyMIDI:
    """The performance as a MIDI file with one track (and GM program) per part."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    for number, (code, notes) in enumerate(zip(codes, parts), start=1):
        track = pretty_midi.Instrument(program=vocab.BY_CODE[code].gm_program, name=f"{number} {code}")
        track.notes = [pretty_midi.Note(n.velocity, n.pitch, n.onset, n.onset + n.duration) for n in notes]
        midi.instruments.append(track)
    return midi


def render_part(
    program: int, notes: list[PlayedNote], n: int, soundfont: Path, tuning_cents: float = 0.0
) -> np.ndarray:
    """One part alone with GM ``program`` of ``soundfont``, detuned by ``tuning_cents`` (pitch
    bend): float32 ``[n]`` at 48 kHz, the mean of fluidsynth's two channels.

    Events land on exact samples; a fresh synth per part keeps the audio independent of the order
    in which parts and pieces are rendered.
    """
    lib = _fluid()
    sfont = _loaded(Path(soundfont))
    events = [(0, 0, program, 0)]
    if tuning_cents:
        bend = int(round(_BEND_CENTRE + tuning_cents * _BEND_PER_CENT))
        events.append((0, 1, min(max(bend, 0), 16383), 0))
    for note in notes:
        on = int(round(note.onset * SAMPLE_RATE))
        events.append((on, 3, note.pitch, note.velocity))
        events.append((on + max(1, int(round(note.duration * SAMPLE_RATE))), 2, note.pitch, 0))
    # note-offs before note-ons at one time: a repeated pitch is released, then struck again
    events.sort(key=lambda e: (e[0], e[1]))
    left, right = np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
    synth = lib.new_fluid_synth(_settings())
    lib.fluid_synth_add_sfont(synth, sfont)
    try:
        done = 0
        for time, kind, a, b in [*events, (n, -1, 0, 0)]:
            time = min(time, n)
            if time > done:
                lib.fluid_synth_write_float(
                    synth, time - done, left[done:].ctypes.data, 0, 1, right[done:].ctypes.data, 0, 1
                )
                done = time
            if kind == 0:
                lib.fluid_synth_program_change(synth, 0, a)
            elif kind == 1:
                lib.fluid_synth_pitch_bend(synth, 0, a)
            elif kind == 2:
                lib.fluid_synth_noteoff(synth, 0, a)
            elif kind == 3:
                lib.fluid_synth_noteon(synth, 0, a, b)
    finally:
        # the soundfont belongs to the holder synth: take it back before this synth is freed
        lib.fluid_synth_remove_sfont(synth, sfont)
        lib.delete_fluid_synth(synth)
    return (left + right) * np.float32(0.5)


def render_parts(
    codes: tuple[str, ...], parts: list[list[PlayedNote]], duration: float, soundfont: Path
) -> np.ndarray:
    """Render every part alone with its GM program; float32 ``[P, N]`` at 48 kHz,
    ``N = round(duration * 48000)``."""
    n = int(round(duration * SAMPLE_RATE))
    return np.stack(
        [render_part(vocab.BY_CODE[c].gm_program, notes, n, soundfont) for c, notes in zip(codes, parts)]
    )


def notes_table(notes: list[PlayedNote]) -> str:
    """URMP ``Notes_*`` text: one line per note, ``onset s<TAB>pitch Hz<TAB>duration s``."""
    return "".join(f"{n.onset:.6f}\t{n.hz:.3f}\t{n.duration:.6f}\n" for n in notes)


def f0_table(
    notes: list[PlayedNote], duration: float, hop: float, cents: np.ndarray | None = None, cents_rate: int = 1
) -> str:
    """URMP ``F0s_*`` text: ``time s<TAB>f0 Hz`` every ``hop`` seconds, 0 where the part is silent.

    ``cents`` (the player's tuning and vibrato, sampled at ``cents_rate`` Hz) bends the notated
    pitch, as a pitch tracker would see it."""
    times = np.arange(0.0, duration, hop)
    f0 = np.zeros_like(times)
    for n in notes:
        f0[(times >= n.onset) & (times < n.onset + n.duration)] = n.hz
    if cents is not None:
        at = np.minimum((times * cents_rate).astype(int), len(cents) - 1)
        f0 *= np.exp2(cents[at] / 1200.0)
    return "".join(f"{t:.6f}\t{f:.3f}\n" for t, f in zip(times, f0))
