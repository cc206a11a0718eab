"""Log-magnitude spectrograms drawn onto matplotlib axes (training summaries, separation pages)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F

# Columns kept for drawing: a page or a TensorBoard image is a few hundred pixels wide, and
# matplotlib resampling 17,000 STFT frames (3 minutes at 48 kHz) took 1.5 s per picture.
MAX_COLUMNS = 1600
# STFT frames computed per read: bounds the memory of a spectrogram of any length (~8 MB at 48 kHz).
_FRAMES_PER_READ = 1024
# The log-frequency axis: from below the lowest note of vcsep's instruments (a tuba's or a double
# bass's E1, 41 Hz) to the Nyquist frequency, on this many rows (~28 per octave at 48 kHz).
LOW_HZ = 30.0
LOG_ROWS = 256


def _array_reader(audio: np.ndarray | torch.Tensor) -> tuple[Callable[[int, int], np.ndarray], int]:
    mono = np.asarray(audio, dtype=np.float32).mean(0)

    def read(start: int, length: int) -> np.ndarray:
        out = np.zeros(length, np.float32)
        lo, hi = max(start, 0), min(start + length, len(mono))
        if hi > lo:
            out[lo - start : hi - start] = mono[lo:hi]
        return out

    return read, len(mono)


def spectrogram_db(
    audio: np.ndarray | torch.Tensor | str | os.PathLike, rate: int
) -> tuple[np.ndarray, float]:
    """Magnitude in dB ``[bins, columns <= MAX_COLUMNS]`` of ``audio [C, N]`` (channels averaged) or of a
    sound file, and its duration in seconds; a full-scale sine reads 0 dB, silence -100 dB.

    The FFT spans ~46 ms (hop a quarter of it, frames centred on multiples of the hop, zeros beyond
    the ends). Long audio keeps each bin's loudest of every few frames, so short notes stay visible.
    A file is read a few thousand frames at a time: memory does not grow with its length.
    """
    if isinstance(audio, (str, os.PathLike)):
        handle = sf.SoundFile(str(Path(audio)))
        n = handle.frames

        def read(start: int, length: int) -> np.ndarray:
            out = np.zeros(length, np.float32)
            lo, hi = max(start, 0), min(start + length, n)
            if hi > lo:
                handle.seek(lo)
                out[lo - start : hi - start] = handle.read(hi - lo, dtype="float32", always_2d=True).mean(1)
            return out
    else:
        handle = None
        read, n = _array_reader(audio)
    n_fft = 2048 if rate > 30000 else 1024
    hop = n_fft // 4
    frames = 1 + n // hop
    pool = math.ceil(frames / MAX_COLUMNS)
    group = pool * math.ceil(_FRAMES_PER_READ / pool)  # whole pools per read: the same columns as one read
    window = torch.hann_window(n_fft)
    columns = []
    try:
        for first in range(0, frames, group):
            count = min(group, frames - first)
            x = torch.from_numpy(read(first * hop - n_fft // 2, (count - 1) * hop + n_fft))
            spec = torch.stft(x, n_fft, hop, window=window, center=False, return_complex=True).abs()
            pooled = F.max_pool1d(spec[None], pool, ceil_mode=True)[0] if pool > 1 else spec
            # a copy: the pooled tensor kept the whole STFT's memory alive (8 MB a read, measured)
            columns.append(pooled.numpy().copy())
    finally:
        if handle is not None:
            handle.close()
    # a full-scale sine peaks at 0 dB (a Hann window's sum is n_fft / 2, a sine's peak half of that)
    return 20 * np.log10(np.concatenate(columns, axis=1) / (n_fft / 4) + 1e-5), n / rate


def log_frequency_rows(db: np.ndarray, rate: int, rows: int = LOG_ROWS) -> tuple[np.ndarray, float]:
    """The STFT bins ``db [bins, columns]`` (0 Hz to ``rate / 2``, evenly spaced) on ``rows`` rows at
    log-spaced frequencies from :data:`LOW_HZ` to ``rate / 2``, and that span in octaves. A row
    keeps the loudest bin of its band (a harmonic between two rows' centres is not lost), or is
    read between the two nearest bins where its band is narrower than a bin (the low octaves)."""
    octaves = math.log2(rate / 2 / LOW_HZ)
    step = rate / 2 / (db.shape[0] - 1)  # Hz per bin
    centres = LOW_HZ * 2 ** (octaves * (np.arange(rows) + 0.5) / rows)
    edges = LOW_HZ * 2 ** (octaves * np.arange(rows + 1) / rows) / step  # in bins
    first, last = np.ceil(edges[:-1]).astype(int), np.floor(edges[1:]).astype(int)
    position = np.minimum(centres / step, db.shape[0] - 1.0)
    below = np.minimum(position.astype(int), db.shape[0] - 2)
    frac = (position - below)[:, None]
    out = (1 - frac) * db[below] + frac * db[below + 1]
    wide = last >= first
    if wide.any():
        # reduceat over the bands that hold bins: each takes the maximum from its first bin to the next
        # band's first bin, so the bands are laid end to end ([first, last] of consecutive rows touch)
        starts = first[wide]
        loudest = np.maximum.reduceat(db[: last[wide][-1] + 1], starts, axis=0)
        out[wide] = np.maximum(out[wide], loudest)
    return out, octaves


def draw_spectrogram(
    ax,
    audio: np.ndarray | torch.Tensor | str | os.PathLike,
    rate: int,
    title: str,
    log_frequency: bool = False,
) -> None:
    """Draw :func:`spectrogram_db` of ``audio [C, N]`` (or of a sound file) at ``rate`` Hz on ``ax``:
    dB from -100 to 0, time in seconds, frequency in kHz; or, with ``log_frequency``, on
    :func:`log_frequency_rows` from :data:`LOW_HZ` to ``rate / 2`` (y in octaves above
    :data:`LOW_HZ`, ticks in Hz), where every octave has the same height and instruments of
    different ranges are told apart by eye."""
    db, seconds = spectrogram_db(audio, rate)
    if log_frequency:
        db, octaves = log_frequency_rows(db, rate)
        extent = (0.0, seconds, 0.0, octaves)
    else:
        extent = (0.0, seconds, 0.0, rate / 2000)
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=extent, vmin=-100, vmax=0)
    ax.set_title(title, fontsize=9)
    if log_frequency:
        ticks = [f for f in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000) if f < rate / 2]
        labels = [f"{f}" if f < 1000 else f"{f // 1000}k" for f in ticks]
        ax.set_yticks([math.log2(f / LOW_HZ) for f in ticks], labels)
        ax.set_ylabel("Hz")
    else:
        ax.set_ylabel("kHz")
