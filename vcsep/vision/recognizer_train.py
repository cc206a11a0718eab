"""Fine-tune the recogniser's slot head on frozen ImageNet features (``vcsep train-recognizer``).

The backbone never changes, so every training picture goes through it once: its feature map
``[1280, h, w]`` is kept (float16) and the linear head trains on those in seconds. Pictures:

- composites of the real instrument photographs (:class:`vcsep.vision.composites.Composer`,
  ``"train"`` family) with their multi-hot labels;
- frames of the train pieces of synthetic corpora (``vcsep synth``: drawn players of all 13
  instruments), labelled with the piece's instruments. They are the only pictures of viola, double
  bass, clarinet, tuba... and the head needs many of them: on the drawn players of a validation
  corpus (24 pieces, seed 21) it found the instruments with F1 0.46 after 87 frames of 29 pieces
  (each counted three times), 0.95 after 513 of 100 and 0.98 after 1424 of 178 (counted once, which
  also kept more of what it knows about real photographs: composites of several photographs were
  scored F1 0.91 against 0.88 with the frames counted three times).

The loss is the binary cross-entropy of each slot's best window (the frame-level score the
recogniser reports, :func:`vcsep.vision.recognizer.window_logits`) against the picture's label,
plus a pull of the head's weights towards ImageNet's rows, so that what ImageNet knows about
real instruments survives the drawn ones.

Checks, never trained on: single-instrument composites on the ``"heldout"`` family (top-1
accuracy: the right instrument first) and presence precision/recall/F1 on the corpora's test pieces.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from vcsep import vocab
from vcsep.files import atomic_path, write_json
from vcsep.vision.composites import REAL_INSTRUMENTS, Composer
from vcsep.vision.composites import VERSION as COMPOSER_VERSION
from vcsep.vision.recognizer import (
    THRESHOLD,
    Recognizer,
    SlotHead,
    budget_fps,
    load_backbone,
    save_head,
    to_input,
    window_logits,
)
from vcsep.vision.train import CorpusPiece, evaluate_presence, read_corpus
from vcsep.vision.video import iter_frames


@torch.inference_mode()
def embed(
    backbone: torch.nn.Module, images: Sequence[np.ndarray], batch: int = 8, progress: bool = False
) -> torch.Tensor:
    """Backbone feature maps of RGB uint8 ``[H, W, 3]`` images of one size: float16 ``[N, 1280, h, w]``.

    ``progress``: a bar over the pictures (3 to 4 a second on 2 CPU cores)."""
    bar = tqdm(total=len(images), desc="ImageNet features", unit="picture", disable=not progress)
    out = []
    for i in range(0, len(images), batch):
        out.append(backbone.extract_features(to_input(images[i : i + batch])).half())
        bar.update(len(out[-1]))
    bar.close()
    return torch.cat(out)


def composite_set(n: int, seed: int, family: str = "train") -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` composites (``seed``-reproducible): images and multi-hot labels float32 ``[n, K]``."""
    composer, rng = Composer(family), np.random.default_rng(seed)
    pictures = [composer.compose(rng) for _ in range(n)]
    return [p.image for p in pictures], np.stack([p.labels for p in pictures])


def corpus_frames(
    pieces: Sequence[CorpusPiece], per_piece: int, size: tuple[int, int] = (768, 432)
) -> tuple[list[np.ndarray], np.ndarray]:
    """``per_piece`` evenly spaced frames of each of ``pieces`` (of synthetic corpora), resized to
    ``size``; labels float32 ``[N, K]`` are the piece's instruments (its players stay in view)."""
    from PIL import Image

    images, labels = [], []
    for piece in pieces:
        frames = list(iter_frames(piece.video, fps=1.0))
        for i in np.linspace(0, len(frames) - 1, per_piece).round().astype(int):
            images.append(np.asarray(Image.fromarray(frames[i].image).resize(size, Image.BILINEAR)))
            labels.append(vocab.multi_hot(piece.codes))
    return images, np.stack(labels) if labels else np.zeros((0, vocab.K), dtype=np.float32)


def fit_head(
    head: SlotHead,
    features: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int = 60,
    batch: int = 64,
    lr: float = 3e-3,
    anchor: float = 1e-3,
    seed: int = 0,
) -> list[float]:
    """Train ``head`` in place on feature maps ``[N, 1280, h, w]`` and labels ``[N, K]`` in {0, 1}.

    Loss: BCE of each slot's best-window logit, plus ``anchor`` x the squared distance of the
    weights from where they started (ImageNet's rows). Returns the mean loss of each epoch.
    """
    torch.manual_seed(seed)
    start = head.proj.weight.detach().clone()
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    losses = []
    head.train()
    for _ in range(epochs):
        order, total = torch.randperm(len(features)), 0.0
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            best = window_logits(head(features[idx].float())).amax(-1)
            loss = F.binary_cross_entropy_with_logits(best, labels[idx])
            loss = loss + anchor * (head.proj.weight - start).pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(features))
    head.eval()
    return losses


