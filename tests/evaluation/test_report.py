"""Results table, violin plots and the HTML report, checked in headless Chromium."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import soundfile as sf

from vcsep.evaluation.report import html_report, results_table, violin_plots
from vcsep.evaluation.scoring import score_track

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def cells(references):
    """Two cells scored on the same 3 s, 2-instrument track with different amounts of leakage."""
    refs = references(2, 1, 3.0)
    out = {}
    for cell, leak in (("film-bottleneck", 0.1), ("baseline", 0.5)):
        estimates = np.stack([refs[0] + leak * refs[1], refs[1] + leak * refs[0], 0.01 * refs[0]])
        out[cell] = score_track(
            "t", ["vn", "vc", "fl"], {"vn": refs[0], "vc": refs[1]}, estimates, refs.sum(0), 8000
        )
    return out


def test_results_table_markdown_and_csv(cells):
    markdown, table = results_table(cells)
    lines = [ln for ln in markdown.splitlines() if ln.startswith("| ")]
    assert lines[0].startswith("| cell | vn | vc | all (pooled) | all (track medians) |")
    assert lines[1].startswith("| film-bottleneck |") and lines[2].startswith("| baseline |")
    rows = list(csv.DictReader(io.StringIO(table)))
    assert [r["cell"] for r in rows] == ["film-bottleneck", "baseline"]
    expected = np.median(cells["baseline"].frames["SDR"][cells["baseline"].frames["instrument"] == "vn"])
    assert float(rows[1]["vn_median"]) == pytest.approx(expected, abs=1e-4)
    assert float(rows[0]["vn_median"]) > float(rows[1]["vn_median"])  # less leakage scores higher
    assert float(rows[0]["vn_q25"]) <= float(rows[0]["vn_median"]) <= float(rows[0]["vn_q75"])
    assert rows[0]["PES_median"] != "" and rows[0]["frames"] == "6"


def test_violin_plots_are_images(cells, tmp_path):
    paths = violin_plots(cells, tmp_path)
    assert [p.name for p in paths] == ["violin_sdr.png", "violin_sir.png", "violin_sar.png"]
    for path in paths:
        image = matplotlib.image.imread(path)
        assert image.shape[0] >= 300 and image.shape[1] >= 300
        assert image[..., :3].std() > 0.05  # drawn, not a blank canvas


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="headless Chromium (Debian 'chromium') not installed")
def test_html_report_renders_in_chromium(cells, tmp_path):
    wav = tmp_path / "src" / "segment one.wav"
    wav.parent.mkdir()
    sf.write(wav, np.zeros(800, np.float32), 8000)
    out = tmp_path / "report"
    index = html_report(cells, out, {"film-bottleneck": [("vn, 0-1 s", wav)], "baseline": [("vn", wav)]})
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            index.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert re.search(r'<table id="results">', dom)
    body_rows = re.findall(r"<tr><td>([^<]+)</td>", dom)
    assert body_rows == ["film-bottleneck", "baseline"]
    images = re.findall(r'<img src="([^"]+)"', dom)
    assert images == ["violin_sdr.png", "violin_sir.png", "violin_sar.png"]
    for src in images:
        assert matplotlib.image.imread(out / src).ndim == 3
    audio = re.findall(r'<audio[^>]* src="([^"]+)"', dom)
    assert len(audio) == 2 and all(not Path(src).is_absolute() for src in audio)
    for src in audio:
        assert sf.info(out / src).samplerate == 8000
    with pytest.raises(ValueError, match="does not exist"):
        html_report(cells, out, {"baseline": [("gone", tmp_path / "gone.wav")]})
