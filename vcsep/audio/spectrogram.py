"""Log-magnitude spectrograms drawn onto matplotlib axes (training summaries, separation pages)."""

from __future__ import annotations

import numpy as np
import torch


def draw_spectrogram(ax, audio: np.ndarray | torch.Tensor, rate: int, title: str) -> None:
    """Draw the spectrogram of ``audio [C, N]`` (channels averaged) at ``rate`` Hz on ``ax``.

    Magnitude in dB (-100 to 0), time in seconds, frequency in kHz; the FFT spans ~46 ms.
    """
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32)).mean(0)
    n_fft = 2048 if rate > 30000 else 1024
    spec = torch.stft(x, n_fft, n_fft // 4, window=torch.hann_window(n_fft), return_complex=True).abs()
    extent = (0.0, x.shape[-1] / rate, 0.0, rate / 2000)
    db = 20 * np.log10(spec.numpy() + 1e-5)
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma", extent=extent, vmin=-100, vmax=0)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel("kHz")
