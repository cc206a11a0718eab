import pytest
import torch

from vcsep.fusion import LOCATIONS, MECHANISMS, ConditionedSeparator

TINY = dict(
    sources=("a", "b", "c"), channels=2, levels=3, features=4, down_kernel=5, up_kernel=3, sample_rate=8000
)
CONFIGS = [(m, loc) for m in MECHANISMS for loc in LOCATIONS] + [(None, None)]


def test_all_16_combinations_and_the_baseline():
    assert len(MECHANISMS) == 4 and len(LOCATIONS) == 4 and len(CONFIGS) == 17


@pytest.mark.parametrize("mechanism, location", CONFIGS)
def test_forward_backward_and_label_sensitivity(mechanism, location):
    torch.manual_seed(0)
    model = ConditionedSeparator(mechanism, location, **TINY)
    count = sum(p.numel() for p in model.parameters())
    length_in, length_out = model.shapes(40)
    mix = torch.randn(2, 2, length_in) * 0.3
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])

    stems = model(mix, labels)
    assert stems.shape == (2, 3, 2, length_out)
    stems.square().mean().backward()
    # Every parameter exists at construction: none appeared during the forward pass.
    assert sum(p.numel() for p in model.parameters()) == count
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())

    with torch.no_grad():
        other = model(mix, 1 - labels)
    if mechanism is None:
        torch.testing.assert_close(other, stems.detach())
        assert model.conditioning_parameters() == []
        return
    assert (other - stems).abs().max() > 1e-4
    params = model.conditioning_parameters()
    assert params
    for p in params:
        grad = p.grad[:, -3:] if mechanism == "concat" else p.grad  # concat: the label input channels
        assert grad.abs().sum() > 0


@pytest.mark.parametrize(
    "mechanism, location", [("film", "decoder"), ("concat", "output"), ("additive", "input")]
)
def test_time_varying_labels(mechanism, location):
    torch.manual_seed(0)
    model = ConditionedSeparator(mechanism, location, **TINY)
    mix = torch.randn(1, 2, model.shapes(200)[0]) * 0.3
    clip = torch.tensor([[1.0, 0.0, 0.5]])
    with torch.no_grad():
        # A constant track is the clip-level label.
        torch.testing.assert_close(model(mix, clip[:, :, None].expand(1, 3, 9)), model(mix, clip))
        # Switching an instrument on late in the window changes the late output, not the early output.
        track = clip[:, :, None].repeat(1, 1, 40)
        track[:, 1, 30:] = 1.0
        diff = (model(mix, track) - model(mix, clip)).abs().amax(dim=(0, 1, 2))
    n = diff.shape[-1]
    assert diff[: n // 4].max() == 0
    assert diff[-n // 8 :].max() > 1e-5


def test_label_errors():
    model = ConditionedSeparator("film", "bottleneck", **TINY)
    mix = torch.zeros(2, 2, model.shapes(10)[0])
    with pytest.raises(ValueError, match="needs labels"):
        model(mix)
    with pytest.raises(ValueError, match=r"K=3"):
        model(mix, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="batch=2"):
        model(mix, torch.zeros(1, 3))
    with pytest.raises(ValueError, match="NaN"):
        model(mix, torch.full((2, 3), float("nan")))


def test_construction_errors():
    with pytest.raises(ValueError, match="both"):
        ConditionedSeparator("film", None, **TINY)
    with pytest.raises(ValueError, match="unknown mechanism"):
        ConditionedSeparator("gated", "input", **TINY)
    with pytest.raises(ValueError, match="unknown location"):
        ConditionedSeparator("film", "encoder", **TINY)
    baseline = ConditionedSeparator("none", "none", **TINY)
    assert baseline.mechanism is None and baseline.location is None


def test_decoder_location_conditions_every_level():
    model = ConditionedSeparator("film", "decoder", **TINY)
    assert [layer.features for layer in model.conditioners] == [4, 8, 12]
