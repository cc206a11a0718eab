"""Expressive playing: what a player adds to the notes, drawn per player from the piece's seed.

* vibrato: a depth (cents) and rate (Hz) per player, ramping in after each onset and deeper on long
  notes, applied to the rendered part as a slowly varying read position (a delay line: pitch
  moves, timing stays within a millisecond), so every timbre source gets the same vibrato;
* a tuning offset of a few cents per player (given to the renderer: pitch bend or sampler ratio);
* articulation: note lengths (staccato on some short notes, the rest held most of their value);
* phrase-level dynamics: a smooth gain curve of a few dB over phrases of 4 to 12 s (the score's
  own dynamic marks set the velocities, see :func:`~vcsep.datasets.synth.render.perform`);
* breath or bow noise: band-limited noise that follows the notes, 28 to 40 dB under the part.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import signal

from vcsep.datasets.synth.render import SAMPLE_RATE, PlayedNote

# vibrato depth, note gates and read positions move slowly: computed at 1 kHz, then interpolated
CONTROL_RATE = 1000
_STEP = SAMPLE_RATE // CONTROL_RATE
STRINGS = ("vn", "va", "vc", "db")
BRASS = ("tpt", "hn", "tbn", "tba")
# vibrato depth range in cents (half the peak-to-peak swing) per family; clarinettists and most
# brass players use little or none
_VIBRATO_CENTS = {"strings": (12.0, 35.0), "winds": (6.0, 25.0), "cl": (0.0, 6.0), "brass": (0.0, 12.0)}
# noise band (Hz): bow hair on strings, breath on winds
_NOISE_BAND = {"strings": (2000.0, 7000.0), "winds": (1200.0, 9000.0)}


def family(code: str) -> str:
    if code in STRINGS:
        return "strings"
    if code == "cl":
        return "cl"
    return "brass" if code in BRASS else "winds"


@dataclass(frozen=True)
class Player:
    """How one player plays: vibrato depth (cents) and rate (Hz), tuning offset (cents), chance
    of staccato on short notes, phrase dynamics depth (dB) and noise level (dB under the part)."""

    vibrato_cents: float
    vibrato_hz: float
    tuning_cents: float
    staccato: float
    phrase_db: float
    noise_db: float

    def record(self) -> dict:
        return {k: round(v, 3) for k, v in asdict(self).items()}


def draw_player(code: str, rng: np.random.Generator) -> Player:
    """A seeded player of instrument ``code``."""
    low, high = _VIBRATO_CENTS[family(code)]
    return Player(
        vibrato_cents=float(rng.uniform(low, high)),
        vibrato_hz=float(rng.uniform(4.5, 6.5)),
        tuning_cents=float(rng.normal(0.0, 4.0)),
        staccato=float(rng.uniform(0.0, 0.4)),
        phrase_db=float(rng.uniform(1.0, 5.0)),
        noise_db=float(rng.uniform(-40.0, -28.0)),
    )


def articulate(notes: list[PlayedNote], player: Player, rng: np.random.Generator) -> list[PlayedNote]:
    """Note lengths: short notes (under 0.4 s) are detached (40-65 % of their length, marked
    ``detached``) with the player's staccato chance; the others keep 88-100 % of theirs."""
    out = []
    for note in notes:
        detached = note.duration < 0.4 and rng.random() < player.staccato
        factor = rng.uniform(0.4, 0.65) if detached else rng.uniform(0.88, 1.0)
        out.append(replace(note, duration=max(0.05, note.duration * factor), detached=bool(detached)))
    return out


def control_length(n: int) -> int:
    """Control-rate samples covering ``n`` audio samples (one every 1 ms, both ends included)."""
    return n // _STEP + 2


def _to_audio_rate(control: np.ndarray, n: int) -> np.ndarray:
    """A control-rate signal linearly interpolated to ``n`` audio samples: float64 ``[n]``."""
    return np.interp(np.arange(n) / _STEP, np.arange(len(control)), control)


def _note_gate(notes: list[PlayedNote], m: int) -> np.ndarray:
    """1 inside notes, 0 outside, at the control rate: float64 ``[m]``."""
    gate = np.zeros(m)
    for note in notes:
        a = int(note.onset * CONTROL_RATE)
        gate[a : a + int(note.duration * CONTROL_RATE)] = 1.0
    return gate


