"""What the benchmarks share: the cores they run on and the folder their cached inputs live in."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


def add_machine_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cores N`` (default 2) and ``--work DIR`` (default <tmp>/vcsep-bench)."""
    parser.add_argument("--cores", type=int, default=2, help="CPU cores to run on")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "vcsep-bench")


def pin_cores(count: int) -> list[int]:
    """Run this process (and torch's threads) on the first ``count`` cores it may use; returns them."""
    cores = sorted(os.sched_getaffinity(0))[:count]
    os.sched_setaffinity(0, cores)
    import torch

    torch.set_num_threads(len(cores))
    return cores
