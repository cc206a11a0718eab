"""Torch device names checked before any work starts (``--device`` of every command)."""

from __future__ import annotations

import argparse


def check_device(name: str) -> str:
    """``name`` when torch knows the device type and the device exists here; else a ValueError that
    says which (``banana``: no such type; ``cuda:0`` on a machine without a GPU: not available)."""
    if name == "cpu":  # the default of every command: no need to import torch to know it
        return name
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"unknown torch device {name!r} (e.g. cpu, cuda, cuda:0, mps)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if count == 0:
            raise ValueError(f"device {name!r}: no CUDA GPU is available on this machine")
        if device.index is not None and device.index >= count:
            raise ValueError(f"device {name!r}: this machine has {count} CUDA GPU(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r}: MPS is not available on this machine")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {name!r}: vcsep runs on cpu, cuda or mps")
    return name


def device_argument(name: str) -> str:
    """:func:`check_device` as an argparse ``type``: a bad device is a usage error (exit code 2)."""
    try:
        return check_device(name)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
