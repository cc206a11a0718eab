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
median over the set's track-instrument pairs, the separator told the true instruments. The last
line is ``synthetic_sdr=<a> unseen_timbre_sdr=<b> real_solo_sdr=<c>``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from _machine import add_machine_arguments, pin_cores

from vcsep.datasets import load_dataset
from vcsep.datasets.synth import SynthSettings, synthesize_corpus
from vcsep.evaluation.scoring import evaluate_separator
from vcsep.fusion.checkpoint import load_separator

REPO = Path(__file__).resolve().parents[1]
HOLDOUT = "tonejs"


def realdev_default() -> Path:
    return Path(os.environ.get("VCSEP_REALDEV") or REPO.parent / "shared" / "realdev")


def pair_medians(result, keep) -> tuple[float, dict[str, list[float]]]:
    """Median SDR over the present track-instrument pairs that ``keep(track, code)`` accepts, and
    each instrument's pair SDRs."""
    tracks = result.tracks
    by_code: dict[str, list[float]] = {}
    for row in tracks.rows():
        if row["present"] and keep(row["track"], row["instrument"]) and not np.isnan(row["SDR"]):
            by_code.setdefault(row["instrument"], []).append(row["SDR"])
    values = [v for vs in by_code.values() for v in vs]
    return (float(np.median(values)) if values else float("nan")), by_code


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
    add_machine_arguments(parser)
    args = parser.parse_args()
    pin_cores(args.cores)
    model = load_separator(args.model)

    corpus = args.work / f"realism-{args.pieces}x{args.seconds:g}s-seed{args.seed}"
    settings = SynthSettings(seed=args.seed, size=(128, 72), max_seconds=args.seconds, holdout_timbre=HOLDOUT)
    if not (corpus / "corpus.json").is_file():
        synthesize_corpus(corpus, args.pieces, settings, jobs=args.cores, overwrite=True)
    meta = json.loads((corpus / "corpus.json").read_text())
    timbres = {
        p["folder"]: {
            c: {q["timbre"] for q in p["parts"] if q["code"] == c} for c in {q["code"] for q in p["parts"]}
        }
        for p in meta["pieces"]
    }
    synthetic = evaluate_separator(model, load_dataset(f"urmp:{corpus}"))
    seen, seen_codes = pair_medians(synthetic, lambda t, c: HOLDOUT not in timbres[t][c])
    unseen, unseen_codes = pair_medians(synthetic, lambda t, c: timbres[t][c] == {HOLDOUT})
    show(f"synthetic pieces, FluidR3/MuseScore parts ({corpus.name})", seen, seen_codes)
    show(f"synthetic pieces, held-out {HOLDOUT} parts", unseen, unseen_codes)

    if args.realdev.is_dir():
        real = evaluate_separator(model, load_dataset(f"solos:{args.realdev}"))
        solo, solo_codes = pair_medians(real, lambda t, c: True)
        show(f"real solo ensembles ({args.realdev})", solo, solo_codes)
    else:
        print(f"no real recordings at {args.realdev}: real_solo_sdr is nan")
        solo = float("nan")
    print(f"synthetic_sdr={seen:.3f} unseen_timbre_sdr={unseen:.3f} real_solo_sdr={solo:.3f}")


if __name__ == "__main__":
    main()
