"""Log-magnitude spectrograms drawn onto matplotlib axes (training summaries, separation pages)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# Columns kept for drawing: a page or a TensorBoard image is a few hundred pixels wide, and
# matplotlib resampling 17,000 STFT frames (3 minutes at 48 kHz) took 1.5 s per picture.
MAX_COLUMNS = 1600


def draw_spectrogram(ax, audio: np.ndarray | torch.Tensor, rate: int, title: str) -> None:
    """Draw the spectrogram of ``audio [C, N]`` (channels averaged) at ``rate`` Hz on ``ax``.

    Magnitude in dB (-100 to 0), time in seconds, frequency in kHz; the FFT spans ~46 ms. Long
    audio keeps each bin's loudest of every few frames (at most :data:`MAX_COLUMNS` columns), so
    short notes stay visible.
    """
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32)).mean(0)
    n_fft = 2048 if rate > 30000 else 1024
    spec = torch.stft(x, n_fft, n_fft // 4, window=torch.hann_window(n_fft), return_complex=True).abs()
    if spec.shape[-1] > MAX_COLUMNS:
        pool = math.ceil(spec.shape[-1] / MAX_COLUMNS)
        spec = F.max_pool1d(spec[None], pool, ceil_mode=True)[0]
    extent = (0.0, x.shape[-1] / rate, 0.0, rate / 2000)
    db = 20 * np.log10(spec.numpy() + 1e-5)
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=extent, vmin=-100, vmax=0)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel("kHz")
