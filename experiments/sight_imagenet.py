"""How should sight use ImageNet's own classifier on real players? Chosen on validation data only.

Issue 24's sight: the shipped slot head scores each instrument with its own sigmoid, and on real
players (ISFEE) it names 5-9 instruments per clip. ImageNet's classifier ranks 1000 classes against
each other: a window of a saxophonist that looks a little like an oboe still ranks "sax" first. For
every sampled frame (the recogniser's budget, at its 768-pixel side) each window
(:data:`vcsep.vision.recognizer.WINDOWS`) is scored from one backbone pass by each rule:

* ``head``: the shipped head's probability (what ships without a veto);
* ``imagenet``: ImageNet's softmax over its 1000 classes for the nine instruments it knows; viola,
  double bass, clarinet and tuba take their look-alike's;
* ``rivals<g>``: the head's probability times ``(1 - rival)^g``, ``rival`` being ImageNet's belief
  that the window shows another instrument (:func:`vcsep.vision.recognizer.rival_mass`): the
  recogniser's ``rival_power``. On a drawn player or a wall no ImageNet instrument wins and the head
  speaks alone; on a real saxophonist ImageNet's "sax" silences the head's oboe and bassoon;
* ``rivals<g>c``: the same, each window's rival mass at least that of the larger windows around it
  (:func:`vcsep.vision.recognizer.with_context`, the recogniser's ``rival_context``).

A frame's score is its best window's; a clip's presence the score a fifth of its frames reach (as
``vcsep detect``); the recogniser ships ``rivals8`` read at 0.7, chosen here (the README's table).
Sight's sets and the labels fused with the shipped tagger's sound
(:func:`vcsep.fusion.labels.fuse`, sight read at ``--thresholds``) are scored against the truth on
the ``validation`` half of the ISFEE clips (:func:`vcsep.evaluation.realsets.split_clips`; sight
with look-alike groups counted as their played member's group, fused exactly), and on the test
pieces of ``--corpus`` (drawn players, the synthetic ``bench/sight_sound.py`` corpus), where the
head was trained to see, as presence F1. Last, the fusion rule's weights are tried with the shipped
sight on the real validation clips. Backbone features are kept in ``--cache`` (about 1 MB a
frame), so a second run takes seconds.

    python experiments/sight_imagenet.py --corpus /tmp/vcsep-bench/sight-sound-40x20s-seed0
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
from pathlib import Path

import numpy as np
import torch

from vcsep import DEFAULT_MODELS, vocab
from vcsep.audio.tagger import SAMPLE_RATE as TAGGER_RATE
from vcsep.audio.tagger import Tagger
from vcsep.evaluation.realsets import isfee_clips, isfee_default, split_clips
from vcsep.fusion.labels import fuse
from vcsep.vision.labels import DEFAULT_RATE_HZ, InstrumentLabels, clip_presence, content_hash, frame_activity
from vcsep.vision.recognizer import IMAGENET_CLASS, LOOKALIKE, Recognizer, budget_fps
from vcsep.vision.train import PresenceScores
from vcsep.vision.video import iter_frames, probe, read_audio_track

POWERS = (2, 4, 8, 16)
RULES = ("head", "imagenet", *(f"rivals{g}" for g in POWERS), *(f"rivals{g}c" for g in POWERS))
THRESHOLDS = (0.5, 0.6, 0.7, 0.8)
WEIGHTS = (0.5, 0.75, 1.0, 1.5)  # the fusion rule's sight and sound weights tried (shipped: 0.75, 0.75)
OFFSETS = (0.0, 0.5, 1.0, 2.0)  # sight's offset tried (shipped: 1)
GROUP = {c: LOOKALIKE.get(c, c) for c in vocab.CODES}  # member -> the group's ImageNet class holder


def clip_features(recognizer: Recognizer, video: Path, cache: Path) -> dict:
    """``{"features": float16 [F, 1280, h, w], "times": [F] s, "duration": s}`` of the sampled
    frames, from ``cache`` when it holds them."""
    key = hashlib.sha256(f"{content_hash(video)}|{recognizer.imgsz}".encode()).hexdigest()[:32]
    path = cache / f"{key}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    duration = probe(video).duration_s
    maps, times = [], []
    for frame in iter_frames(video, budget_fps(duration), max_side=recognizer.imgsz):
        maps.append(recognizer.features([frame.image]).half())
        times.append(frame.time_s)
    data = {"features": torch.cat(maps), "times": torch.tensor(times), "duration": duration}
    cache.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return data


@torch.inference_mode()
def frame_scores(recognizer: Recognizer, features: torch.Tensor) -> dict[str, np.ndarray]:
    """Per rule, each slot's best-window score on every frame: float ``[K, F]``."""
    out = {}
    for rule in RULES:
        if rule == "imagenet":
            classes = torch.tensor([IMAGENET_CLASS[GROUP[c]] for c in vocab.CODES])
            scores = recognizer.imagenet_window_logits(features).softmax(1)[:, classes]  # [F, K, R]
        else:
            recognizer.rival_power = float(rule.strip("rivalsc")) if rule != "head" else 0.0
            recognizer.rival_context = rule.endswith("c")
            scores = recognizer.window_probabilities(features)
        out[rule] = scores.amax(-1).T.numpy()
    return out


