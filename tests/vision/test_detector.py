from __future__ import annotations

import os

import numpy as np
import pytest

from vcsep import vocab
from vcsep.vision.detector import NO_SLOT, Detector, class_slots, configure_ultralytics_offline
from vcsep.vision.labels import detect_video, video_labels


def test_builtin_class_map_knows_open_images_names_and_vocab_codes():
    names = {0: "Person", 1: "Violin", 2: "French horn", 3: "Musical instrument", 4: "tba"}
    slots = class_slots(names)
    assert slots.tolist() == [NO_SLOT, vocab.index("vn"), vocab.index("hn"), NO_SLOT, vocab.index("tba")]


def test_yaml_class_map_overrides_the_builtin_one(tmp_path):
    names = {0: "Violin", 1: "Musical instrument", 2: "Cello"}
    good = tmp_path / "map.yaml"
    good.write_text("Musical instrument: va\nViolin: null\n")
    assert class_slots(names, good).tolist() == [NO_SLOT, vocab.index("va"), vocab.index("vc")]
    bad = tmp_path / "bad.yaml"
    bad.write_text("Violin: fiddle\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: class 'Violin' maps to unknown code 'fiddle'"):
        class_slots(names, bad)
    not_a_map = tmp_path / "list.yaml"
    not_a_map.write_text("- Violin\n")
    with pytest.raises(ValueError, match=r"list\.yaml: a class map must be a mapping"):
        class_slots(names, not_a_map)


def test_offline_settings_keep_explicit_user_values_and_provide_the_font(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("YOLO_AUTOINSTALL", "true")
    monkeypatch.delenv("YOLO_OFFLINE")
    import ultralytics  # noqa: F401  (imported here, it is too late for settings read at import)

    with pytest.warns(UserWarning, match="ultralytics was imported before"):
        assert configure_ultralytics_offline() == tmp_path / "cfg"
    assert os.environ["YOLO_AUTOINSTALL"] == "true" and os.environ["YOLO_OFFLINE"] == "1"
    font = tmp_path / "cfg" / "Ultralytics" / "Arial.ttf"
    assert font.read_bytes()[:4] == b"\x00\x01\x00\x00"  # a TrueType file


def test_missing_or_bad_weights_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"nothere\.pt: detector weights not found"):
        Detector(tmp_path / "nothere.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pt: not a loadable YOLO checkpoint"):
        Detector(junk)


def test_trained_detector_has_the_vocab_classes_and_predicts_boxes_in_frame_pixels(trained, tiny_corpus):
    out, rc = trained
    assert rc == 0
    assert Detector(out / "detector.pt").imgsz == 64  # by default it runs at the size it learned at
    detector = Detector(out / "detector.pt", imgsz=96, conf=0.0, batch=4)
    assert detector.imgsz == 96
    assert list(detector.names.values()) == list(vocab.CODES)
    assert detector.slots.tolist() == list(range(vocab.K))
    images = [np.full((72, 128, 3), 110, np.uint8) for _ in range(5)]
    predictions = detector.predict(images)
    assert len(predictions) == 5
    for boxes, scores, classes in predictions:
        assert boxes.shape == (len(scores), 4) and boxes.dtype == np.float32
        assert classes.dtype == np.int64 and np.all((classes >= 0) & (classes < vocab.K))
        assert np.all((scores >= 0) & (scores <= 1))


def test_detections_are_cached_per_video_and_weights(trained, tiny_corpus, tmp_path, monkeypatch):
    out, _ = trained
    video = next(tiny_corpus.glob("04_*/Vid_*.mp4"))
    detector = Detector(out / "detector.pt", imgsz=64, conf=0.0)
    first = detect_video(video, detector, fps=4, cache_dir=tmp_path)
    assert first.n_frames == 8 and first.frame_size == (128, 72)
    assert np.allclose(first.times_s, np.arange(8) / 4, atol=0.02)
    assert len(list(tmp_path.glob("*.npz"))) == 1

    def no_detection(*args, **kwargs):
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(detector, "detect", no_detection)
    again = detect_video(video, detector, fps=4, cache_dir=tmp_path)
    assert np.array_equal(again.scores, first.scores) and np.array_equal(again.boxes, first.boxes)
    with pytest.raises(AssertionError, match="cache should have answered"):
        detect_video(video, detector, fps=3, cache_dir=tmp_path)  # other settings: another key
    labels, _ = video_labels(video, detector, fps=4, rate_hz=2.0, cache_dir=tmp_path)
    # 60 frames at 29.97 fps last 2.002 s: 5 label frames at 2 Hz.
    assert labels.presence.shape == (vocab.K,) and labels.activity.shape == (vocab.K, 5)


def test_no_network_was_used_by_training_or_detection(trained, network_attempts):
    assert trained[1] == 0
    assert network_attempts == []
