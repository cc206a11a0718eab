"""The synthetic detector: a small YOLO trained on frames of the synthetic corpus.

- :func:`write_model_yaml` / :func:`init_weights`: a YOLO built from ultralytics' bundled model YAML
  at a chosen depth and width (nothing downloaded; class names are the vocabulary codes, so
  :mod:`vcsep.vision.detector` maps them to slots with no class map).
- :func:`build_yolo_dataset`: frames sampled from the corpus videos + YOLO label files made from the
  ``Vid_*.boxes.csv`` sidecars.
- :func:`train_detector`: the whole job, ending with :func:`evaluate_presence` on the test pieces.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from vcsep import vocab
from vcsep.datasets.urmp import corpus_split
from vcsep.datasets.urmp_names import PieceName
from vcsep.files import atomic_path, copy_file, write_json
from vcsep.vision.detector import Detector, safe_ultralytics
from vcsep.vision.labels import DEFAULT_FPS, DEFAULT_THRESHOLD, video_labels
from vcsep.vision.video import iter_frames, probe


def write_model_yaml(
    path: str | Path,
    *,
    base: str = "yolov8.yaml",
    depth: float = 0.33,
    width: float = 0.25,
    names: Sequence[str] = vocab.CODES,
) -> Path:
    """Write a YOLO model YAML: ``base``'s layers at ``depth``/``width`` multiples, one class per name.

    ``depth=0.33, width=0.25`` is YOLOv8n (3.0 M parameters at 13 classes); ``width=0.125`` is a
    quarter of its parameters. ``base`` is looked up among ultralytics' bundled model configs.
    """
    from ultralytics.utils.checks import check_yaml

    spec = yaml.safe_load(Path(check_yaml(base)).read_text())
    model = {
        "nc": len(names),
        "depth_multiple": depth,
        "width_multiple": width,
        "backbone": spec["backbone"],
        "head": spec["head"],
    }
    path = Path(path)
    path.write_text(yaml.safe_dump(model, sort_keys=False))
    return path


def init_weights(path: str | Path, *, depth: float = 0.33, width: float = 0.25, seed: int = 0) -> Path:
    """Save an untrained (randomly initialised) detector with the vocabulary codes as class names.

    Useful for timing and for tests of the pipeline; its detections are meaningless.
    """
    import torch

    YOLO = safe_ultralytics()  # noqa: N806 (a class)
    path = Path(path)
    cfg = write_model_yaml(path.with_suffix(".yaml"), depth=depth, width=width)
    torch.manual_seed(seed)
    model = YOLO(str(cfg), task="detect")
    model.model.names = dict(enumerate(vocab.CODES))
    with atomic_path(path) as tmp:
        model.save(tmp)
    return path


@dataclass(frozen=True)
class CorpusPiece:
    """One piece of a synthetic (or URMP-layout) corpus: its video, box sidecar and instruments."""

    folder: Path
    title: str
    split: str
    codes: tuple[str, ...]

    @property
    def video(self) -> Path:
        return self.folder / f"Vid_{self.folder.name}.mp4"

    @property
    def boxes(self) -> Path:
        return self.folder / f"Vid_{self.folder.name}.boxes.csv"


def read_corpus(corpus_dir: str | Path) -> list[CorpusPiece]:
    """The pieces listed in ``<corpus>/split.tsv`` (``folder, title, split``), in file order.

    Folder names are parsed by :class:`~vcsep.datasets.urmp_names.PieceName` (title and instruments
    in part order), the split read by :func:`~vcsep.datasets.urmp.corpus_split`.
    """
    corpus_dir = Path(corpus_dir)
    split_file = corpus_dir / "split.tsv"
    if not split_file.is_file():
        raise ValueError(f"{split_file}: cannot read the corpus split (no such file)")
    pieces = []
    for folder, side in corpus_split(corpus_dir).items():
        name = PieceName.parse(folder)
        piece = CorpusPiece(corpus_dir / folder, name.title, side, name.codes)
        for needed in (piece.video, piece.boxes):
            if not needed.is_file():
                raise ValueError(f"{needed}: missing (listed in {split_file})")
        pieces.append(piece)
    return pieces


def read_boxes(path: str | Path) -> dict[int, list[tuple[int, float, float, float, float]]]:
    """A ``Vid_*.boxes.csv`` sidecar as ``{frame index: [(slot, x1, y1, x2, y2), ...]}`` (video pixels)."""
    path = Path(path)
    boxes: dict[int, list[tuple[int, float, float, float, float]]] = defaultdict(list)
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != ["frame", "time_s", "part", "code", "x1", "y1", "x2", "y2"]:
            raise ValueError(
                f"{path}: expected header frame,time_s,part,code,x1,y1,x2,y2, got {reader.fieldnames}"
            )
        for row in reader:
            boxes[int(row["frame"])].append(
                (vocab.index(row["code"]), *(float(row[k]) for k in ("x1", "y1", "x2", "y2")))
            )
    return boxes


def _yolo_label_lines(boxes: list[tuple[int, float, float, float, float]], width: int, height: int) -> str:
    """YOLO label text: one ``class cx cy w h`` line per box, normalised to [0, 1] by the frame size."""
    lines = []
    for slot, x1, y1, x2, y2 in boxes:
        x1, x2 = max(0.0, x1), min(float(width), x2)
        y1, y2 = max(0.0, y1), min(float(height), y2)
        if x2 > x1 and y2 > y1:
            cx, cy, w, h = (
                (x1 + x2) / 2 / width,
                (y1 + y2) / 2 / height,
                (x2 - x1) / width,
                (y2 - y1) / height,
            )
            lines.append(f"{slot} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return "".join(line + "\n" for line in lines)


def build_yolo_dataset(
    pieces: Sequence[CorpusPiece],
    out_dir: str | Path,
    *,
    fps: float = 1.0,
    val_fraction: float = 0.15,
    max_side: int | None = None,
    seed: int = 0,
) -> Path:
    """Write a YOLO dataset from the corpus videos; returns its ``data.yaml``.

    Frames are sampled at ``fps`` frames/s (JPEG, downscaled to ``max_side`` when given) with one
    label file each from the box sidecar (a frame with no player gets an empty file: a background
    image). Test pieces go to ``test``; the train pieces of a ``val_fraction`` of the titles, drawn
    with ``seed``, go to ``val`` (model selection never sees the test pieces); the rest to ``train``.
    The dataset is built in a temporary folder and renamed to ``out_dir/dataset`` when complete.
    """
    out_dir = Path(out_dir)
    final, tmp = out_dir / "dataset", out_dir / f".dataset.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    train_titles = sorted({p.title for p in pieces if p.split == "train"})
    rng = np.random.default_rng(seed)
    n_val = max(1, round(val_fraction * len(train_titles))) if len(train_titles) > 1 else 0
    val_titles = set(rng.choice(train_titles, n_val, replace=False)) if n_val else set()
    for piece in pieces:
        role = "test" if piece.split == "test" else "val" if piece.title in val_titles else "train"
        info = probe(piece.video)
        boxes = read_boxes(piece.boxes)
        (tmp / "images" / role).mkdir(parents=True, exist_ok=True)
        (tmp / "labels" / role).mkdir(parents=True, exist_ok=True)
        for frame in iter_frames(piece.video, fps, max_side=max_side):
            name = f"{piece.folder.name}_{frame.index:06d}"
            Image.fromarray(frame.image).save(tmp / "images" / role / f"{name}.jpg", quality=92)
            labels = _yolo_label_lines(boxes.get(frame.index, []), info.width, info.height)
            (tmp / "labels" / role / f"{name}.txt").write_text(labels)
    if not (tmp / "images" / "val").is_dir():
        # ultralytics needs a val set: with a single train title, validate on the training frames.
        shutil.copytree(tmp / "images" / "train", tmp / "images" / "val")
        shutil.copytree(tmp / "labels" / "train", tmp / "labels" / "val")
    data = {
        "path": str(final.resolve()),
        "train": "images/train",
        "val": "images/val",
        **({"test": "images/test"} if (tmp / "images" / "test").is_dir() else {}),
        "names": dict(enumerate(vocab.CODES)),
    }
    (tmp / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final / "data.yaml"


@dataclass
class PresenceScores:
    """Piece-level presence detection scores of one instrument (or of all, micro-averaged)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else None

    def to_dict(self) -> dict:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}

    @classmethod
    def of_pieces(cls, rows: Iterable[tuple[set[str], set[str]]]) -> PresenceScores:
        """Micro-averaged scores of ``(true codes, found codes)`` rows, one per piece."""
        rows = list(rows)
        return cls(
            tp=sum(len(t & f) for t, f in rows),
            fp=sum(len(f - t) for t, f in rows),
            fn=sum(len(t - f) for t, f in rows),
        )


