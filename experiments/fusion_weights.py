"""How much should sight and sound each count? The fusion rule's weights, fitted on validation pieces.

:func:`vcsep.fusion.labels.fuse` adds sight's and sound's log-odds, each weighted, and sight's
with an offset (``SIGHT_WEIGHT``, ``SOUND_WEIGHT``, ``SIGHT_OFFSET`` in :mod:`vcsep.fusion.labels`).
This script runs
the shipped recogniser and tagger (or those given) once on every test piece of ``--corpus`` (URMP
layout with videos; its test pieces are played by a timbre source no model trained on), then tries
every combination of a grid of the three and scores each by presence F1 over the pieces (a piece
counts once per instrument, as in ``bench/sight_sound.py``). It prints the current rule's F1, the
best few combinations, and writes ``<out>/fusion_weights.json``.

The validation corpus must be one no model and no benchmark uses, e.g.

    vcsep synth --out build/fusion-val --pieces 99 --seed 21 --size 320x180 --max-seconds 20 \
        --holdout-timbre tonejs --jobs 2
    python experiments/fusion_weights.py --corpus build/fusion-val --out build/fusion-val

(``bench/sight_sound.py`` reads seed 0's pieces; the models train on seeds 0, 3-7 and 14.)
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

SIGHT_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
SOUND_WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
SIGHT_OFFSETS = (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="validation corpus (URMP layout, videos)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the result and sight's cache")
    parser.add_argument("--head", type=Path, default=None, help="recogniser head (default: shipped)")
    parser.add_argument("--tagger", type=Path, default=None, help="tagger (default: shipped)")
    args = parser.parse_args()

    from vcsep import DEFAULT_MODELS
    from vcsep.audio.tagger import Tagger
    from vcsep.datasets.urmp import corpus_split, load_urmp_piece
    from vcsep.fusion import labels
    from vcsep.vision.recognizer import Recognizer
    from vcsep.vision.train import PresenceScores

    def presence_f1(rows: list[tuple[set, set]]) -> float:
        return PresenceScores.of_pieces(rows).f1 or 0.0

    sight = Recognizer(args.head or DEFAULT_MODELS / "recognizer_head.pt")
    tagger = Tagger.load(args.tagger or DEFAULT_MODELS / "tagger.pt")
    pieces = []
    for folder, split in sorted(corpus_split(args.corpus).items()):
        if split != "test":
            continue
        track = load_urmp_piece(args.corpus / folder)
        result, _ = labels.label_recording(
            track.video, sight=sight, tagger=tagger, cache_dir=args.out / "sight-cache"
        )
        pieces.append((set(track.stems), result.sight, result.sound))
    if not pieces:
        raise SystemExit(f"{args.corpus}: no test pieces")

    def score(sight_weight: float, sound_weight: float, sight_offset: float) -> float:
        rows = []
        for truth, seen, heard in pieces:
            fused = labels.fuse(
                seen, heard, sight_weight=sight_weight, sound_weight=sound_weight, sight_offset=sight_offset
            )
            rows.append((truth, set(fused.fused.present)))
        return presence_f1(rows)

    current = (labels.SIGHT_WEIGHT, labels.SOUND_WEIGHT, labels.SIGHT_OFFSET)
    alone = [(t, labels.fuse(s, h).found()) for t, s, h in pieces]
    sight_only = presence_f1([(t, found["sight"]) for t, found in alone])
    sound_only = presence_f1([(t, found["sound"]) for t, found in alone])
    grid = sorted(
        ((score(*combo), combo) for combo in itertools.product(SIGHT_WEIGHTS, SOUND_WEIGHTS, SIGHT_OFFSETS)),
        key=lambda r: -r[0],
    )
    print(f"{len(pieces)} test pieces of {args.corpus}: sight F1 {sight_only:.3f}, sound F1 {sound_only:.3f}")
    print(f"current rule {current}: fused F1 {score(*current):.3f}")
    print("best (sight_weight, sound_weight, sight_offset):")
    for f1, combo in grid[:8]:
        print(f"  {combo}: {f1:.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "corpus": str(args.corpus),
        "pieces": len(pieces),
        "sight_f1": sight_only,
        "sound_f1": sound_only,
        "current": {"weights": current, "f1": score(*current)},
        "grid": [{"weights": combo, "f1": f1} for f1, combo in grid],
    }
    (args.out / "fusion_weights.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
