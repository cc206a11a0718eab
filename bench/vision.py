"""Benchmark: wall time from a 3-minute 1920x1080 29.97 fps video file to label vectors, on 2 CPU cores.

The test video (moving player-like shapes on a textured stage, H.264 + AAC) is made once and cached
under the temp dir (not timed). Sight is the default, the ImageNet recogniser with the shipped head
at its frame budget (about 16 frames per video), or with ``--model yolo`` an untrained YOLOv8n (13
classes; meaningless detections, real cost) at ``--fps`` frames/s. Three timings, each the median
of ``--repeats`` runs:

- decode: sampling the frames from the file (decoded straight to the model's size);
- detect: the model on those frames alone;
- labels: the whole path, file -> :func:`vcsep.vision.labels.video_labels` (cache off).

The last line is ``labels_wall_s=<median seconds>``; the target is <= 20.
"""

from __future__ import annotations

import argparse
import statistics
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from _machine import add_machine_arguments, pin_cores

SIZE = (1920, 1080)
FPS = Fraction(30000, 1001)
SECONDS = 180
SAMPLE_RATE = 48_000


def _frames(seed: int = 0):
    """Moving coloured 'players' on a fixed textured stage, with a little sensor noise (cheap to draw)."""
    w, h = SIZE
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    stage = np.stack(
        [60 + 40 * np.sin(xx / 97.0), 50 + 30 * np.cos(yy / 61.0), 70 + 20 * np.sin((xx + yy) / 43.0)], -1
    )
    # A few noisy copies of the stage, cycled: sensor noise without drawing noise for every frame.
    stages = [(stage + rng.normal(0, 3, stage.shape)).clip(0, 255).astype(np.uint8) for _ in range(5)]
    players = [(300 + 450 * i, 250, 260, 620, rng.integers(80, 255, 3).astype(np.uint8)) for i in range(3)]
    for n in range(round(SECONDS * FPS)):
        frame = stages[n % len(stages)].copy()
        for i, (x, y, pw, ph, colour) in enumerate(players):
            x += int(25 * np.sin(n / 20.0 + i))
            y += int(10 * np.cos(n / 13.0 + 2 * i))
            frame[y : y + ph, x : x + pw] = colour
            frame[y + 40 : y + 120, x + 90 : x + 170] = 230  # a face
        yield frame


def make_video(path: Path) -> Path:
    from vcsep.media import write_video

    t = np.arange(SECONDS * SAMPLE_RATE) / SAMPLE_RATE
    audio = 0.2 * np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)]).astype(np.float32)
    # crf 18 keeps the sensor noise: about 5 Mbit/s, the bit rate of a camera recording (decoding cost
    # grows with it; a cleaner picture would make the benchmark flatter than real videos).
    return write_video(path, _frames(), FPS, audio=audio, sample_rate=SAMPLE_RATE, crf=18, preset="veryfast")


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("recognizer", "yolo"), default="recognizer", help="sight model")
    parser.add_argument("--imgsz", type=int, default=320, help="YOLO inference size (pixels)")
    parser.add_argument("--fps", type=float, default=None, help="frames/s (default: budget, or 2 for YOLO)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (median)")
    add_machine_arguments(parser)
    args = parser.parse_args()
    cores = pin_cores(args.cores)
    from vcsep import DEFAULT_MODELS
    from vcsep.vision.detector import Detector
    from vcsep.vision.labels import video_labels
    from vcsep.vision.recognizer import THRESHOLD, Recognizer, budget_fps
    from vcsep.vision.train import init_weights
    from vcsep.vision.video import iter_frames, probe

    args.work.mkdir(parents=True, exist_ok=True)
    video = args.work / "vision_1080p_180s_crf18.mp4"
    if not video.exists():
        print(f"making {video} (not timed) ...", flush=True)
        make_video(video)
    info = probe(video)
    if args.model == "yolo":
        weights = args.work / "yolov8n_untrained.pt"
        if not weights.exists():
            init_weights(weights)
        detector = Detector(weights, imgsz=args.imgsz, device="cpu")
        detector.predict([np.zeros((180, 320, 3), np.uint8)])  # warm-up: first call builds the predictor
        fps, threshold, what = args.fps or 2.0, 0.25, f"YOLOv8n untrained at imgsz {args.imgsz}"
        run = detector.predict
    else:
        detector = Recognizer(DEFAULT_MODELS / "recognizer_head.pt")
        fps, threshold = args.fps or budget_fps(info.duration_s), THRESHOLD
        what = f"ImageNet recogniser at {detector.imgsz} px"
        run = detector.region_probabilities
    run([np.zeros((180, 320, 3), np.uint8)])  # warm-up

    decode_s, frames = _median_time(
        lambda: list(iter_frames(video, fps, max_side=detector.imgsz)), args.repeats
    )
    detect_s, _ = _median_time(lambda: run([f.image for f in frames]), args.repeats)
    labels_s, (labels, detections) = _median_time(
        lambda: video_labels(video, detector, fps=fps, threshold=threshold, use_cache=False), args.repeats
    )
    print(
        f"video {info.width}x{info.height} {info.fps:.2f} fps {info.duration_s:.0f} s "
        f"({video.stat().st_size / 1e6:.0f} MB), {len(frames)} frames sampled at {fps:.3g}/s, "
        f"{what}, {len(cores)} CPU cores, median of {args.repeats}"
    )
    print(f"{'stage':<28}{'wall s':>8}{'frames/s':>10}")
    for name, seconds in (
        ("decode + sample", decode_s),
        ("detect", detect_s),
        ("file -> label vectors", labels_s),
    ):
        print(f"{name:<28}{seconds:>8.2f}{len(frames) / seconds:>10.1f}")
    print(f"labels: presence {labels.presence.shape}, activity {labels.activity.shape}")
    print(f"labels_wall_s={labels_s:.2f}")


if __name__ == "__main__":
    main()
