"""The joint trainer: every config runs, a tiny model overfits, runs resume, bad configs are refused."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from vcsep import vocab
from vcsep.cli import main
from vcsep.datasets import load_dataset
from vcsep.datasets.synth import SynthSettings, synthesize_corpus
from vcsep.fusion import CELLS as ABLATION_CELLS
from vcsep.fusion import LOCATIONS, MECHANISMS, ConditionedSeparator
from vcsep.fusion.checkpoint import load_separator, read_checkpoint
from vcsep.training.cli import SIGTERM_EXIT, train_main
from vcsep.training.data import LabelledExamples, SeparationDataModule
from vcsep.training.losses import multi_resolution_stft_loss, separation_loss, si_sdr
from vcsep.training.module import SeparatorModule
from vcsep.training.resume import checkpoint_step


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    synthesize_corpus(out, 4, SynthSettings(seed=1, size=(96, 54), max_seconds=3.0))
    return out


@pytest.fixture
def cell_args(corpus, configs, tiny_train_args):
    """``cell_args(run_dir, cell=None)``: fit arguments of the base config (plus a cell) on the corpus."""

    def make(run_dir: Path, cell: str | None = None) -> list[str]:
        files = ["--config", str(configs / "base.yaml")] + (["--cell", cell] if cell else [])
        return ["fit", *files, "--data.data", f"urmp:{corpus}", "--run_dir", str(run_dir), *tiny_train_args]

    return make


CELLS = [None, *ABLATION_CELLS]


def test_ablation_cells_follow_the_grid():
    assert len(ABLATION_CELLS) == len(MECHANISMS) * len(LOCATIONS) + 1 == 17
    assert ABLATION_CELLS["baseline"] == (None, None)
    assert all(ABLATION_CELLS[f"{m}_{loc}"] == (m, loc) for m in MECHANISMS for loc in LOCATIONS)


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c or "base")
def test_fast_dev_run_of_every_config(corpus, cell_args, tmp_path, cell):
    cli = train_main([*cell_args(tmp_path / "run", cell), "--trainer.fast_dev_run", "true"])
    module = cli.model
    expected = (
        ("film", "bottleneck")
        if cell is None
        else ((None, None) if cell == "baseline" else tuple(cell.split("_")))
    )
    assert (module.separator.mechanism, module.separator.location) == expected
    assert cli.trainer.global_step == 1
    assert np.isfinite(float(cli.trainer.callback_metrics["train/loss"]))


def tiny_data(corpus: Path) -> SeparationDataModule:
    """Coherent 512-sample windows at 8 kHz for a 2-level model, two examples a batch."""
    return SeparationDataModule(
        f"urmp:{corpus}",
        output_length=512,
        batch_size=2,
        train_examples=8,
        val_examples=2,
        coherent=1.0,
    )


class LossLog(L.Callback):
    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


def test_tiny_model_overfits_one_batch(corpus, tmp_path):
    torch.manual_seed(0)
    separator = ConditionedSeparator(
        "film", "bottleneck", levels=2, features=8, sample_rate=8000, output="difference"
    )
    module = SeparatorModule(separator, lr=1e-2, lr_decay=1.0)
    data = tiny_data(corpus)
    log = LossLog()
    trainer = L.Trainer(
        max_steps=60,
        overfit_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        callbacks=[log],
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, data)
    first, last = log.losses[0], min(log.losses[-10:])
    assert last < first / 10, f"loss went from {first:.3g} to {last:.3g}"


class InterruptAt(L.Callback):
    """Stops the run the way Ctrl-C does, at a given step."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


class FirstStep(L.Callback):
    def __init__(self):
        self.step = None
        self.exp_avg = None

    def on_train_start(self, trainer, pl_module):
        self.step = trainer.global_step
        state = trainer.optimizers[0].state
        self.exp_avg = {k: v["exp_avg"].clone() for k, v in enumerate(state.values())} if state else {}


