from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vcsep import DEFAULT_MODELS, vocab
from vcsep.cli import build_parser, main
from vcsep.vision.preview import SLOT_COLOURS


def test_vcsep_detect_prints_writes_json_and_preview(forced_weights, tiny_corpus, tmp_path, capsys):
    video = next(tiny_corpus.glob("04_*/Vid_*.mp4"))
    report, preview = tmp_path / "report.json", tmp_path / "preview.png"
    argv = ["detect", str(video), "--weights", str(forced_weights("vc")), "--imgsz", "64", "--fps", "3"]
    argv += ["--json", str(report), "--preview", str(preview), "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"{video}: 2.0 s, 128x72, 6 frames" in printed and f"wrote {report}" in printed
    assert "  vc  cello         1.00" in printed
    data = json.loads(report.read_text())
    assert list(data["presence"]) == list(vocab.CODES)
    assert data["presence"]["vc"] == 1.0 and sum(data["presence"].values()) == 1.0
    assert data["present"] == ["vc"] and data["fallback"] is False
    assert data["activity_rate_hz"] == 4.0 and data["activity"]["vc"] == [1.0] * 9  # ceil(2.002 s x 4 Hz)
    assert data["n_frames"] == 6 and data["size"] == [128, 72]
    sheet = np.asarray(Image.open(preview).convert("RGB"))
    assert sheet.shape == (2 * 240, 3 * 427, 3)  # 6 frames, 3 per row, 240 pixels tall
    assert np.all(sheet == SLOT_COLOURS[vocab.index("vc")], axis=-1).sum() > 1000  # cello boxes drawn
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "preview.png", "report.json"]


def test_vcsep_detect_with_nothing_found_writes_the_unknown_vector(
    forced_weights, tiny_corpus, tmp_path, capsys
):
    video = next(tiny_corpus.glob("04_*/Vid_*.mp4"))
    argv = ["detect", str(video), "--weights", str(forced_weights(None)), "--imgsz", "64", "--no-cache"]
    with pytest.warns(UserWarning, match="no instrument detected"):
        assert main([*argv, "--json", str(tmp_path / "r.json")]) == 0
    assert (
        "no instrument detected: label vector set to 'unknown' (0.5 for every slot)"
        in capsys.readouterr().out
    )
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["fallback"] is True and data["present"] == []
    assert set(data["presence"].values()) == {0.5}


def test_vcsep_detect_on_a_bad_file_fails_with_the_file_name(trained, tmp_path, capsys):
    out, _ = trained
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\0" * 1000)
    assert main(["detect", str(bad), "--weights", str(out / "detector.pt")]) == 2
    assert f"vcsep detect: error: {bad}: not a readable video file" in capsys.readouterr().err


def test_vcsep_detect_weights_default_to_vcsep_detector_then_the_shipped_detector(
    forced_weights, tiny_corpus, tmp_path, monkeypatch, capsys
):
    video = next(tiny_corpus.glob("*/Vid_*.mp4"))
    monkeypatch.setenv("VCSEP_DETECTOR", str(tmp_path / "missing.pt"))
    assert main(["detect", str(video), "--json", str(tmp_path / "a.json")]) == 2
    assert "missing.pt: detector weights not found" in capsys.readouterr().err
    monkeypatch.setenv("VCSEP_DETECTOR", str(forced_weights("vc")))
    argv = ["detect", str(video), "--imgsz", "64", "--json", str(tmp_path / "b.json"), "--no-cache"]
    assert main(argv) == 0
    assert json.loads((tmp_path / "b.json").read_text())["present"] == ["vc"]
    monkeypatch.delenv("VCSEP_DETECTOR")
    args = build_parser().parse_args(["detect", str(video)])
    assert args.weights == DEFAULT_MODELS / "detector.pt"
