from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vcsep import DEFAULT_MODELS, vocab
from vcsep.cli import build_parser, main
from vcsep.fusion.labels import SIGHT_OFFSET, SIGHT_WEIGHT
from vcsep.vision.preview import SLOT_COLOURS


def test_vcsep_detect_prints_writes_json_and_preview(forced_weights, tiny_corpus, tmp_path, capsys):
    video = next(tiny_corpus.glob("04_*/Vid_*.mp4"))
    report, preview = tmp_path / "report.json", tmp_path / "preview.png"
    argv = ["detect", str(video), "--weights", str(forced_weights("vc")), "--imgsz", "64", "--fps", "3"]
    argv += ["--json", str(report), "--preview", str(preview), "--cache-dir", str(tmp_path / "cache")]
    assert main([*argv, "--no-sound"]) == 0
    printed = capsys.readouterr().out
    assert f"{video}: 6 frames; no sound" in printed and f"wrote {report}" in printed
    # sight alone: sight's presence (clipped to 0.99: no source is ever certain) read against the
    # detector's threshold 0.25, i.e. log-odds logit(0.99) - logit(0.25), weighted and offset
    fused = 1 / (1 + np.exp(-SIGHT_WEIGHT * (np.log(99) - np.log(1 / 3)) - SIGHT_OFFSET))
    assert f"vc  cello           1.00      -   {fused:.2f}  present" in printed
    data = json.loads(report.read_text())
    assert list(data["presence"]) == list(vocab.CODES)
    assert data["presence"]["vc"] == round(fused, 4)
    assert data["sources"]["vc"] == {"sight": 1.0, "sound": None, "fused": round(fused, 4)}
    assert data["present"] == ["vc"] and data["fallback"] is False
    assert data["activity_rate_hz"] == 4.0  # 9 columns: ceil(2.002 s x 4 Hz)
    assert data["activity"]["vc"] == pytest.approx([fused] * 9, abs=1e-3)
    assert data["n_frames"] == 6 and data["tagger"] is None
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
        assert main([*argv, "--json", str(tmp_path / "r.json"), "--no-sound"]) == 0
    assert "sight found no instrument: it says 'unknown' and sound decides" in capsys.readouterr().out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["fallback"] is True and data["present"] == []
    assert set(data["presence"].values()) == {0.5}


def test_vcsep_detect_on_a_bad_file_fails_with_the_file_name(trained, tmp_path, capsys):
    out, _ = trained
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\0" * 1000)
    assert main(["detect", str(bad), "--weights", str(out / "detector.pt")]) == 2
    assert f"vcsep detect: error: {bad}: cannot read the file" in capsys.readouterr().err


def test_vcsep_detect_weights_default_to_vcsep_detector_then_the_recognizer(
    forced_weights, tiny_corpus, tmp_path, monkeypatch, capsys
):
    video = next(tiny_corpus.glob("*/Vid_*.mp4"))
    monkeypatch.setenv("VCSEP_DETECTOR", str(tmp_path / "missing.pt"))
    assert main(["detect", str(video), "--json", str(tmp_path / "a.json")]) == 2
    assert "missing.pt: detector weights not found" in capsys.readouterr().err
    monkeypatch.setenv("VCSEP_DETECTOR", str(forced_weights("vc")))
    argv = ["detect", str(video), "--imgsz", "64", "--json", str(tmp_path / "b.json"), "--no-cache"]
    assert main([*argv, "--no-sound"]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["present"] == ["vc"]
    monkeypatch.delenv("VCSEP_DETECTOR")
    args = build_parser().parse_args(["detect", str(video)])
    assert args.weights is None and args.head == DEFAULT_MODELS / "recognizer_head.pt"
    assert args.tagger == DEFAULT_MODELS / "tagger.pt"


def test_vcsep_detect_on_an_audio_file_reports_sound_only(tmp_path, media, capsys):
    import soundfile as sf

    from vcsep.audio.tagger import Tagger, TaggerNet

    tagger = tmp_path / "tagger.pt"
    Tagger(TaggerNet(n_mels=32, channels=8)).save(tagger)
    song = tmp_path / "song.flac"
    sf.write(song, media.sine(440, 3.0).T, media.sample_rate)
    argv = ["detect", str(song), "--tagger", str(tagger), "--json", str(tmp_path / "s.json")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"{song}: no picture; sound" in printed
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["sight_model"] is None and data["n_frames"] == 0
    assert {v["sight"] for v in data["sources"].values()} == {None}
    assert all(v["sound"] is not None for v in data["sources"].values())


@pytest.mark.skipif(not (DEFAULT_MODELS / "recognizer_head.pt").is_file(), reason="no recogniser head")
def test_vcsep_detect_names_real_instruments_on_a_composite_video(tmp_path, capsys):
    """Done-when of issue #15: a real-looking frame (photographs of a violin and a trumpet held by
    players, on a background family the head never trained on) is named by ``vcsep detect``."""
    from vcsep.media import write_video
    from vcsep.vision import composites

    if not composites.stamps_available():
        pytest.skip("Debian's tuxpaint-stamps-default is not installed")
    composer = composites.Composer("heldout", size=(1280, 720))
    # a clean duet (no guitar in front of the violin: the 40-picture check in recognizer_train
    # measures the harder mix)
    picture = composer.compose(np.random.default_rng(7), codes=("vn", "tpt"), distractor=False).image
    video = write_video(tmp_path / "duet.mp4", [picture] * 60, 30)
    argv = ["detect", str(video), "--no-sound", "--no-cache", "--json", str(tmp_path / "d.json")]
    assert main([*argv, "--preview", str(tmp_path / "d.png")]) == 0
    data = json.loads((tmp_path / "d.json").read_text())
    assert data["present"] == ["vn", "tpt"]