def grouped(codes: set[str]) -> set[str]:
    return {GROUP[c] for c in codes}


def evaluate(rows: list[dict], rule: str, threshold: float, **weights: float) -> dict[str, float]:
    """Sight (grouped) and fused scores of ``rule`` read at ``threshold`` over ``rows``; ``weights``
    go to :func:`vcsep.fusion.labels.fuse` (default: the shipped rule's)."""
    sight_found, fused_found = [], []
    for row in rows:
        scores = row["scores"][rule]
        presence = clip_presence(scores)
        sight = InstrumentLabels(
            presence=presence,
            activity=frame_activity(scores, row["times"], row["duration"], DEFAULT_RATE_HZ),
            rate_hz=DEFAULT_RATE_HZ,
            threshold=threshold,
            fallback=False,
        )
        seen = {c for c, p in zip(vocab.CODES, presence) if p >= threshold}
        sight_found.append((grouped(row["truth"]), grouped(seen)))
        fused_found.append((row["truth"], set(fuse(sight, row["sound"], **weights).fused.present)))
    sight, fused = PresenceScores.of_pieces(sight_found), PresenceScores.of_pieces(fused_found)
    return {
        "sight_p": sight.precision or 0.0, "sight_r": sight.recall or 0.0, "sight_f1": sight.f1 or 0.0,
        "sight_exact": float(np.mean([t == f for t, f in sight_found])),
        "fused_f1": fused.f1 or 0.0, "fused_r": fused.recall or 0.0,
        "fused_exact": float(np.mean([t == f for t, f in fused_found])),
        "false_per_clip": float(np.mean([len(f - t) for t, f in fused_found])),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--isfee", type=Path, default=isfee_default())
    parser.add_argument(
        "--corpus", type=Path, default=None, help="synthetic corpus with videos and split.tsv"
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/vcsep-sight-features"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    recognizer = Recognizer(DEFAULT_MODELS / "recognizer_head.pt")
    tagger = Tagger.load(DEFAULT_MODELS / "tagger.pt")
    videos: dict[str, list[tuple[set[str], Path]]] = {"real": [], "drawn": []}
    for code, paths in split_clips(isfee_clips(args.isfee))["validation"].items():
        videos["real"] += [({code}, path) for path in paths]
    if args.corpus is not None:
        from vcsep.datasets.urmp import corpus_split, load_urmp_piece

        for folder, side in corpus_split(args.corpus).items():
            if side == "test":
                track = load_urmp_piece(args.corpus / folder)
                videos["drawn"].append((set(track.stems), track.video))
    for name, clips in videos.items():
        if not clips:
            continue
        rows = []
        for truth, video in clips:
            data = clip_features(recognizer, video, args.cache)
            sound = tagger.tag(read_audio_track(video, TAGGER_RATE), TAGGER_RATE, rate_hz=DEFAULT_RATE_HZ)
            rows.append(
                {
                    "truth": truth, "sound": sound, "times": data["times"].numpy(),
                    "duration": float(data["duration"]), "scores": frame_scores(recognizer, data["features"]),
                }
            )  # fmt: skip
        print(f"{name}: {len(rows)} clips (sight: a look-alike member counts as its group)")
        header = f"{'rule':<9} {'t':>4} {'sight P':>8} {'R':>5} {'exact':>6}"
        print(f"  {header} {'fused F1':>9} {'R':>5} {'exact':>6} {'false':>6}")
        for rule in RULES:
            for threshold in THRESHOLDS:
                s = evaluate(rows, rule, threshold)
                print(
                    f"  {rule:<9} {threshold:>4.1f} {s['sight_p']:>8.2f} {s['sight_r']:>5.2f} "
                    f"{s['sight_exact']:>6.2f} {s['fused_f1']:>9.2f} {s['fused_r']:>5.2f} "
                    f"{s['fused_exact']:>6.2f} "
                    f"{s['false_per_clip']:>6.2f}",
                    flush=True,
                )
        if name == "real":
            print("  the fusion rule's weights with the shipped sight (rivals8 at 0.7), best exact first:")
            grid = []
            for sight_weight, sound_weight, offset in itertools.product(WEIGHTS, WEIGHTS, OFFSETS):
                weights = {"sight_weight": sight_weight, "sound_weight": sound_weight, "sight_offset": offset}
                grid.append((evaluate(rows, "rivals8", 0.7, **weights), weights))
            grid.sort(key=lambda item: (-item[0]["fused_exact"], -item[0]["fused_f1"]))
            for s, weights in grid[:10]:
                print(
                    f"    {weights}: fused F1 {s['fused_f1']:.2f} R {s['fused_r']:.2f} "
                    f"exact {s['fused_exact']:.2f}"
                )


if __name__ == "__main__":
    main()
