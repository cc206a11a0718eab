import pytest
import torch

from vcsep.fusion import ConditionedSeparator, load_separator, read_checkpoint, save_checkpoint

TINY = dict(
    sources=("a", "b", "c"), channels=1, levels=3, features=4, down_kernel=5, up_kernel=3, sample_rate=8000
)


@pytest.mark.parametrize("mechanism, location", [("concat", "decoder"), ("film", "bottleneck"), (None, None)])
def test_round_trip_rebuilds_the_same_model(tmp_path, mechanism, location):
    torch.manual_seed(0)
    model = ConditionedSeparator(mechanism, location, upsampling="learned", output="difference", **TINY)
    path = save_checkpoint(model, tmp_path / "sep.pt", epoch=7, metrics={"sdr": 4.5})
    assert [p.name for p in tmp_path.iterdir()] == ["sep.pt"]  # no temporary file left behind

    loaded = load_separator(path, expect={"sources": ["a", "b", "c"], "sample_rate": 8000})
    assert loaded.sources == ("a", "b", "c")
    assert loaded.config == model.config
    assert read_checkpoint(path)["extra"] == {"epoch": 7, "metrics": {"sdr": 4.5}}
    mix = torch.randn(2, 1, model.shapes(20)[0])
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(mix, labels), model(mix, labels), rtol=0, atol=0)


@pytest.mark.parametrize("mechanism, location", [("concat", "bottleneck"), ("film", "decoder")])
def test_round_trip_of_the_demucs_style_separator(tmp_path, mechanism, location):
    torch.manual_seed(0)
    model = ConditionedSeparator(
        mechanism, location, sources=("a", "b", "c"), levels=2, features=4, sample_rate=8000,
        output="difference", architecture="demucs", lstm_layers=1,
    )
    path = save_checkpoint(model, tmp_path / "sep.pt")
    loaded = load_separator(path, expect={"architecture": "demucs"})
    assert loaded.config == model.config and loaded.config["lstm_layers"] == 1
    mix = torch.randn(2, 1, model.shapes(300)[0])
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(mix, labels), model(mix, labels), rtol=0, atol=0)


def test_mismatched_configuration_is_refused(tmp_path):
    path = save_checkpoint(ConditionedSeparator("film", "output", **TINY), tmp_path / "sep.pt")
    wrong = r"sources: checkpoint has \['a', 'b', 'c'\], expected \['vn'\].*sample_rate"
    with pytest.raises(ValueError, match=wrong):
        load_separator(path, expect={"sources": ["vn"], "sample_rate": 22050, "channels": 1})


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


def _payload(tmp_path):
    path = save_checkpoint(ConditionedSeparator("film", "input", **TINY), tmp_path / "sep.pt")
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p["config"].update(telepathy=True), r"config has unknown keys \['telepathy'\]"),
        (lambda p: p.pop("state_dict"), "no state_dict"),
        (lambda p: p.update(config=["film"]), "config must be a dict, found list"),
        (lambda p: p.update(state_dict={"w": 3}), "state_dict must map parameter names to tensors"),
        (lambda p: p["config"].update(levels="three"), "the stored config does not build a separator"),
    ],
)
def test_malformed_checkpoints_are_refused_with_what_is_wrong(tmp_path, damage, message):
    payload = _payload(tmp_path)
    damage(payload)
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=message) as info:
        load_separator(tmp_path / "bad.pt")
    assert str(tmp_path / "bad.pt") in str(info.value)


class _Planted:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_pickle_with_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"format": "vcsep.separator", "payload": _Planted(str(marker))}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="refused") as info:
        load_separator(tmp_path / "evil.pt")
    assert not marker.exists()
    assert "weights_only=False" not in str(info.value)  # no advice to take the unsafe path
    with pytest.raises(IsADirectoryError, match="is a folder"):
        load_separator(tmp_path)


def test_the_visual_head_is_part_of_the_model_and_its_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = ConditionedSeparator("film", "bottleneck", visual_hidden=8, **TINY)
    path = save_checkpoint(model, tmp_path / "sep.pt")
    loaded = load_separator(path)
    assert loaded.visual_head is not None and loaded.config["visual_hidden"] == 8
    presence = torch.tensor([[0.9, 0.2, 0.6]])
    with torch.no_grad():
        labels, logits = loaded.labels_from_presence(presence)
        torch.testing.assert_close(labels, torch.sigmoid(model.visual_head(presence)))
    assert logits.shape == (1, 3) and ((labels > 0) & (labels < 1)).all()
    plain = ConditionedSeparator("film", "bottleneck", **TINY)
    assert plain.labels_from_presence(presence) == (presence, None)


def test_constructor_arguments_are_captured_with_their_defaults():
    model = ConditionedSeparator("concat", "output", sources="musdb4", levels=2, features=3)
    assert model.init_args["levels"] == 2 and model.init_args["down_kernel"] == 15
    assert model.config["sources"] == ["vocals", "drums", "bass", "other"]
    assert ConditionedSeparator(**model.config).config == model.config
    with pytest.raises(ValueError, match="distinct codes"):
        ConditionedSeparator(sources=["vn", "vn"])
    with pytest.raises(ValueError, match="unknown vocabulary 'kazoos'"):
        ConditionedSeparator(sources="kazoos")
