"""Measurement: presence F1 of sight, sound and fused labels on a corpus's test pieces, and the cost
in separation quality of separating with the fused labels instead of the true ones.

For each test piece of ``--corpus`` (URMP layout with videos, e.g. a ``vcsep synth`` corpus):
the recogniser on its video (about 16 frames), the tagger on its mixture, the fusion rule
(:func:`vcsep.fusion.labels.label_recording`); presence precision/recall/F1 (a piece counts once
per instrument) for each column. Where the fused instruments differ from the true ones, the piece
is separated both ways with the shipped separator and the mean plain SDR (10 log10 of the true
stem's energy over the error's, whole piece: a missed instrument's silent estimate scores 0 dB,
which BSSEval cannot score) of its true instruments compared; pieces whose labels agree lose
nothing by construction.

The last line is ``fused_f1=<F1> sight_f1=... sound_f1=... sdr_loss_db=<mean over pieces>``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _machine import add_machine_arguments, pin_cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="corpus with split.tsv and videos (default: make sight-sound-models' realistic corpus, "
        "40 pieces of 20 s at 320x180, seed 0, tonejs held out, written once under --work)",
    )
    parser.add_argument("--sight", choices=("recognizer", "yolo"), default="recognizer", help="sight model")
    parser.add_argument("--tagger", type=Path, default=None, help="tagger file (default: the shipped one)")
    add_machine_arguments(parser)
    args = parser.parse_args()
    pin_cores(args.cores)
    from vcsep import DEFAULT_MODELS, Separator
    from vcsep.audio.io import read_audio
    from vcsep.audio.tagger import Tagger
    from vcsep.datasets.urmp import corpus_split, load_urmp_piece
    from vcsep.fusion.labels import label_recording
    from vcsep.vision.recognizer import Recognizer
    from vcsep.vision.train import PresenceScores

    if args.sight == "yolo":  # the synthetic detector shipped before issue 15
        from vcsep.vision.detector import Detector

        sight = Detector(DEFAULT_MODELS / "detector.pt")
    else:
        sight = Recognizer(DEFAULT_MODELS / "recognizer_head.pt")
    if args.corpus is None:
        from vcsep.datasets.synth import SynthSettings, synthesize_corpus

        args.corpus = args.work / "sight-sound-40x20s-seed0"
        if not (args.corpus / "corpus.json").is_file():
            settings = SynthSettings(seed=0, size=(320, 180), max_seconds=20.0, holdout_timbre="tonejs")
            synthesize_corpus(args.corpus, 40, settings, jobs=args.cores, overwrite=True)
    tagger = Tagger.load(args.tagger or DEFAULT_MODELS / "tagger.pt")
    separator = Separator.from_pretrained()
    columns: dict[str, list] = {"sight": [], "sound": [], "fused": []}
    losses = []
    for folder, split in corpus_split(args.corpus).items():
        if split != "test":
            continue
        track = load_urmp_piece(args.corpus / folder)
        truth = set(track.stems)
        result, _ = label_recording(
            track.video, sight=sight, tagger=tagger, cache_dir=args.work / "sight-cache"
        )
        found = result.found()
        for name, codes in found.items():
            columns[name].append((truth, codes))
        loss = 0.0
        if found["fused"] != truth:
            mixture, rate = read_audio(track.mixture)
            refs = np.stack(
                [sum(read_audio(s)[0] for s in track.stems[c]).mean(0, keepdims=True) for c in truth]
            )
            sdr = {}
            for name, codes in (("true", sorted(truth)), ("fused", sorted(found["fused"]))):
                out = separator.separate_audio(mixture, rate, codes or None)
                est = np.stack([out.stems[c] if c in out.stems else np.zeros_like(refs[0]) for c in truth])
                n = min(refs.shape[-1], est.shape[-1])
                err = np.sum((refs[..., :n] - est[..., :n]) ** 2, axis=(1, 2))
                energy = np.sum(refs[..., :n] ** 2, axis=(1, 2))
                sdr[name] = float(np.mean(10 * np.log10(energy / np.maximum(err, 1e-12))))
            loss = sdr["true"] - sdr["fused"]
        losses.append(loss)
        print(
            f"{folder:<36} truth {','.join(sorted(truth)):<18} sight {','.join(sorted(found['sight'])):<18} "
            f"sound {','.join(sorted(found['sound'])):<18} fused {','.join(sorted(found['fused'])):<18} "
            f"SDR loss {loss:.2f} dB",
            flush=True,
        )
    scores = {name: PresenceScores.of_pieces(rows) for name, rows in columns.items()}
    for name, s in scores.items():
        print(f"{name:<6} F1 {s.f1 or 0.0:.3f} (tp {s.tp}, fp {s.fp}, fn {s.fn})")
    print(
        f"fused_f1={scores['fused'].f1 or 0.0:.3f} sight_f1={scores['sight'].f1 or 0.0:.3f} "
        f"sound_f1={scores['sound'].f1 or 0.0:.3f} sdr_loss_db={np.mean(losses):.3f}"
    )


if __name__ == "__main__":
    main()
