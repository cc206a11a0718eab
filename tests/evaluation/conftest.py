"""Shared fixtures: small signals for the scorers and a tiny URMP-layout corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def tone_line(rng: np.random.Generator, f0: float, seconds: float, rate: int) -> np.ndarray:
    """A harmonic tone with a little noise, ``[N]`` (noise keeps the Gram matrices non-singular)."""
    t = np.arange(int(seconds * rate)) / rate
    harmonics = sum(np.sin(2 * np.pi * f0 * h * t + h) / h for h in range(1, 5))
    return 0.2 * harmonics + 0.01 * rng.standard_normal(t.size)


def write_urmp_piece(
    root: Path, number: int, title: str, codes: tuple[str, ...], seed: int, seconds: float = 3.0
) -> Path:
    """A piece folder in URMP's layout (48 kHz mono WAVs: parts and their mix)."""
    rng = np.random.default_rng(seed)
    folder = root / f"{number:02d}_{title}_{'_'.join(codes)}"
    folder.mkdir(parents=True)
    stems = []
    for part, code in enumerate(codes, start=1):
        audio = tone_line(rng, 110.0 * (part + 1), seconds, 48000).astype(np.float32)
        stems.append(audio)
        sf.write(folder / f"AuSep_{part}_{code}_{number:02d}_{title}.wav", audio, 48000, subtype="FLOAT")
    sf.write(folder / f"AuMix_{folder.name}.wav", np.sum(stems, axis=0), 48000, subtype="FLOAT")
    return folder


@pytest.fixture
def references():
    """``references(sources, channels, seconds, seed=0, rate=8000)`` -> float64 ``[S, C, N]`` tones."""

    def make(sources: int, channels: int, seconds: float, seed: int = 0, rate: int = 8000) -> np.ndarray:
        rng = np.random.default_rng(seed)
        refs = np.empty((sources, channels, int(seconds * rate)))
        for j in range(sources):
            for c in range(channels):
                refs[j, c] = tone_line(rng, 150.0 * (j + 1) * (1 + 0.01 * c), seconds, rate) * (1 - 0.3 * c)
        return refs

    return make


@pytest.fixture
def urmp_corpus(tmp_path) -> Path:
    """Two test pieces and one train piece, with the split file synthetic corpora carry."""
    root = tmp_path / "corpus"
    names = [
        write_urmp_piece(root, 1, "Jupiter", ("vn", "vc"), seed=1).name,
        write_urmp_piece(root, 2, "Sonata", ("fl", "cl", "bn"), seed=2).name,
        write_urmp_piece(root, 3, "Dance", ("tpt", "tbn"), seed=3).name,
    ]
    rows = [f"{names[0]}\ttest", f"{names[1]}\ttest", f"{names[2]}\ttrain"]
    (root / "split.tsv").write_text("folder\tsplit\n" + "\n".join(rows) + "\n")
    return root
