"""Does ImageNet's own classifier see real players better than the slot head? Validation data only.

Issue 24's sight: the shipped slot head scores each instrument with its own sigmoid, and on real
players (ISFEE) it names 5-9 instruments per clip. ImageNet's classifier ranks 1000 classes against
each other: a window of a saxophonist that looks a little like an oboe still ranks "sax" first.
For every sampled frame (the recogniser's budget, at its 768-pixel side) this scores each window
(:data:`vcsep.vision.recognizer.WINDOWS`) twice from one backbone pass:

* ``head``: the shipped head's probability (what ships);
* ``imagenet``: ImageNet's softmax over its 1000 classes of the window's mean feature, for the nine
  instruments it knows; viola, double bass, clarinet and tuba take their look-alike's (the fusion
  rule lets sound choose within a group);
* ``product``: the square root of both (each must agree).

Each frame's score is its best window's; a clip's the score that a fifth of its frames reach (as
``vcsep detect``). Reported per rule and threshold: sight precision, recall and the fraction of clips
whose sight set is exactly the truth (look-alike groups counted as their played member's group), on
the ``validation`` half of the ISFEE clips, and presence F1 on the test pieces of ``--corpus``
(drawn players, the synthetic ``bench/sight_sound.py`` corpus) where the head was trained to see.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from vcsep import DEFAULT_MODELS, vocab
from vcsep.evaluation.realsets import isfee_clips, isfee_default, split_clips
from vcsep.vision.recognizer import IMAGENET_CLASS, LOOKALIKE, Recognizer, budget_fps, to_input, window_logits
from vcsep.vision.train import PresenceScores
from vcsep.vision.video import iter_frames, probe

THRESHOLDS = (0.1, 0.2, 0.3, 0.5, 0.7)
RULES = ("head", "imagenet", "product")
GROUP = {c: LOOKALIKE.get(c, c) for c in vocab.CODES}  # member -> the group's ImageNet class holder


@torch.inference_mode()
def frame_scores(recognizer: Recognizer, video: Path) -> dict[str, np.ndarray]:
    """Per rule, each slot's best-window score on every sampled frame: float ``[K, F]``."""
    fc = recognizer.backbone._fc
    rows = {rule: [] for rule in RULES}
    classes = torch.tensor([IMAGENET_CLASS[GROUP[c]] for c in vocab.CODES])
    for frame in iter_frames(video, budget_fps(probe(video).duration_s), max_side=recognizer.imgsz):
        features = recognizer.backbone.extract_features(to_input([frame.image], recognizer.imgsz))
        head = window_logits(recognizer.head(features)).sigmoid()[0]  # [K, R]
        cells = F.conv2d(features, fc.weight[:, :, None, None], fc.bias)  # [1, 1000, h, w]
        imagenet = window_logits(cells).softmax(1)[0][classes]  # [K, R], rows in vocabulary order
        for rule, scores in (("head", head), ("imagenet", imagenet), ("product", (head * imagenet).sqrt())):
            rows[rule].append(scores.amax(-1).numpy())
    return {rule: np.stack(v, axis=1) for rule, v in rows.items()}


def clip_sets(scores: np.ndarray, threshold: float) -> set[str]:
    """Codes whose score reached by a fifth of the frames is at least ``threshold``."""
    presence = np.quantile(scores, 0.8, axis=1)
    return {c for c, p in zip(vocab.CODES, presence) if p >= threshold}


def grouped(codes: set[str]) -> set[str]:
    return {GROUP[c] for c in codes}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--isfee", type=Path, default=isfee_default())
    parser.add_argument(
        "--corpus", type=Path, default=None, help="synthetic corpus with videos and split.tsv"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    recognizer = Recognizer(DEFAULT_MODELS / "recognizer_head.pt")
    sets: dict[str, list[tuple[set[str], dict[str, np.ndarray]]]] = {"real": [], "drawn": []}
    for code, paths in split_clips(isfee_clips(args.isfee))["validation"].items():
        for path in paths:
            sets["real"].append(({code}, frame_scores(recognizer, path)))
    if args.corpus is not None:
        from vcsep.datasets.urmp import corpus_split, load_urmp_piece

        for folder, side in corpus_split(args.corpus).items():
            if side == "test":
                track = load_urmp_piece(args.corpus / folder)
                sets["drawn"].append((set(track.stems), frame_scores(recognizer, track.video)))
    for name, rows in sets.items():
        if not rows:
            continue
        print(f"{name}: {len(rows)} clips (groups: a look-alike member counts as its group)")
        for rule in RULES:
            for threshold in THRESHOLDS:
                found = [(grouped(truth), grouped(clip_sets(s[rule], threshold))) for truth, s in rows]
                score = PresenceScores.of_pieces(found)
                exact = np.mean([t == f for t, f in found])
                print(
                    f"  {rule:<9} >= {threshold:.1f}: P {score.precision or 0:.2f} R {score.recall or 0:.2f} "
                    f"F1 {score.f1 or 0:.2f} exact {exact:.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
