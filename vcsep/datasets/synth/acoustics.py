"""Rooms and microphones: each player's stem as a microphone in a room hears it.

A piece is played in one seeded shoebox room (a small studio, a chamber room or a hall), the
players on a half circle in front of one microphone. Each player's impulse response is the
image-source model of pyroomacoustics for the early reflections (up to order 3) and a seeded
exponentially decaying noise tail for the late reverberation (decaying faster at high frequencies,
its energy set by Sabine's critical distance), cut where it has decayed by 60 dB. Stems are
convolved with their responses (FFT convolution), coloured by the microphone's EQ and given a low
noise floor; every stage is linear and per stem, so the mix stays exactly the sum of the stems.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from vcsep.datasets.synth.render import SAMPLE_RATE

SPEED_OF_SOUND = 343.0
# (kind, room size ranges in metres (length, width, height), RT60 range in seconds)
ROOM_KINDS = (
    ("studio", ((4.0, 7.0), (3.0, 6.0), (2.5, 3.5)), (0.2, 0.45)),
    ("chamber", ((8.0, 15.0), (6.0, 12.0), (3.5, 6.0)), (0.5, 1.1)),
    ("hall", ((20.0, 35.0), (15.0, 25.0), (9.0, 15.0)), (1.2, 2.2)),
)
_MAX_ORDER = 3
_MAX_IR_S = 2.5
# late-reverberation bands (Hz edges) and their RT60 relative to the room's
_BANDS = ((0.0, 500.0, 1.15), (500.0, 2000.0, 1.0), (2000.0, 6000.0, 0.8), (6000.0, None, 0.55))


@dataclass(frozen=True)
class Room:
    """A room for one piece: ``size`` (m), ``rt60`` (s), microphone and player positions (m), the
    microphone's EQ (dB gains of its low shelf, presence peak and high shelf, with the peak's
    frequency in Hz) and the noise floor (dB under the mix's peak)."""

    kind: str
    size: tuple[float, float, float]
    rt60: float
    mic: tuple[float, float, float]
    players: tuple[tuple[float, float, float], ...]
    eq_db: tuple[float, float, float]
    presence_hz: float
    noise_db: float

    def record(self) -> dict:
        def r(values):
            return [round(float(v), 3) for v in values]

        return {
            "kind": self.kind,
            "size_m": r(self.size),
            "rt60_s": round(self.rt60, 3),
            "mic_m": r(self.mic),
            "players_m": [r(p) for p in self.players],
            "mic_eq_db": {
                "low_shelf": round(self.eq_db[0], 2),
                "presence": round(self.eq_db[1], 2),
                "high_shelf": round(self.eq_db[2], 2),
                "presence_hz": round(self.presence_hz),
            },
            "noise_floor_db": round(self.noise_db, 1),
        }


def draw_room(players: int, rng: np.random.Generator) -> Room:
    """A seeded room with ``players`` players on an arc up to 5 m in front of the microphone."""
    kind, ranges, rt60_range = ROOM_KINDS[int(rng.integers(len(ROOM_KINDS)))]
    size = tuple(float(rng.uniform(*r)) for r in ranges)
    rt60 = float(rng.uniform(*rt60_range))
    mic = (size[0] * rng.uniform(0.55, 0.75), size[1] * rng.uniform(0.4, 0.6), rng.uniform(1.5, 2.2))
    # inside the room whatever the angle: mic at >= 55 % of the length, >= 40 % of the width
    radius = float(min(5.0, 0.4 * size[0], 0.45 * size[1]) * rng.uniform(0.5, 1.0))
    angles = np.linspace(-0.8, 0.8, players) + rng.normal(0.0, 0.08, players) if players > 1 else [0.0]
    spots = tuple(
        (mic[0] - radius * np.cos(a), mic[1] + radius * np.sin(a), float(rng.uniform(1.0, 1.5)))
        for a in angles
    )
    return Room(
        kind=kind,
        size=size,
        rt60=rt60,
        mic=tuple(float(v) for v in mic),
        players=tuple(tuple(float(v) for v in s) for s in spots),
        eq_db=(float(rng.uniform(-3, 3)), float(rng.uniform(-4, 4)), float(rng.uniform(-6, 2))),
        presence_hz=float(rng.uniform(2000, 6000)),
        noise_db=float(rng.uniform(-75, -62)),
    )


def impulse_responses(room: Room, rng: np.random.Generator) -> np.ndarray:
    """One impulse response per player, float32 ``[P, L]`` at 48 kHz, all shifted by the same
    amount so the nearest player's direct sound arrives at sample 32 (the notes stay on time)."""
    import pyroomacoustics as pra

    volume = float(np.prod(room.size))
    try:
        absorption, _ = pra.inverse_sabine(room.rt60, list(room.size))
    except ValueError:  # too reverberant for Sabine's formula in a small room: walls reflect fully
        absorption = 0.01
    shoebox = pra.ShoeBox(
        list(room.size), fs=SAMPLE_RATE, materials=pra.Material(absorption), max_order=_MAX_ORDER
    )
    for spot in room.players:
        shoebox.add_source(list(spot))
    shoebox.add_microphone(np.array(room.mic))
    shoebox.compute_rir()
    early = [np.asarray(h, dtype=np.float64) for h in shoebox.rir[0]]
    length = int(min(room.rt60 + 0.1, _MAX_IR_S) * SAMPLE_RATE)
    critical = 0.057 * np.sqrt(volume / room.rt60)
    out = np.zeros((len(room.players), length + max(len(h) for h in early)))
    for p, (h, spot) in enumerate(zip(early, room.players)):
        distance = float(np.linalg.norm(np.subtract(spot, room.mic)))
        direct_at = int(np.argmax(np.abs(h)))
        out[p, : len(h)] = h
        direct = np.sum(h[max(direct_at - 40, 0) : direct_at + 41] ** 2)
        # diffuse-to-direct energy ratio (distance / critical distance)**2, the direct energy as
        # pyroomacoustics drew it (its own distance law and fractional-delay filter)
        tail = _late_tail(length, room.rt60, rng) * np.sqrt(direct) * distance / critical
        start = direct_at + int(0.005 * SAMPLE_RATE)
        end = min(out.shape[1], start + length)
        out[p, start:end] += tail[: end - start]
    shift = int(min(np.argmax(np.abs(h)) for h in early)) - 32
    return out[:, max(shift, 0) : max(shift, 0) + length].astype(np.float32)


def _late_tail(length: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-energy late reverberation: band-split noise, each band decaying 60 dB in its own RT60,
    with a 10 ms fade-in. float64 ``[length]``."""
    t = np.arange(length) / SAMPLE_RATE
    noise = rng.standard_normal(length)
    tail = np.zeros(length)
    for low, high, scale in _BANDS:
        if high is None:
            sos = signal.butter(4, low, btype="highpass", fs=SAMPLE_RATE, output="sos")
        elif low == 0.0:
            sos = signal.butter(4, high, btype="lowpass", fs=SAMPLE_RATE, output="sos")
        else:
            sos = signal.butter(4, (low, high), btype="bandpass", fs=SAMPLE_RATE, output="sos")
        tail += signal.sosfilt(sos, noise) * np.exp(-6.91 * t / (rt60 * scale))
    tail *= np.minimum(1.0, t / 0.01)
    return tail / np.sqrt(np.sum(tail**2))


def _biquad(kind: str, hz: float, gain_db: float, q: float = 0.707) -> np.ndarray:
    """RBJ cookbook biquad (``low``/``high`` shelf or ``peak``) as one second-order section."""
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * hz / SAMPLE_RATE
    alpha = np.sin(w) / (2 * q)
    cos = np.cos(w)
    if kind == "peak":
        b = [1 + alpha * a, -2 * cos, 1 - alpha * a]
        den = [1 + alpha / a, -2 * cos, 1 - alpha / a]
    else:
        sign = 1 if kind == "low" else -1
        root = 2 * np.sqrt(a) * alpha
        b = [
            a * ((a + 1) - sign * (a - 1) * cos + root),
            sign * 2 * a * ((a - 1) - sign * (a + 1) * cos),
            a * ((a + 1) - sign * (a - 1) * cos - root),
        ]
        den = [
            (a + 1) + sign * (a - 1) * cos + root,
            -sign * 2 * ((a - 1) + sign * (a + 1) * cos),
            (a + 1) + sign * (a - 1) * cos - root,
        ]
    return np.concatenate([np.divide(b, den[0]), np.divide(den, den[0])])


def place(stems: np.ndarray, room: Room, rng: np.random.Generator) -> np.ndarray:
    """The dry stems (float32 ``[P, N]`` at 48 kHz) as the room's microphone hears each player
    alone: convolved with its impulse response (cut back to ``N``), through the microphone's EQ,
    plus an independent low noise floor per stem. float32 ``[P, N]``."""
    irs = impulse_responses(room, rng)
    n = stems.shape[1]
    # float32 FFTs: 3.6x faster than float64, and the stems are float32 anyway
    wet = signal.oaconvolve(stems.astype(np.float32), irs, axes=1)[:, :n]
    eq = np.stack(
        [
            _biquad("low", 150.0, room.eq_db[0]),
            _biquad("peak", room.presence_hz, room.eq_db[1], q=1.0),
            _biquad("high", 10000.0, room.eq_db[2]),
        ]
    )
    wet = signal.sosfilt(eq, wet, axis=1)
    peak = np.abs(wet.sum(axis=0)).max()
    # pink-ish floor: white noise through a one-pole low-pass, as a quiet room and preamp give
    floor = signal.lfilter(
        np.float32([0.1]), np.float32([1.0, -0.9]), rng.standard_normal(wet.shape, dtype=np.float32), axis=1
    )
    floor *= np.float32(
        peak * 10 ** (room.noise_db / 20) / (np.sqrt(np.mean(floor.astype(np.float64) ** 2)) + 1e-12)
    )
    return (wet + floor).astype(np.float32)
