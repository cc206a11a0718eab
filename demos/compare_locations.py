"""Compare where the labels enter the network: one performance clip separated by FiLM-conditioned
separators at the input, the bottleneck and the output, and by the unconditioned baseline.

    python demos/compare_locations.py                            # synthetic corpus, quick models
    python demos/compare_locations.py --ablation runs/ablation   # models of `vcsep ablate`
    python demos/compare_locations.py --urmp /data/URMP --piece 12_Spring_vn_vn_va_vc

With ``--ablation`` the separators come from a finished ``vcsep ablate`` (its ``runs/<cell>/separator.pt``).
Otherwise small ones (8 levels, 16 features) are trained here for ``--steps`` steps each on the
train pieces (URMP's when given, else the shipped models' synthetic corpus, synthesized again):
minutes on a CPU, enough to show the mechanics, not the numbers of a full ablation.
Writes ``locations.png`` (SDR per instrument and location) under --out/locations.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from clips import add_clip_arguments, clip

from vcsep import DEFAULT_MODELS, vocab
from vcsep.datasets.urmp import load_urmp_piece
from vcsep.evaluation.ablation import train_cell
from vcsep.evaluation.scoring import evaluate_separator
from vcsep.fusion.checkpoint import load_separator

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
CELLS = ("film_input", "film_bottleneck", "film_output", "baseline")


def quick_models(args: argparse.Namespace) -> dict[str, Path]:
    """Train each cell of :data:`CELLS` briefly; returns cell -> separator.pt."""
    if args.urmp is not None:
        data = f"urmp:{args.urmp}"
    else:
        from vcsep.datasets.synth import synthesize_corpus
        from vcsep.demo import models_corpus

        corpus = args.out / "corpus"
        if not (corpus / "corpus.json").is_file():
            settings, pieces = models_corpus(DEFAULT_MODELS)
            synthesize_corpus(corpus, pieces, settings, jobs=2, overwrite=True, progress=True)
        data = f"urmp:{corpus}"
    arch = "--model.separator.init_args"
    small = [f"{arch}.levels", "8", f"{arch}.features", "16", "--model.lr", "3e-4", "--data.batch_size", "8"]
    steps = ["--trainer.max_steps", str(args.steps), "--trainer.enable_progress_bar", "false"]
    quiet = ["--data.num_workers", "0", "--data.val_examples", "8", "--trainer.val_check_interval", "1.0"]
    return {
        cell: train_cell(
            CONFIGS / "base.yaml",
            cell,
            data,
            args.out / "locations" / "runs" / cell,
            small + steps + quiet,
        )
        for cell in CELLS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_clip_arguments(parser)
    parser.add_argument("--ablation", type=Path, help="output folder of `vcsep ablate` to take models from")
    parser.add_argument("--steps", type=int, default=200, help="training steps per quick model")
    args = parser.parse_args()

    track = load_urmp_piece(clip(args))
    if args.ablation is not None:
        models = {cell: args.ablation / "runs" / cell / "separator.pt" for cell in CELLS}
        missing = [str(p) for p in models.values() if not p.is_file()]
        if missing:
            raise SystemExit(f"not in the ablation: {', '.join(missing)}")
    else:
        models = quick_models(args)

    sdr: dict[str, dict[str, float]] = {}
    for cell, path in models.items():
        result = evaluate_separator(load_separator(path), [track])
        sdr[cell] = {r["instrument"]: r["SDR"] for r in result.tracks.rows() if r["present"]}

    codes = track.codes
    print(f"{track.name}: median SDR over 1 s frames, dB (labels: the truth)")
    print(f"{'cell':<18}" + "".join(f"{c:>8}" for c in codes))
    for cell in CELLS:
        print(f"{cell:<18}" + "".join(f"{sdr[cell][c]:>8.2f}" for c in codes))

    out = args.out / "locations"
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(codes), 3.8))
    width = 0.8 / len(CELLS)
    for i, cell in enumerate(CELLS):
        x = np.arange(len(codes)) + (i - (len(CELLS) - 1) / 2) * width
        ax.bar(x, [sdr[cell][c] for c in codes], width, label=cell.replace("film_", "FiLM at "))
    ax.axhline(0, color="k", lw=0.8)
    ax.set(
        xticks=np.arange(len(codes)),
        xticklabels=[vocab.BY_CODE[c].name for c in codes],
        ylabel="SDR (dB)",
        title=f"{track.name}: where the labels enter",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "locations.png", dpi=90)
    print(f"wrote {out / 'locations.png'}")


if __name__ == "__main__":
    main()
