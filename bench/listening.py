"""Does the listening tagger hear real instruments? Presence on real recordings, for TAGGER.

The solo clips under ``--realdev``/solos (default ``../shared/realdev`` beside the repository, or
``$VCSEP_REALDEV``; Medley-solos-DB and Freesound clips of 3-5 s, CC BY: see its ATTRIBUTION.md):

1. every solo clip tagged alone: ``real_solo_top1`` (its instrument has the highest presence of
   the 13) and ``real_solo_f1`` (presence at the tagger's 0.5, a clip counting once per instrument);
2. ``--ensembles`` seeded ensembles of two or three clips of different instruments (as
   ``bench/realism.py`` builds them, mixed by summing): ``real_ensemble_f1`` at 0.5 and
   ``real_ensemble_map``, the mean over instruments of the average precision of their presence
   across the ensembles (no threshold).

Precision counts false alarms of all 13 slots; the clips are of clarinet, flute, saxophone, trumpet
and violin. The last line is
``real_solo_top1=<a> real_solo_f1=<b> real_ensemble_f1=<c> real_ensemble_map=<d>``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _machine import add_machine_arguments, pin_cores

from vcsep.evaluation.realsets import realdev_default

REPO = Path(__file__).resolve().parents[1]
THRESHOLD = 0.5


def average_precision(truth: np.ndarray, scores: np.ndarray) -> float:
    """Average precision of ``scores`` ranking the positives of bool ``truth`` (both ``[N]``)."""
    hits = truth[np.argsort(-scores, kind="stable")]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(np.sum(precision * hits) / max(1, hits.sum()))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("tagger", type=Path, nargs="?", default=REPO / "vcsep" / "models" / "tagger.pt")
    parser.add_argument("--realdev", type=Path, default=realdev_default())
    parser.add_argument("--ensembles", type=int, default=48)
    add_machine_arguments(parser)
    args = parser.parse_args()
    pin_cores(args.cores)
    from vcsep.audio.io import read_audio
    from vcsep.audio.tagger import Tagger
    from vcsep.datasets.solos import find_clips, load_solo_ensembles
    from vcsep.vision.train import PresenceScores

    def presence_f1(rows: list[tuple[set, set]]) -> float:
        return PresenceScores.of_pieces(rows).f1 or 0.0

    solos = args.realdev / "solos"
    if not solos.is_dir():
        raise SystemExit(f"no real solo recordings at {solos} (pass --realdev or set VCSEP_REALDEV)")
    tagger = Tagger.load(args.tagger)
    codes = list(tagger.codes)

    top1, solo_rows = [], []
    for code, clips in sorted(find_clips(solos).items()):
        for clip in clips:
            tags = tagger.tag(*read_audio(clip))
            top1.append(codes[int(np.argmax(tags.presence))] == code)
            solo_rows.append(({code}, {c for c, p in zip(codes, tags.presence) if p >= THRESHOLD}))
        hits = [found for truth, found in solo_rows if truth == {code}]
        print(f"  {code:<4} {len(clips):>3} clips  heard as itself {sum(code in f for f in hits)}")

    truths, scores = [], []
    for track in load_solo_ensembles(solos, args.ensembles, seed=1):
        stems = {c: sum(read()[0] for read in reads) for c, reads in track.stems.items()}
        tags = tagger.tag(sum(stems.values()), track.sample_rate)
        truths.append([c in stems for c in codes])
        scores.append(tags.presence)
    truth, score = np.array(truths), np.array(scores)
    ensemble_rows = [
        ({c for c, t in zip(codes, row) if t}, {c for c, p in zip(codes, ps) if p >= THRESHOLD})
        for row, ps in zip(truth, score)
    ]
    played = np.flatnonzero(truth.any(0))
    mean_ap = float(np.mean([average_precision(truth[:, k], score[:, k]) for k in played]))
    print(f"{len(solo_rows)} solo clips, {len(truths)} ensembles of {', '.join(codes[k] for k in played)}")
    print(
        f"real_solo_top1={np.mean(top1):.3f} real_solo_f1={presence_f1(solo_rows):.3f} "
        f"real_ensemble_f1={presence_f1(ensemble_rows):.3f} real_ensemble_map={mean_ap:.3f}"
    )


if __name__ == "__main__":
    main()
