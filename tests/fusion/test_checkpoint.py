import pytest
import torch

from vcsep.fusion import ConditionedSeparator, load_separator, read_checkpoint, save_checkpoint

TINY = dict(num_sources=3, channels=1, levels=3, features=4, down_kernel=5, up_kernel=3, sample_rate=8000)


@pytest.mark.parametrize("mechanism, location", [("concat", "decoder"), ("film", "bottleneck"), (None, None)])
def test_round_trip_rebuilds_the_same_model(tmp_path, mechanism, location):
    torch.manual_seed(0)
    model = ConditionedSeparator(mechanism, location, upsampling="learned", output="difference", **TINY)
    path = save_checkpoint(model, tmp_path / "sep.pt", epoch=7, metrics={"sdr": 4.5})
    assert [p.name for p in tmp_path.iterdir()] == ["sep.pt"]  # no temporary file left behind

    loaded = load_separator(path, expect={"num_sources": 3, "sample_rate": 8000})
    assert loaded.config == model.config
    assert read_checkpoint(path)["extra"] == {"epoch": 7, "metrics": {"sdr": 4.5}}
    mix = torch.randn(2, 1, model.shapes(20)[0])
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(mix, labels), model(mix, labels), rtol=0, atol=0)


def test_mismatched_configuration_is_refused(tmp_path):
    path = save_checkpoint(ConditionedSeparator("film", "output", **TINY), tmp_path / "sep.pt")
    with pytest.raises(ValueError, match=r"num_sources: checkpoint has 3, expected 13.*sample_rate"):
        load_separator(path, expect={"num_sources": 13, "sample_rate": 22050, "channels": 1})


def test_other_format_version_is_refused(tmp_path):
    path = save_checkpoint(ConditionedSeparator(**TINY), tmp_path / "sep.pt")
    payload = torch.load(path, weights_only=True)
    payload["version"] = 99
    torch.save(payload, path)
    with pytest.raises(ValueError, match="version 99"):
        load_separator(path)


def test_foreign_files_are_refused(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(3)}, plain)
    with pytest.raises(ValueError, match="not a vcsep separator checkpoint"):
        load_separator(plain)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt"):
        load_separator(garbage)


def test_weights_that_do_not_fit_are_refused(tmp_path):
    path = save_checkpoint(ConditionedSeparator(**TINY), tmp_path / "sep.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"]["features"] = 5
    torch.save(payload, path)
    with pytest.raises(ValueError, match="do not fit"):
        load_separator(path)
