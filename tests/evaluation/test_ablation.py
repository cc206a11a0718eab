"""The ablation runner end to end on two tiny cells: training, reuse, table, plots, report."""

from __future__ import annotations

import soundfile as sf
import torch

from vcsep.cli import main
from vcsep.evaluation.ablation import run_ablation

# two steps are enough to train, export, evaluate and report
TRAIN = ["--trainer.max_steps", "2", "--data.train_examples", "4"]


def test_ablation_two_cells_end_to_end(urmp_corpus, configs, tiny_train_args, tmp_path, capsys):
    train_args = [*tiny_train_args, *TRAIN]
    overrides = tmp_path / "overrides"  # one cell changes more than its mechanism and location
    overrides.mkdir()
    override = "model:\n  separator:\n    init_args: {upsampling: learned}\n"
    (overrides / "film_decoder.yaml").write_text(override)
    out = tmp_path / "study"
    cells = ["baseline", "film_decoder"]
    index = run_ablation(
        f"urmp:{urmp_corpus}", out, configs / "base.yaml", cells, overrides, train_args=train_args
    )
    table = (out / "results.md").read_text()
    assert "baseline" in table and "film_decoder" in table
    assert len((out / "results.csv").read_text().strip().splitlines()) >= 3
    html = index.read_text()
    assert index == out / "report" / "index.html"
    assert html.count("<audio") >= 4 and "<img" in html
    config = torch.load(out / "runs" / "film_decoder" / "separator.pt", weights_only=True)["config"]
    assert (config["mechanism"], config["location"], config["upsampling"]) == ("film", "decoder", "learned")
    for cell in cells:
        separator = out / "runs" / cell / "separator.pt"
        assert separator.is_file() and (out / "cells" / cell).is_dir()
        audio, rate = sf.read(out / "examples" / cell / "mixture.wav")
        assert rate == 8000 and len(audio) == 3 * 8000  # the whole 3 s track (examples are <= 4 s)
    # a second run reuses the trained cells instead of training them again
    stamp = (out / "runs" / "baseline" / "separator.pt").stat().st_mtime_ns
    assert (
        main(
            [
                "ablate",
                "--cells",
                "baseline,film_decoder",
                "--overrides",
                str(overrides),
                "--base",
                str(configs / "base.yaml"),
                "--data",
                f"urmp:{urmp_corpus}",
                "--out",
                str(out),
                "--train-args",
                *train_args,
            ]
        )
        == 0
    )
    assert (out / "runs" / "baseline" / "separator.pt").stat().st_mtime_ns == stamp
    assert "report:" in capsys.readouterr().out
    assert (
        main(
            [
                "ablate",
                "--cells",
                "baseline,telepathy_input",
                "--data",
                f"urmp:{urmp_corpus}",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "unknown ablation cells ['telepathy_input']" in capsys.readouterr().err
