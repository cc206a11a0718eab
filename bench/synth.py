"""Synthetic corpus speed: seconds of audio + video produced per wall second at 640x360, with
every stage on (three timbre sources, expressive players, rooms).

Renders a few pieces with one worker and with one worker per core, and reports the media
seconds written per wall second for each. Ends with ``synth_realtime_factor=<x>`` (the best
setting on this machine). Target: >= 10.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import soundfile as sf

from vcsep.datasets.synth import SynthSettings, synthesize_corpus
from vcsep.datasets.urmp_names import PieceName


def media_seconds(folders: list[Path]) -> float:
    """Total duration of the pieces (each second holds both audio and video)."""
    return sum(sf.info(f / PieceName.parse(f.name).mix).duration for f in folders)


def run(pieces: int, jobs: int, seconds: float, seed: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="vcsep-bench-synth-") as tmp:
        start = time.perf_counter()
        folders = synthesize_corpus(
            Path(tmp) / "c", pieces, SynthSettings(seed=seed, max_seconds=seconds), jobs=jobs
        )
        wall = time.perf_counter() - start
        return media_seconds(folders), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pieces", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each piece")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(
        f"synth benchmark: {args.pieces} pieces of <= {args.seconds:.0f} s at 640x360, {cores} cores, "
        f"median of {args.repeats}"
    )
    print(f"{'jobs':>4} {'media s':>8} {'wall s':>7} {'realtime x':>10}")
    best = 0.0
    for jobs in sorted({1, cores}):
        factors, walls = [], []
        for repeat in range(args.repeats):
            media, wall = run(args.pieces, jobs, args.seconds, seed=repeat)
            factors.append(media / wall)
            walls.append(wall)
        factor = statistics.median(factors)
        print(f"{jobs:>4} {media:>8.1f} {statistics.median(walls):>7.2f} {factor:>10.1f}")
        best = max(best, factor)
    print(f"synth_realtime_factor={best:.2f}")


if __name__ == "__main__":
    main()
