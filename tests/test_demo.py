"""`vcsep demo`: a held-out piece of the models' corpus, separated and scored against its stems."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from vcsep import vocab
from vcsep.cli import main
from vcsep.datasets.synth import SynthSettings
from vcsep.datasets.synth.corpus import plan_corpus, split_titles
from vcsep.demo import held_out_piece, run_demo
from vcsep.fusion.checkpoint import save_checkpoint
from vcsep.fusion.separator import ConditionedSeparator

TINY = {"levels": 2, "features": 4, "sample_rate": 8000}
CORPUS = SynthSettings(seed=3, size=(160, 90), max_seconds=2.0)
PIECES = 8


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """A tiny separator (no detector) and the record of an 8-piece corpus of 2 s pieces."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    save_checkpoint(ConditionedSeparator("film", "bottleneck", **TINY), folder / "separator.pt")
    record = {"settings": {"seed": CORPUS.seed, "size": list(CORPUS.size), "max_seconds": CORPUS.max_seconds}}
    record["pieces"] = [{} for _ in range(PIECES)]
    (folder / "corpus.json").write_text(json.dumps(record))
    return folder


def test_held_out_piece_is_a_test_piece_of_the_models_corpus(models, tmp_path):
    plans = plan_corpus(PIECES, CORPUS.seed)
    split = split_titles(plans, CORPUS.seed)
    tests = {p.name.folder: p for p in plans if split[p.name.title] == "test"}
    assert tests, "the 8-piece corpus should hold test pieces"
    folder = held_out_piece(models, tmp_path)
    assert folder.name in tests
    assert len(folder.name.split("_")) - 2 == max(len(p.name.codes) for p in tests.values())
    with pytest.raises(ValueError, match="not a held-out piece"):
        held_out_piece(models, tmp_path, number=999)
    with pytest.raises(FileNotFoundError, match="corpus.json"):
        held_out_piece(tmp_path, tmp_path)


def test_run_demo_scores_every_true_instrument(models, tmp_path):
    result = run_demo(tmp_path, models)
    truth = result.truth
    assert truth and set(result.scores) == set(truth)
    # the instruments come from the shipped sight and sound (the tiny models folder has none of its
    # own): every separated true instrument is scored, a missed one is reported as NaN, not dropped
    separated = set(result.separation.instruments)
    assert separated & set(truth)
    for code in truth:
        finite = [math.isfinite(result.scores[code][m]) for m in ("SDR", "SDRi", "SI-SDR")]
        assert all(finite) if code in separated else not any(finite)
    lines = result.table().splitlines()
    assert len(lines) == 2 + len(truth) and lines[-1].startswith("median")
    names = [vocab.BY_CODE[c].name for c in truth]
    assert all(line.split()[0] in " ".join(names) for line in lines[1:-1])
    # the stems written decode, at the video's rate, as long as the mixture
    mix, rate = sf.read(result.separation.files["mixture"], dtype="float32")
    for code in separated:
        stem, stem_rate = sf.read(result.separation.files[code], dtype="float32")
        assert stem_rate == rate and stem.shape == mix.shape and np.isfinite(stem).all()


def test_cli_demo_prints_sdr_and_the_page(models, tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--models", str(models)]) == 0
    printed = capsys.readouterr().out
    assert "SDR dB" in printed and "median" in printed
    assert str(tmp_path / "separated" / "index.html") in printed
    assert (tmp_path / "separated" / "index.html").is_file()


def test_cli_demo_without_models_says_how_to_build_them(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--models", str(tmp_path / "none")]) == 2
    assert "make models" in capsys.readouterr().err


def test_an_instrument_the_labels_miss_is_reported_as_missed(models, tmp_path, monkeypatch):
    from vcsep.datasets.urmp_names import PieceName
    from vcsep.pipeline import Separator

    separate_video = Separator.separate_video

    def labels_missing_the_last(self, video, instruments=None, **kwargs):
        codes = list(dict.fromkeys(PieceName.parse(Path(video).parent.name).codes))
        return separate_video(self, video, codes[:-1], **kwargs)

    monkeypatch.setattr(Separator, "separate_video", labels_missing_the_last)
    result = run_demo(tmp_path, models)
    missed = list(dict.fromkeys(result.truth))[-1]
    assert missed not in result.separation.instruments
    assert all(math.isnan(v) for v in result.scores[missed].values())
    assert all(math.isfinite(result.scores[c]["SDR"]) for c in result.separation.instruments)
    row = next(line for line in result.table().splitlines() if line.startswith(vocab.BY_CODE[missed].name))
    assert row.split()[-4:] == ["no", "nan", "nan", "nan"]
