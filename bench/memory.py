"""Benchmark: peak memory of `vcsep separate` on a 2-minute and a 20-minute input, shipped models.

Each input is a still picture (320x180, 1 frame/s H.264) with 48 kHz stereo AAC of synthetic music
(decaying tones of changing pitch over a quiet noise floor), written once to the work folder (not
measured). Each run is the whole `vcsep separate VIDEO --out DIR --instruments vn,vc,fl` in a
fresh process (read, resample, separate, write the WAVs, the video with one track per stem and the
page); its peak resident memory is the kernel's ``ru_maxrss`` of that process. The last line is
``peak_rss_mb_2min=<x> peak_rss_mb_20min=<y> ratio=<y/x>``; targets: 20 minutes <= 1500 MB and a
ratio <= 1.3 (memory must not grow with the length).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _machine import add_machine_arguments

RATE = 48000
MINUTES = (2, 20)


def music(seconds: float, seed: int, block_s: float = 10.0):
    """Yield float32 ``[2, n]`` blocks of ``seconds`` of synthetic music: a new note every 0.25 s."""
    rng = np.random.default_rng(seed)
    n_block = round(block_s * RATE)
    for start in range(0, round(seconds * RATE), n_block):
        n = min(n_block, round(seconds * RATE) - start)
        t = (start + np.arange(n)) / RATE
        note = np.floor(t / 0.25)
        pitch = 220 * 2 ** (
            rng.integers(0, 24, size=int(note[-1] - note[0]) + 1)[(note - note[0]).astype(int)] / 12
        )
        tone = 0.3 * np.sin(2 * np.pi * pitch * t) * np.exp(-4 * (t % 0.25))
        noise = 0.001 * rng.standard_normal((2, n))
        yield (tone[None] * [[1.0], [0.8]] + noise).astype(np.float32)


def make_input(path: Path, minutes: int) -> Path:
    """The still-picture video of ``minutes`` minutes at ``path`` (made once)."""
    if path.is_file():
        return path
    from vcsep.media import write_video

    seconds = 60.0 * minutes
    audio = np.concatenate(list(music(seconds, seed=minutes)), axis=1)
    frame = np.zeros((180, 320, 3), np.uint8)
    frame[40:140, 100:220] = (200, 60, 40)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, (frame for _ in range(round(seconds))), 1, audio=audio, sample_rate=RATE, gop=60)


def peak_rss_mb(args: list[str]) -> tuple[float, float]:
    """(peak resident MB, wall s) of a child process running ``args`` (which must succeed)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{stderr[-2000:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_machine_arguments(parser)
    args = parser.parse_args()
    work = args.work / "memory"
    cores = ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[: args.cores])
    peaks = {}
    for minutes in MINUTES:
        video = make_input(work / f"still_{minutes}min.mp4", minutes)
        out = work / f"out_{minutes}min"
        shutil.rmtree(out, ignore_errors=True)
        command = ["taskset", "-c", cores, sys.executable, "-m", "vcsep.cli", "separate", str(video)]
        peak, wall = peak_rss_mb([*command, "--out", str(out), "--instruments", "vn,vc,fl"])
        peaks[minutes] = peak
        print(f"{minutes:>3} min: peak RSS {peak:7.0f} MB, {wall:6.1f} s wall", flush=True)
    ratio = peaks[20] / peaks[2]
    print(f"peak_rss_mb_2min={peaks[2]:.0f} peak_rss_mb_20min={peaks[20]:.0f} ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