def test_killed_run_resumes_without_losing_steps(corpus, cell_args, tmp_path, monkeypatch):
    import vcsep.training.callbacks as callbacks

    monkeypatch.setattr(callbacks, "InterruptAt", InterruptAt, raising=False)
    monkeypatch.setattr(callbacks, "FirstStep", FirstStep, raising=False)
    run = tmp_path / "run"
    args = [*cell_args(run), "--trainer.max_steps", "8", "--data.train_examples", "40"]
    with pytest.raises(SystemExit):
        train_main(
            [*args, "--trainer.callbacks+=vcsep.training.callbacks.InterruptAt", "--trainer.callbacks.step=5"]
        )
    saved = torch.load(run / "checkpoints" / "on_exception.ckpt", weights_only=False)
    assert saved["global_step"] == 5
    cli = train_main([*args, "--trainer.callbacks+=vcsep.training.callbacks.FirstStep"])
    first = next(cb for cb in cli.trainer.callbacks if isinstance(cb, FirstStep))
    assert first.step == 5 and cli.trainer.global_step == 8
    saved_avg = [s["exp_avg"] for s in saved["optimizer_states"][0]["state"].values()]
    assert len(first.exp_avg) == len(saved_avg) > 0
    for restored, stored in zip(first.exp_avg.values(), saved_avg):
        torch.testing.assert_close(restored, stored)
    # the exported separator rebuilds from its own arguments
    separator = load_separator(run / "separator.pt", expect={"levels": 2, "sources": list(vocab.CODES)})
    assert separator.mechanism == "film"
    assert list(run.glob("events.out.tfevents.*"))


