from __future__ import annotations

import json
import shutil

import pytest
import yaml
from PIL import Image

from vcsep import vocab
from vcsep.vision.train import build_yolo_dataset, read_boxes, read_corpus


def test_read_corpus_lists_pieces_with_their_instruments(tiny_corpus):
    pieces = read_corpus(tiny_corpus)
    assert [p.folder.name for p in pieces] == [
        "01_Alpha_vn_fl",
        "02_Beta_vn",
        "03_Gamma_fl_vn",
        "04_Delta_vn_fl",
    ]
    assert [p.split for p in pieces] == ["train", "train", "train", "test"]
    assert pieces[2].codes == ("fl", "vn") and pieces[2].video.is_file()


def test_bad_corpora_name_the_file_and_the_problem(tiny_corpus, tmp_path):
    with pytest.raises(ValueError, match=r"split\.tsv: cannot read"):
        read_corpus(tmp_path)
    (tmp_path / "split.tsv").write_text("name\tsplit\nx\ttrain\n")
    with pytest.raises(ValueError, match=r"split\.tsv: expected a header"):
        read_corpus(tmp_path)
    (tmp_path / "split.tsv").write_text("folder\ttitle\tsplit\n01_X_vn\tX\ttrain\n")
    with pytest.raises(ValueError, match=r"Vid_01_X_vn\.mp4: missing \(listed in .*split\.tsv\)"):
        read_corpus(tmp_path)
    bad_csv = tmp_path / "boxes.csv"
    bad_csv.write_text("frame,code,x1\n0,vn,3\n")
    with pytest.raises(ValueError, match=r"boxes\.csv: expected header frame,time_s"):
        read_boxes(bad_csv)


def test_yolo_dataset_has_one_normalised_label_line_per_box(tiny_corpus, tmp_path):
    pieces = read_corpus(tiny_corpus)
    data = yaml.safe_load(build_yolo_dataset(pieces, tmp_path, fps=2, val_fraction=0.34, seed=0).read_text())
    root = tmp_path / "dataset"
    assert data["path"] == str(root.resolve()) and data["names"] == dict(enumerate(vocab.CODES))
    counts = {split: len(list((root / "images" / split).glob("*.jpg"))) for split in ("train", "val", "test")}
    assert counts == {"train": 8, "val": 4, "test": 4}  # 4 frames per 2-second piece, one title in val
    assert not list(tmp_path.glob(".dataset.tmp*"))
    image = root / "images" / "test" / "04_Delta_vn_fl_000015.jpg"
    assert Image.open(image).size == (128, 72)
    lines = (root / "labels" / "test" / "04_Delta_vn_fl_000015.txt").read_text().splitlines()
    boxes = read_boxes(pieces[3].boxes)[15]
    assert len(lines) == 2
    for line, (slot, x1, y1, x2, y2) in zip(lines, boxes, strict=True):
        cls, cx, cy, w, h = line.split()
        assert int(cls) == slot
        assert float(cx) == pytest.approx((x1 + x2) / 2 / 128, abs=1e-5)
        assert float(h) == pytest.approx((y2 - y1) / 72, abs=1e-5)


def test_train_detector_command_writes_weights_and_test_metrics(trained, tiny_corpus, capsys):
    out, rc = trained
    assert rc == 0
    assert (out / "detector.pt").is_file() and (out / "model.yaml").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 <= metrics["test_map50"] <= 1 and 0 <= metrics["test_map50_95"] <= metrics["test_map50"] + 1e-9
    presence = metrics["test_presence"]
    assert [p["folder"] for p in presence["pieces"]] == ["04_Delta_vn_fl"]
    assert presence["pieces"][0]["truth"] == ["fl", "vn"]
    micro = presence["micro"]
    assert micro["tp"] + micro["fn"] == 2  # the test piece has two instruments
    assert set(presence["per_instrument"]) >= {"vn", "fl"}
    model = yaml.safe_load((out / "model.yaml").read_text())
    assert model["nc"] == vocab.K and model["width_multiple"] == 0.0625


def test_fine_tuning_on_a_corpus_without_test_pieces_skips_evaluation(forced_weights, tiny_corpus, tmp_path):
    from vcsep.cli import main
    from vcsep.vision.detector import Detector

    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus / "02_Beta_vn", corpus / "02_Beta_vn")
    (corpus / "split.tsv").write_text("folder\ttitle\tsplit\n02_Beta_vn\tBeta\ttrain\n")
    start = forced_weights("vc")
    argv = ["train-detector", "--corpus", str(corpus), "--out", str(tmp_path / "out"), "--epochs", "1"]
    assert main([*argv, "--init", str(start), "--imgsz", "64", "--fps", "2", "--workers", "0"]) == 0
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert "test_presence" not in metrics and metrics["init"] == str(start)
    # It went on from the given weights: the cello logit pinned at +20 is still far above a fresh head's.
    tuned = Detector(tmp_path / "out" / "detector.pt").model.model
    for branch in tuned.model[-1].cv3:
        assert float(branch[-1].bias[vocab.index("vc")]) > 10
