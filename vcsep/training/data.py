"""The LightningDataModule: mixed examples from any dataset, with the labels the model is told.

Examples come from in-memory mixing, scaper, or litdata shards (:mod:`vcsep.datasets`). What the
model is told (``condition``) is the ground truth, cached detector outputs for the piece, or a
mix of both, optionally degraded by label noise and dropout so that a model trained on clean
labels survives detector errors. Incoherent mixes come from no single video, so they are always
told the ground truth (then degraded the same way).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from vcsep.datasets import InMemoryMixer, MixConfig, Segment, Track, load_dataset
from vcsep.datasets.augment import InputChain
from vcsep.datasets.registry import KINDS, dataset_specs, vocabulary_of

SOURCES = ("inmemory", "scaper", "shards")
LABEL_SOURCES = ("truth", "detections", "mix")
# Frames per second of time-varying labels: 50 ms, about a sixteenth note at 75 bpm, finer than the
# vision stack's activity (4 Hz) and far coarser than a window's samples.
ACTIVITY_HZ = 20.0


class LabelledExamples(Dataset):
    """Adds ``condition`` to each example of ``examples`` (a mixer or shard reader): ``[K]``, or
    ``[K, T]`` when the examples carry time-varying ``activity [K, T]`` (the truth it starts from;
    detector presence is then held over the T frames).

    ``presence[t]`` is the detector's clip-level presence ``[K]`` of track ``t`` (or None). With
    ``label_source='mix'`` a coherent example is told the detections with probability
    ``detection_share``. ``label_dropout`` zeroes each present slot with that probability (a
    missed instrument); ``label_noise`` adds Gaussian noise of that standard deviation (clipped to
    [0, 1]). Randomness is a function of ``(seed, index)``.
    """

    def __init__(
        self,
        examples,
        presence: list[np.ndarray | None] | None = None,
        label_source: str = "truth",
        detection_share: float = 0.5,
        label_noise: float = 0.0,
        label_dropout: float = 0.0,
        seed: int = 0,
    ) -> None:
        if label_source not in LABEL_SOURCES:
            raise ValueError(f"label_source must be one of {LABEL_SOURCES}, got {label_source!r}")
        self.examples, self.presence = examples, presence
        self.label_source, self.detection_share = label_source, detection_share
        self.label_noise, self.label_dropout, self.seed = label_noise, label_dropout, seed

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        example = self.examples[index]
        rng = np.random.default_rng([self.seed, index, 7])
        labels = np.asarray(example["labels"], dtype=np.float32)
        condition = np.array(example.get("activity", labels), dtype=np.float32)
        track = int(example.get("track", -1))
        detected = self.presence[track] if self.presence and track >= 0 else None
        if detected is not None and (
            self.label_source == "detections"
            or (self.label_source == "mix" and rng.random() < self.detection_share)
        ):
            held = detected[:, None] if condition.ndim == 2 else detected
            condition = np.broadcast_to(held, condition.shape).astype(np.float32)
        if self.label_dropout > 0:  # a missed instrument: its whole row goes
            condition[(labels > 0.5) & (rng.random(labels.shape) < self.label_dropout)] = 0.0
        if self.label_noise > 0:
            condition = np.clip(condition + rng.normal(0.0, self.label_noise, condition.shape), 0.0, 1.0)
        out = {k: torch.as_tensor(np.asarray(v)) for k, v in example.items()}
        out["condition"] = torch.as_tensor(condition, dtype=torch.float32)
        return out


class SeparationDataModule(L.LightningDataModule):
    """Train and validation examples for the separator.

    Args:
        data: ``KIND:PATH`` of :func:`vcsep.datasets.load_dataset` (e.g. ``urmp:corpus``), or a
            list of them with the same sources (several corpora, e.g. synthesized with different
            seeds), read as one.
        source: ``inmemory`` (mix on the fly), ``scaper`` (pitch/time augmentation, JAMS kept in
            ``scaper_library``) or ``shards`` (stream ``shards``, written by ``vcsep prepare``).
        output_length: requested output samples per example; the window lengths, sample rate and
            channels follow from the model being trained (:meth:`segment_for`), never repeated here.
        train_split, val_split: sides of the dataset's split; for layouts without one (stem
            folders, MedleyDB, Bach10) leave them None: validation then mixes the same tracks
            with another seed.
        coherent: share of coherent mixes in training (validation is always coherent).
        label_source, detector, detection_share, label_noise, label_dropout: what the model is
            told; ``detector`` is a YOLO weights file used (with the vision cache) for
            ``detections``/``mix``.
        time_varying: tell the model when each slot sounds, ``[K, T]`` at :data:`ACTIVITY_HZ` frames
            per second from the Notes files (in-memory mixing only), instead of clip presence ``[K]``.
        input_chain: degrade training mixtures as real inputs arrive (band limits, AAC/MP3 round
            trips, level: :class:`~vcsep.datasets.augment.InputChain`); validation stays clean.
    """

    def __init__(
        self,
        data: str | Sequence[str],
        source: str = "inmemory",
        shards: str | None = None,
        scaper_library: str | None = None,
        train_split: str | None = "train",
        val_split: str | None = "test",
        output_length: int = 16384,
        batch_size: int = 4,
        num_workers: int = 0,
        train_examples: int = 2000,
        val_examples: int = 64,
        coherent: float = 0.5,
        seed: int = 0,
        label_source: str = "truth",
        detector: str | None = None,
        detection_share: float = 0.5,
        label_noise: float = 0.0,
        label_dropout: float = 0.0,
        time_varying: bool = False,
        input_chain: InputChain | None = None,
    ) -> None:
        super().__init__()
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        if time_varying and source != "inmemory":
            raise ValueError(f"time_varying labels come from in-memory mixing, not source {source!r}")
        if source == "shards" and not shards:
            raise ValueError("source 'shards' needs shards: the folder or URL written by vcsep prepare")
        if label_source != "truth" and not detector:
            raise ValueError(f"label_source {label_source!r} needs a detector weights file")
        for spec in dataset_specs(data):
            kind, _, where = spec.partition(":")
            if kind not in KINDS:
                raise ValueError(f"data must be KIND:PATH with KIND one of {', '.join(KINDS)}; got {spec!r}")
            if not Path(where).is_dir():  # checked here, before the trainer starts, not in setup()
                raise ValueError(f"{where}: the {kind} dataset folder does not exist (data {spec!r})")
        vocabulary_of(data)  # several datasets must share their sources
        self.save_hyperparameters()
        self.input_chain = input_chain  # the object itself: hparams keep dataclasses as dicts
        self.segment: Segment | None = None
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    def _tracks(self, split: str | None) -> list[Track]:
        return load_dataset(self.hparams.data, split=split)

    def _presence(self, tracks: list[Track]) -> list[np.ndarray | None] | None:
        """Clip-level detector presence per track (None for tracks without a video)."""
        if self.hparams.label_source == "truth":
            return None
        from vcsep.vision.detector import Detector
        from vcsep.vision.labels import video_labels

        detector = Detector(self.hparams.detector)
        return [video_labels(t.video, detector)[0].presence if t.video else None for t in tracks]

    def segment_for(self, separator) -> Segment:
        """The example windows of ``separator`` (anything with ``shapes``, ``sample_rate``,
        ``channels``): its input and output lengths for ``output_length`` requested samples."""
        return Segment(
            *separator.shapes(self.hparams.output_length),
            sample_rate=separator.sample_rate,
            channels=separator.channels,
        )

    def setup(self, stage: str | None = None) -> None:
        """Load the tracks and build the example sets, windowed for the trainer's separator (or for
        :attr:`segment`, when it was set without a trainer)."""
        hp = self.hparams
        if self.train_set is not None:
            return
        if self.segment is None:
            if self.trainer is None:
                raise ValueError("set segment (segment_for(model)) or attach the data module to a trainer")
            self.segment = self.segment_for(self.trainer.lightning_module.separator)
        train_tracks = self._tracks(hp.train_split)
        val_tracks = self._tracks(hp.val_split) if hp.val_split else train_tracks
        activity_hz = ACTIVITY_HZ if hp.time_varying else None
        if hp.source == "shards":
            from vcsep.datasets.shards import ShardDataset

            train = ShardDataset(hp.shards)
            train_presence = None
        elif hp.source == "scaper":
            from vcsep.datasets.scaper_mix import ScaperMixer

            library = hp.scaper_library or "scaper_library"
            train = ScaperMixer(train_tracks, self.segment, library, seed=hp.seed, examples=hp.train_examples)
            train_presence = None
        else:
            config = MixConfig(coherent=hp.coherent, activity_hz=activity_hz, input_chain=self.input_chain)
            train = InMemoryMixer(
                train_tracks, self.segment, config, seed=hp.seed, examples=hp.train_examples
            )
            train_presence = self._presence(train_tracks)
        val_config = MixConfig(coherent=1.0, activity_hz=activity_hz)
        val = InMemoryMixer(val_tracks, self.segment, val_config, seed=hp.seed + 1, examples=hp.val_examples)
        self.vocabulary = val.vocabulary
        self.train_set = LabelledExamples(
            train,
            train_presence,
            hp.label_source,
            hp.detection_share,
            hp.label_noise,
            hp.label_dropout,
            hp.seed,
        )
        # validation is told what inference will be told, without the training-time degradation
        self.val_set = LabelledExamples(val, self._presence(val_tracks), hp.label_source, 1.0)

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size,
            shuffle=shuffle,
            num_workers=workers,
            persistent_workers=workers > 0,
            drop_last=shuffle,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)
