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
    sound file, and its duration in seconds.

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
    return 20 * np.log10(np.concatenate(columns, axis=1) + 1e-5), n / rate


def draw_spectrogram(ax, audio: np.ndarray | torch.Tensor | str | os.PathLike, rate: int, title: str) -> None:
    """Draw :func:`spectrogram_db` of ``audio [C, N]`` (or of a sound file) at ``rate`` Hz on ``ax``:
    dB from -100 to 0, time in seconds, frequency in kHz."""
    db, seconds = spectrogram_db(audio, rate)
    extent = (0.0, seconds, 0.0, rate / 2000)
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=extent, vmin=-100, vmax=0)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel("kHz")
