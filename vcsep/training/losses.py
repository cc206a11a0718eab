"""Separation losses over the K output slots, with silent (absent) slots handled explicitly.

All take predictions and targets ``[B, K, C, L]`` and the presence mask ``[B, K]`` (bool: the
slot's instrument is in the mixture) and return a scalar.

- ``mse``, ``l1``: mean over every slot, absent ones included: their target is silence, so the
  loss pushes absent slots to silence exactly as it pushes present ones to their stems.
- ``sse``: sum of squared errors over slots, channels and samples, averaged over the batch
  (the same gradient direction as ``mse``, a scale that does not shrink with window length).
- ``sisdr``: negative scale-invariant SDR (dB) averaged over present slots whose target is not
  silent (SI-SDR is undefined for a silent reference), plus ``silent_weight`` times the mean
  energy in dB (floored at -80 dB) of the absent slots' predictions, which pushes them to silence.
"""

from __future__ import annotations

import torch
from torch import Tensor

LOSSES = ("mse", "sse", "l1", "sisdr")
_EPS = 1e-8


def si_sdr(reference: Tensor, estimate: Tensor) -> Tensor:
    """Scale-invariant SDR in dB of ``estimate`` against ``reference`` over the last axis, zero-mean
    first: ``[..., L] -> [...]`` (differentiable, epsilon-stabilised; the argument order of
    :func:`vcsep.evaluation.scoring.si_sdr` and of BSSEval)."""
    estimate = estimate - estimate.mean(dim=-1, keepdim=True)
    reference = reference - reference.mean(dim=-1, keepdim=True)
    scale = (estimate * reference).sum(-1, keepdim=True) / (reference.pow(2).sum(-1, keepdim=True) + _EPS)
    target = scale * reference
    noise = estimate - target
    return 10 * torch.log10((target.pow(2).sum(-1) + _EPS) / (noise.pow(2).sum(-1) + _EPS))


def energy_db(x: Tensor) -> Tensor:
    """Mean energy of ``[..., C, L]`` in dB, floored at -80 dB: ``[...]``."""
    return 10 * torch.log10(x.pow(2).mean(dim=(-2, -1)) + _EPS)


def separation_loss(
    estimate: Tensor, target: Tensor, present: Tensor, kind: str = "mse", silent_weight: float = 0.1
) -> Tensor:
    """The ``kind`` loss (one of :data:`LOSSES`) of ``estimate`` against ``target``; see the module."""
    if estimate.shape != target.shape:
        raise ValueError(f"estimate {tuple(estimate.shape)} and target {tuple(target.shape)} differ")
    if kind == "mse":
        return (estimate - target).pow(2).mean()
    if kind == "l1":
        return (estimate - target).abs().mean()
    if kind == "sse":
        return (estimate - target).pow(2).sum() / estimate.shape[0]
    if kind != "sisdr":
        raise ValueError(f"unknown loss {kind!r}; choose one of {', '.join(LOSSES)}")
    audible = present & (target.pow(2).mean(dim=(-2, -1)) > _EPS)
    flat_e, flat_t = estimate.flatten(-2), target.flatten(-2)  # channels joined: one SI-SDR per slot
    loss = estimate.new_zeros(())
    if audible.any():
        loss = loss - si_sdr(flat_t[audible], flat_e[audible]).mean()
    absent = ~present
    if absent.any():
        loss = loss + silent_weight * energy_db(estimate[absent]).mean()
    return loss
