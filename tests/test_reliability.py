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


# Issue #25: the second campaign (about 110 hostile and careless cases against a fresh install).


def wav_file(path: Path, seconds: float = 2.0, amplitude: float = 0.3) -> Path:
    """A stereo float WAV of a 330 Hz tone at RATE (``amplitude`` above 1: louder than 0 dBFS)."""
    t = np.arange(round(seconds * RATE)) / RATE
    tone = amplitude * np.sin(2 * np.pi * 330 * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.stack([tone, tone], 1).astype(np.float32), RATE, subtype="FLOAT")
    return path


def test_an_output_never_overwrites_the_input(models, tmp_path, capsys):
    d = tmp_path / "d"
    for name, instruments in (("mixture.wav", "vn"), ("vn.wav", "vn,fl")):
        given = wav_file(d / name)
        before = given.read_bytes()
        assert separate(given, d, "--model", str(models), "--instruments", instruments) == 2
        err = capsys.readouterr().err
        assert f"error: {d / name}: this output would overwrite the input {given}" in err
        assert given.read_bytes() == before and only_outputs(d) == [name]
        given.unlink()
    # beside the outputs under another name, it separates, and stays as it was
    song = wav_file(d / "song.wav")
    before = song.read_bytes()
    assert separate(song, d, "--model", str(models), "--instruments", "vn") == 0
    assert song.read_bytes() == before and (d / "vn.wav").is_file()
    # a second run's removal of the first run's outputs spares an input among them
    assert separate(d / "vn.wav", d, "--model", str(models), "--instruments", "vc") == 0
    assert (d / "vn.wav").is_file() and (d / "vc.wav").is_file()


def test_sigterm_cleans_up_and_a_later_run_removes_what_dead_runs_left(models, video, tmp_path, monkeypatch):
    import os
    import signal
    import subprocess
    import sys

    from vcsep import pipeline

    real = pipeline.separate_stream

    def terminated_midway(*args, **kwargs):  # SIGTERM arrives while the stems are written
        for k, chunk in enumerate(real(*args, **kwargs)):
            if k == 0:
                os.kill(os.getpid(), signal.SIGTERM)
            yield chunk

    monkeypatch.setattr(pipeline, "separate_stream", terminated_midway)
    out = tmp_path / "o"
    assert separate(video, out, "--model", str(models), "--instruments", "vn") == 143
    assert only_outputs(out) == []  # the work folder went, as on Ctrl-C
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored
    monkeypatch.undo()
    # work of a run that died without cleaning up (SIGKILL) goes; that of a live process stays
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    stale = out / f".separating.{int(dead.stdout)}-0a1b2c.partial"
    (stale / "vn.wav").parent.mkdir()
    (stale / "vn.wav").write_bytes(b"x" * 1000)
    (out / f".vn.{int(dead.stdout)}-0a1b2d.partial.wav").write_bytes(b"x")
    alive = out / f".separating.{os.getpid()}-0a1b2e.partial"
    alive.mkdir()
    assert separate(video, out, "--model", str(models), "--instruments", "vn") == 0
    assert not stale.exists() and alive.exists()
    assert [n for n in only_outputs(out) if ".partial" in n] == [alive.name]


def test_nan_weights_are_refused_and_nan_stems_never_written(models, video, tmp_path, capsys):
    from vcsep.fusion.checkpoint import load_separator

    payload = torch.load(models / "separator.pt", weights_only=True)
    payload["state_dict"] = {k: torch.full_like(v, float("nan")) for k, v in payload["state_dict"].items()}
    nan = tmp_path / "nan.pt"
    torch.save(payload, nan)
    assert separate(video, tmp_path / "a", "--model", str(nan), "--instruments", "vn") == 2
    err = capsys.readouterr().err
    assert f"error: {nan}: refused: " in err and "hold NaN or infinite values" in err
    assert only_outputs(tmp_path / "a") == []
    # weights broken in memory: the output is refused before any stem is written
    model = load_separator(models / "separator.pt")
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(ValueError, match="the separator's output has NaN or infinite values"):
        vcsep.Separator(model).separate_video(video, ["vn"], out_dir=tmp_path / "b")
    assert only_outputs(tmp_path / "b") == []


def test_a_folder_in_the_way_moves_nothing_and_is_named(models, video, tmp_path, capsys):
    out = tmp_path / "out"
    args = ("--model", str(models))
    assert separate(video, out, *args, "--instruments", "vn") == 0
    page = (out / "index.html").read_bytes()
    (out / "mixture.png").unlink()
    (out / "mixture.png").mkdir()  # an output name taken by a folder, found only at the move
    assert separate(video, out, *args, "--instruments", "vn,vc") == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == f"vcsep separate: error: {out / 'mixture.png'}: an output of this name exists as a folder"
    assert (out / "index.html").read_bytes() == page and not (out / "vc.wav").exists()
    assert not [n for n in only_outputs(out) if ".partial" in n]
    (out / "vc.wav").mkdir()  # one the run is known to write: refused before any work
    assert separate(video, out, *args, "--instruments", "vn,vc") == 2
    assert f"{out / 'vc.wav'}: an output of this name exists as a folder" in capsys.readouterr().err


