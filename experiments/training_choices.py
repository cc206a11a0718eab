"""Which loss, and clip-level or time-varying labels? Measured, not guessed (issue #16).

Trains one short run per variant of the shipped separator's recipe (``configs/base.yaml`` +
``configs/models/separator.yaml``: same architecture, corpora, batch, label noise and input chain;
only ``--steps`` steps), ``--jobs`` runs at a time on one core each, then scores every run on
validation pieces: the test pieces of the training corpora (``--val`` of them, never the pieces of
``bench/realism.py``), told the true labels. Two numbers per run, each the median over
track-instrument pairs of the pair's median SDR over 1 s frames (BSSEval v4, fast scorer):
``unseen_timbre_sdr`` over the parts played by the held-out ``tonejs`` recordings (the deciding
number) and ``seen_timbre_sdr`` over the others. A time-varying run is scored told the true
activity from the Notes files (``[K, T]`` at the training labels' frame rate), the best it could be told.

    python experiments/training_choices.py --out build/choices --steps 600

writes ``<out>/<variant>/`` (run folders) and ``<out>/choices.json``, and prints a table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = [REPO / "configs" / "base.yaml", REPO / "configs" / "models" / "separator.yaml"]
HOLDOUT = "tonejs"
# variant -> arguments on top of the recipe
VARIANTS = {  # slowest first, so that parallel jobs end together
    "mrstft": ["--model.loss", "mrstft"],
    "sisdr+mrstft": ["--model.loss", "sisdr+mrstft"],
    "mse": ["--model.loss", "mse"],
    "sisdr": ["--model.loss", "sisdr"],
    "mse-time-varying": ["--model.loss", "mse", "--data.time_varying", "true"],
}


def chosen(parser: argparse.ArgumentParser, names: str, known) -> list[str]:
    """The comma-separated ``names``, each one of ``known`` (else the parser's usage error)."""
    picked = names.split(",")
    unknown = sorted(set(picked) - set(known))
    if unknown:
        parser.error(f"unknown names {unknown}; choose from {', '.join(known)}")
    return picked


def train(name: str, out: Path, arguments: list[str]) -> float:
    """Run ``vcsep train fit`` of the recipe (:data:`CONFIGS`) with ``arguments`` on top, on one
    core, in ``out/name`` (log: ``out/name.log``); returns its wall time in s."""
    run_dir = out / name
    log = out / f"{name}.log"
    command = [
        str(Path(sys.executable).parent / "vcsep"), "train", "fit",
        *(arg for config in CONFIGS for arg in ("--config", str(config))),
        *arguments, "--trainer.enable_progress_bar", "false", "--run_dir", str(run_dir),
    ]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start = time.perf_counter()
    with log.open("w") as sink:
        subprocess.run(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - start


def true_activity(track) -> np.ndarray:
    """``[K, T]`` share of each frame of the whole track (at the training labels' rate,
    :data:`~vcsep.training.data.ACTIVITY_HZ`) in which each slot plays."""
    from vcsep.datasets.notes import activity_frames, note_intervals
    from vcsep.training.data import ACTIVITY_HZ as hz

    seconds = sf.info(track.mixture).duration
    frames = math.ceil(seconds * hz)
    rows = np.zeros((len(track.vocabulary.codes), frames), dtype=np.float32)
    for k, code in enumerate(track.vocabulary.codes):
        if code in track.notes:
            rows[k] = activity_frames(note_intervals(track.notes[code]), 0.0, frames / hz, frames)
        elif track.labels[k] > 0.5:
            rows[k] = 1.0
    return rows


def score(name: str, out: Path, val: int) -> dict[str, float]:
    """The run's two validation medians (see the module)."""
    import torch

    from vcsep.datasets import load_dataset
    from vcsep.datasets.synth import part_timbres
    from vcsep.evaluation.scoring import evaluate_separator, pair_sdrs
    from vcsep.fusion.checkpoint import load_separator

    torch.set_num_threads(1)
    data = yaml.safe_load(CONFIGS[1].read_text())["data"]["data"]
    tracks, timbres = [], {}
    for spec in data:
        corpus = REPO / spec.partition(":")[2]
        played = part_timbres(corpus)
        for track in load_dataset(f"urmp:{corpus}", split="test"):
            timbres[track.name] = played[track.name]
            tracks.append(track)
    tracks = tracks[:val]
    model = load_separator(out / name / "separator.pt")
    labels_for = true_activity if "time-varying" in name else None
    result = evaluate_separator(model, tracks, labels_for=labels_for)
    unseen, _ = pair_sdrs(result, lambda t, c: timbres[t][c] == {HOLDOUT})
    seen, _ = pair_sdrs(result, lambda t, c: HOLDOUT not in timbres[t][c])
    return {"unseen_timbre_sdr": unseen, "seen_timbre_sdr": seen}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--val", type=int, default=40, help="validation pieces scored")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    names = chosen(parser, args.variants, VARIANTS)
    args.out = args.out.resolve()  # the runs start in the repository
    args.out.mkdir(parents=True, exist_ok=True)

    def one(name: str) -> dict:
        steps = ["--trainer.max_steps", str(args.steps), "--trainer.val_check_interval", str(args.steps)]
        seconds = train(name, args.out, VARIANTS[name] + steps)
        scored = score(name, args.out, args.val)
        print(f"{name}: {scored} after {seconds:.0f} s", flush=True)
        return {"variant": name, "train_s": seconds, "steps": args.steps} | scored

    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(one, names))
    (args.out / "choices.json").write_text(json.dumps(rows, indent=2))
    print(f"{'variant':<18} {'unseen timbre SDR':>18} {'seen timbre SDR':>16} {'train s':>8}")
    for row in rows:
        print(
            f"{row['variant']:<18} {row['unseen_timbre_sdr']:>18.2f} {row['seen_timbre_sdr']:>16.2f}"
            f" {row['train_s']:>8.0f}"
        )


if __name__ == "__main__":
    main()
