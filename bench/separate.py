"""Benchmark: `vcsep separate` on a 3-minute 1920x1080 performance video with the shipped models, 2 CPU cores.

The video is a synthetic string-quartet performance (a Haydn/Mozart/Beethoven quartet movement
rendered by `vcsep synth`'s renderer at 1920x1080, 29.97 fps, 48 kHz stereo AAC), made once and
cached under the temp dir; making it is not timed. Each timed run is the whole user path: load the
default models, read the audio, detect the instruments on 2 frames/s, separate, and write the WAVs,
the video with one audio track per stem and the HTML page (detections are not cached between
runs). The stage times of the fastest run are printed. The last line is
``wall_s=<median seconds> realtime_factor=<wall_s / 180>``; target wall_s <= 60.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import time
from pathlib import Path

from _machine import add_machine_arguments, pin_cores

SECONDS = 180.0
SIZE = (1920, 1080)
QUARTET = ("vn", "vn", "va", "vc")


def make_video(work: Path) -> Path:
    """Render a string quartet movement of at least 3 minutes at 1920x1080; returns its video."""
    import av

    from vcsep.datasets.synth import SynthSettings
    from vcsep.datasets.synth.corpus import PiecePlan, write_piece
    from vcsep.datasets.synth.scores import score_sources
    from vcsep.datasets.urmp_names import PieceName

    settings = SynthSettings(seed=0, size=SIZE, max_seconds=SECONDS + 1)
    quartets = [s for s in score_sources() if s.path.split("/")[0] in ("haydn", "mozart", "beethoven")]
    for source in quartets:
        name = PieceName.parse(f"01_{source.title}_{'_'.join(QUARTET)}")
        folder = write_piece(PiecePlan(name, source, seed=7), work, settings)
        video = folder / name.video
        with av.open(str(video)) as container:
            if container.duration / 1e6 >= SECONDS:
                return video
        shutil.rmtree(folder)
    raise RuntimeError("no quartet movement in music21's corpus lasts 3 minutes")


class StageLog(io.StringIO):
    """Captures the pipeline's ``[vcsep] stage`` lines with the time each was printed."""

    def __init__(self) -> None:
        super().__init__()
        self.stages: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        for line in text.splitlines():
            if line.startswith("[vcsep]"):
                self.stages.append((time.perf_counter(), line[8:]))
        return len(text)

    def durations(self, end: float) -> list[tuple[str, float]]:
        """Each stage with the seconds until the next one started (the last until ``end``)."""
        times = [t for t, _ in self.stages[1:]] + [end]
        return [(text, t1 - t0) for (t0, text), t1 in zip(self.stages, times)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=None, help="models folder (default: shipped)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median)")
    add_machine_arguments(parser)
    args = parser.parse_args()
    cores = pin_cores(args.cores)
    from vcsep import DEFAULT_MODELS
    from vcsep.pipeline import Separator
    from vcsep.vision.video import probe

    models = args.models or DEFAULT_MODELS
    work = args.work / "separate_1080p"
    videos = sorted(work.glob("*/Vid_*.mp4"))
    if not videos:
        print(f"making a 3-minute 1920x1080 performance video in {work} (not timed) ...", flush=True)
        videos = [make_video(work)]
    video = videos[0]
    info = probe(video)

    walls, stages = [], []
    for run in range(args.repeats):
        out = work / f"out{run}"
        shutil.rmtree(out, ignore_errors=True)
        os.environ["VCSEP_CACHE_DIR"] = str(out / "cache")  # an empty cache: every run detects
        log = StageLog()
        start = time.perf_counter()
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(io.StringIO()):
            log.stages.append((start, "loading the models"))
            separator = Separator.from_pretrained(models, device="cpu")
            result = separator.separate_video(video, out_dir=out, progress=True)
        end = time.perf_counter()
        walls.append(end - start)
        stages.append(log.durations(end))
    wall = statistics.median(walls)
    print(
        f"video {info.width}x{info.height} {info.fps:.2f} fps {info.duration_s:.0f} s "
        f"({video.stat().st_size / 1e6:.0f} MB), models {models}, {len(cores)} CPU cores, "
        f"found {', '.join(result.instruments)}; runs: {', '.join(f'{w:.1f}' for w in walls)} s"
    )
    print(f"{'stage (fastest run)':<60}{'wall s':>8}")
    for text, seconds in stages[walls.index(min(walls))]:
        print(f"{text[:58]:<60}{seconds:>8.2f}")
    print(f"wall_s={wall:.2f} realtime_factor={wall / SECONDS:.4f}")


if __name__ == "__main__":
    main()