def _smooth(x: np.ndarray, taps: int) -> np.ndarray:
    """``x`` (float ``[m]``) through a triangular window about ``taps`` samples wide (two running
    means of ``taps // 2``, unit gain), same length."""
    width = max(1, taps // 2)
    for _ in range(2):
        padded = np.concatenate([np.zeros(width // 2 + 1), x, np.zeros(width - 1 - width // 2)])
        total = np.cumsum(padded)
        x = (total[width:] - total[:-width]) / width
    return x


def vibrato_depth(notes: list[PlayedNote], m: int, cents: float) -> np.ndarray:
    """Vibrato depth in cents at the control rate, float64 ``[m]``: none for the first 150 ms of a
    note, then ramping in over 300 ms to ``cents`` scaled by the note's length (full from 0.8 s)."""
    depth = np.zeros(m)
    for note in notes:
        a = int(note.onset * CONTROL_RATE)
        b = min(m, a + int(note.duration * CONTROL_RATE))
        if b <= a:
            continue
        t = np.arange(b - a) / CONTROL_RATE
        ramp = np.clip((t - 0.15) / 0.3, 0.0, 1.0)
        depth[a:b] = cents * min(1.0, note.duration / 0.8) * ramp
    # smooth note boundaries (10 ms) so the read position never bends abruptly
    return _smooth(depth, 10)


def apply_vibrato(
    audio: np.ndarray, depth: np.ndarray, hz: float, phase: float
) -> tuple[np.ndarray, np.ndarray]:
    """Frequency-modulate ``audio`` (float32 ``[n]`` at 48 kHz) by ``depth`` cents (control rate,
    ``[control_length(n)]``) at ``hz``: the output reads the input at a position whose speed is
    ``2**(cents(t)/1200)``, integrated at the control rate (vibrato is far slower) and interpolated.
    Returns the output (float32 ``[n]``) and its pitch deviation in cents at the control rate."""
    n = len(audio)
    cents = depth * np.sin(2 * np.pi * hz * np.arange(len(depth)) / CONTROL_RATE + phase)
    position = _STEP * np.concatenate([[0.0], np.cumsum(np.exp2(cents[:-1] / 1200.0))])
    return np.interp(_to_audio_rate(position, n), np.arange(n), audio).astype(np.float32), cents


def phrase_curve(n: int, depth_db: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth gain curve (linear, float32 ``[n]``): three slow sinusoids of 4-12 s periods whose
    sum swings about ``depth_db`` dB either way."""
    # drawn at 100 Hz and interpolated: the curve is far slower than that
    t = np.arange(n // 480 + 2) / 100.0
    db = np.zeros(len(t))
    for _ in range(3):
        db += np.sin(2 * np.pi * t / rng.uniform(4.0, 12.0) + rng.uniform(0, 2 * np.pi))
    curve = np.interp(np.arange(n) / SAMPLE_RATE, t, db)
    return (10 ** (depth_db / 3 * curve / 20)).astype(np.float32)


def player_noise(
    code: str, notes: list[PlayedNote], audio: np.ndarray, level_db: float, rng: np.random.Generator
) -> np.ndarray:
    """Bow or breath noise for one part: band-passed noise gated by its notes (20 ms attack and
    release), ``level_db`` under the part's RMS while playing. float32 ``[n]``."""
    n = len(audio)
    gate = _note_gate(notes, control_length(n))
    if not gate.any():
        return np.zeros(n, dtype=np.float32)
    gate = _to_audio_rate(_smooth(gate, 20), n)
    band = _NOISE_BAND["strings" if code in STRINGS else "winds"]
    sos = signal.butter(2, band, btype="bandpass", fs=SAMPLE_RATE, output="sos")
    noise = signal.sosfilt(sos.astype(np.float32), rng.standard_normal(n, dtype=np.float32))
    noise /= np.sqrt(np.mean(noise.astype(np.float64) ** 2)) + 1e-12
    playing = np.sqrt(np.mean(audio[gate > 0.5].astype(np.float64) ** 2)) if (gate > 0.5).any() else 0.0
    return (noise * gate * playing * 10 ** (level_db / 20)).astype(np.float32)


def express(
    code: str, notes: list[PlayedNote], audio: np.ndarray, player: Player, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The rendered part (float32 ``[n]`` at 48 kHz) with the player's vibrato, phrase dynamics and
    bow/breath noise, and its vibrato in cents at :data:`CONTROL_RATE` (for the F0 annotation)."""
    n = len(audio)
    cents = np.zeros(control_length(n))
    if player.vibrato_cents > 0:
        depth = vibrato_depth(notes, len(cents), player.vibrato_cents)
        audio, cents = apply_vibrato(audio, depth, player.vibrato_hz, float(rng.uniform(0, 2 * np.pi)))
    audio = audio + player_noise(code, notes, audio, player.noise_db, rng)
    return audio * phrase_curve(n, player.phrase_db, rng), cents
