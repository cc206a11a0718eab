"""Wave-U-Net (Stoller, Ewert & Dixon 2018): a time-domain U-Net with valid convolutions.

Layout of a model with ``L`` levels and ``F`` base features (``F = 24``, ``L = 12`` in the paper):

- encoder level ``i`` (0..L-1): valid conv (``down_kernel``) to ``F*(i+1)`` features, LeakyReLU(0.2);
  the full-rate result is kept as the skip, then every second sample is dropped (decimation);
- bottleneck: valid conv (``down_kernel``) to ``F*(L+1)`` features;
- decoder level ``i`` (L-1..0): upsample by 2 (``2n-1`` samples, linear or learned interpolation),
  crop the skip of level ``i`` to the same length (centre crop), concatenate, valid conv
  (``up_kernel``) to ``F*(i+1)`` features;
- output: concatenate the (centre-cropped) mixture, then one 1x1 conv per source (never one layer
  shared by all sources) with tanh; ``difference`` output estimates K-1 sources this way and the
  last one as the mixture minus their sum, so the stems always add up to the mixture.

Every map is centred on the input, and map element ``k`` of a map of ``n`` samples at level ``l``
sits at input sample ``(L_in - 1)/2 + (k - (n - 1)/2) * 2**l``. Output sample ``j`` is the centre of
input samples ``j .. j + context``. Because of decimation the network is shift-equivariant for
shifts by ``2**levels`` samples only: windows that should give identical outputs must start at
multiples of ``2**levels`` (long-audio inference relies on this).

Conditioning (:mod:`vcsep.fusion`) attaches through ``forward(mix, condition=hook)``: the hook sees
the map at each conditioning point and returns it, possibly with ``extra_channels`` more channels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

UPSAMPLING = ("linear", "learned")
OUTPUTS = ("direct", "difference")
# Where a conditioner may see (and change) the feature maps; see WaveUNet.features_at.
POINTS = ("input", "bottleneck", "decoder", "output")
NEGATIVE_SLOPE = 0.2  # LeakyReLU slope of the paper (TensorFlow's default)
IM2COL_MAX = 64  # input channels * kernel up to which a convolution runs as one matmul

Hook = Callable[[str, int, Tensor], Tensor]


def _lengths(bottleneck: int, levels: int, down_kernel: int, up_kernel: int) -> tuple[int, int]:
    """(input length, output length) of a network whose bottleneck conv outputs ``bottleneck`` samples."""
    length_in = bottleneck + down_kernel - 1
    length_out = bottleneck
    for _ in range(levels):
        length_in = 2 * length_in - 1 + down_kernel - 1
        length_out = 2 * length_out - 1 - (up_kernel - 1)
    return length_in, length_out


def valid_shapes(
    output_length: int, levels: int = 12, down_kernel: int = 15, up_kernel: int = 5
) -> tuple[int, int]:
    """Smallest valid (input length, output length), in samples, with output length >= ``output_length``.

    Valid lengths step by ``2**levels``: 12 levels and 16384 requested give (147443, 16389).
    """
    if output_length < 1:
        raise ValueError(f"requested output length must be >= 1 sample, got {output_length}")
    _, offset = _lengths(0, levels, down_kernel, up_kernel)
    step = 2**levels
    # Output length is offset + step * bottleneck; any bottleneck >= 1 with output >= 1 is valid.
    bottleneck = max(1, -((offset - output_length) // step))
    return _lengths(bottleneck, levels, down_kernel, up_kernel)


def map_positions(input_length: int, map_length: int, level: int, factor: int = 2) -> Tensor:
    """Input-sample index (float64 ``[map_length]``) at the centre of each element of a map at ``level``.

    Every map is centred on the input and has a stride of ``factor**level`` input samples (``factor``
    is the network's downsampling per level: 2 for the Wave-U-Net, 4 for the Demucs-style net).
    """
    offsets = torch.arange(map_length, dtype=torch.float64) - (map_length - 1) / 2
    return (input_length - 1) / 2 + offsets * factor**level


def labels_at(frames: Tensor, span: int, positions: Tensor) -> Tensor:
    """Values of a frame track at sample positions: ``[..., T]`` -> ``[..., n]``.

    The ``T`` frames cover ``span`` samples evenly (frame ``t`` covers samples ``[t, t+1) * span/T``)
    and hold their value at their centre; between centres the value is linear, beyond the first and
    last centre it is held. ``positions`` ``[n]`` are (fractional) sample indices into the span.
    """
    count = frames.shape[-1]
    where = ((positions.to(torch.float64) + 0.5) * (count / span) - 0.5).clamp(0, count - 1)
    low = where.floor().long().clamp(max=max(count - 2, 0))
    high = (low + 1).clamp(max=count - 1)
    share = (where - low).to(device=frames.device, dtype=frames.dtype)
    low, high = low.to(frames.device), high.to(frames.device)
    return torch.lerp(frames[..., low], frames[..., high], share)


def _channels_last(x: Tensor) -> Tensor:
    """``x [B, F, n]`` with channels-last strides (a no-op when it already has them)."""
    return x.transpose(1, 2).contiguous().transpose(1, 2)


def _conv(x: Tensor, weight: Tensor, bias: Tensor | None, act: bool = True) -> Tensor:
    """Valid conv (+ LeakyReLU): ``[B, F_in, n]``, weight ``[F_out, F_in, k]`` -> ``[B, F_out, n-k+1]``.

    Maps are channels-last ([B, n, F] in memory): oneDNN's CPU convolutions run 1.5-2.5x faster on
    that layout, and cuDNN supports it too.
    """
    k = weight.shape[-1]
    if x.shape[1] * k <= IM2COL_MAX:
        # A mono or stereo mixture has too few channels for oneDNN's blocking; a matmul over
        # [B, n', F_in*k] windows is several times faster and writes channels-last directly.
        cols = _channels_last(x).transpose(1, 2).unfold(1, k, 1).flatten(2)
        y = cols @ weight.flatten(1).T
        y = (y if bias is None else y.add_(bias)).transpose(1, 2)
    else:
        y = F.conv2d(_channels_last(x).unsqueeze(2), weight.unsqueeze(2), bias).squeeze(2)
    return F.leaky_relu(y, NEGATIVE_SLOPE, inplace=True) if act else y


def upsample_conv(
    x: Tensor, skip: Tensor, weight: Tensor, bias: Tensor, share: float | Tensor = 0.5
) -> Tensor:
    """One decoder level: LeakyReLU(conv(concat(upsample(x), skip))), without the upsampled map.

    ``x [B, F_u, n]`` is upsampled to ``2n-1`` samples: every sample kept, and between each pair
    ``share * left + (1 - share) * right`` (``share`` 0.5 for linear interpolation, or ``[F_u]`` per
    channel for learned upsampling). ``skip`` is ``[B, F_s, 2n-1]``, ``weight`` ``[F_o, F_u + F_s, k]``
    (odd ``k``); the result is ``[B, F_o, 2n-k]``.

    Why polyphase: the upsampled map is linear in ``x``, so the even outputs are a ``(k+1)/2``-tap
    and the odd outputs a ``(k+3)/2``-tap convolution of ``x`` itself. That costs 7 instead of 10
    tap-samples per pair of outputs (k=5) and never writes the upsampled map or the concatenation.
    """
    fu = x.shape[1]
    w_up, w_skip = weight[:, :fu], weight[:, fu:]
    if isinstance(share, Tensor):
        share = share[:, None]
    # A new sample weighs its left neighbour by share and its right one by 1 - share.
    w_left, w_right = w_up * share, w_up * (1 - share)
    even = w_up[..., 0::2] + F.pad(w_left[..., 1::2], (0, 1)) + F.pad(w_right[..., 1::2], (1, 0))
    odd = F.pad(w_left[..., 0::2], (0, 1)) + F.pad(w_right[..., 0::2], (1, 0))
    odd = odd + F.pad(w_up[..., 1::2], (1, 1))
    y = _conv(skip, w_skip, bias, act=False)
    y[..., 0::2] += _conv(x, _channels_last(even), None, act=False)
    y[..., 1::2] += _conv(x, _channels_last(odd), None, act=False)
    return F.leaky_relu(y, NEGATIVE_SLOPE, inplace=True)


def _cat(*maps: Tensor) -> Tensor:
    """Concatenate ``[B, F_i, n]`` maps along features into one channels-last ``[B, sum F_i, n]`` map."""
    return torch.cat([m.transpose(1, 2) for m in maps], dim=2).transpose(1, 2)


def centre_crop(x: Tensor, length: int) -> Tensor:
    """Centre ``length`` samples of ``x [..., n]`` (``n - length`` must be even: maps stay centred)."""
    diff = x.shape[-1] - length
    if diff < 0 or diff % 2:
        raise ValueError(f"cannot centre-crop {x.shape[-1]} samples to {length}")
    return x[..., diff // 2 : diff // 2 + length]


def check_head_args(
    num_sources: int, output: str, extra_channels: Mapping[str, int] | None
) -> dict[str, int]:
    """Validate the arguments every waveform U-Net shares; the extra channels at each of :data:`POINTS`."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    if num_sources < (2 if output == "difference" else 1):
        raise ValueError(f"{output} output needs more sources than {num_sources}")
    extra = dict(extra_channels or {})
    unknown = set(extra) - set(POINTS)
    if unknown:
        raise ValueError(f"unknown conditioning points {sorted(unknown)}; known: {POINTS}")
    return {p: extra.get(p, 0) for p in POINTS}


class WaveformUNet(nn.Module):
    """What the conditioned separator and long-audio inference rely on in a waveform U-Net.

    A subclass sets ``num_sources``, ``channels``, ``levels``, ``sample_rate``, ``output``,
    ``extra_channels``, ``factor`` (downsampling per level) and ``heads`` (one conv per source), and
    defines ``shapes``, ``step``, ``features_at``, ``consumers`` and ``forward``. Its maps are centred
    on the input, the map at ``level`` with a stride of ``factor**level`` samples.
    """

    factor = 2
    heads: nn.ModuleList

    def shapes(self, output_length: int) -> tuple[int, int]:
        raise NotImplementedError

    @property
    def step(self) -> int:
        raise NotImplementedError

    @property
    def context(self) -> int:
        """Input samples beyond the output samples (half on each side): ``L_in - L_out``."""
        length_in, length_out = self.shapes(1)
        return length_in - length_out

    def positions(self, input_length: int, map_length: int, level: int) -> Tensor:
        """Input-sample index (float64 ``[map_length]``) at the centre of each element of a ``level`` map."""
        return map_positions(input_length, map_length, level, self.factor)

    def check_input(self, mix: Tensor) -> None:
        """Raise a ValueError that says what is wrong unless ``mix`` is a valid ``[B, C, L_in]`` batch."""
        if mix.dim() != 3:
            raise ValueError(f"mixture must be [batch, channels, samples], got shape {tuple(mix.shape)}")
        if mix.shape[1] != self.channels:
            raise ValueError(f"model expects {self.channels} channel(s), the mixture has {mix.shape[1]}")
        smallest, _ = self.shapes(1)
        if mix.shape[2] < smallest or (mix.shape[2] - smallest) % self.step:
            raise ValueError(
                f"mixture length {mix.shape[2]} is not a valid input length; valid lengths are "
                f"{smallest} + n*{self.step} (use {type(self).__name__}.shapes(output_length))"
            )

    def separate_heads(self, x: Tensor, mix_crop: Tensor) -> Tensor:
        """Stems ``[B, K, C, n]`` from the output map ``x [B, F, n]`` (mixture included) and the mixture
        ``mix_crop [B, C, n]``: one tanh conv per head, plus mixture minus their sum for ``difference``."""
        # The heads stay separate parameters; one conv over their stacked weights is the same maths.
        weight = torch.cat([h.weight for h in self.heads])
        bias = torch.cat([h.bias for h in self.heads])
        y = torch.tanh(_conv(x, weight, bias, act=False)).unflatten(1, (len(self.heads), self.channels))
        if self.output == "difference":
            y = torch.cat([y, (mix_crop - y.sum(dim=1))[:, None]], dim=1)
        return y


class WaveUNet(WaveformUNet):
    """Wave-U-Net separator: mixture ``[B, C, L_in]`` -> stems ``[B, K, C, L_out]`` (same units).

    Args:
        num_sources: K, the number of output slots.
        channels: C, 1 (mono) or 2 (stereo); mixture and stems share it.
        levels: number of encoder (and decoder) levels; lengths step by ``2**levels`` samples.
        features: base feature count F; level ``i`` has ``F*(i+1)``, the bottleneck ``F*(levels+1)``.
        down_kernel, up_kernel: encoder (and bottleneck) and decoder kernel sizes, odd.
        sample_rate: the rate (Hz) the model is trained at; inference resamples to it.
        upsampling: ``linear`` or ``learned`` interpolation.
        output: ``direct`` (K tanh heads) or ``difference`` (K-1 heads, last = mixture - sum).
        extra_channels: channels a conditioner appends at a point of :data:`POINTS` (concat
            conditioning); the layers that consume that point are sized for them.
    """

    def __init__(
        self,
        num_sources: int,
        channels: int = 1,
        levels: int = 12,
        features: int = 24,
        down_kernel: int = 15,
        up_kernel: int = 5,
        sample_rate: int = 22050,
        upsampling: str = "linear",
        output: str = "direct",
        extra_channels: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        if upsampling not in UPSAMPLING:
            raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {upsampling!r}")
        if down_kernel % 2 == 0 or up_kernel % 2 == 0:
            raise ValueError(f"kernel sizes must be odd (maps stay centred), got {down_kernel}, {up_kernel}")
        if channels < 1 or levels < 1 or features < 1 or sample_rate < 1:
            raise ValueError("channels, levels, features and sample_rate must be positive")
        self.extra_channels = check_head_args(num_sources, output, extra_channels)
        self.num_sources, self.channels, self.levels, self.features = num_sources, channels, levels, features
        self.down_kernel, self.up_kernel, self.sample_rate = down_kernel, up_kernel, sample_rate
        self.upsampling, self.output = upsampling, output
        e = self.extra_channels

        self.down = nn.ModuleList(
            nn.Conv1d(channels + e["input"] if i == 0 else features * i, features * (i + 1), down_kernel)
            for i in range(levels)
        )
        self.bottleneck = nn.Conv1d(features * levels, features * (levels + 1), down_kernel)
        # up[i] is decoder level i; it upsamples the map coming from level i+1 (or the bottleneck).
        upsampled = [features * (i + 2) + (e["bottleneck"] if i == levels - 1 else e["decoder"])
                     for i in range(levels)]
        self.up = nn.ModuleList(
            nn.Conv1d(upsampled[i] + features * (i + 1), features * (i + 1), up_kernel) for i in range(levels)
        )
        # Learned upsampling starts as linear interpolation (weight 0 -> share 0.5).
        self.up_weight = None
        if upsampling == "learned":
            self.up_weight = nn.ParameterList(nn.Parameter(torch.zeros(f)) for f in upsampled)
        head_in = features + e["decoder"] + channels + e["output"]
        heads = num_sources - 1 if output == "difference" else num_sources
        self.heads = nn.ModuleList(nn.Conv1d(head_in, channels, 1) for _ in range(heads))
        for module in self.modules():
            if isinstance(module, nn.Conv1d):
                # Stored [F_out, k, F_in] in memory, matching the channels-last maps, so that no
                # convolution reorders its weights on every call.
                module.weight.data = _channels_last(module.weight.data)

    def shapes(self, output_length: int) -> tuple[int, int]:
        """(input length, exact output length) in samples for at least ``output_length`` outputs."""
        return valid_shapes(output_length, self.levels, self.down_kernel, self.up_kernel)

    @property
    def step(self) -> int:
        """Valid lengths, and shift-equivariant window offsets, come in steps of this many samples."""
        return 2**self.levels

    def features_at(self, point: str, level: int = 0) -> int:
        """Channels of the map a conditioner sees at ``point`` (decoder: at decoder ``level``)."""
        if point == "input":
            return self.channels
        if point == "bottleneck":
            return self.features * (self.levels + 1)
        if point == "decoder":
            return self.features * (level + 1)
        if point == "output":
            return self.features + self.extra_channels["decoder"] + self.channels
        raise ValueError(f"unknown conditioning point {point!r}; known: {POINTS}")

    def consumers(self, point: str) -> list[nn.Conv1d]:
        """The convs that read the map at ``point`` (their last ``extra_channels`` inputs come from there)."""
        if point == "input":
            return [self.down[0]]
        if point == "bottleneck":
            return [self.up[-1]]
        if point == "decoder":
            return [*self.up[:-1], *self.heads]
        if point == "output":
            return list(self.heads)
        raise ValueError(f"unknown conditioning point {point!r}; known: {POINTS}")

    def forward(self, mix: Tensor, condition: Hook | None = None) -> Tensor:
        """Separate ``mix [B, C, L_in]`` into stems ``[B, K, C, L_out]``.

        ``condition(point, level, x)`` is called with each map ``x [B, F, n]`` at every point of
        :data:`POINTS` (decoder: once per level, deepest first) and returns the map to use.
        """
        self.check_input(mix)
        hook = condition or (lambda point, level, x: x)
        x = hook("input", 0, mix)
        skips = []
        for layer in self.down:
            x = _conv(x, layer.weight, layer.bias)
            skips.append(x)
            x = x[..., ::2]
        x = hook("bottleneck", self.levels, _conv(x, self.bottleneck.weight, self.bottleneck.bias))
        for i in reversed(range(self.levels)):
            skip = centre_crop(skips[i], 2 * x.shape[-1] - 1)
            share = 0.5 if self.up_weight is None else torch.sigmoid(self.up_weight[i])
            x = hook("decoder", i, upsample_conv(x, skip, self.up[i].weight, self.up[i].bias, share))
        mix_crop = centre_crop(mix, x.shape[-1])
        return self.separate_heads(hook("output", 0, _cat(x, mix_crop)), mix_crop)
