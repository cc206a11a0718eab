"""The fixed input and label vector of the shipped separator's golden test (tests/fusion/test_golden.py).

``python tests/fusion/golden.py`` rewrites ``data/shipped_separator_golden.npz`` from the current
shipped model: only do that when the shipped model is retrained on purpose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

REFERENCE = Path(__file__).resolve().parent / "data" / "shipped_separator_golden.npz"
OUTPUT_SAMPLES = 2048  # requested output length, samples at the model's rate
STRIDE = 4  # the reference keeps every 4th output sample (26 kB instead of 106 kB)


def golden_input(model) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixture ``[1, 1, L_in]`` (three decaying harmonic tones, analytic: no random generator whose
    stream could change) and labels ``[1, K]`` (violin and cello present)."""
    length_in, _ = model.shapes(OUTPUT_SAMPLES)
    t = np.arange(length_in) / model.sample_rate
    mix = sum(
        0.2 / h * np.sin(2 * np.pi * f0 * h * t + h) * np.exp(-0.3 * t)
        for f0 in (196.0, 261.6, 440.0)
        for h in (1, 2, 3)
    )
    labels = torch.zeros(1, model.num_sources)
    labels[0, [model.sources.index("vn"), model.sources.index("vc")]] = 1.0
    return torch.tensor(mix, dtype=torch.float32)[None, None], labels


def golden_output(model) -> np.ndarray:
    """The model's stems on the golden input, every :data:`STRIDE`-th sample: ``[K, C, L_out / 4]``."""
    mix, labels = golden_input(model)
    with torch.no_grad():
        return model(mix, labels)[0, ..., ::STRIDE].numpy()


if __name__ == "__main__":
    from vcsep import DEFAULT_MODELS
    from vcsep.fusion import load_separator

    model = load_separator(DEFAULT_MODELS / "separator.pt")
    REFERENCE.parent.mkdir(exist_ok=True)
    np.savez_compressed(REFERENCE, stems=golden_output(model))
    print(f"wrote {REFERENCE}")
