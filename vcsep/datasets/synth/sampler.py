"""vcsep's sampler: recorded single notes played as a performance.

A bank is an instrument's recorded notes (:class:`Sample`: pitch, file, recorded dynamic, whether
it is a detached articulation such as pizzicato or staccato, its measured tuning). Each played note
(:class:`~vcsep.datasets.synth.render.PlayedNote`) takes the recording that fits it best: nearest in
pitch, then nearest in recorded dynamic to the note's velocity; a detached note (the expression
model's staccato) takes a detached recording where the bank has one, any other note a sustained one.
Round robins (equal recordings) take turns. The recording is read faster or slower to reach the
note's pitch (plus the player's tuning), so a note is at most a few semitones from what was played.

* **Sustain.** A note longer than its recording's sustain continues with grains of that sustain,
  each aligned to the waveform already written (the offset of best correlation within one period)
  and cross-faded over 40 ms: no loop repeats, no click.
* **Dynamics.** The level follows the velocity (``(v/127)**1.5``, like a GM soundfont's attenuation
  curve). Where the bank recorded one dynamic only, a softer note is also darker (a one-pole
  low-pass whose cut-off falls with the velocity); with several, the recorded one carries timbre.
* **Legato.** A note that starts within 60 ms of the previous note's end (neither detached) joins
  it: the previous note sounds on into the new one and fades over 40 ms while the new one enters
  past its attack, with no second attack.
* **Release.** Otherwise a note fades over 120 ms after its end; a detached recording decays as
  recorded until then.

Recordings are decoded once per process, resampled to 48 kHz and normalised (their loud part at
one level: the sources differ by 20 dB). :func:`measure_cents` (YIN) checks a recording's pitch
against its label; banks drop notes that disagree and correct small tuning offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

from vcsep.datasets.synth.render import SAMPLE_RATE, PlayedNote

RELEASE_S = 0.12  # fade after a note's end
XFADE_S = 0.04  # legato join and sustain grains
LEGATO_GAP_S = 0.06  # a note starting this soon after the previous one's end joins it
_GRAIN_S = 0.25  # sustain grains
_ENVELOPE_HOP = 480  # 10 ms at 48 kHz
_LEVEL = 0.1  # RMS of a recording's loud part after normalising
_DYNAMIC_WEIGHT = 3.0  # a dynamic step of 1/3 costs as much as a semitone when choosing a recording


@dataclass(frozen=True)
class Sample:
    """One recorded note: MIDI ``pitch`` (C4 = 60), its ``path``, recorded ``dynamic`` (0..1: pp 0.15
    .. ff 0.9; None when unknown), ``short`` for a detached articulation (pizzicato, staccato), and
    ``cents`` (the recording's measured tuning against ``pitch``)."""

    pitch: int
    path: Path
    dynamic: float | None = None
    short: bool = False
    cents: float = 0.0


@dataclass(frozen=True)
class Take:
    """A decoded recording: mono float32 ``audio [N]`` at 48 kHz, normalised; its sustain (or, for a
    decaying note, its body) spans samples ``[attack, end)``."""

    audio: np.ndarray
    attack: int
    end: int


def _envelope(audio: np.ndarray) -> np.ndarray:
    """RMS per 10 ms frame: float64 ``[ceil(N / 480)]``."""
    frames = np.pad(audio, (0, -len(audio) % _ENVELOPE_HOP)).reshape(-1, _ENVELOPE_HOP)
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))


def decode(path: Path) -> Take:
    """``path`` decoded (any channels averaged), at 48 kHz, from 20 ms before it
    first reaches -20 dB of its peak, its loud part (the median 10 ms frame RMS where the envelope
    is within 6 dB of its peak) at one level; its sustain from where it first reaches half its peak
    envelope (plus 30 ms) to where it last does."""
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise ValueError(f"{path}: cannot read a recorded note ({err})") from None
    mono = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE).astype(np.float32)
    env = _envelope(mono)
    if len(env) == 0 or env.max() <= 0:
        raise ValueError(f"{path}: the recorded note is silent")
    # leading silence (up to 1.6 s in Iowa's files) goes
    first = max(0, int(np.flatnonzero(env >= 0.1 * env.max())[0]) - 2)
    mono, env = mono[first * _ENVELOPE_HOP :], env[first:]
    loud = np.flatnonzero(env >= 0.5 * env.max())
    mono = mono * np.float32(_LEVEL / np.median(env[loud]))
    attack = min((int(loud[0]) + 3) * _ENVELOPE_HOP, len(mono) - 1)
    end = max(attack + 1, min(len(mono), (int(loud[-1]) + 1) * _ENVELOPE_HOP))
    return Take(mono, attack, end)


# The notes a sampler plays, decoded once per process; a pitch check (measure_cents) decodes every
# note of a folder once and keeps none (the 1682 realnotes would hold about 0.9 GB).
take = cache(decode)


