import pytest
import torch

from vcsep.fusion import LOCATIONS, MECHANISMS, ConditionedSeparator

TINY = dict(
    sources=("a", "b", "c"), channels=2, levels=3, features=4, down_kernel=5, up_kernel=3, sample_rate=8000
)
# The Demucs-style net at the same scale (levels of stride 4: a 64-sample bottleneck stride).
TINY_DEMUCS = dict(sources=("a", "b", "c"), channels=2, levels=3, features=4, sample_rate=8000,
                   architecture="demucs", lstm_layers=1)
CONFIGS = [(m, loc) for m in MECHANISMS for loc in LOCATIONS] + [(None, None)]
TINIES = {"waveunet": TINY, "demucs": TINY_DEMUCS}


def test_all_16_combinations_and_the_baseline():
    assert len(MECHANISMS) == 4 and len(LOCATIONS) == 4 and len(CONFIGS) == 17


@pytest.mark.parametrize("architecture", TINIES)
@pytest.mark.parametrize("mechanism, location", CONFIGS)
def test_forward_backward_and_label_sensitivity(mechanism, location, architecture):
    torch.manual_seed(0)
    model = ConditionedSeparator(mechanism, location, **TINIES[architecture])
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
    # The paper's initial weight rescaling keeps the Demucs-style net's deep maps quiet at first.
    assert (other - stems).abs().max() > (1e-4 if architecture == "waveunet" else 1e-5)
    params = model.conditioning_parameters()
    assert params
    for p in params:
        grad = p.grad[:, -3:] if mechanism == "concat" else p.grad  # concat: the label input channels
        assert grad.abs().sum() > 0


@pytest.mark.parametrize("architecture", TINIES)
@pytest.mark.parametrize(
    "mechanism, location",
    [("film", "decoder"), ("concat", "output"), ("additive", "input"), ("multiplicative", "bottleneck")],
)
def test_time_varying_labels(mechanism, location, architecture):
    torch.manual_seed(0)
    model = ConditionedSeparator(mechanism, location, **TINIES[architecture])
    # Long enough that the first quarter of the output lies beyond the reach of a late label change
    # (the Demucs-style net's BiLSTM chunks reach 1024 samples at its bottleneck).
    mix = torch.randn(1, 2, model.shapes(200 if architecture == "waveunet" else 6000)[0]) * 0.3
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
    # Demucs-style: decoder level i writes the channels of encoder level i-1 (level 0: the base).
    model = ConditionedSeparator("film", "decoder", **TINY_DEMUCS)
    assert [layer.features for layer in model.conditioners] == [4, 4, 8]


def test_architecture_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown architecture 'tasnet'"):
        ConditionedSeparator(**{**TINY_DEMUCS, "architecture": "tasnet"})
    with pytest.raises(ValueError, match="down_kernel, upsampling belong to the waveunet"):
        ConditionedSeparator(**TINY_DEMUCS, down_kernel=5, upsampling="learned")
    with pytest.raises(ValueError, match="lstm_layers belongs to the demucs"):
        ConditionedSeparator(**TINY, lstm_layers=1)
    # Checkpoints of the Wave-U-Net written before the option existed build the same model.
    assert ConditionedSeparator(**TINY).architecture == "waveunet"
