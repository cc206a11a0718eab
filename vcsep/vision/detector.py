"""The instrument detector: an ultralytics YOLO model run on sampled video frames.

Importing this module applies ultralytics' offline settings (see :func:`configure_ultralytics_offline`)
before ultralytics itself is imported, so nothing ever tries to reach the network: weights come from
a path, fonts from matplotlib, and no requirement is auto-installed.

The detector's class names are mapped to the 13 instrument slots of :mod:`vcsep.vocab`: built in for
Open Images V7 names (``vocab.OIV7_TO_CODE``) and for detectors whose class names are the vocabulary
codes themselves (the synthetic detector of :mod:`vcsep.vision.train`); a YAML file can override it.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from vcsep import vocab
from vcsep.files import atomic_path, copy_file
from vcsep.vision.video import SampledFrame

NO_SLOT = -1


def cache_root() -> Path:
    """vcsep's cache folder: ``$VCSEP_CACHE_DIR``, else ``$XDG_CACHE_HOME/vcsep``, else ``~/.cache/vcsep``."""
    if env := os.environ.get("VCSEP_CACHE_DIR"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vcsep"


def configure_ultralytics_offline() -> Path:
    """Make ultralytics work without network; returns its config folder.

    Sets ``YOLO_OFFLINE=1`` (no online checks), ``YOLO_AUTOINSTALL=0`` (no pip installs) and
    ``YOLO_CONFIG_DIR`` (default ``<cache_root>/ultralytics``), each only where the user has not set
    it, always ``ULTRALYTICS_SAFE_LOAD=1`` (weights are loaded with ``torch.load(weights_only=True)``
    and a known-class allow-list, never unpickled freely: see :func:`safe_ultralytics`), and puts
    an ``Arial.ttf`` (matplotlib's DejaVuSans) in the ``Ultralytics`` subfolder of that dir, where
    ultralytics looks for it (it downloads the font for its plots otherwise). Must run before
    ultralytics is imported, which reads these at import; this module runs it on import.
    """
    if "ultralytics" in sys.modules:
        warnings.warn(
            "ultralytics was imported before vcsep.vision.detector: its offline settings may not apply",
            stacklevel=2,
        )
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")
    # Not a default the user may turn off: without it ultralytics unpickles weights with
    # weights_only=False, and a weights file runs any code it likes when loaded.
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
    config_dir = Path(os.environ.setdefault("YOLO_CONFIG_DIR", str(cache_root() / "ultralytics")))
    font_dir = config_dir / "Ultralytics"
    font_dir.mkdir(parents=True, exist_ok=True)
    from matplotlib import get_data_path

    dejavu = Path(get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        target = font_dir / name
        if not target.exists():
            copy_file(dejavu, target)
    return config_dir


configure_ultralytics_offline()


def safe_ultralytics():
    """The ``ultralytics.YOLO`` class, with its safe (weights-only) loading switched on.

    ultralytics reads ``ULTRALYTICS_SAFE_LOAD`` once, when it is imported; when something imported it
    before this module could set the variable, the flag is set on the loader's module directly, so
    no weights file is ever unpickled with ``weights_only=False`` by vcsep.
    """
    import ultralytics.nn.tasks as tasks
    from ultralytics import YOLO

    tasks.SAFE_LOAD = True
    return YOLO


def builtin_class_map(names: Iterable[str]) -> dict[str, str]:
    """Detector class name -> instrument code for the names vcsep knows (OIV7 names, vocab codes)."""
    known = {**vocab.OIV7_TO_CODE, **{code: code for code in vocab.CODES}}
    return {name: known[name] for name in names if name in known}


def load_class_map(path: str | Path) -> dict[str, str | None]:
    """Read a YAML mapping ``detector class name: instrument code`` (``null``: the class maps to no slot)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: cannot read the class map ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(
            f"{path}: a class map must be a mapping 'class name: code', got {type(data).__name__}"
        )
    for name, code in data.items():
        if code is not None and code not in vocab.CODES:
            raise ValueError(
                f"{path}: class {name!r} maps to unknown code {code!r}; known codes: {', '.join(vocab.CODES)}"
            )
    return {str(name): code for name, code in data.items()}


def class_slots(
    names: Mapping[int, str], override: Mapping[str, str | None] | str | Path | None = None
) -> np.ndarray:
    """Slot of each detector class: int64 ``[n_classes]``, ``NO_SLOT`` (-1) for non-instrument classes.

    ``names`` is the detector's ``{class id: name}``; ``override`` (a mapping or a YAML file, see
    :func:`load_class_map`) is applied over :func:`builtin_class_map`.
    """
    mapping: dict[str, str | None] = dict(builtin_class_map(names.values()))
    if override is not None:
        mapping.update(override if isinstance(override, Mapping) else load_class_map(override))
    slots = np.full(max(names) + 1 if names else 0, NO_SLOT, dtype=np.int64)
    for cls, name in names.items():
        if (code := mapping.get(name)) is not None:
            slots[cls] = vocab.index(code)
    return slots


def file_digest(path: str | Path) -> str:
    """SHA-256 of a whole file (hex), e.g. detector weights."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Detections:
    """Boxes found on ``F`` sampled frames of one video, ``N`` boxes in all.

    Attributes:
        times_s: float64 ``[F]``, time of each sampled frame (s from the video start).
        frame_size: ``(width, height)`` of the video in pixels; boxes are in these pixels.
        frame: int64 ``[N]``, index into ``times_s`` of each box's frame.
        boxes: float32 ``[N, 4]``, ``x1, y1, x2, y2`` in video pixels.
        scores: float32 ``[N]``, detector confidence in [0, 1].
        classes: int64 ``[N]``, detector class ids.
        slots: int64 ``[N]``, instrument slot of each box (``NO_SLOT`` when its class is no instrument).
        class_names: the detector's class names, indexed by class id.
    """

    times_s: np.ndarray
    frame_size: tuple[int, int]
    frame: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    slots: np.ndarray
    class_names: tuple[str, ...]

    @property
    def n_frames(self) -> int:
        return len(self.times_s)

    @classmethod
    def from_frames(
        cls,
        times_s: list[float],
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
        frame_size: tuple[int, int],
        slots_of_class: np.ndarray,
        class_names: tuple[str, ...],
    ) -> Detections:
        """Detections from what was found on each frame at ``times_s``: ``(boxes float32 [n, 4] in
        video pixels, scores [n], class ids [n])``, one triple per frame."""
        if not found:  # no frame at all: concatenate needs at least one array
            found = [(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))]
            times_s = []
        classes = np.concatenate([c for *_, c in found]).astype(np.int64)
        return cls(
            times_s=np.asarray(times_s, dtype=np.float64),
            frame_size=frame_size,
            frame=np.repeat(np.arange(len(found), dtype=np.int64), [len(s) for _, s, _ in found]),
            boxes=np.concatenate([b for b, *_ in found]).astype(np.float32).reshape(-1, 4),
            scores=np.concatenate([s for _, s, _ in found]).astype(np.float32),
            classes=classes,
            slots=slots_of_class[classes],
            class_names=class_names,
        )

    def slot_scores(self) -> np.ndarray:
        """Best score per instrument slot and frame, float32 ``[K, F]`` (0 where nothing was found)."""
        out = np.zeros((vocab.K, self.n_frames), dtype=np.float32)
        keep = self.slots != NO_SLOT
        np.maximum.at(out, (self.slots[keep], self.frame[keep]), self.scores[keep])
        return out

    def with_slots(self, slots_of_class: np.ndarray) -> Detections:
        """The same detections with slots recomputed from a ``[n_classes]`` class -> slot table."""
        slots = slots_of_class[self.classes] if len(self.classes) else np.zeros(0, dtype=np.int64)
        return Detections(
            self.times_s,
            self.frame_size,
            self.frame,
            self.boxes,
            self.scores,
            self.classes,
            slots,
            self.class_names,
        )

    def save(self, path: str | Path) -> None:
        """Write to ``path`` (.npz) through a temporary sibling."""
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: savez adds no suffix
            np.savez(
                f,
                times_s=self.times_s,
                frame_size=np.array(self.frame_size),
                frame=self.frame,
                boxes=self.boxes,
                scores=self.scores,
                classes=self.classes,
                slots=self.slots,
                class_names=np.array(self.class_names, dtype=str),
            )

    @classmethod
    def load(cls, path: str | Path) -> Detections:
        with np.load(path, allow_pickle=False) as z:
            return cls(
                times_s=z["times_s"],
                frame_size=(int(z["frame_size"][0]), int(z["frame_size"][1])),
                frame=z["frame"],
                boxes=z["boxes"],
                scores=z["scores"],
                classes=z["classes"],
                slots=z["slots"],
                class_names=tuple(str(n) for n in z["class_names"]),
            )