def choose(bank: tuple[Sample, ...], note: PlayedNote, turn: int) -> Sample:
    """The recording of ``bank`` that plays ``note``: the detached ones for a detached note (if any),
    else the sustained ones; nearest in pitch, then in dynamic to ``velocity / 127``; among equals
    (round robins) the ``turn``-th in turn."""
    wanted = [s for s in bank if s.short == note.detached] or list(bank)
    target = note.velocity / 127
    cost = np.array(
        [
            abs(s.pitch - note.pitch)
            + (0 if s.dynamic is None else _DYNAMIC_WEIGHT * abs(s.dynamic - target))
            for s in wanted
        ]
    )
    ties = [s for s, c in zip(wanted, cost) if c <= cost.min() + 1e-9]
    return ties[turn % len(ties)]


def _shifted(t: Take, ratio: float) -> Take:
    """``t`` read ``ratio`` times faster (pitch up by ``12 log2 ratio`` semitones), linearly
    interpolated; its sustain marks moved with it."""
    if abs(ratio - 1.0) < 1e-6:
        return t
    pos = np.arange(0.0, len(t.audio) - 1, ratio)
    audio = np.interp(pos, np.arange(len(t.audio)), t.audio).astype(np.float32)
    attack = min(int(t.attack / ratio), len(audio) - 1)
    return Take(audio, attack, min(len(audio), max(attack + 1, int(t.end / ratio))))


def _sustained(t: Take, length: int, period: int) -> np.ndarray:
    """``length`` samples of the take: as recorded up to its sustain's end, then grains of the
    sustain (0.25 s, spread over it by the golden ratio, never the same twice in a row), each
    started at the offset (within one ``period`` either way) where it best continues what is
    written, cross-faded over 40 ms. float32 ``[length]``."""
    if length <= t.end:
        return t.audio[:length]
    xfade = int(XFADE_S * SAMPLE_RATE)
    span = t.end - t.attack
    grain = min(int(_GRAIN_S * SAMPLE_RATE), span - 2 * period - xfade)
    out = np.empty(length + grain + xfade, dtype=np.float32)
    out[: t.end] = t.audio[: t.end]
    written = t.end
    if grain < xfade:  # a sustain too short for grains: hold its last part as a fading tail
        out[written:length] = 0.0
        return out[:length]
    ramp = np.linspace(0.0, 1.0, xfade, dtype=np.float32)
    low = t.attack + xfade + period
    room = t.end - grain - period - low
    k = 1
    while written < length:
        start = low + int(room * ((k * 0.6180339887) % 1.0)) if room > 0 else low
        k += 1
        tail = out[written - xfade : written]
        region = t.audio[start - xfade - period : start + period]
        corr = np.correlate(region, tail, mode="valid")  # [2 * period + 1]
        at = start - period + int(np.argmax(corr))
        out[written - xfade : written] = tail * (1 - ramp) + t.audio[at - xfade : at] * ramp
        out[written : written + grain] = t.audio[at : at + grain]
        written += grain
    return out[:length]


def _darker(audio: np.ndarray, hz: float, velocity: int) -> np.ndarray:
    """A softer note's darker sound where no softer recording exists: a one-pole low-pass at
    ``hz * (3 + 29 (v/127)^2)`` (32 harmonics at full velocity, 3 at none), capped at 20 kHz."""
    cutoff = min(hz * (3 + 29 * (velocity / 127) ** 2), 20000.0)
    pole = float(np.exp(-2 * np.pi * cutoff / SAMPLE_RATE))
    return signal.lfilter([1 - pole], [1, -pole], audio).astype(np.float32)