def evaluate_presence(
    detector: Detector,
    pieces: Sequence[CorpusPiece],
    *,
    fps: float = DEFAULT_FPS,
    threshold: float = DEFAULT_THRESHOLD,
    cache_dir: str | Path | None = None,
) -> dict:
    """Presence precision/recall/F1 of the label vectors against each piece's instruments.

    A piece counts once per instrument (two violins are one present ``vn``). Returns
    ``{"per_instrument": {code: scores}, "micro": scores, "pieces": [...]}`` where scores are
    :meth:`PresenceScores.to_dict` (None where undefined, e.g. an instrument in no piece).
    """
    per_code = {code: PresenceScores() for code in vocab.CODES}
    rows = []
    for piece in pieces:
        labels, _ = video_labels(piece.video, detector, fps=fps, threshold=threshold, cache_dir=cache_dir)
        truth, found = set(piece.codes), set(labels.present)
        for code in vocab.CODES:
            scores = per_code[code]
            scores.tp += code in truth and code in found
            scores.fp += code in found and code not in truth
            scores.fn += code in truth and code not in found
        rows.append({"folder": piece.folder.name, "truth": sorted(truth), "found": sorted(found)})
    micro = PresenceScores(*(sum(getattr(s, k) for s in per_code.values()) for k in ("tp", "fp", "fn")))
    return {
        "per_instrument": {code: s.to_dict() for code, s in per_code.items() if s.tp + s.fp + s.fn},
        "micro": micro.to_dict(),
        "pieces": rows,
    }


