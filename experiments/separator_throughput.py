"""Training throughput of the separator candidates on this CPU (issue 23's architecture race).

For each candidate (the shipped Wave-U-Net of ``configs/models/separator.yaml``, the Demucs-style
net at several widths; each at 22050 Hz and at a lower model rate) it times whole training steps:
forward, L1 loss, backward and an Adam step, on random batches of 8 examples whose output is about
1.4 s, with the labels as clip-level multi-hot vectors and the conditioning of the shipped recipe
(FiLM after every decoder level). Data loading is not included. Each candidate runs in float32 and
under bf16 autocast (``--precisions``); the faster counts. It prints a table: parameters, float16
weight size (MB = 10**6 bytes; the budget is 50), window lengths, and seconds of audio trained
(output samples with a loss) per wall-clock second.

    nice python experiments/separator_throughput.py --cores 2 --steps 2

Numbers from a shared machine move with its load: run the candidates in one go and compare them
with each other, never with numbers taken at another time.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

import torch
import yaml

from vcsep.fusion import ConditionedSeparator

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SECONDS = 1.4  # requested output per example
BATCH = 8
BUDGET_MB = 50


def shipped_waveunet() -> dict:
    """The shipped separator's constructor arguments: base.yaml under configs/models/separator.yaml."""
    args = {}
    for name in ("configs/base.yaml", "configs/models/separator.yaml"):
        args.update(yaml.safe_load((ROOT / name).read_text())["model"]["separator"]["init_args"])
    return args


def candidates(widths: list[int], rates: list[int], levels: int, lstm_layers: int) -> dict[str, dict]:
    """name -> ConditionedSeparator arguments."""
    wave = shipped_waveunet()
    out = {}
    for rate in rates:
        out[f"waveunet L{wave['levels']} F{wave['features']} @{rate}"] = {**wave, "sample_rate": rate}
        for width in widths:
            out[f"demucs L{levels} F{width} lstm{lstm_layers} @{rate}"] = {
                "mechanism": wave["mechanism"], "location": wave["location"], "architecture": "demucs",
                "levels": levels, "features": width, "lstm_layers": lstm_layers, "sample_rate": rate,
            }
    return out


def float16_megabytes(model: torch.nn.Module) -> float:
    """Size of the model's state dict saved as float16 tensors, in MB (10**6 bytes)."""
    buffer = io.BytesIO()
    torch.save({k: v.half() for k, v in model.state_dict().items()}, buffer)
    return buffer.tell() / 1e6


def step_seconds(model: ConditionedSeparator, bf16: bool, steps: int) -> tuple[float, int, int]:
    """Fastest of ``steps`` timed training steps (after one untimed), input and output lengths."""
    torch.manual_seed(0)
    length_in, length_out = model.shapes(round(EXAMPLE_SECONDS * model.sample_rate))
    k = model.num_sources
    mix = torch.randn(BATCH, model.channels, length_in) * 0.1
    target = torch.randn(BATCH, k, model.channels, length_out) * 0.03
    labels = (torch.rand(BATCH, k) < 0.3).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            stems = model(mix, labels)
        loss = (stems.float() - target).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return min(times[1:]), length_in, length_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2, help="CPU cores (and torch threads) to use")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per candidate (after one untimed)")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 24, 32, 48], help="Demucs widths")
    parser.add_argument("--rates", type=int, nargs="+", default=[22050, 16000], help="model rates (Hz)")
    parser.add_argument("--levels", type=int, default=5, help="Demucs levels")
    parser.add_argument("--lstm-layers", type=int, default=2, help="Demucs BiLSTM layers")
    parser.add_argument("--precisions", nargs="+", default=["32", "bf16"], choices=["32", "bf16"])
    parser.add_argument("--only", default=None, help="run only candidates whose name contains this")
    args = parser.parse_args()

    cores = sorted(os.sched_getaffinity(0))[: args.cores]
    os.sched_setaffinity(0, cores)
    torch.set_num_threads(len(cores))
    print(f"{len(cores)} cores, torch {torch.__version__}, load average {os.getloadavg()[0]:.2f}")
    header = f"{'candidate':32} {'params M':>8} {'fp16 MB':>8} {'in s':>5} {'out s':>5}"
    header += "".join(f" {'s/s ' + p:>9}" for p in args.precisions) + f" {'best s/s':>9}"
    print(header)
    for name, config in candidates(args.widths, args.rates, args.levels, args.lstm_layers).items():
        if args.only and args.only not in name:
            continue
        model = ConditionedSeparator(**config).train()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        megabytes = float16_megabytes(model)
        rates = []
        for precision in args.precisions:
            seconds, length_in, length_out = step_seconds(model, precision == "bf16", args.steps)
            rates.append(BATCH * length_out / model.sample_rate / seconds)
        over = " over budget" if megabytes > BUDGET_MB else ""
        print(
            f"{name:32} {params:8.2f} {megabytes:8.1f} {length_in / model.sample_rate:5.2f} "
            f"{length_out / model.sample_rate:5.2f}" + "".join(f" {r:9.2f}" for r in rates)
            + f" {max(rates):9.2f}{over}",
            flush=True,
        )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
