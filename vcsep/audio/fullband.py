"""Full-band stems from a band-limited separator.

The separator runs at its own rate (22050 Hz by default), so stems written at the input's rate
(48 kHz) hold nothing above about 10 kHz while the mixture does. :func:`restore_top_band` gives the
stems that top band back: the mixture's band above ``cut_hz`` is split among the stems in proportion
to each stem's energy in the octave just below the cut, frame by frame. Shares sum to one at every
sample, so the stems' top bands add up exactly to the mixture's top band, and a stem silent near the
cut gets none of it.

Every step is a short filter or a short moving average, so the result at a sample depends only on
audio within :func:`context_samples` of it: long recordings are processed block by block with that
much context on each side and come out the same.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import firwin, oaconvolve

TAPS = 255  # linear-phase FIR length: a transition band of about 3 % of the sample rate
FRAME_S = 0.02  # energies are averaged over this many seconds before they set the shares
GUIDE_OCTAVES = 1.0  # the stems' energy in this band just below the cut sets the shares


def context_samples(sample_rate: int) -> int:
    """Samples of audio on each side that one output sample of :func:`restore_top_band` depends on."""
    return 2 * TAPS + int(round(FRAME_S * sample_rate))


def _filter(audio: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """``audio [..., N]`` through a linear-phase FIR, aligned (no delay), same length."""
    return oaconvolve(audio, taps.reshape((1,) * (audio.ndim - 1) + (-1,)), mode="same", axes=-1)


def restore_top_band(mixture: np.ndarray, stems: np.ndarray, sample_rate: int, cut_hz: float) -> np.ndarray:
    """Stems ``[K, C, N]`` with the mixture's band above ``cut_hz`` shared out among them.

    Args:
        mixture: float32 ``[C, N]`` at ``sample_rate`` Hz, the full-band input.
        stems: float32 ``[K, C, N]`` at ``sample_rate`` Hz, band-limited estimates (their content
            above the cut is replaced).
        sample_rate: Hz of both.
        cut_hz: where the separator's band ends (e.g. 0.45 x its rate).

    Returns:
        float32 ``[K, C, N]``: each stem below the cut, plus its share of the mixture above it.
        ``sum over K`` of the part above the cut equals ``mixture - lowpass(mixture)`` exactly.
    """
    stems = np.asarray(stems, dtype=np.float32)
    mixture = np.asarray(mixture, dtype=np.float32)
    if stems.ndim != 3 or mixture.shape != stems.shape[1:]:
        raise ValueError(f"stems [K, C, N] and mixture [C, N] must match: {stems.shape}, {mixture.shape}")
    nyquist = sample_rate / 2
    if cut_hz >= 0.95 * nyquist or stems.shape[0] == 0 or stems.shape[-1] == 0:
        return stems
    lowpass = firwin(TAPS, cut_hz, fs=sample_rate).astype(np.float32)
    guide = firwin(TAPS, [cut_hz / 2**GUIDE_OCTAVES, cut_hz], pass_zero=False, fs=sample_rate)
    top = mixture - _filter(mixture, lowpass)
    energy = np.square(_filter(stems, guide.astype(np.float32))).sum(axis=1)  # [K, N]
    frame = max(1, int(round(FRAME_S * sample_rate)))
    energy = _filter(energy, np.full(frame, 1.0 / frame, dtype=np.float32))
    energy = np.maximum(energy, 0.0)  # the moving average can dip below 0 by rounding
    total = energy.sum(axis=0, keepdims=True)
    # Where no stem has energy near the cut, the shares follow the stems' loudness over the clip.
    fallback = np.square(stems).sum(axis=(1, 2))
    fallback = fallback / fallback.sum() if fallback.sum() > 0 else np.full(len(stems), 1.0 / len(stems))
    quiet = total <= 1e-10
    shares = np.where(quiet, fallback[:, None], energy / np.where(quiet, 1.0, total))
    return (_filter(stems, lowpass) + shares[:, None, :] * top[None]).astype(np.float32)
