"""Which separator learns most per CPU-hour? Each candidate trains for the same wall time (issue 23).

Every candidate is the shipped recipe (``configs/base.yaml`` + ``configs/models/separator.yaml``:
FiLM after every decoder level, batch 8, label noise, input chain, Adam at 3e-4 decaying 0.85 per
1000 steps) with its architecture, model rate and loss changed, trained on the corpora with real
timbres (``--corpora``, ``make corpora``) for ``--minutes`` of wall time on one core each,
``--jobs`` at a time, in float32 (on an AVX2-only CPU bf16 autocast is 4-5x slower, see
``experiments/separator_throughput.py``), each example about 1 s of output audio. Then each is
scored, told the true instruments (BSSEval v4, fast scorer; each pair's median over 1 s frames,
then the median over pairs):

* ``val_sdr``: the test pieces of the training corpora (synthetic pieces of scores the run never
  trained on; never the pieces of ``bench/realism.py``);
* ``real_sdr``: ``--ensembles`` seeded ensembles of real solo players from the ``validation`` half
  of the real clips (:func:`vcsep.evaluation.realsets.real_clips`; ``bench/real_ensembles.py``
  reports on the other half).

    nice python experiments/separator_race.py --out build/race --minutes 20

writes ``<out>/<candidate>/`` (run folders with ``separator.pt`` and ``metrics.csv``) and
``<out>/race.json``, and prints a table. A candidate whose ``separator.pt`` exists is only scored,
one whose ``scores.json`` exists not even that.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from training_choices import REPO, chosen, train

from vcsep.fusion.checkpoint import read_checkpoint

OUTPUT_LENGTH = {16000: 16384, 22050: 22400}  # output samples per example: about 1 s at each rate


def candidate(rate: int, loss: str, demucs_features: int | None = None) -> list[str]:
    """A candidate's arguments on top of the recipe: model rate ``rate`` Hz, ``loss``, and the
    Demucs-style net of 5 levels and ``demucs_features`` base channels (None: the recipe's Wave-U-Net)."""
    arguments = []
    if demucs_features is not None:
        arguments = [
            "--model.separator.init_args.architecture", "demucs", "--model.separator.init_args.levels", "5",
            "--model.separator.init_args.features", str(demucs_features),
        ]  # fmt: skip
    return arguments + [
        "--model.separator.init_args.sample_rate", str(rate), "--model.loss", loss,
        "--data.output_length", str(OUTPUT_LENGTH[rate]),
    ]  # fmt: skip


CANDIDATES = {
    "waveunet-22050-mse": candidate(22050, "mse"),
    "waveunet-16000-mse": candidate(16000, "mse"),
    "demucs24-16000-l1": candidate(16000, "l1", 24),
    "demucs24-16000-mse": candidate(16000, "mse", 24),
    "demucs24-16000-sisdr": candidate(16000, "sisdr", 24),
    "demucs24-22050-mse": candidate(22050, "mse", 24),
    "demucs32-16000-mse": candidate(16000, "mse", 32),
}


def corpus_arguments(corpora: list[Path]) -> list[str]:
    """``--data.data`` for the training corpora (their test pieces are the validation pieces)."""
    return ["--data.data", json.dumps([f"urmp:{corpus}" for corpus in corpora])]


def score(model_path: Path, corpora: list[Path], val: int, ensembles: int) -> dict[str, float]:
    """The run's ``val_sdr`` and ``real_sdr`` (see the module), with the pair counts."""
    import torch

    from vcsep.datasets import load_dataset
    from vcsep.evaluation.realsets import real_clips, real_ensembles
    from vcsep.evaluation.scoring import evaluate_separator, pair_sdrs
    from vcsep.fusion.checkpoint import load_separator

    torch.set_num_threads(1)
    model = load_separator(model_path)
    pieces = [track for corpus in corpora for track in load_dataset(f"urmp:{corpus}", split="test")][:val]
    val_sdr, val_pairs = pair_sdrs(evaluate_separator(model, pieces))
    real = real_ensembles(real_clips("validation"), ensembles, seed=0)
    real_sdr, real_pairs = pair_sdrs(evaluate_separator(model, real))
    return {
        "val_sdr": val_sdr, "val_pairs": sum(map(len, val_pairs.values())),
        "real_sdr": real_sdr, "real_pairs": sum(map(len, real_pairs.values())),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=20.0, help="wall time of each training run")
    parser.add_argument(
        "--corpora", type=Path, nargs="+",
        default=[REPO / "build" / "models" / "real-corpora" / f"seed{seed}" for seed in (30, 31, 32)],
    )  # fmt: skip
    parser.add_argument("--val", type=int, default=24, help="validation pieces scored")
    parser.add_argument("--ensembles", type=int, default=32, help="real validation ensembles scored")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    args = parser.parse_args()
    names = chosen(parser, args.candidates, CANDIDATES)
    args.corpora = [corpus.resolve() for corpus in args.corpora]  # the runs start in the repository
    missing = [str(corpus) for corpus in args.corpora if not (corpus / "split.tsv").is_file()]
    if missing:
        parser.error(f"no corpus at {', '.join(missing)} (make corpora writes them)")
    args.out = args.out.resolve()  # the runs start in the repository
    args.out.mkdir(parents=True, exist_ok=True)
    seconds = round(args.minutes * 60)
    limit = f"00:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"

    def one(name: str) -> dict:
        model = args.out / name / "separator.pt"
        wall = float("nan")
        if not model.is_file():
            arguments = CANDIDATES[name] + corpus_arguments(args.corpora) + [
                "--trainer.precision", "32-true", "--trainer.max_time", limit,
                "--trainer.max_steps", "-1", "--data.num_workers", "0",
            ]  # fmt: skip
            wall = train(name, args.out, arguments)
        scores = args.out / name / "scores.json"
        if scores.is_file():
            return json.loads(scores.read_text())
        start = time.perf_counter()
        scored = score(model, args.corpora, args.val, args.ensembles)
        step = int(read_checkpoint(model)["extra"]["global_step"])
        row = {"candidate": name, "train_s": wall, "steps": step, "score_s": time.perf_counter() - start}
        print(f"{name}: {scored} after {step} steps", flush=True)
        scores.write_text(json.dumps(row | scored, indent=2))
        return row | scored

    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(one, names))
    (args.out / "race.json").write_text(json.dumps(rows, indent=2))
    print(f"{'candidate':<22} {'steps':>6} {'val SDR':>8} {'real SDR':>9}  (median over pairs, dB)")
    for row in rows:
        print(f"{row['candidate']:<22} {row['steps']:>6} {row['val_sdr']:>8.2f} {row['real_sdr']:>9.2f}")


if __name__ == "__main__":
    main()
