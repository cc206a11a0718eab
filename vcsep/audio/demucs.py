"""A Demucs-v2-style waveform U-Net (Défossez, Usunier, Bottou & Bach 2019), written from the paper.

Layout of a model with ``L`` levels and ``F`` base channels (level ``i`` has ``c_i = F * 2**i``):

- encoder level ``i`` (0..L-1): conv kernel 8 stride 4 (no padding) to ``c_i`` channels, ReLU, then a
  1x1 conv to ``2 c_i`` and a GLU (back to ``c_i``); the result is kept as the skip;
- bottleneck: a bidirectional LSTM (``lstm_layers`` layers, ``c_{L-1}`` hidden units per direction)
  and a linear layer back to ``c_{L-1}`` channels (``lstm_layers=0``: none);
- decoder level ``i`` (L-1..0): add the skip of encoder level ``i`` (centre-cropped), conv kernel 3
  (valid) to ``2 c_i`` and a GLU, then a transposed conv kernel 8 stride 4 to ``c_{i-1}`` channels
  (level 0: ``F`` channels at the full rate) and a ReLU;
- output: concatenate the (centre-cropped) mixture, then one 1x1 conv per source (never one layer
  shared by all sources), ``direct`` or ``difference`` as :class:`~vcsep.audio.waveunet.WaveUNet`.

Conv and transposed-conv weights start rescaled as the paper does (std brought towards 0.1).

What differs from the paper, and why:

- Valid lengths, no padding anywhere: each transposed conv drops the 4 samples at each end that only
  one input reached, so every map holds only complete samples, is centred on the input and map
  element ``k`` of a map of ``n`` at level ``l`` sits at input sample ``(L_in - 1)/2 + (k - (n-1)/2) *
  4**l``. The network is then a function of a bounded neighbourhood, as the Wave-U-Net is, and
  long-audio inference in windows gives the same samples as one pass.
- The BiLSTM reads its sequence in chunks: ``lstm_chunk`` bottleneck steps at a time plus
  ``lstm_context`` steps of context on each side (kept out of its output), the chunks tiling the
  bottleneck map from its start. A BiLSTM over the whole window would make every output sample
  depend on where the window starts and ends; with chunks, windows that start ``lstm_chunk * 4**L``
  samples apart (:attr:`step`) see the same chunks. At 5 levels and 22050 Hz a chunk is 0.37 s, its
  context 0.19 s on each side.
- No normalisation of the mixture by its standard deviation (a per-window statistic: windows would
  disagree), no 2x upsampling of the input (CPU cost), and one conv per source at the end.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vcsep.audio.waveunet import POINTS, Hook, WaveformUNet, _cat, centre_crop, check_head_args

KERNEL, STRIDE = 8, 4  # the paper's encoder conv and decoder transposed conv
CONTEXT_KERNEL = 3  # the decoder's conv before each transposed conv
TRIM = KERNEL - STRIDE  # samples at each end of a transposed conv that only one input reached
RESCALE = 0.1  # the paper's reference std for the initial conv weights


def _rescale(conv: nn.Module, reference: float = RESCALE) -> None:
    """Divide a conv's initial weight and bias by ``sqrt(std(weight) / reference)`` (the paper's)."""
    with torch.no_grad():
        scale = (conv.weight.std() / reference) ** 0.5
        conv.weight.div_(scale)
        if conv.bias is not None:
            conv.bias.div_(scale)


class ChunkedBLSTM(nn.Module):
    """BiLSTM over ``[B, F, n]`` in chunks: ``[B, F, chunk*m + 2*context]`` -> ``[B, F, chunk*m]``.

    Chunk ``j`` reads map elements ``[j*chunk, (j+1)*chunk + 2*context)`` and returns its middle
    ``chunk``; a linear layer maps the two directions back to ``F`` channels.
    """

    def __init__(self, features: int, layers: int, chunk: int, context: int) -> None:
        super().__init__()
        self.chunk, self.context = chunk, context
        self.lstm = nn.LSTM(features, features, layers, batch_first=True, bidirectional=True)
        self.linear = nn.Linear(2 * features, features)

    def forward(self, x: Tensor) -> Tensor:
        b, f, n = x.shape
        m = (n - 2 * self.context) // self.chunk
        segments = x.unfold(2, self.chunk + 2 * self.context, self.chunk)  # [B, F, m, chunk + 2 context]
        segments = segments.permute(0, 2, 3, 1).reshape(b * m, -1, f)
        y, _ = self.lstm(segments)
        y = self.linear(y[:, self.context : self.context + self.chunk])  # [B*m, chunk, F]
        return y.reshape(b, m * self.chunk, f).transpose(1, 2)


class DemucsUNet(WaveformUNet):
    """Demucs-v2-style separator: mixture ``[B, C, L_in]`` -> stems ``[B, K, C, L_out]`` (same units).

    The same interface as :class:`~vcsep.audio.waveunet.WaveUNet` (``shapes``, ``step``,
    ``features_at``, ``consumers``, ``positions``, ``forward(mix, condition=hook)``), so the
    conditioned separator and long-audio inference use either.

    Args:
        num_sources: K, the number of output slots.
        channels: C, 1 (mono) or 2 (stereo); mixture and stems share it.
        levels: encoder (and decoder) levels; the bottleneck has a stride of ``4**levels`` samples.
        features: base channels F; level ``i`` has ``F * 2**i``.
        sample_rate: the rate (Hz) the model is trained at; inference resamples to it.
        output: ``direct`` (K tanh heads) or ``difference`` (K-1 heads, last = mixture - sum).
        lstm_layers: BiLSTM layers at the bottleneck (2 in the paper; 0 for none).
        lstm_chunk, lstm_context: bottleneck steps per LSTM chunk, and of context on each side.
        extra_channels: channels a conditioner appends at a point of :data:`POINTS`.
    """

    factor = STRIDE

    def __init__(
        self,
        num_sources: int,
        channels: int = 1,
        levels: int = 5,
        features: int = 24,
        sample_rate: int = 22050,
        output: str = "direct",
        lstm_layers: int = 2,
        lstm_chunk: int = 8,
        lstm_context: int = 4,
        extra_channels: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        if channels < 1 or levels < 1 or features < 1 or sample_rate < 1:
            raise ValueError("channels, levels, features and sample_rate must be positive")
        if levels > 8:
            raise ValueError(f"levels {levels} give a bottleneck stride of 4**{levels} samples; use <= 8")
        if lstm_layers < 0 or lstm_chunk < 1 or lstm_context < 0:
            raise ValueError("lstm_layers and lstm_context must be >= 0, lstm_chunk >= 1")
        self.extra_channels = check_head_args(num_sources, output, extra_channels)
        self.num_sources, self.channels, self.levels, self.features = num_sources, channels, levels, features
        self.sample_rate, self.output, self.lstm_layers = sample_rate, output, lstm_layers
        # Without an LSTM the bottleneck is a plain conv map: shift-equivariant by one element.
        self.lstm_chunk, self.lstm_context = (lstm_chunk, lstm_context) if lstm_layers else (1, 0)
        e = self.extra_channels
        width = [features * 2**i for i in range(levels)]  # c_i
        below = [channels + e["input"], *width[:-1]]  # what encoder level i reads

        self.encoder = nn.ModuleList(
            nn.ModuleDict({"conv": nn.Conv1d(below[i], width[i], KERNEL, STRIDE),
                           "rewrite": nn.Conv1d(width[i], 2 * width[i], 1)})
            for i in range(levels)
        )
        self.lstm = (
            ChunkedBLSTM(width[-1], lstm_layers, self.lstm_chunk, self.lstm_context) if lstm_layers else None
        )
        # decoder[i] is decoder level i: it reads the map from level i+1 (or the bottleneck).
        incoming = [width[i] + (e["bottleneck"] if i == levels - 1 else e["decoder"]) for i in range(levels)]
        above = [features, *width[:-1]]  # what decoder level i writes
        self.decoder = nn.ModuleList(
            nn.ModuleDict({"rewrite": nn.Conv1d(incoming[i], 2 * width[i], CONTEXT_KERNEL),
                           "conv_tr": nn.ConvTranspose1d(width[i], above[i], KERNEL, STRIDE)})
            for i in range(levels)
        )
        head_in = features + e["decoder"] + channels + e["output"]
        heads = num_sources - 1 if output == "difference" else num_sources
        self.heads = nn.ModuleList(nn.Conv1d(head_in, channels, 1) for _ in range(heads))
        for module in self.modules():
            if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
                _rescale(module)

    def _lengths(self, chunks: int) -> tuple[int, int]:
        """(input length, output length) of a window whose LSTM reads ``chunks`` chunks."""
        length_in = self.lstm_chunk * chunks + 2 * self.lstm_context
        length_out = self.lstm_chunk * chunks
        for _ in range(self.levels):
            length_in = STRIDE * (length_in - 1) + KERNEL
            length_out = STRIDE * (length_out - CONTEXT_KERNEL + 1) - TRIM
        return length_in, length_out

    def shapes(self, output_length: int) -> tuple[int, int]:
        """(input length, exact output length) in samples for at least ``output_length`` outputs.

        Both step by :attr:`step`; 5 levels, chunks of 8 and 4 steps of context give (30036, 16388)
        for 16384 requested (13648 samples of context, 0.62 s at 22050 Hz).
        """
        if output_length < 1:
            raise ValueError(f"requested output length must be >= 1 sample, got {output_length}")
        _, offset = self._lengths(0)
        # Every decoder level needs at least one sample after its kernel-3 conv and trims.
        chunks = max(1, -((offset - output_length) // self.step))
        while self._lengths(chunks)[1] < 1 or min(self._decoder_lengths(chunks)) < CONTEXT_KERNEL:
            chunks += 1
        return self._lengths(chunks)

    def _decoder_lengths(self, chunks: int) -> list[int]:
        """Lengths of the maps entering decoder levels L-1..0 for ``chunks`` LSTM chunks."""
        lengths = [self.lstm_chunk * chunks]
        for _ in range(self.levels - 1):
            lengths.append(STRIDE * (lengths[-1] - CONTEXT_KERNEL + 1) - TRIM)
        return lengths

    @property
    def step(self) -> int:
        """Valid lengths, and shift-equivariant window offsets, come in steps of this many samples:
        one LSTM chunk at the bottleneck."""
        return self.lstm_chunk * STRIDE**self.levels

    def features_at(self, point: str, level: int = 0) -> int:
        """Channels of the map a conditioner sees at ``point`` (decoder: at decoder ``level``)."""
        if point == "input":
            return self.channels
        if point == "bottleneck":
            return self.features * 2 ** (self.levels - 1)
        if point == "decoder":
            return self.features * 2 ** max(level - 1, 0)
        if point == "output":
            return self.features + self.extra_channels["decoder"] + self.channels
        raise ValueError(f"unknown conditioning point {point!r}; known: {POINTS}")

    def consumers(self, point: str) -> list[nn.Conv1d]:
        """The convs that read the map at ``point`` (their last ``extra_channels`` inputs come from there)."""
        if point == "input":
            return [self.encoder[0]["conv"]]
        if point == "bottleneck":
            return [self.decoder[-1]["rewrite"]]
        if point == "decoder":
            return [*(level["rewrite"] for level in self.decoder[:-1]), *self.heads]
        if point == "output":
            return list(self.heads)
        raise ValueError(f"unknown conditioning point {point!r}; known: {POINTS}")

    def forward(self, mix: Tensor, condition: Hook | None = None) -> Tensor:
        """Separate ``mix [B, C, L_in]`` into stems ``[B, K, C, L_out]``.

        ``condition(point, level, x)`` is called with each map ``x [B, F, n]`` at every point of
        :data:`POINTS` (decoder: once per level, deepest first; bottleneck at level ``levels``) and
        returns the map to use.
        """
        self.check_input(mix)
        hook = condition or (lambda point, level, x: x)
        x = hook("input", 0, mix)
        skips = []
        for level in self.encoder:
            x = F.relu(level["conv"](x))
            x = F.glu(level["rewrite"](x), dim=1)
            skips.append(x)
        if self.lstm is not None:
            x = self.lstm(x)
        x = hook("bottleneck", self.levels, x)
        for i in reversed(range(self.levels)):
            skip = centre_crop(skips[i], x.shape[-1])
            # Label channels a concat conditioner appended pass beside the skip sum.
            f = skip.shape[1]
            x = x + skip if x.shape[1] == f else _cat(x[:, :f] + skip, x[:, f:])
            x = F.glu(self.decoder[i]["rewrite"](x), dim=1)
            x = F.relu(self.decoder[i]["conv_tr"](x)[..., TRIM:-TRIM])
            x = hook("decoder", i, x)
        mix_crop = centre_crop(mix, x.shape[-1])
        return self.separate_heads(hook("output", 0, _cat(x, mix_crop)), mix_crop)
