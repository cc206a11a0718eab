"""The clip every demo works on: a real URMP piece when a URMP folder is given, otherwise a
synthetic performance the shipped models never heard (a held-out piece of their corpus)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vcsep import DEFAULT_MODELS


def add_clip_arguments(parser: argparse.ArgumentParser) -> None:
    """``--urmp ROOT [--piece FOLDER]`` and ``--out DIR``, shared by the demos."""
    parser.add_argument("--urmp", type=Path, help="the real URMP dataset folder (default: synthetic clip)")
    parser.add_argument("--piece", default="01_Jupiter_vn_vc", help="URMP piece folder name")
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")


def clip(args: argparse.Namespace) -> Path:
    """The piece folder (URMP layout) that ``args`` point at; synthesizes one when no URMP is given."""
    if args.urmp is None:
        from vcsep.demo import held_out_piece

        return held_out_piece(DEFAULT_MODELS, args.out / "piece", progress=True)
    folder = args.urmp / args.piece
    if not folder.is_dir():
        raise SystemExit(f"{folder} is not a URMP piece folder")
    return folder
