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
    stems) and the stems with :meth:`stems` (``[K, C, m]`` chunks, in order, the same samples): each
    call to :meth:`stems` returns the full-band stems that are ready (``[K, C, m']``, possibly
    empty), :meth:`finish` the rest. Memory holds one block plus the context on each side.
    """

    def __init__(self, sample_rate: int, cut_hz: float) -> None:
        self.rate, self.cut_hz, self.pad = sample_rate, cut_hz, context_samples(sample_rate)
        self._mix: deque[np.ndarray] = deque()
        self._mix_buffer: np.ndarray | None = None  # mixture from absolute sample `_start` on
        self._stems: np.ndarray | None = None  # stems from `_start` on
        self._start = 0  # absolute index of the buffers' first sample
        self._done = 0  # absolute index of the first sample not yet returned

    def mixture(self, block: np.ndarray) -> None:
        """Queue the next mixture block ``[C, n]``."""
        self._mix.append(np.asarray(block, dtype=np.float32))

    def stems(self, chunk: np.ndarray) -> np.ndarray:
        """Take the next stems chunk ``[K, C, m]``; return the full-band stems that are ready."""
        chunk = np.asarray(chunk, dtype=np.float32)
        self._stems = chunk if self._stems is None else np.concatenate([self._stems, chunk], axis=-1)
        end = self._start + self._stems.shape[-1]
        return self._emit(end - self.pad)

    def run(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Full-band stems for stems ``chunks`` (``[K, C, m]``, in order), as they become ready."""
        for chunk in chunks:
            ready = self.stems(chunk)
            if ready.shape[-1]:
                yield ready
        rest = self.finish()
        if rest.size:
            yield rest

    def finish(self) -> np.ndarray:
        """The full-band stems not yet returned (the recording's end needs no right context)."""
        if self._stems is None:
            return np.zeros((0, 0, 0), np.float32)
        return self._emit(self._start + self._stems.shape[-1])

    def _emit(self, until: int) -> np.ndarray:
        stems = self._stems
        if until <= self._done:
            return stems[..., :0]
        end = self._start + stems.shape[-1]
        need = min(end, until + self.pad) - self._start
        have = 0 if self._mix_buffer is None else self._mix_buffer.shape[-1]
        pending = [] if self._mix_buffer is None else [self._mix_buffer]
        while have < need and self._mix:
            pending.append(self._mix.popleft())
            have += pending[-1].shape[-1]
        self._mix_buffer = np.concatenate(pending, axis=-1)
        if have < need:
            raise ValueError(f"the mixture ends {need - have} samples before the stems")
        # in sub-blocks, each with its own context: the filters' temporaries stay small
        out = []
        for a in range(self._done - self._start, until - self._start, BLOCK):
            lo, b = max(a - self.pad, 0), min(a + BLOCK, until - self._start)
            hi = min(b + self.pad, need)
            full = restore_top_band(self._mix_buffer[:, lo:hi], stems[..., lo:hi], self.rate, self.cut_hz)
            out.append(full[..., a - lo : b - lo])
        out = np.concatenate(out, axis=-1)
        self._done = until
        keep = max(self._done - self.pad, self._start) - self._start  # left context of the next block
        self._stems, self._mix_buffer = stems[..., keep:], self._mix_buffer[:, keep:]
        self._start += keep
        return out
