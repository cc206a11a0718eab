"""Show what the detector sees on a performance clip: boxes on sampled frames, each instrument's
clip-level presence against the truth, and its activity over time.

    python demos/detector_view.py                                # a synthetic held-out piece
    python demos/detector_view.py --urmp /data/URMP --piece 01_Jupiter_vn_vc

Writes ``frames.png`` (a strip of frames with boxes) and ``detector.png`` (presence bars and the
activity map [K, T]) under --out/detector.
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from clips import add_clip_arguments, clip

from vcsep import DEFAULT_MODELS, vocab
from vcsep.datasets.urmp import load_urmp_piece
from vcsep.vision.detector import Detector
from vcsep.vision.labels import detect_video, labels_from_detections
from vcsep.vision.preview import draw_preview
from vcsep.vision.video import probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_clip_arguments(parser)
    parser.add_argument("--weights", default=DEFAULT_MODELS / "detector.pt", help="detector weights")
    parser.add_argument("--fps", type=float, default=2.0, help="frames sampled per second")
    args = parser.parse_args()

    track = load_urmp_piece(clip(args))
    out = args.out / "detector"
    out.mkdir(parents=True, exist_ok=True)
    detector = Detector(args.weights)
    detections = detect_video(track.video, detector, fps=args.fps, use_cache=False)
    labels = labels_from_detections(detections, probe(track.video).duration_s, source=track.video)
    draw_preview(track.video, detections, out / "frames.png", min_score=labels.threshold)

    truth = track.labels
    fig, (bars, heat) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [1, 2.4]})
    y = np.arange(vocab.K)
    bars.barh(y, labels.presence, color=["tab:green" if t else "tab:gray" for t in truth])
    bars.axvline(labels.threshold, color="k", ls="--", lw=1, label=f"threshold {labels.threshold}")
    bars.set(yticks=y, yticklabels=vocab.CODES, xlim=(0, 1), xlabel="presence (green: truly there)")
    bars.invert_yaxis()
    bars.legend(loc="lower right")
    seconds = labels.activity.shape[1] / labels.rate_hz
    image = heat.imshow(
        labels.activity, aspect="auto", cmap="magma", vmin=0, vmax=1, extent=(0, seconds, vocab.K - 0.5, -0.5)
    )
    heat.set(
        yticks=y,
        yticklabels=vocab.CODES,
        xlabel="time (s)",
        title=f"activity [K, T] at {labels.rate_hz:g} Hz",
    )
    fig.colorbar(image, ax=heat, label="detector confidence")
    fig.suptitle(track.name)
    fig.tight_layout()
    fig.savefig(out / "detector.png", dpi=90)

    print(f"{'instrument':<12}{'truth':>6}{'presence':>10}{'found':>7}")
    for inst, t, p in zip(vocab.INSTRUMENTS, truth, labels.presence):
        if t or p >= 0.05:
            found = "yes" if inst.code in labels.present else ""
            print(f"{inst.name:<12}{'yes' if t else '':>6}{p:>10.2f}{found:>7}")
    print(f"wrote {out / 'frames.png'} and {out / 'detector.png'}")


if __name__ == "__main__":
    main()