def test_bad_config_gives_a_clear_error(corpus, cell_args, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  separator:\n    init_args: {mechanism: telepathy, location: bottleneck}\n")
    args = [*cell_args(tmp_path / "run"), "--config", str(bad), "--trainer.fast_dev_run", "true"]
    assert main(["train", *args]) == 2
    assert "unknown mechanism 'telepathy'" in capsys.readouterr().err
    typo = tmp_path / "typo.yaml"
    typo.write_text("model:\n  separator:\n    init_args: {levles: 3}\n")
    with pytest.raises(SystemExit) as exit_info:
        train_main([*cell_args(tmp_path / "run"), "--config", str(typo)])
    assert exit_info.value.code == 2
    assert "levles" in capsys.readouterr().err
    with pytest.raises(ValueError, match="needs a detector"):
        SeparationDataModule(f"urmp:{corpus}", label_source="detections")


def test_cli_train_end_to_end(corpus, cell_args, tmp_path):
    args = [
        *cell_args(tmp_path / "run", "additive_output"),
        "--trainer.max_steps",
        "2",
        "--trainer.enable_progress_bar",
        "false",
    ]  # the config's rich bar is dropped, not refused
    assert main(["train", *args]) == 0
    model = load_separator(tmp_path / "run" / "separator.pt")
    assert (model.mechanism, model.location) == ("additive", "output")


def test_the_demucs_style_separator_trains_from_the_command_line(corpus, cell_args, tmp_path):
    args = [
        *cell_args(tmp_path / "run", "film_decoder"),
        "--model.separator.init_args.architecture", "demucs",
        "--model.separator.init_args.lstm_layers", "1",
        "--trainer.precision", "bf16-mixed",
        "--trainer.max_steps", "3",
        "--trainer.enable_progress_bar", "false",
    ]
    assert main(["train", *args]) == 0
    model = load_separator(tmp_path / "run" / "separator.pt")
    assert model.config["architecture"] == "demucs" and type(model.unet).__name__ == "DemucsUNet"
    assert (model.mechanism, model.location) == ("film", "decoder")


def test_losses_handle_silent_slots():
    torch.manual_seed(0)
    target = torch.zeros(2, 4, 1, 256)
    target[:, :2] = torch.randn(2, 2, 1, 256)
    present = torch.tensor([[True, True, False, False]] * 2)
    assert separation_loss(target, target, present, "mse") == 0
    assert separation_loss(target, target, present, "sse") == 0
    noisy = target + 0.1 * torch.randn_like(target)
    assert separation_loss(noisy, target, present, "sse") == pytest.approx(
        float((noisy - target).pow(2).sum()) / 2, rel=1e-5
    )
    # SI-SDR ignores silent references but pushes absent slots towards silence
    quiet, loud = target.clone(), target.clone()
    loud[:, 2:] = 0.5
    quiet_loss = separation_loss(quiet, target, present, "sisdr")
    assert separation_loss(loud, target, present, "sisdr") > quiet_loss
    assert torch.isfinite(quiet_loss)
    with pytest.raises(ValueError, match="unknown loss"):
        separation_loss(target, target, present, "l3")
    with pytest.raises(ValueError, match="unknown loss"):
        separation_loss(target, target, present, "mse+l1")  # only the listed sums


def test_multi_resolution_spectrogram_loss():
    torch.manual_seed(0)
    target = torch.zeros(2, 4, 1, 8192)
    target[:, :2] = 0.1 * torch.randn(2, 2, 1, 8192)
    present = torch.tensor([[True, True, False, False]] * 2)
    assert separation_loss(target, target, present, "mrstft") == 0
    # blind to a time shift of a few samples that SI-SDR and MSE punish hard
    shifted = torch.roll(target, 3, dims=-1)
    closer = separation_loss(shifted, target, present, "mrstft")
    farther = separation_loss(target + 0.1 * torch.randn_like(target), target, present, "mrstft")
    assert 0 < closer < farther
    # against a reference written out by hand for one resolution: mean |M_e - M_t| + mean |log gap|
    est = target + 0.01 * torch.randn_like(target)
    window = torch.hann_window(1024)
    mags = [
        torch.stft(x.reshape(-1, 8192), 1024, 256, window=window, normalized=True, return_complex=True).abs()
        for x in (est, target)
    ]
    log_gap = torch.log(mags[0] + 1e-4) - torch.log(mags[1] + 1e-4)
    by_hand = (mags[0] - mags[1]).abs().mean() + log_gap.abs().mean()
    assert multi_resolution_stft_loss(est, target, sizes=(1024,)) == pytest.approx(float(by_hand), rel=1e-5)
    # the sum is the sum of its parts; windows shorter than every size are refused
    both = separation_loss(est, target, present, "sisdr+mrstft")
    parts = separation_loss(est, target, present, "sisdr") + separation_loss(est, target, present, "mrstft")
    assert both == pytest.approx(float(parts), rel=1e-5)
    with pytest.raises(ValueError, match="shorter than every STFT size"):
        multi_resolution_stft_loss(target[..., :100], target[..., :100])


def test_si_sdr_against_its_definition():
    ref = torch.randn(1000, dtype=torch.float64)
    noise = torch.randn(1000, dtype=torch.float64)
    noise = noise - (noise @ ref) / (ref @ ref) * ref  # orthogonal to the reference
    noise = noise - noise.mean()
    ref = ref - ref.mean()
    est = 3.0 * ref + 0.5 * noise
    expected = 10 * torch.log10((3.0 * ref).pow(2).sum() / (0.5 * noise).pow(2).sum())
    assert float(si_sdr(ref, est)) == pytest.approx(float(expected), abs=1e-3)


def test_label_dropout_noise_and_detections_are_seeded():
    examples = [
        {
            "labels": np.array([1, 1, 0], np.float32),
            "mixture": np.zeros((1, 4), np.float32),
            "track": np.int64(0),
        }
        for _ in range(200)
    ]
    presence = [np.array([0.9, 0.2, 0.1], np.float32)]
    dropped = LabelledExamples(examples, label_dropout=0.5, seed=3)
    conditions = torch.stack([dropped[i]["condition"] for i in range(200)])
    assert 0.35 < float((conditions[:, :2] == 0).float().mean()) < 0.65
    assert torch.all(conditions[:, 2] == 0)
    torch.testing.assert_close(
        conditions,
        torch.stack(
            [LabelledExamples(examples, label_dropout=0.5, seed=3)[i]["condition"] for i in range(200)]
        ),
    )
    told = LabelledExamples(examples, presence, label_source="detections")[0]["condition"]
    torch.testing.assert_close(told, torch.tensor([0.9, 0.2, 0.1]))
    mixed = torch.stack(
        [LabelledExamples(examples, presence, "mix", 0.5)[i]["condition"] for i in range(200)]
    )
    assert 0.35 < float((mixed[:, 0] == 0.9).float().mean()) < 0.65
    noisy = torch.stack([LabelledExamples(examples, label_noise=0.1)[i]["condition"] for i in range(200)])
    assert noisy.min() >= 0 and noisy.max() <= 1 and 0.05 < float(noisy[:, 1].std()) < 0.15


def test_audio_summaries_and_stall_monitor(corpus, tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from vcsep.training.callbacks import AudioSummaries, DataStallMonitor

    module = SeparatorModule(ConditionedSeparator("concat", "input", levels=2, features=4, sample_rate=8000))
    data = tiny_data(corpus)
    stall = DataStallMonitor()
    trainer = L.Trainer(
        max_steps=4,
        logger=TensorBoardLogger(tmp_path, name="tb"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        limit_val_batches=0,
        log_every_n_steps=1,
        callbacks=[AudioSummaries(every_n_steps=2), stall],
    )
    trainer.fit(module, data)
    events = EventAccumulator(str(tmp_path / "tb" / "version_0"), size_guidance={"audio": 0, "images": 0})
    events.Reload()
    assert "audio/mixture" in events.Tags()["audio"]
    assert any(t.endswith("_estimate") for t in events.Tags()["audio"])
    assert "spectrograms" in events.Tags()["images"]
    assert [e.step for e in events.Audio("audio/mixture")] == [2, 4]
    assert stall.samples == 6 and 0.0 <= stall.stall_fraction < 1.0
    with pytest.raises(ValueError, match="every_n_steps"):
        AudioSummaries(every_n_steps=0)


def test_time_varying_labels_from_the_notes_train_the_model(cell_args, tmp_path):
    args = [*cell_args(tmp_path / "run", "film_decoder"), "--data.time_varying", "true"]
    cli = train_main([*args, "--trainer.fast_dev_run", "true"])
    example = cli.datamodule.train_set[0]
    frames = example["activity"].shape[-1]
    assert example["condition"].shape == (vocab.K, frames) and frames > 1
    assert cli.trainer.global_step == 1
    assert np.isfinite(float(cli.trainer.callback_metrics["train/loss"]))


def test_time_varying_conditions_are_degraded_row_by_row():
    labels = np.array([1.0, 1.0, 0.0], np.float32)
    activity = np.array([[1, 1, 0, 0], [0, 1, 1, 1], [0, 0, 0, 0]], np.float32)
    examples = [{"labels": labels, "activity": activity, "track": np.int64(0)}] * 300
    dropped = [
        LabelledExamples(examples, label_dropout=0.5, seed=s)[i]["condition"]
        for s in range(2)
        for i in range(150)
    ]
    rows_zeroed = [bool((c[0] == 0).all()) for c in dropped]
    assert 0.35 < np.mean(rows_zeroed) < 0.65  # a missed instrument loses its whole row
    kept = [c for c, z in zip(dropped, rows_zeroed) if not z]
    assert all(torch.equal(c[0], torch.tensor(activity[0])) for c in kept)
    noisy = LabelledExamples(examples, label_noise=0.1)[0]["condition"]
    assert noisy.shape == (3, 4) and 0 <= float(noisy.min()) and float(noisy.max()) <= 1
    assert not torch.equal(noisy, torch.tensor(activity))


class FailAt(L.Callback):
    """Raises at the start of a given step, the way a crash does."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, *args):
        if trainer.global_step == self.step:
            raise RuntimeError("crash")


class TerminateAt(L.Callback):
    """Sends this process SIGTERM at a given step, as a scheduler or `kill` does."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGTERM)


@pytest.fixture
def test_callbacks(monkeypatch):
    """Makes this file's callbacks reachable by LightningCLI as vcsep.training.callbacks.NAME."""
    import vcsep.training.callbacks as callbacks

    for cls in (FailAt, TerminateAt, FirstStep):
        monkeypatch.setattr(callbacks, cls.__name__, cls, raising=False)


def test_failed_reruns_never_make_the_next_run_start_over(
    corpus, cell_args, tmp_path, capsys, test_callbacks
):
    run = tmp_path / "run"
    checkpoints = run / "checkpoints"
    args = [*cell_args(run), "--data.train_examples", "40", "--trainer.enable_progress_bar", "false"]
    assert main(["train", *args, "--trainer.max_steps", "4"]) == 0
    assert checkpoint_step(checkpoints / "last.ckpt") == 4
    # a re-run on missing data stops before the trainer starts: no step-0 exception checkpoint
    assert main(["train", *args, "--trainer.max_steps", "6", "--data.data", "urmp:/nonexistent"]) == 2
    assert "/nonexistent: the urmp dataset folder does not exist" in capsys.readouterr().err
    assert not (checkpoints / "on_exception.ckpt").exists()
    # a crash before the first step saves nothing either
    with pytest.raises(RuntimeError, match="crash"):
        train_main(
            [
                *args,
                "--ckpt_path",
                "null",
                "--run_dir",
                str(tmp_path / "fresh"),
                "--trainer.callbacks+=vcsep.training.callbacks.FailAt",
                "--trainer.callbacks.step=0",
            ]
        )
    assert not (tmp_path / "fresh" / "checkpoints" / "on_exception.ckpt").exists()
    # newer files of lower step (the old bug's step-0 file) or unreadable ones do not win
    stale = torch.load(checkpoints / "last.ckpt", weights_only=True)
    stale["global_step"] = 0
    torch.save(stale, checkpoints / "on_exception.ckpt")
    (checkpoints / "truncated.ckpt").write_bytes((checkpoints / "last.ckpt").read_bytes()[:1000])
    rows_before = (run / "metrics.csv").read_text().splitlines()
    with pytest.warns(UserWarning, match="truncated.ckpt: not a readable training checkpoint"):
        cli = train_main(
            [*args, "--trainer.max_steps", "6", "--trainer.callbacks+=vcsep.training.callbacks.FirstStep"]
        )
    first = next(cb for cb in cli.trainer.callbacks if isinstance(cb, FirstStep))
    assert first.step == 4 and cli.trainer.global_step == 6
    # the CSV history of the first run is kept, the resumed steps appended
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[: len(rows_before)] == rows_before and len(rows) > len(rows_before)
    # an unreadable checkpoint given by hand, or a folder of only unreadable ones, is named
    assert main(["train", *args, "--ckpt_path", str(checkpoints / "truncated.ckpt")]) == 2
    assert "truncated.ckpt: not a readable training checkpoint" in capsys.readouterr().err
    broken = tmp_path / "broken"
    (broken / "checkpoints").mkdir(parents=True)
    (broken / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert main(["train", *args, "--run_dir", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint of this run can be read" in err and "last.ckpt" in err


def test_a_run_folder_resumes_only_checkpoints_that_fit(corpus, cell_args, tmp_path, capsys, test_callbacks):
    """Issue 25: another architecture in an existing run folder is refused in one line, before the
    trainer starts and without touching the run's config.yaml; a checkpoint of other shapes among
    the run's is skipped and named; a code-carrying --ckpt_path is refused in one line."""
    import pathlib

    run = tmp_path / "run"
    args = [*cell_args(run), "--data.train_examples", "40", "--trainer.enable_progress_bar", "false"]
    assert main(["train", *args, "--trainer.max_steps", "4"]) == 0
    config = (run / "config.yaml").read_text()
    wider = ["--model.separator.init_args.features", "10"]
    assert main(["train", *args, "--trainer.max_steps", "6", *wider]) == 2
    err = capsys.readouterr().err
    assert "resuming" not in err and "Traceback" not in err and err.count("\n") == 1
    assert "last.ckpt: made for another architecture (separator.unet." in err and "--run_dir" in err
    assert (run / "config.yaml").read_text() == config
    # a wider run's checkpoint of a higher step, dropped among the run's own, is skipped
    assert main(["train", *cell_args(tmp_path / "wide"), *wider, "--trainer.max_steps", "1"]) == 0
    foreign = torch.load(tmp_path / "wide" / "checkpoints" / "last.ckpt", weights_only=True)
    foreign["global_step"] = 100
    torch.save(foreign, run / "checkpoints" / "foreign.ckpt")
    with pytest.warns(UserWarning, match="foreign.ckpt: made for another architecture"):
        cli = train_main(
            [*args, "--trainer.max_steps", "6", "--trainer.callbacks+=vcsep.training.callbacks.FirstStep"]
        )
    first = next(cb for cb in cli.trainer.callbacks if isinstance(cb, FirstStep))
    assert first.step == 4 and cli.trainer.global_step == 6
    assert f"resuming from {run / 'checkpoints' / 'last.ckpt'} (step 4)" in capsys.readouterr().err

    class Planted:
        def __reduce__(self):
            return (pathlib.Path.touch, (tmp_path / "pwned",))

    torch.save({"global_step": Planted()}, tmp_path / "evil.ckpt")
    assert main(["train", *args, "--ckpt_path", str(tmp_path / "evil.ckpt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "evil.ckpt: refused: it holds Python objects" in err
    assert not (tmp_path / "pwned").exists()


def test_sigterm_saves_and_exits_non_zero(corpus, cell_args, tmp_path, test_callbacks):
    run = tmp_path / "run"
    args = [
        *cell_args(run),
        "--data.train_examples",
        "40",
        "--trainer.max_steps",
        "50",
        "--trainer.enable_progress_bar",
        "false",
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "train",
                *args,
                "--trainer.callbacks+=vcsep.training.callbacks.TerminateAt",
                "--trainer.callbacks.step=3",
            ]
        )
    assert exit_info.value.code == SIGTERM_EXIT  # `train && evaluate` stops here
    assert checkpoint_step(run / "checkpoints" / "on_exception.ckpt") == 3
    assert not (run / "separator.pt").exists()


def test_a_stopped_run_exports_its_separator(corpus, cell_args, tmp_path, test_callbacks, capsys):
    run = tmp_path / "run"
    args = [*cell_args(run), "--trainer.max_steps", "50", "--trainer.enable_progress_bar", "false"]
    stop = ["--trainer.callbacks+=vcsep.training.callbacks.TerminateAt", "--trainer.callbacks.step=3"]
    with pytest.raises(SystemExit):
        main(["train", *args, *stop])
    assert main(["export", str(run)]) == 0
    assert "at step 3" in capsys.readouterr().out
    model = load_separator(run / "separator-step3.pt")
    assert read_checkpoint(run / "separator-step3.pt")["extra"]["global_step"] == 3
    trained = torch.load(run / "checkpoints" / "on_exception.ckpt", weights_only=True)["state_dict"]
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, trained[f"separator.{name}"])
    assert (model.mechanism, model.location) == ("film", "bottleneck")  # configs/base.yaml's

    assert main(["export", str(tmp_path)]) == 2  # not a run folder
    assert "not a training run folder (no config.yaml)" in capsys.readouterr().err
    (run / "checkpoints" / "on_exception.ckpt").unlink()
    assert main(["export", str(run), "--out", str(tmp_path / "x.pt")]) == 2
    assert "no checkpoint yet" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()


def test_shipped_separator_recipe_runs_on_a_list_of_corpora(corpus, configs, tiny_train_args, tmp_path):
    """configs/models/separator.yaml (the recipe of the shipped separator) parses on top of the base
    config and trains a step with bf16 autocast on two corpora given as a list, read as one."""
    import yaml

    from vcsep.datasets.augment import InputChain

    recipe = yaml.safe_load((configs / "models" / "separator.yaml").read_text())
    assert len(recipe["data"]["data"]) == 5 and recipe["model"]["loss"] == "mse"
    other = tmp_path / "other"
    synthesize_corpus(other, 2, SynthSettings(seed=2, size=(96, 54), max_seconds=3.0))
    args = [
        "fit", "--config", str(configs / "base.yaml"), "--config", str(configs / "models" / "separator.yaml"),
        *tiny_train_args, "--data.data", f"[urmp:{corpus}, urmp:{other}]", "--run_dir", str(tmp_path / "run"),
        "--trainer.fast_dev_run", "true",
    ]  # fmt: skip
    cli = train_main(args)
    separator, data = cli.model.separator, cli.datamodule
    assert (separator.mechanism, separator.location, separator.sources) == ("film", "decoder", vocab.CODES)
    assert cli.trainer.precision == "bf16-mixed" and cli.model.hparams.loss == "mse"
    assert data.train_set.examples.config.input_chain == InputChain()
    both = len(load_dataset(f"urmp:{corpus}", "train")) + len(load_dataset(f"urmp:{other}", "train"))
    assert len(data.train_set.examples.tracks) == both


def test_checkpoints_by_wall_time_as_well(configs):
    import yaml

    callbacks = yaml.safe_load((configs / "base.yaml").read_text())["trainer"]["callbacks"]
    timed = [c["init_args"] for c in callbacks if "train_time_interval" in c.get("init_args", {})]
    assert timed == [{"filename": "timed-{step}", "train_time_interval": "0:10:00"}]


def test_training_mixtures_can_arrive_as_real_inputs_do(cell_args, tmp_path):
    from vcsep.datasets.augment import InputChain

    chain = '{"band_limit": 1.0, "rates": [4000], "codec": 0.0, "level_db": [0.0, 0.0]}'
    cli = train_main(
        [*cell_args(tmp_path / "run"), "--data.input_chain", chain, "--trainer.fast_dev_run", "true"]
    )
    data = cli.datamodule
    assert data.train_set.examples.config.input_chain == InputChain(
        band_limit=1.0, rates=(4000,), codec=0.0, level_db=(0.0, 0.0)
    )
    assert data.val_set.examples.config.input_chain is None  # validation stays clean
    example = data.train_set[0]
    spectrum = lambda x: np.abs(np.fft.rfft(np.asarray(x).reshape(-1, np.asarray(x).shape[-1]).sum(0)))  # noqa: E731
    n = example["targets"].shape[-1]
    context = (example["mixture"].shape[-1] - n) // 2
    high = np.fft.rfftfreq(n, 1 / 8000) > 2200  # above the 4 kHz rate's Nyquist
    heard = spectrum(example["mixture"][..., context : context + n])[high]
    clean = spectrum(example["targets"].sum(0))[high]
    assert (heard**2).sum() < 1e-2 * (clean**2).sum()  # the mixture lost its top, the targets kept it
