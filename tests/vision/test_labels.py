from __future__ import annotations

import shutil

import numpy as np
import pytest

from vcsep import vocab
from vcsep.vision.detector import NO_SLOT, Detections
from vcsep.vision.labels import (
    UNKNOWN,
    clip_presence,
    content_hash,
    frame_activity,
    labels_from_detections,
)

VN, FL = vocab.index("vn"), vocab.index("fl")


def make_detections(rows: list[tuple[int, int, float]], n_frames: int, fps: float = 2.0) -> Detections:
    """Detections from ``(frame, slot, score)`` rows on ``n_frames`` frames sampled at ``fps``."""
    frame, slots, scores = (np.array(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
    n = len(rows)
    return Detections(
        times_s=np.arange(n_frames) / fps,
        frame_size=(640, 360),
        frame=np.asarray(frame, dtype=np.int64),
        boxes=np.tile(np.array([[10, 20, 110, 220]], np.float32), (n, 1)),
        scores=np.asarray(scores, dtype=np.float32),
        classes=np.asarray(slots, dtype=np.int64),
        slots=np.asarray(slots, dtype=np.int64),
        class_names=vocab.CODES,
    )


def test_presence_ignores_a_one_frame_false_positive_and_keeps_a_part_time_player():
    # 20 frames: the violin is seen on the first half only, a flute once at high confidence.
    rows = [(f, VN, 0.9) for f in range(10)] + [(7, FL, 0.95)]
    labels = labels_from_detections(make_detections(rows, 20), duration_s=10.0)
    assert labels.presence.shape == (vocab.K,) and labels.presence.dtype == np.float32
    assert labels.presence[VN] == pytest.approx(0.9)
    assert labels.presence[FL] == pytest.approx(0.0)
    assert labels.present == ["vn"] and not labels.fallback
    # Seen on 3 frames of 20 (15 %), less than min_fraction 20 %: not present.
    sparse = labels_from_detections(make_detections([(f, VN, 0.9) for f in range(3)], 20), 10.0)
    assert sparse.present == []


def test_clip_presence_is_the_score_reached_by_min_fraction_of_frames():
    scores = np.zeros((vocab.K, 10), np.float32)
    scores[VN] = np.linspace(0.0, 0.9, 10)
    presence = clip_presence(scores, min_fraction=0.5)
    assert presence[VN] == pytest.approx(np.quantile(np.linspace(0, 0.9, 10), 0.5))
    assert clip_presence(np.zeros((vocab.K, 0)), 0.2).shape == (vocab.K,)
    with pytest.raises(ValueError, match="min_fraction"):
        clip_presence(scores, min_fraction=0.0)


def test_activity_follows_the_player_in_time_at_the_requested_rate():
    # A flute plays from 5 s on (frames 10..19 at 2 frames/s) in a 10 s video.
    det = make_detections([(f, FL, 0.8) for f in range(10, 20)], 20)
    labels = labels_from_detections(det, duration_s=10.0, rate_hz=4.0)
    assert labels.activity.shape == (vocab.K, 40)
    assert np.all(labels.activity[FL, :16] == 0)  # up to 4 s: more than a smoothing frame before 5 s
    assert np.allclose(labels.activity[FL, 22:], 0.8)  # from 5.5 s on
    assert np.all(np.delete(labels.activity, FL, axis=0) == 0)


def test_activity_bridges_a_single_missed_frame():
    scores = np.zeros((vocab.K, 9), np.float32)
    scores[VN] = [0.9, 0.9, 0.9, 0.9, 0.0, 0.9, 0.9, 0.9, 0.9]
    activity = frame_activity(scores, np.arange(9) / 2.0, duration_s=4.5, rate_hz=2.0)
    assert activity.shape == (vocab.K, 9)
    assert np.all(activity[VN] >= 0.9 - 1e-6)
    with pytest.raises(ValueError, match="rate"):
        frame_activity(scores, np.arange(9) / 2.0, 4.5, rate_hz=0)


def test_no_detection_gives_the_documented_unknown_vector_with_a_warning():
    unmapped = make_detections([(0, NO_SLOT, 0.9)], 6)
    with pytest.warns(UserWarning, match=r"clip\.mp4: no instrument detected on 6 frames"):
        labels = labels_from_detections(unmapped, 3.0, rate_hz=2.0, source="clip.mp4")
    assert labels.fallback and labels.present == []
    assert np.all(labels.presence == UNKNOWN) and labels.presence.shape == (vocab.K,)
    assert np.all(labels.activity == UNKNOWN) and labels.activity.shape == (vocab.K, 6)
    assert labels.to_dict()["fallback"] is True


def test_detections_round_trip_and_slot_scores(tmp_path):
    det = make_detections([(0, VN, 0.3), (0, VN, 0.7), (2, FL, 0.5), (1, NO_SLOT, 0.9)], 3)
    scores = det.slot_scores()
    assert scores.shape == (vocab.K, 3)
    assert scores[VN].tolist() == pytest.approx([0.7, 0, 0]) and scores[FL].tolist() == pytest.approx(
        [0, 0, 0.5]
    )
    det.save(tmp_path / "d.npz")
    back = Detections.load(tmp_path / "d.npz")
    assert back.class_names == vocab.CODES and back.frame_size == (640, 360)
    assert np.array_equal(back.boxes, det.boxes) and np.array_equal(back.slots, det.slots)
    remapped = back.with_slots(np.full(vocab.K, NO_SLOT))
    assert remapped.slot_scores().sum() == 0
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]


def test_content_hash_is_stable_and_sees_size_and_content_changes(tiny_video, tmp_path):
    copy = tmp_path / "copy.mp4"
    shutil.copyfile(tiny_video, copy)
    assert content_hash(copy) == content_hash(tiny_video)
    data = bytearray(copy.read_bytes())
    data[0] ^= 0xFF
    copy.write_bytes(bytes(data))
    assert content_hash(copy) != content_hash(tiny_video)
    copy.write_bytes(tiny_video.read_bytes() + b"\0")
    assert content_hash(copy) != content_hash(tiny_video)
