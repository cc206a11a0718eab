"""How much should sight and sound each count? The fusion rule's weights, fitted on validation data.

:func:`vcsep.fusion.labels.fuse` adds sight's and sound's log-odds, each weighted, and sight's
with an offset (``SIGHT_WEIGHT``, ``SOUND_WEIGHT``, ``SIGHT_OFFSET`` in :mod:`vcsep.fusion.labels`).
This script runs the recogniser and tagger (shipped, or those given) once on every validation
recording, then tries every combination of a grid of the three, fusing the cached sight and sound
again each time. Validation recordings of two kinds, either or both:

* ``--corpus``: the test pieces of a synthetic corpus (URMP layout with videos; played by a timbre
  source no model trained on), scored by presence F1 (a piece counts once per instrument, as in
  ``bench/sight_sound.py``);
* ``--isfee``: the ``validation`` half of the real ISFEE players
  (:func:`vcsep.evaluation.realsets.split_clips`; ``bench/real_players.py`` reports the other half),
  scored by the fraction of clips fused exactly right, then by presence F1.

With both, the weightings that keep the synthetic pieces at their best F1 (within
:data:`SYNTHETIC_SLACK`) are ranked by the real players' scores: drawn players must stay as well
seen as they can be while real players are fused as well as possible. It prints the current rule's
scores and the best few combinations, and writes ``<out>/fusion_weights.json``. The synthetic
corpus must be one no model and no benchmark uses, e.g.

    vcsep synth --out build/fusion-val --pieces 40 --seed 21 --size 320x180 --max-seconds 20 \
        --holdout-timbre tonejs --jobs 2
    python experiments/fusion_weights.py --corpus build/fusion-val --isfee ../shared/realvideo/isfee \
        --out build/fusion-val

(``bench/sight_sound.py`` reads seed 0's pieces; the models train on seeds 0, 3-7 and 14.)
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

SIGHT_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
SOUND_WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
SIGHT_OFFSETS = (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)


SYNTHETIC_SLACK = 0.005  # synthetic F1 below its best that still counts as the best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="synthetic validation corpus (URMP layout, videos)")
    parser.add_argument("--isfee", type=Path, help="the ISFEE clips (labels.tsv): their validation half")
    parser.add_argument("--out", type=Path, required=True, help="folder for the result and sight's cache")
    parser.add_argument("--head", type=Path, default=None, help="recogniser head (default: shipped)")
    parser.add_argument("--tagger", type=Path, default=None, help="tagger (default: shipped)")
    args = parser.parse_args()
    if args.corpus is None and args.isfee is None:
        parser.error("give --corpus, --isfee or both")

    from vcsep import DEFAULT_MODELS
    from vcsep.audio.tagger import Tagger
    from vcsep.evaluation.realsets import isfee_clips, split_clips
    from vcsep.fusion import labels
    from vcsep.vision.recognizer import Recognizer
    from vcsep.vision.train import PresenceScores, read_corpus

    sight = Recognizer(args.head or DEFAULT_MODELS / "recognizer_head.pt")
    tagger = Tagger.load(args.tagger or DEFAULT_MODELS / "tagger.pt")
    videos: dict[str, list[tuple[set[str], Path]]] = {}
    if args.corpus is not None:
        videos["synthetic"] = [(set(p.codes), p.video) for p in read_corpus(args.corpus) if p.split == "test"]
    if args.isfee is not None:
        halves = split_clips(isfee_clips(args.isfee))
        videos["real"] = [({code}, path) for code, paths in halves["validation"].items() for path in paths]
    pieces: dict[str, list] = {}
    cache = args.out / "sight-cache"
    for name, recordings in videos.items():
        if not recordings:
            raise SystemExit(f"no {name} validation recordings")
        pieces[name] = []
        for truth, video in recordings:
            result, _ = labels.label_recording(video, sight=sight, tagger=tagger, cache_dir=cache)
            pieces[name].append((truth, result.sight, result.sound))

    def score(name: str, rows: list[tuple[set, set]]) -> dict[str, float]:
        """Presence F1 of ``rows``; for real players first the fraction exactly right."""
        f1 = PresenceScores.of_pieces(rows).f1 or 0.0
        exact = {f"{name} exact": float(np.mean([t == f for t, f in rows]))} if name == "real" else {}
        return {**exact, f"{name} F1": f1}

    def fused(sight_weight: float, sound_weight: float, sight_offset: float) -> dict[str, float]:
        weights = {"sight_weight": sight_weight, "sound_weight": sound_weight, "sight_offset": sight_offset}
        out = {}
        for name, rows in pieces.items():
            out |= score(name, [(t, set(labels.fuse(s, h, **weights).fused.present)) for t, s, h in rows])
        return out

    shown = lambda values: ", ".join(f"{n} {v:.3f}" for n, v in values.items())  # noqa: E731
    current = (labels.SIGHT_WEIGHT, labels.SOUND_WEIGHT, labels.SIGHT_OFFSET)
    current_scores = fused(*current)
    grid = [
        (fused(*combo), combo) for combo in itertools.product(SIGHT_WEIGHTS, SOUND_WEIGHTS, SIGHT_OFFSETS)
    ]
    eligible = grid
    if len(pieces) == 2:
        best_synthetic = max(values["synthetic F1"] for values, _ in grid)
        eligible = [g for g in grid if g[0]["synthetic F1"] >= best_synthetic - SYNTHETIC_SLACK]
    ranked = "real" if "real" in pieces else "synthetic"
    eligible = sorted(eligible, key=lambda g: [-v for n, v in g[0].items() if n.startswith(ranked)])
    for name, rows in pieces.items():
        alone = [(t, labels.fuse(s, h).found()) for t, s, h in rows]
        columns = {c: score(name, [(t, found[c]) for t, found in alone]) for c in ("sight", "sound")}
        print(f"{name}: {len(rows)} recordings; " + "; ".join(f"{c} {shown(v)}" for c, v in columns.items()))
    print(f"current rule {current}: fused {shown(current_scores)}")
    print(
        "best (sight_weight, sound_weight, sight_offset)"
        + (" of those at the synthetic pieces' best F1:" if len(pieces) == 2 else ":")
    )
    for values, combo in eligible[:8]:
        print(f"  {combo}: {shown(values)}")
    args.out.mkdir(parents=True, exist_ok=True)
    record = {
        "data": {name: str(args.corpus if name == "synthetic" else args.isfee) for name in pieces},
        "recordings": {name: len(rows) for name, rows in pieces.items()},
        "current": {"weights": current, "scores": current_scores},
        "chosen": [{"weights": combo, "scores": values} for values, combo in eligible],
        "grid": [{"weights": combo, "scores": values} for values, combo in grid],
    }
    (args.out / "fusion_weights.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
