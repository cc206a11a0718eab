import pytest
import torch

from vcsep.audio.demucs import DemucsUNet

TINY = dict(num_sources=3, channels=1, levels=2, features=4, lstm_layers=1)


def test_the_issue_size_and_its_training_window():
    # 5 levels of 24 base channels and a 2-layer BiLSTM: the 9.4 M parameters of the issue's estimate.
    model = DemucsUNet(13, levels=5, features=24)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 9.4
    assert model.step == 8 * 4**5
    assert model.shapes(16384) == (34132, 20484)
    assert model.context == 13648  # 2 x 4 LSTM steps of 1024 samples, and the convolutions' own


@pytest.mark.parametrize(
    "levels, lstm_layers, request_len", [(1, 1, 1), (2, 1, 100), (2, 0, 1), (3, 0, 333), (3, 2, 700)]
)
def test_shapes_match_the_network_and_are_minimal(levels, lstm_layers, request_len):
    model = DemucsUNet(2, levels=levels, features=3, lstm_layers=lstm_layers)
    length_in, length_out = model.shapes(request_len)
    assert length_out >= request_len
    with torch.no_grad():
        y = model(torch.randn(1, 1, length_in))
    assert y.shape == (1, 2, 1, length_out)
    # Valid lengths step by model.step: one more requested sample needs the next size.
    assert model.shapes(length_out + 1) == (length_in + model.step, length_out + model.step)
    assert length_out - model.step < request_len or model.shapes(length_out - model.step)[1] > length_out
    with pytest.raises(ValueError, match="not a valid input length"):
        model(torch.zeros(1, 1, length_in + 4))


@pytest.mark.parametrize("lstm_layers", [0, 1])
def test_windows_a_step_apart_give_the_same_samples(lstm_layers):
    """Shift-equivariance by ``step``: the LSTM chunks and the strided convs line up again."""
    torch.manual_seed(0)
    model = DemucsUNet(**{**TINY, "lstm_layers": lstm_layers})
    length_in, length_out = model.shapes(300)
    audio = torch.randn(1, 1, length_in + model.step) * 0.3
    with torch.no_grad():
        whole = model(audio)
        first, second = model(audio[..., :length_in]), model(audio[..., model.step :])
    assert whole.shape[-1] == length_out + model.step
    torch.testing.assert_close(first, whole[..., :length_out], atol=1e-6, rtol=0)
    torch.testing.assert_close(second, whole[..., model.step :], atol=1e-6, rtol=0)


def test_maps_are_centred_with_the_level_stride():
    """A change at one input sample moves the bottleneck map around ``positions``' element for it."""
    torch.manual_seed(0)
    model = DemucsUNet(**{**TINY, "lstm_layers": 0})
    length_in, _ = model.shapes(2000)
    mix = torch.randn(1, 1, length_in) * 0.3
    seen = {}

    def spy(point, level, x):
        seen.setdefault(point, []).append(x)
        return x

    with torch.no_grad():
        model(mix, spy)
        before = seen.pop("bottleneck")[0]
        changed = mix.clone()
        changed[..., 1000] += 1.0
        model(changed, spy)
    moved = (seen["bottleneck"][0] - before).abs().amax(dim=(0, 1)).nonzero().flatten()
    positions = model.positions(length_in, before.shape[-1], model.levels)
    # The elements that moved are those whose receptive field (8 + 7 * 4 = 36 samples) holds sample 1000.
    assert positions[moved].min() <= 1000 <= positions[moved].max()
    assert (positions[moved] - 1000).abs().max() < 36 / 2


@pytest.mark.parametrize("channels", [1, 2])
def test_difference_output_sums_to_the_mixture_and_heads_are_per_source(channels):
    torch.manual_seed(0)
    model = DemucsUNet(**{**TINY, "channels": channels}, output="difference")
    assert len(model.heads) == 2 and len({id(h.weight) for h in model.heads}) == 2
    length_in, length_out = model.shapes(40)
    mix = torch.randn(2, channels, length_in) * 0.3
    with torch.no_grad():
        stems = model(mix)
        model.heads[1].weight.add_(0.5)
        after = model(mix)
    assert stems.shape == (2, 3, channels, length_out)
    crop = (length_in - length_out) // 2
    torch.testing.assert_close(stems.sum(dim=1), mix[..., crop : crop + length_out], atol=1e-6, rtol=0)
    torch.testing.assert_close(after[:, 0], stems[:, 0])  # changing one head changes that source only
    assert not torch.allclose(after[:, 1], stems[:, 1])


def test_bf16_autocast_trains_on_cpu():
    torch.manual_seed(0)
    model = DemucsUNet(**TINY)
    mix = torch.randn(2, 1, model.shapes(500)[0]) * 0.3
    with torch.autocast("cpu", torch.bfloat16):
        stems = model(mix)
    stems.float().abs().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ValueError, match="output must be one of"):
        DemucsUNet(3, output="masks")
    with pytest.raises(ValueError, match="use <= 8"):
        DemucsUNet(3, levels=9)
    with pytest.raises(ValueError, match="unknown conditioning points"):
        DemucsUNet(3, extra_channels={"encoder": 3})
    with pytest.raises(ValueError, match=">= 1 sample"):
        DemucsUNet(**TINY).shapes(0)
    with pytest.raises(ValueError, match="channel"):
        DemucsUNet(**TINY)(torch.zeros(1, 2, DemucsUNet(**TINY).shapes(10)[0]))
