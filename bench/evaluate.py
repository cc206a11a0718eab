"""Scoring speed: framewise BSSEval v4 of one minute of 4-source stereo at 44.1 kHz, museval vs fast.

References are harmonic note sequences (one register per source) with breath noise; estimates are
the references with leakage of the other sources, a short colouring filter and additive noise, so
the metrics land where separators' do (SDR 5-15 dB). museval runs once (it takes about a minute);
the fast scorer runs three times on CPU with 2 threads and its median is reported. The last line is
``speedup=<museval s / fast s> max_abs_diff_db=<largest difference over SDR/SIR/SAR/ISR, all frames>``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from vcsep.evaluation.bsseval import METRICS, bss_eval_fast, bss_eval_museval

RATE, SECONDS, SOURCES, CHANNELS = 44100, 60, 4, 2


def notes(rng: np.random.Generator, base_midi: int) -> np.ndarray:
    """A mono line of random half-second to 2 s notes with 6 harmonics and decays: ``[N]``."""
    out = np.zeros(RATE * SECONDS)
    pos = 0
    while pos < out.size:
        length = int(rng.uniform(0.5, 2.0) * RATE)
        t = np.arange(min(length, out.size - pos)) / RATE
        f0 = 440.0 * 2 ** ((base_midi + rng.integers(0, 12) - 69) / 12)
        tone = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 7))
        out[pos : pos + t.size] = tone * np.exp(-t * rng.uniform(0.5, 3.0))
        pos += length
    return out


def signals(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(references, estimates), each float64 ``[4, 2, 60*44100]``."""
    rng = np.random.default_rng(seed)
    refs = np.empty((SOURCES, CHANNELS, RATE * SECONDS))
    for j, base in enumerate((43, 55, 67, 79)):
        line = notes(rng, base)
        pan = np.array([0.6 + 0.2 * j / SOURCES, 0.9 - 0.2 * j / SOURCES])[:, None]
        # each microphone hears its own room noise, so the channels are not copies of each other
        refs[j] = 0.2 * (pan * line + 0.01 * rng.standard_normal((CHANNELS, RATE * SECONDS)))
    colour = np.array([0.9, 0.15, -0.05])
    ests = np.empty_like(refs)
    for j in range(SOURCES):
        leak = 0.15 * refs[(j + 1) % SOURCES] + 0.08 * refs[(j + 2) % SOURCES]
        coloured = np.stack([np.convolve(ch, colour)[: refs.shape[-1]] for ch in refs[j]])
        ests[j] = coloured + leak + 0.01 * rng.standard_normal(refs[j].shape)
    return refs, ests


def main() -> None:
    torch.set_num_threads(2)
    refs, ests = signals()
    start = time.perf_counter()
    reference = bss_eval_museval(refs, ests, RATE)
    museval_s = time.perf_counter() - start
    times = []
    for _ in range(3):
        start = time.perf_counter()
        fast = bss_eval_fast(refs, ests, RATE, device="cpu")
        times.append(time.perf_counter() - start)
    fast_s = statistics.median(times)
    diff = max(
        float(np.nanmax(np.abs(reference.as_dict()[m] - fast.as_dict()[m]))) for m in METRICS
    )
    medians = {m: float(np.nanmedian(fast.as_dict()[m])) for m in METRICS}
    print(f"{SOURCES} sources x {CHANNELS} ch x {SECONDS} s at {RATE} Hz, 1 s windows, CPU, 2 threads")
    print(f"{'scorer':<10}{'wall s':>10}")
    print(f"{'museval':<10}{museval_s:>10.2f}")
    print(f"{'fast':<10}{fast_s:>10.2f}   (median of {len(times)}: {', '.join(f'{t:.2f}' for t in times)})")
    print("median over frames and sources: " + ", ".join(f"{m} {v:.2f} dB" for m, v in medians.items()))
    print(f"speedup={museval_s / fast_s:.2f} max_abs_diff_db={diff:.2e}")


if __name__ == "__main__":
    main()
