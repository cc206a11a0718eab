"""At what scale should sight read a frame? The recogniser's frame side, measured on validation data.

The recogniser scales every frame so its longer side is :data:`vcsep.vision.recognizer.FRAME_SIDE`
pixels (768) and scores windows of 3 and 5 feature cells (96 and 160 pixels there): sizes chosen
for players on a 1080p stage and for the drawn players of the synthetic corpora (320x180). The
ISFEE clips are 352x240 and the player fills the frame, so at 768 an instrument spans 7-14 cells
and a window sees a part of it: a saxophone's neck reads as a clarinet or an oboe, its bell as a
sax, in windows that do not overlap.

For each ``--side`` this script runs the shipped recogniser (read at its threshold) and tagger,
fused by the shipped rule, on the ``validation`` half of the ISFEE clips and on the test pieces of
``--corpus`` (a synthetic validation corpus no model or benchmark uses, e.g. seed 21 as in
``experiments/fusion_weights.py``), and prints for each: the fraction of recordings fused exactly
right, fused presence F1 and sight's own presence F1. Detections are cached in ``--cache`` (the
side is part of their key).

    python experiments/sight_scale.py --corpus build/fusion-val --side 384 --side 512 --side 768
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--isfee", type=Path, default=None, help="ISFEE clips (default: ../shared)")
    parser.add_argument("--corpus", type=Path, required=True, help="synthetic validation corpus (videos)")
    parser.add_argument("--side", type=int, action="append", required=True, help="frame side, pixels")
    parser.add_argument("--cache", type=Path, default=Path("build/experiments/sight-scale"))
    args = parser.parse_args()

    from vcsep import DEFAULT_MODELS
    from vcsep.audio.tagger import Tagger
    from vcsep.evaluation.realsets import isfee_clips, isfee_default, split_clips
    from vcsep.fusion.labels import label_recording
    from vcsep.vision.recognizer import Recognizer
    from vcsep.vision.train import PresenceScores, read_corpus

    halves = split_clips(isfee_clips(args.isfee or isfee_default()))
    videos = {
        "real players": [({code}, path) for code, paths in halves["validation"].items() for path in paths],
        "drawn players": [(set(p.codes), p.video) for p in read_corpus(args.corpus) if p.split == "test"],
    }
    tagger = Tagger.load(DEFAULT_MODELS / "tagger.pt")
    print(f"{'side':>5} {'recordings':<14} {'exact':>6} {'fused F1':>9} {'sight F1':>9}")
    for side in args.side:
        sight = Recognizer(DEFAULT_MODELS / "recognizer_head.pt", side=side)
        for name, recordings in videos.items():
            fused, seen = [], []
            for truth, video in recordings:
                found = label_recording(video, sight=sight, tagger=tagger, cache_dir=args.cache)[0].found()
                fused.append((truth, found["fused"]))
                seen.append((truth, found["sight"]))
            exact = np.mean([t == f for t, f in fused])
            f1 = PresenceScores.of_pieces(fused).f1 or 0.0
            sight_f1 = PresenceScores.of_pieces(seen).f1 or 0.0
            print(f"{side:>5} {name:<14} {exact:>6.3f} {f1:>9.3f} {sight_f1:>9.3f}", flush=True)


if __name__ == "__main__":
    main()