def play(bank: tuple[Sample, ...], notes: list[PlayedNote], n: int, tuning_cents: float = 0.0) -> np.ndarray:
    """Play ``notes`` with the recordings of ``bank`` (see the module's text): float32 ``[n]`` at
    48 kHz. Raises ``ValueError`` for an empty bank."""
    if not bank:
        raise ValueError("no recorded notes to play")
    out = np.zeros(n, dtype=np.float32)
    one_dynamic = len({s.dynamic for s in bank}) <= 1
    release, xfade = int(RELEASE_S * SAMPLE_RATE), int(XFADE_S * SAMPLE_RATE)
    ordered = sorted(notes, key=lambda note: note.onset)
    for i, note in enumerate(ordered):
        start = int(round(note.onset * SAMPLE_RATE))
        if start >= n:
            continue
        before = ordered[i - 1] if i else None
        after = ordered[i + 1] if i + 1 < len(ordered) else None
        joins_in = before is not None and _joins(before, note)
        joins_out = after is not None and _joins(note, after)
        sample = choose(bank, note, i)
        ratio = 2.0 ** ((note.pitch - sample.pitch + (tuning_cents - sample.cents) / 100.0) / 12.0)
        t = _shifted(take(sample.path), ratio)
        held = int(round(note.duration * SAMPLE_RATE))
        fade = release
        if joins_out:  # sound on into the next note and fade under its entry
            held = max(1, int(round(after.onset * SAMPLE_RATE)) - start)
            fade = xfade
        skip = min(t.attack, int(0.08 * SAMPLE_RATE)) if joins_in else 0
        length = min(held + fade, n - start)
        if sample.short:  # a detached recording decays as recorded: nothing to sustain
            wave = t.audio[skip : skip + length]
            wave = np.pad(wave, (0, length - len(wave)))
        else:
            period = max(1, min(int(SAMPLE_RATE / note.hz), int(0.02 * SAMPLE_RATE)))
            wave = _sustained(t, skip + length, period)[skip:]
        envelope = np.ones(length, dtype=np.float32)
        if joins_in:
            ramp = min(xfade, length)
            envelope[:ramp] = np.linspace(0.0, 1.0, ramp, dtype=np.float32)
        if length > held:
            envelope[held:] *= np.linspace(1.0, 0.0, length - held, dtype=np.float32)
        if one_dynamic:
            wave = _darker(wave, note.hz, note.velocity)
        out[start : start + length] += wave[:length] * envelope * np.float32((note.velocity / 127) ** 1.5)
    return out


def _joins(first: PlayedNote, second: PlayedNote) -> bool:
    """Whether ``second`` is played legato after ``first``: neither detached, and it starts less than
    60 ms after ``first`` ends (or before)."""
    gap = second.onset - (first.onset + first.duration)
    return not (first.detached or second.detached) and gap < LEGATO_GAP_S and second.onset > first.onset


def yin(audio: np.ndarray, rate: int, fmin: float, fmax: float, frame: int = 2048) -> np.ndarray:
    """Fundamental frequency per frame (Hz; NaN where unvoiced) of mono ``audio [N]`` at ``rate``
    by YIN (de Cheveigné and Kawahara 2002): the cumulative-mean-normalised difference function's
    first dip under 0.15 (else its minimum, if under 0.35), refined by a parabola. Frames of
    ``frame`` samples, hop ``frame // 2``. float64 ``[F]``."""
    hop = frame // 2
    if len(audio) < frame:
        return np.full(0, np.nan)
    starts = np.arange(0, len(audio) - frame + 1, hop)
    x = np.stack([audio[s : s + frame] for s in starts]).astype(np.float64)
    max_lag = min(int(rate / fmin), frame // 2)
    min_lag = max(2, int(rate / fmax))
    acf = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * frame)) ** 2)[:, : max_lag + 1]
    squares = np.cumsum(x**2, axis=1)
    lags = np.arange(max_lag + 1)
    head = squares[:, frame - 1 - lags]  # sum over x[0 : frame - lag]
    tail = squares[:, -1:] - np.concatenate([np.zeros((len(x), 1)), squares[:, :max_lag]], axis=1)
    diff = np.maximum(head + tail - 2 * acf, 0.0)
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] * lags[1:] / np.maximum(np.cumsum(diff[:, 1:], axis=1), 1e-12)
    f0 = np.full(len(x), np.nan)
    for i, row in enumerate(cmnd):
        below = np.flatnonzero(row[min_lag:max_lag] < 0.15)
        if below.size:
            lag = min_lag + int(below[0])
            while lag + 1 < max_lag and row[lag + 1] < row[lag]:
                lag += 1
        else:
            lag = min_lag + int(np.argmin(row[min_lag:max_lag]))
            if row[lag] >= 0.35:
                continue
        a, b, c = row[lag - 1], row[lag], row[lag + 1] if lag + 1 <= max_lag else row[lag]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) > 0 else 0.0
        f0[i] = rate / (lag + shift)
    return f0


def measure_cents(path: Path, pitch: int) -> float | None:
    """The recording's pitch against MIDI ``pitch`` in cents, folded into [-600, 600) so an octave
    error of the estimator does not count: the median YIN estimate over its sustain (at least
    0.3 s from the end of its attack) at 16 kHz. None where nothing voiced was found."""
    t = decode(path)
    # at least 0.3 s: a plucked or staccato note's loud part is shorter than YIN's frames
    body = soxr.resample(
        t.audio[t.attack : max(t.end, t.attack + int(0.3 * SAMPLE_RATE))], SAMPLE_RATE, 16000
    )
    hz = 440.0 * 2 ** ((pitch - 69) / 12)
    f0 = yin(body, 16000, fmin=max(20.0, hz / 2.5), fmax=min(4000.0, hz * 2.5))
    f0 = f0[np.isfinite(f0)]
    if f0.size == 0:
        return None
    cents = 1200 * np.log2(float(np.median(f0)) / hz)
    return float((cents + 600) % 1200 - 600)
