"""Issue #13's fault-and-bad-input campaign against `vcsep separate` and `vcsep detect`: each
reproduction of a defect, kept as a test. Expected failures are one line on stderr naming the file
and the cause, exit code 2, no traceback, nothing half-written."""

from __future__ import annotations

import errno
import pathlib
import warnings
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import torch

import vcsep
import vcsep.files as files
from vcsep.cli import main
from vcsep.files import folder_lock
from vcsep.fusion.checkpoint import save_checkpoint
from vcsep.fusion.separator import ConditionedSeparator
from vcsep.media import write_video

TINY = {"levels": 2, "features": 4, "sample_rate": 8000}
RATE = 16000


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    save_checkpoint(ConditionedSeparator("film", "bottleneck", **TINY), folder / "separator.pt")
    return folder


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    """2 s of a 64x48 picture with a 330 Hz stereo tone at 16 kHz (AAC)."""
    t = np.arange(2 * RATE) / RATE
    audio = np.repeat(0.3 * np.sin(2 * np.pi * 330 * t)[None], 2, 0).astype(np.float32)
    frames = [np.full((48, 64, 3), 90, np.uint8)] * 50
    return write_video(tmp_path_factory.mktemp("v") / "clip.mp4", frames, 25, audio=audio, sample_rate=RATE)


def separate(video: Path, out: Path, *extra: str) -> int:
    return main(["separate", str(video), "--out", str(out), *extra])


def only_outputs(out: Path) -> list[str]:
    """What a user sees in the output folder (the lock file aside)."""
    return sorted(p.name for p in out.iterdir() if p.name != ".vcsep.lock") if out.exists() else []