def test_a_rerun_removes_the_outputs_it_no_longer_writes(models, video, tmp_path):
    out = tmp_path / "out"
    args = ("--model", str(models))
    assert separate(video, out, *args, "--instruments", "vn,fl") == 0
    (out / "notes.txt").write_text("mine")
    assert {"fl.wav", "fl.png", "vn.wav"} <= set(only_outputs(out))
    assert separate(video, out, *args, "--instruments", "vn") == 0
    names = set(only_outputs(out))
    page = (out / "index.html").read_text()
    assert "fl.wav" not in names and "fl.png" not in names
    assert 'data-stem="fl"' not in page and "fl.wav" not in page and 'data-stem="vn"' in page
    assert {"vn.wav", "vn.png", "mixture.wav", "index.html", "clip.stems.mp4", "notes.txt"} <= names


def test_loud_float_input_and_truncated_files_are_warned_about(models, video, tmp_path):
    loud = wav_file(tmp_path / "loud.wav", amplitude=2.0)  # +6 dBFS
    clipped = r"loud.wav: the audio goes above 0 dBFS \(peak \+6.0 dBFS\): mixture.wav"
    with pytest.warns(UserWarning, match=clipped):
        assert separate(loud, tmp_path / "a", "--model", str(models), "--instruments", "vn") == 0
    # a faststart mp4 cut between two packets: the header says 2 s, the data end halfway
    fast = tmp_path / "fast.mp4"
    with av.open(str(video)) as source, av.open(str(fast), "w", options={"movflags": "faststart"}) as target:
        streams = {s.index: target.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                target.mux(packet)
    with av.open(str(fast)) as container:
        positions = sorted(p.pos for p in container.demux() if p.pos)
    cut = positions[len(positions) // 2]
    cut_file = tmp_path / "cut.mp4"
    cut_file.write_bytes(fast.read_bytes()[:cut])
    with pytest.warns(UserWarning, match=r"cut.mp4: the audio ends at \d\.\d\d s but the file says 2.00 s"):
        assert separate(cut_file, tmp_path / "b", "--model", str(models), "--instruments", "vn") == 0


def test_detect_checks_its_outputs_and_flags_first_and_refuses_nan_audio(tmp_path, monkeypatch, capsys):
    from vcsep.fusion import labels

    clip = wav_file(tmp_path / "clip.wav")
    real = labels.label_recording

    def no_work(*args, **kwargs):
        raise AssertionError("detection started")

    monkeypatch.setattr(labels, "label_recording", no_work)
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    cases = [
        (["--json", str(tmp_path)], f"{tmp_path}: is a folder; give a file name"),
        (["--preview", str(tmp_path)], f"{tmp_path}: is a folder; give a file name"),
        (["--preview", str(a_file / "p.png")], f"{a_file}: exists and is not a folder"),
    ]
    for extra, message in cases:
        assert main(["detect", str(clip), "--no-cache", *extra]) == 2
        assert message in capsys.readouterr().err
    for flag, value in (("--fps", "nan"), ("--rate", "inf"), ("--threshold", "2"), ("--fps", "x")):
        with pytest.raises(SystemExit) as exit_info:
            main(["detect", str(clip), flag, value])
        assert exit_info.value.code == 2 and f"argument {flag}: " in capsys.readouterr().err
    monkeypatch.setattr(labels, "label_recording", real)
    # a missing parent folder is made
    report = tmp_path / "new" / "deeper" / "r.json"
    assert main(["detect", str(clip), "--no-cache", "--json", str(report)]) == 0 and report.is_file()
    # NaN audio is named, not written into the JSON as a bare NaN
    bad = np.full((RATE, 2), 0.1, np.float32)
    bad[RATE // 4] = np.nan
    sf.write(tmp_path / "nan.wav", bad, RATE, subtype="FLOAT")
    out = tmp_path / "nan.json"
    assert main(["detect", str(tmp_path / "nan.wav"), "--no-cache", "--json", str(out)]) == 2
    assert f"{tmp_path / 'nan.wav'}: the audio has NaN or infinite samples (first at 0.250 s)" in (
        capsys.readouterr().err
    )
    assert not out.exists()


def test_unreadable_files_and_foreign_weights_get_one_plain_line(models, tmp_path, capsys):
    junk = tmp_path / "junk.mp4"
    junk.write_text('{"not": "a video"}')
    assert separate(junk, tmp_path / "o", "--model", str(models), "--instruments", "vn") == 2
    err = capsys.readouterr().err
    assert f"{junk}: cannot read the file (invalid data: not a media file FFmpeg reads" in err
    assert "Errno" not in err
    # a JSON file as a checkpoint is not "objects that could run code"
    fake = tmp_path / "fake.pt"
    fake.write_text('{"format": "vcsep.separator"}')
    clip = wav_file(tmp_path / "clip.wav")
    assert separate(clip, tmp_path / "o", "--model", str(fake), "--instruments", "vn") == 2
    assert f"{fake}: not a checkpoint: not a PyTorch file" in capsys.readouterr().err
    # code-carrying --tagger, --head and --backbone files: one line naming the file, no advice
    evil = tmp_path / "evil.pt"
    torch.save({"config": Planted(tmp_path / "pwned")}, evil)
    for flag in ("--tagger", "--head", "--backbone"):
        argv = ["detect", str(clip), "--no-cache", flag, str(evil), "--json", str(tmp_path / "r.json")]
        if flag != "--tagger":  # sight runs only on a picture
            argv[1] = str(write_video(tmp_path / "v.mp4", [np.zeros((48, 64, 3), np.uint8)] * 5, 5))
            argv += ["--no-sound"]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{evil}: refused: it holds Python objects" in err, flag
        assert "weights_only" not in err
    assert not (tmp_path / "pwned").exists()
