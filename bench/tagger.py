"""Benchmark: the listening tagger on 3 minutes of stereo 48 kHz audio, on 2 CPU cores.

The tagger is the shipped one (``vcsep/models/tagger.pt``) or, without it, an untrained one of the
same size (its cost is the real one). The audio is three detuned harmonic tones with vibrato and
noise (made, not timed). Timed, median of ``--repeats``: :meth:`vcsep.audio.tagger.Tagger.tag`,
i.e. resampling to 16 kHz, log-mel, the CNN window by window, presence and 4 Hz activity.

The last line is ``tag_wall_s=<median seconds>``; the target is <= 3.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from _machine import add_machine_arguments, pin_cores

SECONDS = 180
SAMPLE_RATE = 48_000


def make_audio(seed: int = 0) -> np.ndarray:
    """float32 ``[2, SECONDS x SAMPLE_RATE]``: three harmonic voices with vibrato, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(SECONDS * SAMPLE_RATE) / SAMPLE_RATE
    mix = np.zeros_like(t)
    for f0 in (196.0, 330.0, 523.0):
        phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.004 * np.sin(2 * np.pi * 5.5 * t))) / SAMPLE_RATE
        mix += sum(np.sin(h * phase) / h for h in range(1, 6))
    mix = 0.1 * mix + 0.003 * rng.normal(size=t.shape)
    return np.stack([mix, mix]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median)")
    add_machine_arguments(parser)
    args = parser.parse_args()
    cores = pin_cores(args.cores)
    from vcsep import DEFAULT_MODELS
    from vcsep.audio.tagger import Tagger, TaggerNet

    shipped = DEFAULT_MODELS / "tagger.pt"
    tagger = Tagger.load(shipped) if shipped.is_file() else Tagger(TaggerNet())
    audio = make_audio()
    tagger.tag(audio[:, : 5 * SAMPLE_RATE], SAMPLE_RATE)  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        tags = tagger.tag(audio, SAMPLE_RATE)
        times.append(time.perf_counter() - start)
    wall = statistics.median(times)
    which = "shipped" if shipped.is_file() else "untrained"
    print(
        f"{SECONDS} s of stereo {SAMPLE_RATE} Hz audio, tagger {which}, "
        f"{len(cores)} CPU cores, median of {args.repeats}: {wall:.2f} s "
        f"({SECONDS / wall:.0f}x real time); activity {tags.activity.shape}"
    )
    print(f"tag_wall_s={wall:.2f}")


if __name__ == "__main__":
    main()
