"""Per-track scoring, both medians on a hand-built table, and evaluate end to end (library and CLI)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from vcsep.cli import main
from vcsep.datasets import load_dataset
from vcsep.evaluation.bsseval import framewise_sdr
from vcsep.evaluation.scoring import (
    BY_TRACK,
    FRAME_COLUMNS,
    POOLED,
    TRACK_COLUMNS,
    EvaluationResult,
    Table,
    aggregate,
    evaluate_separator,
    score_track,
    si_sdr,
)
from vcsep.fusion import ConditionedSeparator, save_checkpoint
from vcsep.vocab import CODES, K

NAN = float("nan")
TINY = dict(sources="urmp", channels=1, levels=2, features=4, down_kernel=5, up_kernel=3, sample_rate=8000)


def frame_row(track, code, frame, sdr, present=True, pes=NAN):
    return {
        "track": track,
        "instrument": code,
        "present": present,
        "frame": frame,
        "SDR": sdr,
        "SIR": sdr + 10,
        "SAR": sdr + 1,
        "ISR": sdr + 2,
        "SDRi": sdr - 1,
        "PES": pes,
    }


def track_row(track, code, sdr, present=True, si=NAN, pes=NAN):
    return {
        "track": track,
        "instrument": code,
        "present": present,
        "frames": 3,
        "SDR": sdr,
        "SIR": sdr + 10,
        "SAR": sdr + 1,
        "ISR": sdr + 2,
        "SI-SDR": si,
        "SDRi": sdr - 1,
        "PES": pes,
    }


def test_aggregate_gives_both_medians_and_skips_nan_frames():
    # track a: vn frames 1, 2, NaN (median 1.5); track b: vn 10, 20, 30 (median 20); vc in a: 4, 5, 6
    frames = [
        frame_row("a", "vn", 0, 1.0),
        frame_row("a", "vn", 1, 2.0),
        frame_row("a", "vn", 2, NAN),
        *(frame_row("b", "vn", i, v) for i, v in enumerate((10.0, 20.0, 30.0))),
        *(frame_row("a", "vc", i, v) for i, v in enumerate((4.0, 5.0, 6.0))),
        *(frame_row("b", "fl", i, NAN, present=False, pes=p) for i, p in enumerate((-60.0, -40, -50))),
    ]
    tracks = [
        track_row("a", "vn", 1.5, si=3.0),
        track_row("b", "vn", 20.0, si=5.0),
        track_row("a", "vc", 5.0, si=7.0),
        track_row("b", "fl", NAN, present=False, pes=-50.0),
    ]
    result = EvaluationResult(Table(FRAME_COLUMNS, frames), Table(TRACK_COLUMNS, tracks))
    agg = aggregate(result)
    assert agg[BY_TRACK]["per_instrument"]["vn"]["SDR"] == pytest.approx(10.75)  # median(1.5, 20)
    assert agg[POOLED]["per_instrument"]["vn"]["SDR"] == pytest.approx(10.0)  # median(1, 2, 10, 20, 30)
    assert agg[POOLED]["per_instrument"]["vn"]["nan_frames_excluded"] == 1
    assert agg[POOLED]["per_instrument"]["vn"]["frames"] == 6
    assert agg[BY_TRACK]["overall"]["SDR"] == pytest.approx(5.0)  # median(1.5, 20, 5)
    assert agg[POOLED]["overall"]["SDR"] == pytest.approx(5.5)  # 8 finite frames: 1 2 4 5 6 10 20 30
    assert agg[POOLED]["overall"]["SIR"] == pytest.approx(15.5)
    assert agg[BY_TRACK]["overall"]["SI-SDR"] == pytest.approx(5.0)
    assert agg[BY_TRACK]["per_instrument"]["fl"]["SDR"] is None  # only NaN: null in JSON
    assert agg[POOLED]["per_instrument"]["fl"]["PES"] == pytest.approx(-50.0)
    assert json.loads(json.dumps(agg)) == agg


def test_si_sdr_against_a_closed_form():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((2, 4000))
    s -= s.mean(-1, keepdims=True)
    noise = rng.standard_normal((2, 4000))
    noise -= noise.mean(-1, keepdims=True)
    noise -= (np.sum(noise * s) / np.sum(s * s)) * s  # orthogonal to the reference
    expected = 10 * np.log10(np.sum((3 * s) ** 2) / np.sum(noise**2))
    assert si_sdr(s, 3 * s + noise) == pytest.approx(expected, abs=1e-9)  # the gain does not count
    assert np.isnan(si_sdr(np.zeros_like(s), s))


def test_score_track_columns_pes_and_sdr_improvement(references):
    rng = np.random.default_rng(1)
    codes = ["vn", "vc", "fl"]
    refs = references(2, 1, 3.0)
    refs[1, :, 8000:16000] = 0  # cello rests in the second second
    mixture = refs.sum(0)
    estimates = np.stack(
        [
            refs[0] + 0.1 * refs[1],
            refs[1] + 0.05 * rng.standard_normal(refs[1].shape),
            0.001 * rng.standard_normal(refs[0].shape),
        ]
    )
    result = score_track("t", codes, {"vn": refs[0], "vc": refs[1]}, estimates, mixture, 8000)
    frames = result.frames
    assert len(frames) == 9 and len(result.tracks) == 3
    fl = frames["instrument"] == "fl"
    expected_pes = 10 * np.log10((estimates[2].reshape(3, 8000) ** 2).sum(-1) + 1e-10)
    np.testing.assert_allclose(frames["PES"][fl], expected_pes)
    assert np.isnan(frames["SDR"][fl]).all() and not frames["present"][fl].any()
    vc = frames["instrument"] == "vc"
    assert np.isnan(frames["SDR"][vc][1]) and not np.isnan(frames["PES"][vc][1])  # silent reference frame
    assert np.isnan(frames["PES"][vc][[0, 2]]).all()
    mix_sdr = framewise_sdr(refs, np.stack([mixture, mixture]), 8000)
    vn = frames["instrument"] == "vn"
    np.testing.assert_allclose(frames["SDRi"][vn], frames["SDR"][vn] - mix_sdr[0], equal_nan=True)
    row = result.tracks.rows()[0]
    assert row["SDR"] == pytest.approx(np.nanmedian(frames["SDR"][vn]))
    assert row["SI-SDR"] == pytest.approx(si_sdr(refs[0], estimates[0]))
    with pytest.raises(ValueError, match=r"estimates must be \[K=3"):
        score_track("t", codes, {"vn": refs[0]}, estimates[:2], mixture, 8000)


def tiny_model(mechanism="film", location="bottleneck") -> ConditionedSeparator:
    torch.manual_seed(0)
    return ConditionedSeparator(mechanism, location, **TINY).eval()


def test_evaluate_separator_conditions_on_labels(urmp_corpus):
    tracks = load_dataset(f"urmp:{urmp_corpus}", split="test")
    model = tiny_model()
    truth = evaluate_separator(model, tracks)
    flipped = evaluate_separator(model, tracks, labels_for=lambda t: 1 - t.labels)
    assert truth.track_names == [t.name for t in tracks]
    assert len(truth.frames) == 2 * K * 3  # two tracks, every slot, three 1 s frames at 8 kHz
    present = truth.tracks["present"]
    assert present.sum() == 5 and np.isfinite(truth.tracks["SDR"][present]).all()
    assert not np.allclose(truth.tracks["SDR"][present], flipped.tracks["SDR"][present])
    baseline = evaluate_separator(tiny_model(None, None), tracks[:1], metrics="museval")
    assert np.isfinite(baseline.tracks["SDR"][baseline.tracks["present"]]).all()


def test_evaluate_command_end_to_end(urmp_corpus, tmp_path, capsys):
    ckpt = save_checkpoint(tiny_model(), tmp_path / "film.pt")
    out = tmp_path / "eval"
    assert main(["evaluate", str(ckpt), "--data", f"urmp:{urmp_corpus}", "--out", str(out)]) == 0
    agg = json.loads((out / "aggregate.json").read_text())
    assert agg["tracks"] == 2 and agg["metrics"] == "fast"
    assert isinstance(agg[POOLED]["overall"]["SDR"], float)
    for name in ("01_Jupiter_vn_vc", "02_Sonata_fl_cl_bn"):
        track = json.loads((out / "tracks" / f"{name}.json").read_text())
        assert set(track["instruments"]) == set(CODES)
        rows = list(csv.DictReader((out / "tracks" / f"{name}.csv").open()))
        assert len(rows) == K * 3 and set(rows[0]) == set(FRAME_COLUMNS)
    assert len(list(csv.DictReader((out / "frames.csv").open()))) == 2 * K * 3
    assert "| film |" in (out / "results.md").read_text()
    assert not list(out.rglob(".*partial*"))
    assert "median SDR" in capsys.readouterr().out

    assert (
        main(["evaluate", str(tmp_path / "missing.pt"), "--data", f"urmp:{urmp_corpus}", "--out", str(out)])
        == 2
    )
    assert "missing.pt: checkpoint not found" in capsys.readouterr().err


def test_evaluate_checks_out_first_and_says_what_it_cannot_score(urmp_corpus, tmp_path, monkeypatch, capsys):
    """Issue 25: --out is checked before the scoring; a mixture shorter than its stems is warned
    about; silent stems give a plain sentence, not "None dB" and a numpy warning."""
    import shutil
    import warnings

    import soundfile as sf

    from vcsep.evaluation import scoring

    ckpt = save_checkpoint(tiny_model(), tmp_path / "film.pt")
    data = ["--data", f"urmp:{urmp_corpus}"]
    taken = tmp_path / "taken"
    taken.write_text("x")
    real = scoring.evaluate_separator
    monkeypatch.setattr(scoring, "evaluate_separator", lambda *a, **k: pytest.fail("scoring started"))
    assert main(["evaluate", str(ckpt), *data, "--out", str(taken)]) == 2
    assert f"{taken}: exists and is not a folder" in capsys.readouterr().err
    monkeypatch.setattr(scoring, "evaluate_separator", real)
    # a mixture half as long as its stems
    jupiter = urmp_corpus / "01_Jupiter_vn_vc"
    mix = jupiter / "AuMix_01_Jupiter_vn_vc.wav"
    audio, rate = sf.read(mix, dtype="float32")
    sf.write(mix, audio[: len(audio) // 2], rate, subtype="FLOAT")
    short = r"track 01_Jupiter_vn_vc: the mixture .* is 1.50 s, its stems 3.00 s"
    with pytest.warns(UserWarning, match=short):
        assert main(["evaluate", str(ckpt), *data, "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    # every stem (and so every mixture) silent, in a copy (audio is cached by path)
    silent = shutil.copytree(urmp_corpus, tmp_path / "silent")
    for wav in silent.glob("0[12]_*/*.wav"):
        audio, rate = sf.read(wav, dtype="float32")
        sf.write(wav, np.zeros_like(audio), rate, subtype="FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(["evaluate", str(ckpt), "--data", f"urmp:{silent}", "--out", str(tmp_path / "b")]) == 0
    printed = capsys.readouterr().out
    assert "2 tracks: no SDR, every present stem is silent" in printed and "None dB" not in printed
