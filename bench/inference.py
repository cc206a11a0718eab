"""Inference speed of the paper-size separator (12 levels, K=13, mono, 22050 Hz) on this machine's CPU.

For the unconditioned model and FiLM at the bottleneck it measures compute seconds per audio second
of (a) plain tiling at the training size (16384 requested outputs per window) and (b) long-window
inference (:func:`vcsep.audio.inference.separate_long`), the FLOPs each needs per audio second
(``FlopCounterMode``), and the achieved GFLOP/s against a peak measured in the same run (best of a
large matmul and a large conv1d). It also lists the parameter counts of all 17 configurations.

Both precisions of :data:`vcsep.audio.inference.PRECISIONS` are measured, each against the peak of
its own arithmetic: float32, and bf16 (convolutions in bfloat16 under autocast, what CPUs with
AVX512-BF16 or AMX run about twice as fast); for bf16 the distance of its stems from float32's is
shown as an SNR in dB.

The last line is ``speedup=<a/b> s_per_audio_s=<b> peak_fraction=<x>`` for ``--precision`` (default
bf16), each the worse of the two models (lowest speedup, highest time, lowest fraction). Times are
medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from vcsep.audio.inference import PRECISIONS, TRAINING_OUTPUT, separate_long, separate_tiled
from vcsep.fusion import LOCATIONS, MECHANISMS, ConditionedSeparator

SAMPLE_RATE = 22050


def median_time(fn, repeats: int) -> float:
    """Median wall time (s) of ``fn()`` over ``repeats`` runs after one warm-up run."""
    return statistics.median(wall_times(fn, repeats))


def wall_times(fn, repeats: int) -> list[float]:
    """Wall times (s) of ``repeats`` runs of ``fn()`` after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def peak_gflops(repeats: int, dtype: torch.dtype) -> tuple[float, float]:
    """(matmul, conv1d) GFLOP/s of large ``dtype`` kernels: the attainable peak of this CPU."""
    a, b = torch.randn(4096, 4096, dtype=dtype), torch.randn(4096, 4096, dtype=dtype)
    matmul = 2 * 4096**3 / median_time(lambda: a @ b, repeats) / 1e9
    x, w = torch.randn(1, 128, 65536, dtype=dtype), torch.randn(128, 128, 15, dtype=dtype)
    conv = 2 * 128 * 128 * 15 * (65536 - 14) / median_time(lambda: F.conv1d(x, w), repeats) / 1e9
    return matmul, conv


