"""Separation of real players: seeded ensembles of real solo recordings, for MODEL.

Each ensemble (``--count``, default 64, seed ``--seed``) holds 2 to 4 different instruments, one
real solo excerpt each: the audio of an ISFEE performance video (``../shared/realvideo/isfee``,
or ``$VCSEP_ISFEE``; one studio, every instrument) or a realdev solo clip (``../shared/realdev``,
or ``$VCSEP_REALDEV``; Medley-solos-DB and Freesound, CC BY: see its ATTRIBUTION.md). The parts
keep their own levels, start together, are cut to the shortest (at most 12 s) and summed; each
part is its own ground truth. Only the ``report`` half of the clips is used
(:func:`vcsep.evaluation.realsets.split_clips`); experiments choose on the ``validation`` half.
No model vcsep ships trained on any of them.

Scored with BSSEval v4 (fast scorer, 1 s frames): each pair's median over its frames, then the
median over the track-instrument pairs, the separator told the true instruments
(``real_ensemble_sdr``) and told every instrument (``all_labels_sdr``: what the labels are worth
is the difference). A table per instrument follows. The last line is
``real_ensemble_sdr=<a> all_labels_sdr=<b> pairs=<n>``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _machine import add_machine_arguments, pin_cores

from vcsep.evaluation.realsets import isfee_default, real_clips, real_ensembles, realdev_default
from vcsep.evaluation.scoring import evaluate_separator, pair_sdrs
from vcsep.fusion.checkpoint import load_separator

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path, nargs="?", default=REPO / "vcsep" / "models" / "separator.pt")
    parser.add_argument("--count", type=int, default=64, help="ensembles (at least 60 for the issue)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--half", default="report", choices=("report", "validation"))
    parser.add_argument("--isfee", type=Path, default=isfee_default())
    parser.add_argument("--realdev", type=Path, default=realdev_default())
    add_machine_arguments(parser)
    args = parser.parse_args()
    pin_cores(args.cores)
    if not (args.isfee / "labels.tsv").is_file() and not (args.realdev / "solos").is_dir():
        raise SystemExit(
            f"no real recordings: neither {args.isfee}/labels.tsv nor {args.realdev}/solos exists "
            "(they live in ../shared beside the repository; or set VCSEP_ISFEE / VCSEP_REALDEV)"
        )
    for folder in (args.isfee, args.realdev):
        if not folder.is_dir():
            print(f"note: {folder} is missing; ensembles come from the other folder only")
    clips = real_clips(args.half, args.isfee, args.realdev)
    tracks = real_ensembles(clips, args.count, args.seed)
    print(
        f"{len(tracks)} ensembles of 2-4 real players from the {args.half} half "
        f"({sum(map(len, clips.values()))} clips of {len(clips)} instruments)"
    )
    model = load_separator(args.model)
    told = evaluate_separator(model, tracks)
    everything = evaluate_separator(
        model, tracks, labels_for=lambda t: np.ones(len(model.sources), np.float32)
    )
    sdr, by_code = pair_sdrs(told)
    all_sdr, all_by_code = pair_sdrs(everything)
    pairs = sum(map(len, by_code.values()))
    print(f"{'instrument':<10} {'pairs':>5} {'true labels':>12} {'all labels':>11}  (median SDR, dB)")
    for code in sorted(by_code):
        print(
            f"{code:<10} {len(by_code[code]):>5} {np.median(by_code[code]):>12.2f} "
            f"{np.median(all_by_code.get(code, [np.nan])):>11.2f}"
        )
    print(f"{'all':<10} {pairs:>5} {sdr:>12.2f} {all_sdr:>11.2f}")
    print(f"real_ensemble_sdr={sdr:.3f} all_labels_sdr={all_sdr:.3f} pairs={pairs}")


if __name__ == "__main__":
    main()
