"""Full-band stems from a band-limited separator.

The separator runs at its own rate (22050 Hz by default), so stems written at the input's rate
(48 kHz) hold nothing above about 10 kHz while the mixture does. :func:`restore_top_band` gives the
stems that top band back: the mixture's band above ``cut_hz`` is split among the stems in proportion
to each stem's energy in the octave just below the cut, frame by frame. Shares sum to one at every
sample, so the stems' top bands add up exactly to the mixture's top band, and a stem silent near the
cut gets none of it.

Every step is a short filter or a short moving average, so the result at a sample depends only on
audio within :func:`context_samples` of it: :class:`TopBandStream` processes a recording block by
block with that much context on each side, and it comes out the same as whole (except where no stem
sounds near the cut: there the shares follow the stems' loudness in the block, not the recording).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

import numpy as np
from scipy.signal import firwin, oaconvolve

BAND_EDGE = 0.45  # a separator's stems are trusted up to this fraction of its rate (0.9 x Nyquist)
TAPS = 255  # linear-phase FIR length: a transition band of about 3 % of the sample rate
BLOCK = 1 << 16  # samples :class:`TopBandStream` computes at a time (plus context on each side)
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


class TopBandStream:
    """:func:`restore_top_band` over a recording that arrives in blocks.

    Feed the mixture with :meth:`mixture` (``[C, n]`` blocks, in order; it may run ahead of the
    stems), then pass the stems chunks (``[K, C, m]``, in order, the same samples) to :meth:`run`,
    which yields the full-band stems of ``rows`` (default: all K) as ``[len(rows), C, m']`` blocks as
    soon as their right context has arrived. Only small tails of past chunks are kept, so memory is
    that of the chunk in hand plus one :data:`BLOCK` of filter temporaries.
    """

    def __init__(self, sample_rate: int, cut_hz: float, rows: list[int] | None = None) -> None:
        self.rate, self.cut_hz, self.rows = sample_rate, cut_hz, rows
        self.pad = context_samples(sample_rate)
        self._mix = _Timeline()
        self._stems = _Timeline()
        self._done = 0  # absolute index of the first sample not yet returned

    def mixture(self, block: np.ndarray) -> None:
        """Queue the next mixture block ``[C, n]``."""
        self._mix.append(np.asarray(block, dtype=np.float32))

    def run(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Full-band stems for stems ``chunks`` (``[K, C, m]``, in order), as they become ready."""
        for chunk in chunks:
            chunk = np.asarray(chunk, dtype=np.float32)
            self._stems.append(chunk)  # rows are picked per sub-block: no copy of the whole chunk
            yield from self._emit(self._stems.end - self.pad, final=False)
        yield from self._emit(self._stems.end, final=True)

    def _emit(self, until: int, final: bool) -> Iterator[np.ndarray]:
        end = self._stems.end
        for a in range(self._done, until, BLOCK):
            b = min(a + BLOCK, until)
            lo, hi = max(a - self.pad, 0), min(b + self.pad, end)
            if self._mix.end < hi:
                raise ValueError(f"the mixture ends {hi - self._mix.end} samples before the stems")
            stems = self._stems.take(lo, hi)
            stems = stems if self.rows is None else stems[self.rows]
            full = restore_top_band(self._mix.take(lo, hi), stems, self.rate, self.cut_hz)
            self._done = b
            yield full[..., a - lo : b - lo]
        if not final:  # keep only what the next blocks need as left context
            self._stems.drop_before(self._done - self.pad)
            self._mix.drop_before(self._done - self.pad)


class _Timeline:
    """Arrays ``[..., n]`` laid end to end on one time axis (absolute sample indices from 0)."""

    def __init__(self) -> None:
        self.parts: deque[np.ndarray] = deque()
        self.start = 0  # absolute index of the first part's first sample
        self.end = 0

    def append(self, part: np.ndarray) -> None:
        self.parts.append(part)
        self.end += part.shape[-1]

    def take(self, lo: int, hi: int) -> np.ndarray:
        """Samples ``[lo, hi)`` (absolute), joined from the parts they span."""
        pieces, at = [], self.start
        for part in self.parts:
            a, b = max(lo - at, 0), min(hi - at, part.shape[-1])
            if a < b:
                pieces.append(part[..., a:b])
            at += part.shape[-1]
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=-1)

    def drop_before(self, index: int) -> None:
        """Forget samples before ``index``; the part it falls in is cut to a copy of its tail."""
        while self.parts and self.start + self.parts[0].shape[-1] <= index:
            self.start += self.parts.popleft().shape[-1]
        if self.parts and index > self.start:
            self.parts[0] = self.parts[0][..., index - self.start :].copy()
            self.start = index