class Detector:
    """An ultralytics YOLO detector loaded from a weights file, with its class -> slot map.

    Args:
        weights: a ``.pt`` file (never a bare model name: that would download).
        device: torch device string, e.g. ``"cpu"``, ``"cuda:0"``, ``"mps"``.
        imgsz: inference size in pixels (the longer side after letterboxing); default: the size the
            weights were trained at (640 when the checkpoint does not say).
        conf: lowest confidence kept; low on purpose, :mod:`vcsep.vision.labels` aggregates scores.
        iou: NMS IoU threshold.
        batch: frames per forward pass.
        class_map: mapping or YAML file overriding the built-in class -> code map.
    """

    def __init__(
        self,
        weights: str | Path,
        *,
        device: str = "cpu",
        imgsz: int | None = None,
        conf: float = 0.05,
        iou: float = 0.6,
        batch: int = 16,
        class_map: Mapping[str, str | None] | str | Path | None = None,
    ) -> None:
        self.weights = Path(weights)
        if not self.weights.is_file():
            raise ValueError(f"{self.weights}: detector weights not found (a .pt file is needed)")
        YOLO = safe_ultralytics()  # noqa: N806 (a class)
        try:
            self.model = YOLO(str(self.weights), task="detect")
        except Exception as err:  # ultralytics raises many kinds on a bad checkpoint
            raise ValueError(f"{self.weights}: not a loadable YOLO checkpoint ({err})") from err
        self.names: dict[int, str] = dict(self.model.names)
        self.slots = class_slots(self.names, class_map)
        if not (self.slots != NO_SLOT).any():
            warnings.warn(
                f"{self.weights}: none of the detector's classes maps to an instrument "
                f"({', '.join(list(self.names.values())[:10])}...); pass a class map",
                stacklevel=2,
            )
        if imgsz is None:  # a detector run at another size than it learned at finds little
            imgsz = int(self.model.overrides.get("imgsz") or 640)
        self.device, self.imgsz, self.conf, self.iou, self.batch = device, imgsz, conf, iou, batch
        self._digest: str | None = None

    @property
    def fingerprint(self) -> str:
        """Identifies what this detector would output: weights hash plus inference settings."""
        if self._digest is None:
            self._digest = file_digest(self.weights)
        return f"{self._digest}-{self.imgsz}-{self.conf}-{self.iou}"

    def predict(self, images: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Detect on RGB uint8 ``[H, W, 3]`` images, in batches of ``self.batch``.

        Returns, per image, ``(boxes float32 [n, 4] x1 y1 x2 y2 in that image's pixels,
        scores float32 [n], classes int64 [n])``.
        """
        out = []
        for start in range(0, len(images), self.batch):
            # ultralytics takes numpy images as OpenCV's BGR.
            bgr = [np.ascontiguousarray(im[..., ::-1]) for im in images[start : start + self.batch]]
            results = self.model.predict(
                bgr, imgsz=self.imgsz, conf=self.conf, iou=self.iou, device=self.device, verbose=False
            )
            for r in results:
                b = r.boxes
                out.append(
                    (
                        b.xyxy.cpu().numpy().astype(np.float32),
                        b.conf.cpu().numpy().astype(np.float32),
                        b.cls.cpu().numpy().astype(np.int64),
                    )
                )
        return out

    def detect(self, frames: Iterable[SampledFrame], frame_size: tuple[int, int]) -> Detections:
        """Run on sampled frames of a ``(W, H)`` video, ``self.batch`` at a time (memory stays bounded).

        The frames may be downscaled: boxes are scaled back to ``frame_size`` pixels.
        """
        times, found = [], []
        for chunk in _batched(frames, self.batch):
            for sampled, (b, s, c) in zip(chunk, self.predict([f.image for f in chunk]), strict=True):
                h, w = sampled.image.shape[:2]
                scale = np.array([frame_size[0] / w, frame_size[1] / h] * 2, dtype=np.float32)
                times.append(sampled.time_s)
                found.append((b * scale, s, c))
        names = tuple(self.names[i] for i in range(len(self.names)))
        return Detections.from_frames(times, found, frame_size, self.slots, names)


def _batched(items: Iterable[SampledFrame], n: int) -> Iterator[list[SampledFrame]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, n)):
        yield chunk
