"""The shipped separator computes exactly what it computed before any change of format or code.

The reference (``data/shipped_separator_golden.npz``) was first written by the model shipped before
checkpoint format version 2, from its version-1 file, and the converted file reproduced it; it is
rewritten (``python tests/fusion/golden.py``) only when the shipped model is retrained on purpose,
last for issue 16's separator. A version-1 payload of the shipped model must still load to the same
output.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from vcsep import DEFAULT_MODELS, vocab
from vcsep.fusion import load_separator, read_checkpoint

sys.path.insert(0, str(Path(__file__).parent))
from golden import REFERENCE, golden_output  # noqa: E402


def test_shipped_separator_reproduces_its_golden_output():
    model = load_separator(DEFAULT_MODELS / "separator.pt")
    assert model.sources == vocab.CODES
    reference = np.load(REFERENCE)["stems"]
    output = golden_output(model)
    assert output.shape == reference.shape == (13, 1, 514)
    np.testing.assert_allclose(output, reference, rtol=0, atol=2e-6)
    assert np.abs(reference).max() > 0.1  # the reference is a real separation, not silence


def test_a_version_1_file_reads_as_the_13_urmp_instruments(tmp_path):
    payload = read_checkpoint(DEFAULT_MODELS / "separator.pt")
    config = {k: v for k, v in payload["config"].items() if k not in ("sources", "visual_hidden")}
    old = {**payload, "version": 1, "config": {**config, "num_sources": 13}}
    torch.save(old, tmp_path / "v1.pt")
    model = load_separator(tmp_path / "v1.pt")
    assert model.sources == vocab.CODES
    np.testing.assert_allclose(golden_output(model), np.load(REFERENCE)["stems"], rtol=0, atol=2e-6)
