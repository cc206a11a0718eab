"""The ``vcsep evaluate`` command: separate a dataset split with a checkpoint and score it."""

from __future__ import annotations

import argparse
from pathlib import Path

from vcsep.devices import device_argument


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from vcsep.datasets import load_dataset
    from vcsep.evaluation.report import results_table
    from vcsep.evaluation.scoring import (
        BY_TRACK,
        POOLED,
        aggregate,
        evaluate_separator,
        write_result,
    )
    from vcsep.files import check_output_folder, existing_file, write_text
    from vcsep.fusion.checkpoint import load_separator

    existing_file(args.checkpoint, "checkpoint")
    check_output_folder(args.out)  # before the scoring, not found unwritable after it
    model = load_separator(args.checkpoint, device=args.device)
    tracks = load_dataset(args.data, split=None if args.split == "all" else args.split)
    result = evaluate_separator(model, tracks, metrics=args.metrics, device=args.device, progress=True)
    write_result(result, args.out)
    markdown, table_csv = results_table({args.checkpoint.stem: result})
    write_text(args.out / "results.csv", table_csv)
    write_text(args.out / "results.md", markdown)
    summary = aggregate(result)
    print(markdown)
    pooled, by_track = summary[POOLED]["overall"]["SDR"], summary[BY_TRACK]["overall"]["SDR"]
    if pooled is None:  # NaN frames only: every reference or estimate silent
        print(f"{len(tracks)} tracks: no SDR, every present stem is silent; results in {args.out}")
    else:
        print(
            f"{len(tracks)} tracks: median SDR {pooled} dB (pooled frames), {by_track} dB (track "
            f"medians); results in {args.out}"
        )
    return 0


def add_evaluate_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``vcsep evaluate``."""
    p = sub.add_parser(
        "evaluate",
        help="separate a dataset with a checkpoint and score it (BSSEval v4, SI-SDR, SDRi, PES)",
        description="Separate every track's mixture with the checkpoint, conditioned on the track's "
        "ground-truth labels (the baseline takes none), and score it: BSSEval v4 per 1 s frame for "
        "present instruments, PES for absent ones. Writes per-track JSON/CSV, frames.csv, tracks.csv, "
        "aggregate.json, results.md and results.csv.",
    )
    p.add_argument("checkpoint", type=Path, help="separator checkpoint (vcsep.fusion save_checkpoint)")
    p.add_argument("--data", required=True, help="KIND:PATH, e.g. urmp:/data/URMP")
    p.add_argument(
        "--split",
        default="test",
        help="train or test (default test); 'all' for every track (layouts without a split)",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument(
        "--metrics",
        choices=("fast", "museval"),
        default="fast",
        help="BSSEval implementation: fast (batched torch, default) or museval",
    )
    p.add_argument("--device", type=device_argument, default="cpu", help="torch device, e.g. cpu or cuda:0")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_ablate(args: argparse.Namespace) -> int:
    from vcsep.evaluation.ablation import run_ablation

    split = None if args.split == "all" else args.split
    cells = [c.strip() for c in args.cells.split(",") if c.strip()] if args.cells else None
    index = run_ablation(
        args.data,
        args.out,
        base=args.base,
        cells=cells,
        overrides=args.overrides,
        train_args=args.train_args,
        split=split,
        metrics=args.metrics,
        device=args.device,
    )
    print((args.out / "results.md").read_text())
    print(f"report: {index}")
    return 0


def add_ablate_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``vcsep ablate``."""
    p = sub.add_parser(
        "ablate",
        help="train (or reuse) and evaluate every ablation cell; table, violin plots, HTML report",
        description="Train every cell of the conditioning ablation (the baseline and every mechanism "
        "at every location) on top of the base config (cells already trained are reused, interrupted "
        "ones resume), evaluate each on the test split, and write results.md/results.csv, violin plots "
        "and report/index.html with audio players.",
    )
    p.add_argument("--base", type=Path, default=Path("configs/base.yaml"), help="base training config")
    p.add_argument(
        "--cells", default=None, help="comma-separated cells, e.g. baseline,film_input (default: all)"
    )
    p.add_argument(
        "--overrides", type=Path, default=None, help="folder of <cell>.yaml for cells that change more"
    )
    p.add_argument("--data", required=True, help="KIND:PATH, e.g. urmp:corpus")
    p.add_argument("--out", type=Path, required=True, help="output folder (runs, results, report)")
    p.add_argument("--split", default="test", help="evaluation split: test (default), train or all")
    p.add_argument("--metrics", choices=("fast", "museval"), default="fast")
    p.add_argument(
        "--device",
        type=device_argument,
        default="cpu",
        help="torch device for evaluation, e.g. cpu or cuda:0",
    )
    p.add_argument(
        "--train-args",
        nargs=argparse.REMAINDER,
        default=[],
        help="everything after this goes to every cell's training, e.g. --trainer.max_steps 500",
    )
    p.set_defaults(func=_cmd_ablate)