def flops_per_audio_second(model, labels, output_request: int) -> float:
    """FLOPs of one window with ``output_request`` outputs, per second of audio it produces."""
    length_in, _ = model.shapes(output_request)
    hop = max(output_request // model.step, 1) * model.step
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, length_in), None if labels is None else torch.from_numpy(labels)[None])
    return counter.get_total_flops() / (hop / SAMPLE_RATE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median)")
    parser.add_argument("--tiles", type=int, default=16, help="training-size tiles in the tiling test")
    parser.add_argument("--window", type=int, default=2**19, help="long-window output samples")
    parser.add_argument("--windows", type=int, default=2, help="long windows in the long-window test")
    parser.add_argument("--batch", type=int, default=8, help="tiles per forward call in the tiling test")
    parser.add_argument("--precision", choices=PRECISIONS, default="bf16", help="precision of the last line")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"load average at start: {os.getloadavg()[0]:.2f} (other processes share the cores)")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    peaks = {}
    for precision, dtype in zip(PRECISIONS, (torch.float32, torch.bfloat16)):
        matmul, conv = peak_gflops(args.repeats, dtype)
        peaks[precision] = max(matmul, conv)
        print(
            f"threads {torch.get_num_threads()}; {precision} peak GFLOP/s: matmul {matmul:.1f}, "
            f"conv1d {conv:.1f}, peak {peaks[precision]:.1f}"
        )

    print("\nparameters of the 17 configurations (12 levels, 24 features, K=13, mono):")
    configs = [(None, None)] + [(m, loc) for m in MECHANISMS for loc in LOCATIONS]
    for mechanism, location in configs:
        count = sum(p.numel() for p in ConditionedSeparator(mechanism, location).parameters())
        print(f"  {mechanism or 'baseline':<15} {location or '-':<11} {count:>11,}")

    rows = []
    for mechanism, location in [(None, None), ("film", "bottleneck")]:
        model = ConditionedSeparator(mechanism, location).eval()
        labels = None if mechanism is None else np.eye(13, dtype=np.float32)[[0, 2]].sum(0)
        hop = TRAINING_OUTPUT
        tiled_audio = (rng.standard_normal((1, args.tiles * hop)) * 0.1).astype(np.float32)
        long_audio = (rng.standard_normal((1, args.windows * args.window)) * 0.1).astype(np.float32)
        a_flops = flops_per_audio_second(model, labels, hop)
        b_flops = flops_per_audio_second(model, labels, args.window)
        exact = None
        for precision in PRECISIONS:
            t_tiled = wall_times(
                lambda m=model, a=tiled_audio, z=labels, p=precision: separate_tiled(
                    m, a, SAMPLE_RATE, z, batch_size=args.batch, precision=p
                ),
                args.repeats,
            )
            t_long = wall_times(
                lambda m=model, a=long_audio, z=labels, p=precision: separate_long(
                    m, a, SAMPLE_RATE, z, window_output=args.window, precision=p
                ),
                args.repeats,
            )
            stems = separate_long(
                model, long_audio[:, : args.window], SAMPLE_RATE, labels, precision=precision
            )
            if exact is None:
                exact, snr = stems, float("inf")
            else:
                snr = 10 * np.log10(np.sum(exact.astype(np.float64) ** 2) / np.sum((stems - exact) ** 2.0))
            # Other processes share the cores: the median is the figure, the minimum shows the noise.
            a_rate = statistics.median(t_tiled) / (tiled_audio.shape[1] / SAMPLE_RATE)
            b_rate = statistics.median(t_long) / (long_audio.shape[1] / SAMPLE_RATE)
            b_best = min(t_long) / (long_audio.shape[1] / SAMPLE_RATE)
            print(
                f"{mechanism or 'baseline'} {precision}: long-window s/audio s median {b_rate:.4f}, "
                f"best {b_best:.4f}"
            )
            rows.append(
                (mechanism or "baseline", location or "-", precision, a_rate, b_rate, a_flops, b_flops, snr)
            )

    print(
        f"\n{'model':<10} {'location':<10} {'prec':<5} {'mode':<14} {'s/audio s':>10} {'GFLOP/audio s':>14} "
        f"{'GFLOP/s':>8} {'of peak':>8} {'SNR vs 32':>10}"
    )
    worst = {"speedup": float("inf"), "s_per_audio_s": 0.0, "peak_fraction": float("inf")}
    for name, location, precision, a_rate, b_rate, a_flops, b_flops, snr in rows:
        peak = peaks[precision]
        for mode, rate, flops in [
            (f"tiled {TRAINING_OUTPUT}", a_rate, a_flops),
            (f"long {args.window}", b_rate, b_flops),
        ]:
            print(
                f"{name:<10} {location:<10} {precision:<5} {mode:<14} {rate:>10.4f} {flops / 1e9:>14.2f} "
                f"{flops / rate / 1e9:>8.1f} {flops / rate / 1e9 / peak:>8.2f} {snr:>10.1f}"
            )
        if precision == args.precision:
            worst["speedup"] = min(worst["speedup"], a_rate / b_rate)
            worst["s_per_audio_s"] = max(worst["s_per_audio_s"], b_rate)
            worst["peak_fraction"] = min(worst["peak_fraction"], b_flops / b_rate / 1e9 / peak)
    print(f"load average at end: {os.getloadavg()[0]:.2f}; last line: precision {args.precision}")
    print(
        f"speedup={worst['speedup']:.2f} s_per_audio_s={worst['s_per_audio_s']:.4f} "
        f"peak_fraction={worst['peak_fraction']:.3f}"
    )


if __name__ == "__main__":
    main()
