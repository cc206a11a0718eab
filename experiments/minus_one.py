"""Which practice track is cleaner: the sum of the other stems, or the mixture less the stem?

``vcsep separate --minus vn`` writes ``minus_vn.wav``, the performance without the violin. With true
stems ``s_i`` the ideal is ``sum_{i != k} s_i``; from the separated stems ``e_i`` and the mixture
``x`` there are two recipes:

- ``others``: ``sum_{i != k} e_i``, whose error is every other stem's error added up (and whatever
  the separator put in no kept slot);
- ``mixture``: ``x - e_k``, whose error is the error of stem ``k`` alone (with its sign flipped).

This script separates the test pieces of ``--corpus`` (URMP layout with videos, e.g. a realistic
corpus whose test pieces are played by a timbre source the separator never heard) with the shipped
separator (or ``--models``), told the true instruments, and scores both recipes against the ideal
for every instrument of every piece: SDR (dB, ``10 log10 |t|^2 / |t - e|^2`` over the whole piece)
and SI-SDR. It prints the medians and writes ``<out>/minus_one.json``. Its answer is the recipe of
:func:`vcsep.pipeline.write_minus_one` and of the page's "minus one". E.g.

    vcsep synth --out build/minus-one --pieces 64 --seed 22 --size 128x72 --max-seconds 15 \\
        --timbres fluidr3,musescore,tonejs --holdout-timbre tonejs --jobs 2
    python experiments/minus_one.py --corpus build/minus-one --out build/minus-one
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def sdr(target: np.ndarray, estimate: np.ndarray) -> float:
    """``10 log10 |target|^2 / |target - estimate|^2`` in dB over whole arrays of one shape."""
    return float(10 * np.log10(np.sum(target**2) / max(np.sum((target - estimate) ** 2), 1e-20)))


def si_sdr(target: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB: :func:`sdr` of the best scaled target."""
    scale = np.sum(target * estimate) / max(np.sum(target**2), 1e-20)
    return sdr(scale * target, estimate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="corpus in URMP layout with videos")
    parser.add_argument("--out", type=Path, required=True, help="folder for minus_one.json")
    parser.add_argument("--models", type=Path, default=None, help="models folder (default: shipped)")
    args = parser.parse_args()

    from vcsep import DEFAULT_MODELS
    from vcsep.datasets.urmp import corpus_split, load_urmp_piece
    from vcsep.pipeline import Separator

    separator = Separator.from_pretrained(args.models or DEFAULT_MODELS)
    rows = []
    for folder, split in sorted(corpus_split(args.corpus).items()):
        if split != "test":
            continue
        track = load_urmp_piece(args.corpus / folder)
        codes = list(track.stems)
        if len(codes) < 2:
            continue
        result = separator.separate_video(track.video, codes)
        mixture = result.mixture
        truth = track.slot_audio(result.sample_rate, mixture.shape[0])
        n = min(mixture.shape[-1], *(a.shape[-1] for a in truth.values()))
        mixture = mixture[:, :n]
        stems = {c: result.stems[c][:, :n] for c in codes}
        for k in codes:
            target = sum(truth[c][:, :n] for c in codes if c != k)
            recipes = {"others": sum(stems[c] for c in codes if c != k), "mixture": mixture - stems[k]}
            row = {"piece": folder, "instrument": k}
            for name, estimate in recipes.items():
                row[f"{name}_sdr"], row[f"{name}_si_sdr"] = sdr(target, estimate), si_sdr(target, estimate)
            rows.append(row)
            print(
                f"{folder:<40} minus {k:<4} SDR others {row['others_sdr']:6.2f}"
                f"  mixture {row['mixture_sdr']:6.2f}   SI-SDR others {row['others_si_sdr']:6.2f}"
                f"  mixture {row['mixture_si_sdr']:6.2f}",
                flush=True,
            )
    if not rows:
        raise SystemExit(f"{args.corpus}: no test piece with two or more instruments")
    summary = {
        key: float(np.median([r[key] for r in rows]))
        for key in ("others_sdr", "mixture_sdr", "others_si_sdr", "mixture_si_sdr")
    }
    wins = sum(r["mixture_sdr"] > r["others_sdr"] for r in rows)
    gain = float(np.median([r["mixture_sdr"] - r["others_sdr"] for r in rows]))
    print(f"{len(rows)} practice tracks of {len({r['piece'] for r in rows})} pieces; medians: {summary}")
    print(f"mixture less the stem is cleaner in {wins} of {len(rows)}, by a median of {gain:.2f} dB SDR")
    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "corpus": str(args.corpus),
        "median": summary,
        "mixture_wins": wins,
        "median_sdr_gain_of_mixture": gain,
        "rows": rows,
    }
    (args.out / "minus_one.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
