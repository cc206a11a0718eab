"""Does a separator transfer from the synthetic corpus to real instruments? Three numbers for MODEL.

1. ``synthetic_sdr``: a seeded corpus from today's generator (every timbre source, expression,
   rooms), ``--pieces`` pieces of ``--seconds`` s with the ``tonejs`` recordings held out for its
   test pieces: the track-instrument pairs played with FluidR3 or MuseScore General;
2. ``unseen_timbre_sdr``: the pairs of that corpus played with the held-out ``tonejs`` recordings
   of real players (exact ground truth, timbres a model trained with the holdout never heard);
3. ``real_solo_sdr``: 24 seeded ensembles of two or three real solo recordings from ``--realdev``
   (default ``../shared/realdev`` beside the repository, or ``$VCSEP_REALDEV``; Medley-solos-DB,
   Freesound and TinySOL clips, CC BY: see its ATTRIBUTION.md), each clip its own ground truth.

Each number is BSSEval v4 SDR (fast scorer, 1 s frames), the median over a pair's frames then the
median over the set's track-instrument pairs, the separator told the true instruments. The two
synthetic numbers count only pieces whose score the model never heard: the scores of its training
pieces are read from ``--seen-scores`` (default ``<model folder>/<model name>_scores.txt``, one
music21 path per line, as ``make models`` ships it); without that file every piece counts, and the
script says so. ``conditioning_gain_db``: ``synthetic_sdr`` less the same pairs' median SDR when
the model is told every instrument instead (what the labels are worth). The last line is
``synthetic_sdr=<a> unseen_timbre_sdr=<b> real_solo_sdr=<c> conditioning_gain_db=<d>``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _machine import add_machine_arguments, pin_cores

from vcsep.datasets import load_dataset
from vcsep.datasets.synth import SynthSettings, part_timbres, synthesize_corpus
from vcsep.evaluation.realsets import realdev_default
from vcsep.evaluation.scoring import evaluate_separator, pair_sdrs
from vcsep.fusion.checkpoint import load_separator

REPO = Path(__file__).resolve().parents[1]
HOLDOUT = "tonejs"


def show(title: str, median: float, by_code: dict[str, list[float]]) -> None:
    pairs = sum(len(v) for v in by_code.values())
    print(f"{title}: median SDR {median:.2f} dB over {pairs} track-instrument pairs")
    for code, values in sorted(by_code.items()):
        print(f"  {code:<4} {len(values):>3} pairs  median {np.median(values):6.2f} dB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path, nargs="?", default=REPO / "vcsep" / "models" / "separator.pt")
    parser.add_argument("--pieces", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--realdev", type=Path, default=realdev_default())
    parser.add_argument("--seen-scores", type=Path, help="the model's training scores, one per line")
    add_machine_arguments(parser)
    args = parser.parse_args()
    pin_cores(args.cores)
    model = load_separator(args.model)

    corpus = args.work / f"realism-{args.pieces}x{args.seconds:g}s-seed{args.seed}"
    settings = SynthSettings(seed=args.seed, size=(128, 72), max_seconds=args.seconds, holdout_timbre=HOLDOUT)
    if not (corpus / "corpus.json").is_file():
        synthesize_corpus(corpus, args.pieces, settings, jobs=args.cores, overwrite=True)
    timbres = part_timbres(corpus)
    scores = {p["folder"]: p["score"] for p in json.loads((corpus / "corpus.json").read_text())["pieces"]}
    heard_file = args.seen_scores or args.model.with_name(f"{args.model.stem}_scores.txt")
    heard = set(heard_file.read_text().split()) if heard_file.is_file() else set()
    fresh = {t for t, score in scores.items() if score not in heard}
    if heard:
        print(f"{len(fresh)} of {len(scores)} pieces play scores the model never heard ({heard_file})")
    else:
        print(f"no record of the model's training scores at {heard_file}: every piece counts")
    tracks = [t for t in load_dataset(f"urmp:{corpus}") if t.name in fresh]
    synthetic = evaluate_separator(model, tracks)
    told_all = evaluate_separator(model, tracks, labels_for=lambda t: np.ones(len(model.sources), np.float32))
    known = lambda t, c: HOLDOUT not in timbres[t][c]  # noqa: E731
    seen, seen_codes = pair_sdrs(synthetic, known)
    unseen, unseen_codes = pair_sdrs(synthetic, lambda t, c: timbres[t][c] == {HOLDOUT})
    everything, everything_codes = pair_sdrs(told_all, known)
    show(f"synthetic pieces, FluidR3/MuseScore parts ({corpus.name})", seen, seen_codes)
    show(f"synthetic pieces, held-out {HOLDOUT} parts", unseen, unseen_codes)
    show("the FluidR3/MuseScore parts again, the model told every instrument", everything, everything_codes)

    if args.realdev.is_dir():
        real = evaluate_separator(model, load_dataset(f"solos:{args.realdev}"))
        solo, solo_codes = pair_sdrs(real, lambda t, c: True)
        show(f"real solo ensembles ({args.realdev})", solo, solo_codes)
    else:
        print(f"no real recordings at {args.realdev}: real_solo_sdr is nan")
        solo = float("nan")
    print(
        f"synthetic_sdr={seen:.3f} unseen_timbre_sdr={unseen:.3f} real_solo_sdr={solo:.3f}"
        f" conditioning_gain_db={seen - everything:.3f}"
    )


if __name__ == "__main__":
    main()