class Planted:
    """Unpickling this runs ``Path.touch(marker)``: the shape of any code-running weights file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_a_planted_pickle_never_runs(models, video, tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil"
    evil.mkdir()
    save_checkpoint(ConditionedSeparator("film", "bottleneck", **TINY), evil / "separator.pt")
    torch.save({"model": Planted(marker)}, evil / "detector.pt")
    # the detector beside the model is not even opened when the instruments are given
    assert separate(video, tmp_path / "a", "--model", str(evil), "--instruments", "vn,vc") == 0
    assert not marker.exists()
    # asked to detect with it, or given it as weights, it is refused without running
    assert separate(video, tmp_path / "b", "--model", str(evil)) == 2
    assert (
        separate(video, tmp_path / "c", "--model", str(models), "--detector", str(evil / "detector.pt")) == 2
    )
    assert main(["detect", str(video), "--weights", str(evil / "detector.pt"), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert not marker.exists()
    assert err.count("detector.pt: not a loadable YOLO checkpoint") == 3 and "Traceback" not in err
    # a planted separator checkpoint is refused as well (weights-only loading)
    torch.save({"format": "vcsep.separator", "version": 1, "config": Planted(marker)}, evil / "separator.pt")
    assert separate(video, tmp_path / "d", "--model", str(evil), "--instruments", "vn") == 2
    assert not marker.exists() and "separator.pt: refused" in capsys.readouterr().err


def test_the_shipped_detector_loads_in_safe_mode():
    import ultralytics.nn.tasks

    from vcsep.vision.detector import Detector

    detector = Detector(vcsep.DEFAULT_MODELS / "detector.pt")
    assert ultralytics.nn.tasks.SAFE_LOAD and len(detector.names) == 13
    boxes, scores, classes = detector.predict([np.zeros((64, 64, 3), np.uint8)])[0]
    assert boxes.shape[1] == 4 and len(scores) == len(classes)


def test_a_full_disk_leaves_nothing_and_says_so(models, video, tmp_path, monkeypatch, capsys):
    written = []
    real_write = sf.SoundFile.write

    def full_disk(self, data):  # the third block written fails the way a full disk does
        written.append(self.name)
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", full_disk)
    out = tmp_path / "out"
    assert separate(video, out, "--model", str(models), "--instruments", "vn") == 2
    err = capsys.readouterr().err
    last = err.splitlines()[-1]
    assert last.startswith(f"vcsep separate: error: {out}/") and last.endswith(
        ".wav: No space left on device"
    )
    assert only_outputs(out) == []  # no partial file, no work folder


def test_libsndfile_system_error_on_a_full_disk_names_the_file(tmp_path, monkeypatch):
    from vcsep import pipeline

    with pipeline._WavWriter(tmp_path / ".w.wav", tmp_path / "vn.wav", 8000, 1) as wav:
        monkeypatch.setattr(wav.file, "write", lambda data: (_ for _ in ()).throw(sf.LibsndfileError(2)))
        monkeypatch.setattr(pipeline.shutil, "disk_usage", lambda p: type("U", (), {"free": 0})())
        with pytest.raises(OSError) as caught:
            wav.write(np.zeros((1, 10), np.float32))
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "vn.wav")


def test_the_output_folder_is_checked_before_any_work(models, video, tmp_path, monkeypatch, capsys):
    from vcsep import pipeline

    def no_work(*args, **kwargs):
        raise AssertionError("separation started")

    monkeypatch.setattr(pipeline, "separate_stream", no_work)
    monkeypatch.setattr(pipeline.Separator, "_detect", no_work)
    args = ("--model", str(models), "--instruments", "vn")
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    assert separate(video, a_file, *args) == 2
    assert f"{a_file}: exists and is not a folder" in capsys.readouterr().err
    # an unwritable folder (mode 555 for a user other than root: os.access says no)
    locked = tmp_path / "ro"
    locked.mkdir()
    real_access = files.os.access
    monkeypatch.setattr(files.os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    assert separate(video, locked, *args) == 2
    assert f"{locked}: the output folder is not writable" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setattr(pipeline, "separate_stream", no_work)
    # too little free space for the estimated outputs
    monkeypatch.setattr(files.shutil, "disk_usage", lambda p: type("U", (), {"free": 1000})())
    assert separate(video, tmp_path / "small", *args) == 2
    assert "No space left on device: the outputs need about" in capsys.readouterr().err


def test_a_second_run_into_a_busy_folder_stops(models, video, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with folder_lock(out):  # another run holds the folder
        assert separate(video, out, "--model", str(models), "--instruments", "vn") == 2
    assert "another vcsep run (process" in capsys.readouterr().err and only_outputs(out) == []
    assert separate(video, out, "--model", str(models), "--instruments", "vn") == 0  # released


def test_192_khz_and_surround_audio_separate_and_mux(models, video, pcm_video, tmp_path):
    seconds, rate = 1.5, 192000
    t = np.arange(round(seconds * rate)) / rate
    surround = np.zeros((6, len(t)), np.float32)
    surround[0] = 0.3 * np.sin(2 * np.pi * 440 * t)
    surround[5] = 0.2 * np.sin(2 * np.pi * 110 * t)
    source = pcm_video(video, surround, rate, tmp_path / "hi.mkv", layout="5.1")
    result = vcsep.Separator.from_pretrained(models).separate_video(
        source, ["vn", "vc"], out_dir=tmp_path / "o"
    )
    stem, stem_rate = sf.read(result.files["vn"], dtype="float32")
    assert stem_rate == rate and stem.shape == (len(t),)  # mono model: the six channels averaged
    mixture = result.mixture
    np.testing.assert_allclose(mixture[0], surround.mean(0), atol=1e-4)  # 16-bit WAV
    with av.open(str(result.files["video"])) as muxed:
        rates = [s.rate for s in muxed.streams.audio]
    assert rates == [rate, 48000, 48000]  # the original stream-copied, the stems as 48 kHz AAC
    assert sorted(result.stems) == ["vc", "vn"] and result.stems["vn"].shape == (1, len(t))


def test_silent_input_gives_silent_stems_and_nan_names_the_file(models, video, pcm_video, tmp_path, capsys):
    silent = pcm_video(video, np.zeros((2, RATE), np.float32), RATE, tmp_path / "silent.mkv")
    result = vcsep.Separator.from_pretrained(models).separate_video(silent, ["vn"], out_dir=tmp_path / "s")
    assert np.all(result.stems["vn"] == 0)
    bad = np.zeros((1, RATE), np.float32)
    bad[0, RATE // 2] = np.nan
    nan = pcm_video(video, bad, RATE, tmp_path / "nan.mkv")
    assert separate(nan, tmp_path / "n", "--model", str(models), "--instruments", "vn") == 2
    err = capsys.readouterr().err
    assert f"{nan}: the audio has NaN or infinite samples (first at 0.500 s)" in err
    assert only_outputs(tmp_path / "n") == []


def test_small_bad_inputs(models, video, tmp_path, capsys):
    out = str(tmp_path / "o")
    with pytest.raises(SystemExit) as exit_info:
        main(["separate", str(video), "--out", out, "--device", "banana"])
    assert exit_info.value.code == 2 and "unknown torch device 'banana'" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            main(["separate", str(video), "--out", out, "--device", "cuda:0"])
        assert "no CUDA GPU is available" in capsys.readouterr().err
    assert separate(video, tmp_path / "o", "--model", str(models), "--instruments", "") == 2
    assert "--instruments needs at least one code" in capsys.readouterr().err
    assert separate(tmp_path, tmp_path / "o", "--model", str(models), "--instruments", "vn") == 2
    assert f"{tmp_path}: is a folder, not a video file" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path), "--data", "urmp:x", "--out", out]) == 2
    assert f"{tmp_path}: is a folder, not a checkpoint file" in capsys.readouterr().err


def test_warnings_are_one_line(models, video, monkeypatch, capsys):
    from vcsep import pipeline

    shown = []

    def warn(*args, **kwargs):  # how a warning raised during the command is printed
        shown.append(warnings.formatwarning("something odd\nabout this file", UserWarning, "x.py", 7, "src"))
        raise ValueError("stop here")

    monkeypatch.setattr(pipeline.Separator, "separate_video", warn)
    assert separate(video, Path("unused"), "--model", str(models), "--instruments", "vn") == 2
    assert shown == ["vcsep: warning: something odd about this file\n"]
    assert capsys.readouterr().err == "vcsep separate: error: stop here\n"
    assert "x.py:7" in warnings.formatwarning("w", UserWarning, "x.py", 7)  # restored afterwards
