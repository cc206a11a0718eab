import pytest
import torch

from vcsep.audio.waveunet import WaveUNet, labels_at, map_positions, upsample_conv, valid_shapes

TINY = dict(num_sources=3, channels=1, levels=3, features=4, down_kernel=5, up_kernel=3)


def test_paper_shapes():
    assert valid_shapes(16384) == (147443, 16389)
    assert WaveUNet(13).shapes(16384) == (147443, 16389)


@pytest.mark.parametrize(
    "levels, down_kernel, up_kernel, request_len",
    [(3, 5, 3, 1), (3, 5, 3, 100), (4, 15, 5, 1000), (5, 7, 5, 33), (2, 3, 3, 8)],
)
def test_shapes_match_the_network_and_are_minimal(levels, down_kernel, up_kernel, request_len):
    length_in, length_out = valid_shapes(request_len, levels, down_kernel, up_kernel)
    assert length_out >= request_len
    model = WaveUNet(num_sources=2, levels=levels, features=3, down_kernel=down_kernel, up_kernel=up_kernel)
    with torch.no_grad():
        y = model(torch.randn(1, 1, length_in))
    assert y.shape == (1, 2, 1, length_out)
    assert model.context == length_in - length_out
    # Valid lengths step by 2**levels: one more requested sample needs the next size.
    if length_out > request_len:
        smaller = length_out - 2**levels
        assert smaller < request_len
    bigger = valid_shapes(length_out + 1, levels, down_kernel, up_kernel)
    assert bigger == (length_in + 2**levels, length_out + 2**levels)


def test_shapes_reject_nonpositive_request():
    with pytest.raises(ValueError, match=">= 1"):
        valid_shapes(0)


@pytest.mark.parametrize("channels", [1, 2])
def test_difference_output_sums_to_the_mixture(channels):
    torch.manual_seed(0)
    model = WaveUNet(**{**TINY, "channels": channels}, output="difference", upsampling="learned")
    length_in, length_out = model.shapes(40)
    mix = torch.randn(2, channels, length_in) * 0.3
    with torch.no_grad():
        stems = model(mix)
    assert stems.shape == (2, 3, channels, length_out)
    crop = (length_in - length_out) // 2
    torch.testing.assert_close(stems.sum(dim=1), mix[..., crop : crop + length_out], atol=1e-6, rtol=0)


def test_one_head_per_source_and_they_differ():
    torch.manual_seed(0)
    model = WaveUNet(**TINY)
    assert len(model.heads) == 3
    assert len({id(h.weight) for h in model.heads}) == 3
    with torch.no_grad():
        stems = model(torch.randn(1, 1, model.shapes(30)[0]))
    assert not torch.allclose(stems[:, 0], stems[:, 1])
    assert not torch.allclose(stems[:, 1], stems[:, 2])
    # Changing one head's weights changes that source only.
    mix = torch.randn(1, 1, model.shapes(30)[0])
    with torch.no_grad():
        before = model(mix)
        model.heads[1].weight.add_(0.5)
        after = model(mix)
    assert not torch.allclose(after[:, 1], before[:, 1])
    torch.testing.assert_close(after[:, [0, 2]], before[:, [0, 2]])


def test_learned_upsampling_starts_linear():
    torch.manual_seed(0)
    linear, learned = WaveUNet(**TINY), WaveUNet(**TINY, upsampling="learned")
    learned.load_state_dict(linear.state_dict(), strict=False)
    mix = torch.randn(1, 1, linear.shapes(20)[0])
    with torch.no_grad():
        torch.testing.assert_close(learned(mix), linear(mix))
        learned.up_weight[0].fill_(3.0)
        assert not torch.allclose(learned(mix), linear(mix))


def _upsample_reference(x, share):
    """Upsampling written out sample by sample: [B, F, n] -> [B, F, 2n-1]."""
    out = torch.zeros(x.shape[0], x.shape[1], 2 * x.shape[-1] - 1, dtype=x.dtype)
    out[..., ::2] = x
    for m in range(x.shape[-1] - 1):
        out[..., 2 * m + 1] = share * x[..., m] + (1 - share) * x[..., m + 1]
    return out


@pytest.mark.parametrize("k", [3, 5, 7])
@pytest.mark.parametrize("learned", [False, True])
def test_polyphase_decoder_level_equals_upsample_concat_conv(k, learned):
    torch.manual_seed(0)
    x, skip = torch.randn(2, 6, 20), torch.randn(2, 4, 39)
    weight, bias = torch.randn(5, 10, k), torch.randn(5)
    share = torch.rand(6) if learned else 0.5
    expected = torch.nn.functional.conv1d(torch.cat([_upsample_reference(x, share), skip], 1), weight, bias)
    expected = torch.nn.functional.leaky_relu(expected, 0.2)
    got = upsample_conv(x, skip, weight, bias, share)
    assert got.shape == (2, 5, 40 - k)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_map_positions_are_centred_with_the_level_stride():
    pos = map_positions(input_length=101, map_length=5, level=2)
    assert pos.tolist() == [42.0, 46.0, 50.0, 54.0, 58.0]


def test_frames_at_interpolates_between_frame_centres():
    frames = torch.tensor([[0.0, 1.0]])  # two frames over 10 samples: centres at samples 2 and 7
    got = labels_at(frames, 10, torch.tensor([0.0, 2.0, 4.5, 7.0, 9.0]))
    torch.testing.assert_close(got, torch.tensor([[0.0, 0.0, 0.5, 1.0, 1.0]]), atol=1e-6, rtol=0)


def test_bad_input_gives_clear_errors():
    model = WaveUNet(**TINY)
    length_in = model.shapes(10)[0]
    with pytest.raises(ValueError, match="channel"):
        model(torch.zeros(1, 2, length_in))
    with pytest.raises(ValueError, match="not a valid input length"):
        model(torch.zeros(1, 1, length_in + 1))
    with pytest.raises(ValueError, match=r"\[batch, channels, samples\]"):
        model(torch.zeros(1, length_in))
    with pytest.raises(ValueError, match="upsampling"):
        WaveUNet(13, upsampling="nearest")
    with pytest.raises(ValueError, match="odd"):
        WaveUNet(13, down_kernel=4)
