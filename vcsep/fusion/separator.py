"""The conditioned separator: a waveform U-Net plus one conditioning mechanism at one location.

The U-Net is the seeds' Wave-U-Net (``architecture="waveunet"``, the default, the ablations' model)
or a Demucs-v2-style net (``"demucs"``, :class:`~vcsep.audio.demucs.DemucsUNet`). Locations (their
conditioning points): ``input`` (the mixture before the first conv), ``bottleneck`` (the deepest
map), ``decoder`` (the output of every decoder level, one conditioning layer per level) and
``output`` (the features and mixture entering the per-source output convs).
``ConditionedSeparator(None, None)`` (or ``'none'``) is the unconditioned baseline.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from vcsep.audio.demucs import DemucsUNet
from vcsep.audio.waveunet import WaveUNet, labels_at
from vcsep.fusion.capture import capture_init
from vcsep.fusion.mechanisms import MECHANISM_CLASSES, MECHANISMS
from vcsep.fusion.visual import VisualHead
from vcsep.vocab import VOCABULARIES

LOCATIONS: tuple[str, ...] = ("input", "bottleneck", "output", "decoder")
ARCHITECTURES: tuple[str, ...] = ("waveunet", "demucs")
# The cells of the conditioning ablation: the unconditioned baseline and every mechanism at every
# location. A new mechanism or location is a new cell without any config file.
CELLS: dict[str, tuple[str | None, str | None]] = {
    "baseline": (None, None),
    **{f"{m}_{loc}": (m, loc) for m in MECHANISMS for loc in LOCATIONS},
}


def _none(name: str | None) -> str | None:
    return None if name in (None, "none") else name


def resolve_sources(sources: str | Sequence[str]) -> tuple[str, ...]:
    """The ordered source codes of ``sources``: a vocabulary name (``"urmp"``, ``"musdb4"``...) or the
    codes themselves; a ValueError for an unknown name, duplicates or an empty list."""
    if isinstance(sources, str):
        if sources not in VOCABULARIES:
            raise ValueError(f"unknown vocabulary {sources!r}; known: {', '.join(VOCABULARIES)}")
        return VOCABULARIES[sources].codes
    codes = tuple(str(c) for c in sources)
    if not codes or len(set(codes)) != len(codes):
        raise ValueError(f"sources must be distinct codes, at least one, got {list(codes)}")
    return codes


@capture_init
class ConditionedSeparator(nn.Module):
    """Waveform U-Net conditioned on source labels: mixture ``[B, C, L_in]`` -> stems ``[B, K, C, L_out]``.

    Args:
        mechanism: one of :data:`MECHANISMS`, or None / ``'none'`` for the baseline.
        location: one of :data:`LOCATIONS`, or None / ``'none'`` for the baseline.
        sources: the output slots in order (K = their number): a vocabulary name of
            :data:`vcsep.vocab.VOCABULARIES` or a list of codes. The model keeps them as ``sources``
            and a checkpoint stores them, so every consumer names stems from the model itself.
        visual_hidden: with a width, a :class:`~vcsep.fusion.visual.VisualHead` of that many hidden
            units maps detector presence to the labels (:meth:`labels_from_presence`).
        channels, levels, features, down_kernel, up_kernel, sample_rate, upsampling, output: the
            :class:`~vcsep.audio.waveunet.WaveUNet`'s.
        architecture: ``"waveunet"`` or ``"demucs"``. The Demucs-style net takes ``channels``,
            ``levels`` (5 is a good start: a bottleneck stride of 1024 samples), ``features`` (its
            base channels, doubling per level), ``sample_rate``, ``output`` and ``lstm_layers``; it
            has no use for ``down_kernel``, ``up_kernel`` and ``upsampling`` (kernel 8 stride 4
            convs, transposed convs up) and refuses values other than their defaults.
        lstm_layers: BiLSTM layers at the Demucs-style net's bottleneck (0: none); the Wave-U-Net
            has none and refuses other values than the default.
    """

    def __init__(
        self,
        mechanism: str | None = None,
        location: str | None = None,
        sources: str | Sequence[str] = "urmp",
        visual_hidden: int | None = None,
        channels: int = 1,
        levels: int = 12,
        features: int = 24,
        down_kernel: int = 15,
        up_kernel: int = 5,
        sample_rate: int = 22050,
        upsampling: str = "linear",
        output: str = "direct",
        architecture: str = "waveunet",
        lstm_layers: int = 2,
    ) -> None:
        super().__init__()
        mechanism, location = _none(mechanism), _none(location)
        if (mechanism is None) != (location is None):
            raise ValueError(
                f"give both a mechanism and a location, or neither (baseline): {mechanism!r}, {location!r}"
            )
        if mechanism is not None and mechanism not in MECHANISMS:
            raise ValueError(f"unknown mechanism {mechanism!r}; known: {', '.join(MECHANISMS)}")
        if location is not None and location not in LOCATIONS:
            raise ValueError(f"unknown location {location!r}; known: {', '.join(LOCATIONS)}")
        self.mechanism, self.location = mechanism, location
        self.sources = resolve_sources(sources)
        num_labels = len(self.sources)
        kind = MECHANISM_CLASSES[mechanism] if mechanism else None
        extra = {location: kind.extra_channels(num_labels)} if kind else {}
        if architecture == "waveunet":
            if lstm_layers != 2:
                raise ValueError("lstm_layers belongs to the demucs architecture; the Wave-U-Net has no LSTM")
            self.unet: WaveUNet | DemucsUNet = WaveUNet(
                len(self.sources), channels, levels, features, down_kernel, up_kernel, sample_rate,
                upsampling, output, extra_channels=extra,
            )
        elif architecture == "demucs":
            wave_only = {"down_kernel": (down_kernel, 15), "up_kernel": (up_kernel, 5),
                         "upsampling": (upsampling, "linear")}
            wrong = [name for name, (value, default) in wave_only.items() if value != default]
            if wrong:
                raise ValueError(f"{', '.join(wrong)} belong to the waveunet architecture, not to demucs")
            self.unet = DemucsUNet(
                len(self.sources), channels, levels, features, sample_rate, output, lstm_layers,
                extra_channels=extra,
            )
        else:
            raise ValueError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
        self.architecture = architecture
        if mechanism is None:
            levels_conditioned: list[int] = []
        elif location == "decoder":
            levels_conditioned = list(range(self.unet.levels))  # conditioners[i] belongs to decoder level i
        else:
            levels_conditioned = [0]
        self.conditioners = nn.ModuleList(
            kind(num_labels, self.unet.features_at(location, lvl)) for lvl in levels_conditioned
        )
        self.visual_head = VisualHead(num_labels, visual_hidden) if visual_hidden else None

    @property
    def config(self) -> dict:
        """Constructor arguments (plain values) that rebuild the model; ``sources`` as explicit codes."""
        return {**self.init_args, "sources": list(self.sources)}

    @property
    def num_sources(self) -> int:
        return self.unet.num_sources

    @property
    def sample_rate(self) -> int:
        return self.unet.sample_rate

    @property
    def channels(self) -> int:
        return self.unet.channels

    @property
    def step(self) -> int:
        return self.unet.step

    def shapes(self, output_length: int) -> tuple[int, int]:
        """(input length, exact output length) in samples for at least ``output_length`` outputs."""
        return self.unet.shapes(output_length)

    def conditioning_parameters(self) -> list[nn.Parameter]:
        """Parameters that read the labels: the mechanism's own, or, for a mechanism that appends
        label channels (concat), the weights of the convolutions that consume them."""
        if self.location is not None and self.unet.extra_channels[self.location]:
            return [conv.weight for conv in self.unet.consumers(self.location)]
        return list(self.conditioners.parameters())

    def labels_from_presence(self, presence: Tensor) -> tuple[Tensor, Tensor | None]:
        """What the separator is told from detector presence ``[B, K]`` in [0, 1]: through the visual
        head when the model has one (labels ``[B, K]``, logits ``[B, K]``), else the presence itself
        (logits None)."""
        if self.visual_head is None:
            return presence, None
        if presence.dim() != 2:
            raise ValueError(f"the visual head reads clip presence [B, K], got {tuple(presence.shape)}")
        logits = self.visual_head(presence)
        return torch.sigmoid(logits), logits

    def check_labels(self, labels: Tensor, batch: int) -> None:
        """Raise a ValueError that says what is wrong unless ``labels`` is ``[B, K]`` or ``[B, K, T]``."""
        k = self.num_sources
        if labels.dim() not in (2, 3) or labels.shape[:2] != (batch, k) or labels.shape[-1] == 0:
            raise ValueError(
                f"labels must be [batch={batch}, K={k}] or [batch, K, frames>0], got {tuple(labels.shape)}"
            )
        if not torch.isfinite(labels).all():
            raise ValueError("labels contain NaN or infinite values")

    def forward(self, mix: Tensor, labels: Tensor | None = None) -> Tensor:
        """Separate ``mix [B, C, L_in]`` into stems ``[B, K, C, L_out]``.

        ``labels`` are presence values per slot (multi-hot or probabilities in [0, 1]): clip-level
        ``[B, K]``, or time-varying ``[B, K, T]`` with ``T`` frames spread evenly over the input
        window (resampled to each conditioned map's own time positions). The baseline ignores them.
        """
        if self.mechanism is None:
            return self.unet(mix)
        if labels is None:
            raise ValueError(f"the {self.mechanism} separator at {self.location} needs labels")
        self.check_labels(labels, mix.shape[0])
        length_in = mix.shape[-1]

        def condition(point: str, level: int, x: Tensor) -> Tensor:
            if point != self.location:
                return x
            layer = self.conditioners[level if point == "decoder" else 0]
            if labels.dim() == 2:
                z = labels[:, :, None]
            else:
                z = labels_at(labels, length_in, self.unet.positions(length_in, x.shape[-1], level))
            return layer(x, z)

        return self.unet(mix, condition=condition)