def _features(
    backbone: torch.nn.Module,
    cache: Path,
    pictures: dict,
    train_pieces: Sequence[CorpusPiece],
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Features ``[N, 1280, h, w]``, labels ``[N, K]`` and the number of corpus frames (the last
    ones) of the pictures ``pictures`` describes (the frames: of ``train_pieces``, the train pieces
    of its corpora), from ``cache`` when it holds exactly those."""
    if cache.is_file():
        data = torch.load(cache, weights_only=True)
        if data["pictures"] == pictures:
            return data["features"], data["labels"], int(data["n_synthetic"])
    images, labels = composite_set(pictures["composites"], pictures["seed"])
    frames, frame_labels = corpus_frames(train_pieces, pictures["per_piece"])
    images, labels, n_synthetic = images + frames, np.concatenate([labels, frame_labels]), len(frames)
    features, labels = embed(backbone, images, progress=progress), torch.from_numpy(labels)
    data = {"pictures": pictures, "features": features, "labels": labels, "n_synthetic": n_synthetic}
    with atomic_path(cache) as tmp:
        torch.save(data, tmp)
    return features, labels, n_synthetic


def photo_check(recognizer: Recognizer, per_instrument: int, seed: int) -> dict:
    """Top-1 accuracy on single-instrument composites of the held-out background family.

    Returns ``{"accuracy": float, "per_instrument": {code: accuracy}, "confusions": {code: [best
    code per picture]}, "runner_up": mean best probability of a wrong slot}``.
    """
    composer, rng = Composer("heldout"), np.random.default_rng(seed)
    per_code, confusions, runner_up = {}, {}, []
    for code in REAL_INSTRUMENTS:
        pictures = [composer.compose(rng, codes=(code,)) for _ in range(per_instrument)]
        probs, _ = recognizer.region_probabilities([p.image for p in pictures])
        frame = probs.amax(-1).numpy()  # [n, K]
        best = [recognizer.head.codes[k] for k in frame.argmax(1)]
        per_code[code] = float(np.mean([b == code for b in best]))
        confusions[code] = best
        others = np.delete(frame, vocab.index(code), axis=1)
        runner_up.append(float(others.max(1).mean()))
    return {
        "accuracy": float(np.mean(list(per_code.values()))),
        "per_instrument": per_code,
        "confusions": confusions,
        "runner_up": float(np.mean(runner_up)),
    }


def train_recognizer(
    corpora: Sequence[str | Path],
    out_dir: str | Path,
    *,
    composites: int = 300,
    frames_per_piece: int = 6,
    synthetic_weight: int = 1,
    epochs: int = 60,
    anchor: float = 1e-3,
    seed: int = 0,
    check_per_instrument: int = 10,
    eval_fps: float = budget_fps(20.0),
    threshold: float = THRESHOLD,
    progress: bool = False,
) -> dict:
    """Train a head, save it as ``<out_dir>/recognizer_head.pt`` and check it; returns the metrics
    (also written to ``<out_dir>/recognizer_metrics.json``).

    ``corpora``: ``vcsep synth`` corpora whose train pieces add drawn instruments (none: photo
    composites only) and whose test pieces are scored for presence; each of their frames counts
    ``synthetic_weight`` times (more than once only where there are fewer frames than composites). The
    backbone's features of the pictures are kept in ``<out_dir>/features.pt`` and
    reused by a later run with the same pictures (the costly part: 3 to 4 pictures a second on 2 cores;
    ``progress`` shows a bar over them).
    """
    corpora = [str(c) for c in corpora]
    pieces = [p for corpus in corpora for p in read_corpus(corpus)]  # a bad corpus fails first
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    backbone = load_backbone()
    pictures = {"composites": composites, "composer": COMPOSER_VERSION, "seed": seed}
    pictures |= {"corpora": corpora, "per_piece": frames_per_piece}
    train_pieces = [p for p in pieces if p.split == "train"]
    features, labels, n_synthetic = _features(
        backbone, out_dir / "features.pt", pictures, train_pieces, progress
    )
    order = torch.arange(len(features))
    order = torch.cat([order] + [order[len(features) - n_synthetic :]] * (synthetic_weight - 1))
    head = SlotHead()
    head.init_from_imagenet(backbone)
    losses = fit_head(head, features[order], labels[order], epochs=epochs, anchor=anchor, seed=seed)
    record = {
        "composites": composites,
        "corpora": corpora,
        "frames_per_piece": frames_per_piece,
        "synthetic_weight": synthetic_weight,
        "pictures": len(features),
        "epochs": epochs,
        "anchor": anchor,
        "seed": seed,
        "final_loss": round(losses[-1], 5),
    }
    weights = out_dir / "recognizer_head.pt"
    save_head(head, weights, **record)
    recognizer = Recognizer(weights)
    metrics: dict = {"weights": str(weights), **record}
    metrics["heldout_photos"] = photo_check(recognizer, check_per_instrument, seed + 1)
    test = [p for p in pieces if p.split == "test"]
    if test:
        metrics["test_presence"] = evaluate_presence(
            recognizer, test, fps=eval_fps, threshold=threshold, cache_dir=out_dir / "cache"
        )
    write_json(out_dir / "recognizer_metrics.json", metrics)
    return metrics