def train_detector(
    corpus_dir: str | Path,
    out_dir: str | Path,
    *,
    depth: float = 0.33,
    width: float = 0.25,
    imgsz: int = 320,
    epochs: int = 20,
    batch: int = 16,
    fps: float = 1.0,
    eval_fps: float = DEFAULT_FPS,
    device: str = "cpu",
    workers: int = 2,
    seed: int = 0,
    init: str | Path | None = None,
) -> dict:
    """Train the synthetic detector on a corpus and evaluate it on the corpus's test pieces.

    ``init``: start from these weights (a detector.pt of an earlier run: fine-tuning) instead of a
    random initialisation; ``depth`` and ``width`` are then those of the checkpoint.

    Writes under ``out_dir``: ``dataset/`` (:func:`build_yolo_dataset`, frames at ``fps`` frames/s),
    ``model.yaml``, ultralytics' run in ``train/``, the final weights ``detector.pt`` (best
    validation fitness) and ``metrics.json``. Returns the metrics: test mAP50 and mAP50-95 of the
    boxes, and :func:`evaluate_presence` on the test pieces at ``eval_fps`` frames/s.
    """
    YOLO = safe_ultralytics()  # noqa: N806 (a class)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pieces = read_corpus(corpus_dir)
    test = [p for p in pieces if p.split == "test"]
    data = build_yolo_dataset(pieces, out_dir, fps=fps, max_side=max(imgsz, 640), seed=seed)
    if init is None:
        model = YOLO(str(write_model_yaml(out_dir / "model.yaml", depth=depth, width=width)), task="detect")
    else:
        model = Detector(init).model
    model.train(
        data=str(data),
        imgsz=imgsz,
        epochs=epochs,
        batch=batch,
        device=device,
        workers=workers,
        seed=seed,
        project=str(out_dir.resolve()),
        name="train",
        exist_ok=True,
        # ultralytics keeps the model's weights only when pretrained is true; false rebuilds from the YAML.
        pretrained=init is not None,
        plots=False,
        verbose=False,
    )
    weights = copy_file(out_dir / "train" / "weights" / "best.pt", out_dir / "detector.pt")
    metrics: dict = {
        "weights": str(weights),
        "epochs": epochs,
        "imgsz": imgsz,
        **({"depth": depth, "width": width} if init is None else {"init": str(init)}),
    }
    if test:
        box = YOLO(str(weights), task="detect").val(
            data=str(data), split="test", imgsz=imgsz, batch=batch, device=device, plots=False, verbose=False
        )
        metrics["test_map50"] = float(box.box.map50)
        metrics["test_map50_95"] = float(box.box.map)
        metrics["test_ap50"] = {
            vocab.CODES[c]: round(float(ap), 4)
            for c, ap in zip(box.box.ap_class_index, box.box.ap50, strict=True)
        }
        detector = Detector(weights, device=device, imgsz=imgsz)
        metrics["test_presence"] = evaluate_presence(
            detector, test, fps=eval_fps, cache_dir=out_dir / "cache"
        )
    write_json(out_dir / "metrics.json", metrics)
    return metrics
