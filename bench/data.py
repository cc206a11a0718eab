"""Data pipeline speed against what training consumes.

Training examples per second (full-model segments: 12 levels, 16384 requested outputs, 22050 Hz
mono, K=13) from (a) in-memory mixing, (b) scaper mixing, (c) litdata shards, beside (d) the
examples per second that one training step of the full model consumes on this machine
(FiLM at the bottleneck, Adam, batch 4). Ends with
``inmemory_per_s=<a> scaper_per_s=<b> shards_per_s=<c> train_per_s=<d>``. Target: a, c >= 10 d.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from vcsep.datasets import InMemoryMixer, Segment, load_dataset
from vcsep.datasets.scaper_mix import ScaperMixer
from vcsep.datasets.shards import ShardDataset, write_shards
from vcsep.datasets.synth import SynthSettings, synthesize_corpus
from vcsep.fusion.separator import ConditionedSeparator


def rate(get, count: int, repeats: int = 3) -> float:
    """Median items per second of ``get(i)`` over ``count`` items."""
    speeds = []
    for r in range(repeats):
        start = time.perf_counter()
        for i in range(count):
            get((r * count + i) % count)
        speeds.append(count / (time.perf_counter() - start))
    return statistics.median(speeds)


def train_rate(segment: Segment, batch: int = 4, steps: int = 3) -> float:
    """Examples per second through forward, backward and an Adam step of the full model."""
    torch.manual_seed(0)
    model = ConditionedSeparator("film", "bottleneck", sample_rate=segment.sample_rate)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    mix = torch.randn(batch, 1, segment.input_length)
    labels = torch.ones(batch, 13)
    targets = torch.randn(batch, 13, 1, segment.output_length)
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        loss = torch.nn.functional.mse_loss(model(mix, labels), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times[1:])  # the first step warms up


def main() -> None:
    torch.set_num_threads(2)
    model = ConditionedSeparator()
    segment = Segment(*model.shapes(16384), sample_rate=22050)
    with tempfile.TemporaryDirectory(prefix="vcsep-bench-data-") as tmp:
        tmp = Path(tmp)
        synthesize_corpus(tmp / "corpus", 4, SynthSettings(seed=0, size=(128, 72), max_seconds=30.0))
        tracks = load_dataset(f"urmp:{tmp / 'corpus'}")
        mixer = InMemoryMixer(tracks, segment, seed=0, examples=64)
        inmemory = rate(lambda i: mixer[i], 64)
        scaper_mixer = ScaperMixer(tracks, segment, tmp / "scaper", seed=0, examples=8)
        scaper = rate(lambda i: scaper_mixer[i], 8, repeats=1)
        write_shards(mixer, tmp / "shards")
        shards = ShardDataset(tmp / "shards")
        from_shards = rate(lambda i: shards[i], 64)
        train = train_rate(segment)
    print(f"segments: {segment.input_length} -> {segment.output_length} samples at 22050 Hz, K=13")
    print(f"{'source':<12} {'examples/s':>11} {'x training':>11}")
    for name, value in [
        ("in-memory", inmemory),
        ("scaper", scaper),
        ("shards", from_shards),
        ("training", train),
    ]:
        print(f"{name:<12} {value:>11.1f} {value / train:>11.1f}")
    print(
        f"inmemory_per_s={inmemory:.2f} scaper_per_s={scaper:.2f} "
        f"shards_per_s={from_shards:.2f} train_per_s={train:.3f}"
    )


if __name__ == "__main__":
    main()
