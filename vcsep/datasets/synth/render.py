"""Humanised performance of fitted voices, rendered part by part with fluidsynth.

A performance turns quarter-note scores into seconds with a drifting tempo, onset and velocity
jitter and per-part gain, so that no two pieces sound mechanically alike. Each part is rendered
alone (an isolated stem, as URMP recorded its players one by one) with a GM soundfont of sampled
real instruments.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf

from vcsep import vocab
from vcsep.datasets.synth.scores import Note

SAMPLE_RATE = 48000
# Debian's packages for the renderer and its default soundfonts (the small one is a fallback).
SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
)
# Silence rendered between parts laid end to end in one fluidsynth run: longer than any release.
_PART_GAP_S = 3.0
_RELEASE_TAIL_S = 1.0


@dataclass(frozen=True)
class PlayedNote:
    """A performed note: onset and duration in seconds, MIDI pitch, MIDI velocity 1..127."""

    onset: float
    duration: float
    pitch: int
    velocity: int

    @property
    def hz(self) -> float:
        return float(440.0 * 2 ** ((self.pitch - 69) / 12))


def find_soundfont(soundfont: Path | None) -> Path:
    """The soundfont to render with: ``soundfont`` if given, else the first Debian one installed."""
    if soundfont is not None:
        soundfont = Path(soundfont)
        if not soundfont.is_file():
            raise FileNotFoundError(f"soundfont {soundfont} does not exist")
        return soundfont
    for candidate in SOUNDFONTS:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "no GM soundfont found (looked for " + ", ".join(map(str, SOUNDFONTS)) + "); "
        "install the Debian package fluid-soundfont-gm (apt-get install fluid-soundfont-gm) "
        "or pass --soundfont"
    )


def find_fluidsynth() -> str:
    """Path of the fluidsynth command; a clear error naming the Debian package when it is missing."""
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise FileNotFoundError(
            "the fluidsynth command was not found; install the Debian package fluidsynth "
            "(apt-get install fluidsynth)"
        )
    return exe


def perform(
    parts: list[list[Note]], rng: np.random.Generator, max_seconds: float
) -> tuple[list[list[PlayedNote]], list[float], float]:
    """Humanise the quarter-note parts of one piece.

    Returns the played notes of each part, a linear gain per part (0.6..1.0), and the piece
    duration in seconds (last note end, cut at ``max_seconds``, plus a release tail).
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
            velocity = int(np.clip(round(loudness + rng.normal(0.0, 7.0)), 30, 127))
            played.append(PlayedNote(onset, duration, note.pitch, velocity))
        played_parts.append(played)
        gains.append(float(rng.uniform(0.6, 1.0)))
        if played:
            end = max(end, max(n.onset + n.duration for n in played))
    return played_parts, gains, min(end, max_seconds) + _RELEASE_TAIL_S


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


def render_parts(
    codes: tuple[str, ...], parts: list[list[PlayedNote]], duration: float, soundfont: Path
) -> np.ndarray:
    """Render every part alone; returns float32 ``[P, N]`` at 48 kHz, ``N = round(duration * 48000)``.

    The parts are laid end to end, separated by silence, in one fluidsynth run so that the
    soundfont is loaded once per piece; the run's output is then cut back into parts. Reverb and
    chorus are off: stems stay dry, as close-miked players are.
    """
    exe = find_fluidsynth()
    n = int(round(duration * SAMPLE_RATE))
    slot = duration + _PART_GAP_S
    laid_out = [
        [PlayedNote(note.onset + i * slot, note.duration, note.pitch, note.velocity) for note in notes]
        for i, notes in enumerate(parts)
    ]
    midi = score_midi(codes, laid_out)
    with tempfile.TemporaryDirectory(prefix="vcsep-render-") as tmp:
        mid, wav = Path(tmp) / "parts.mid", Path(tmp) / "parts.wav"
        midi.write(str(mid))
        cmd = [
            exe,
            "-ni",
            "-q",
            "-R",
            "0",
            "-C",
            "0",
            "-g",
            "0.5",
            "-r",
            str(SAMPLE_RATE),
            "-F",
            str(wav),
            "-T",
            "wav",
            "-O",
            "float",
            str(soundfont),
            str(mid),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not wav.is_file():
            raise RuntimeError(f"fluidsynth failed on {soundfont}: {result.stderr.strip()[-500:]}")
        audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    if sr != SAMPLE_RATE:
        raise RuntimeError(f"fluidsynth wrote {sr} Hz instead of {SAMPLE_RATE} Hz")
    mono = audio.mean(axis=1)
    stems = np.zeros((len(parts), n), dtype=np.float32)
    for i in range(len(parts)):
        start = int(round(i * slot * SAMPLE_RATE))
        piece = mono[start : start + n]
        stems[i, : len(piece)] = piece
    return stems


def notes_table(notes: list[PlayedNote]) -> str:
    """URMP ``Notes_*`` text: one line per note, ``onset s<TAB>pitch Hz<TAB>duration s``."""
    return "".join(f"{n.onset:.6f}\t{n.hz:.3f}\t{n.duration:.6f}\n" for n in notes)


def f0_table(notes: list[PlayedNote], duration: float, hop: float) -> str:
    """URMP ``F0s_*`` text: ``time s<TAB>f0 Hz`` every ``hop`` seconds, 0 where the part is silent."""
    times = np.arange(0.0, duration, hop)
    f0 = np.zeros_like(times)
    for n in notes:
        f0[(times >= n.onset) & (times < n.onset + n.duration)] = n.hz
    return "".join(f"{t:.6f}\t{f:.3f}\n" for t, f in zip(times, f0))
