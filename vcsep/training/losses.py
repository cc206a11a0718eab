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
- ``mrstft``: L1 between magnitude spectrograms plus L1 between their logs, averaged over three
  STFT resolutions (:data:`STFT_SIZES`: short, middle and long windows, hop a quarter) and every
  slot; an absent slot's target spectrogram is silence, so it is pushed there too.
- ``sisdr+mrstft``: the sum of the two, each with weight 1 (SI-SDR's dB and the spectrogram
  distance move by similar amounts per step of training).
"""

from __future__ import annotations

import torch
from torch import Tensor

LOSSES = ("mse", "sse", "l1", "sisdr", "mrstft", "sisdr+mrstft")
_EPS = 1e-8
# STFT window lengths (samples) of the multi-resolution spectrogram loss: at 22050 Hz, 12, 46 and
# 186 ms (onsets, notes, partials); each with hop n/4 and a Hann window.
STFT_SIZES = (256, 1024, 4096)
# Floor under the log magnitudes (orthonormal STFT of a signal in [-1, 1]): -80 dB, so leakage far
# below audibility into a silent slot costs little.
_LOG_FLOOR = 1e-4


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


def multi_resolution_stft_loss(estimate: Tensor, target: Tensor, sizes=STFT_SIZES) -> Tensor:
    """Mean over ``sizes`` of ``L1(|E|, |T|) + L1(log |E|, log |T|)`` between the orthonormal
    magnitude spectrograms of ``estimate`` and ``target`` ``[..., L]`` (any leading axes; windows
    longer than ``L`` are skipped, at least one must fit)."""
    flat_e, flat_t = estimate.reshape(-1, estimate.shape[-1]), target.reshape(-1, target.shape[-1])
    terms = []
    for size in sizes:
        if size > flat_e.shape[-1]:
            continue
        window = torch.hann_window(size, device=estimate.device, dtype=flat_e.dtype)
        mag_e, mag_t = (
            torch.stft(x, size, size // 4, window=window, normalized=True, return_complex=True).abs()
            for x in (flat_e, flat_t)
        )
        log_gap = (torch.log(mag_e + _LOG_FLOOR) - torch.log(mag_t + _LOG_FLOOR)).abs().mean()
        terms.append((mag_e - mag_t).abs().mean() + log_gap)
    if not terms:
        raise ValueError(f"windows of {estimate.shape[-1]} samples are shorter than every STFT size {sizes}")
    return torch.stack(terms).mean()


def separation_loss(
    estimate: Tensor, target: Tensor, present: Tensor, kind: str = "mse", silent_weight: float = 0.1
) -> Tensor:
    """The ``kind`` loss (one of :data:`LOSSES`) of ``estimate`` against ``target``; see the module."""
    if estimate.shape != target.shape:
        raise ValueError(f"estimate {tuple(estimate.shape)} and target {tuple(target.shape)} differ")
    if "+" in kind and kind in LOSSES:
        parts = kind.split("+")
        return sum(separation_loss(estimate, target, present, part, silent_weight) for part in parts)
    if kind == "mse":
        return (estimate - target).pow(2).mean()
    if kind == "mrstft":
        return multi_resolution_stft_loss(estimate.float(), target.float())
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
