"""Train the listening tagger (:mod:`vcsep.audio.tagger`) on URMP-layout corpora (``vcsep train-tagger``).

Each train piece's stems are turned once into mel power spectrograms (16 kHz, one per slot, two
players of one instrument summed). A training example mixes 1-4 stems drawn from any train
pieces: random :data:`~vcsep.audio.tagger.WINDOW_S`-second crops, gains and spectral envelopes, their
mel powers summed (powers of independent sources add, up to phase) plus a noise floor, then the
log. That makes far more instrument combinations than the pieces hold. Labels come from the stems
themselves: a frame is active where its stem's power is within 35 dB of the stem's loud frames;
a window's presence is any active frame.

Loss: binary cross-entropy of the frame logits against the frame labels, plus that of each slot's
max-over-time logit against the window's presence (the pooling :meth:`Tagger.tag` uses).

Checked on the corpora's test pieces, their own mixtures (``AuMix``) tagged whole: presence
precision/recall/F1 per instrument at ``threshold``. Test pieces are never trained or tuned on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from vcsep import vocab
from vcsep.audio.io import read_audio
from vcsep.audio.tagger import HOP, SAMPLE_RATE, TIME_POOL, WINDOW_S, MelPower, Tagger, TaggerNet, log_mel
from vcsep.datasets.track import load_source
from vcsep.datasets.urmp import corpus_split, load_urmp_piece
from vcsep.files import write_json
from vcsep.vision.train import PresenceScores

ACTIVE_DB = 35.0
MIXTURE_NOISE = 1e-5  # mel power of the added noise floor (about -50 dB)
NOISE_ONLY = 0.05  # share of training windows without an instrument, for level-free taggers
ROLLOFF_SHARE = 0.5  # share of stems given a high-frequency roll-off when ``rolloff_db`` > 0


def _pieces(corpora: Sequence[str | Path], split: str) -> list[Path]:
    return [Path(c) / folder for c in corpora for folder, side in corpus_split(c).items() if side == split]


def stem_powers(folders: Sequence[Path], mel: MelPower) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
    """``(slot, mel power float32 [n_mels, F], active frames float32 [F])`` of every instrument of
    every piece folder."""
    out = []
    for folder in folders:
        track = load_urmp_piece(folder)
        for code, sources in track.stems.items():
            wave = sum(load_source(s, SAMPLE_RATE, 1)[0] for s in sources)
            with torch.no_grad():
                power = mel(torch.from_numpy(np.asarray(wave, dtype=np.float32))[None])[0]
            out.append((vocab.index(code), power, frame_labels(power).float()))
    return out


def frame_labels(power: torch.Tensor) -> torch.Tensor:
    """Active frames of a stem, bool ``[F]``: total power within :data:`ACTIVE_DB` of its 95th percentile."""
    energy = power.sum(0)
    loud = torch.quantile(energy, 0.95)
    return energy > loud * 10 ** (-ACTIVE_DB / 10)


def make_batch(
    stems: list[tuple[int, torch.Tensor, torch.Tensor]],
    batch: int,
    rng: np.random.Generator,
    relative_level: bool = False,
    rolloff_db: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random mixtures: log-mel ``[B, n_mels, F]`` and frame labels ``[B, K, F // TIME_POOL]``.

    Each stem gets a random gain (-15 to +5 dB) and a random smooth spectral envelope (a tilt plus
    two slow ripples over the mel axis, about +-8 dB): the test pieces are played by timbres no train
    piece has, and an envelope is what tells one violin sample set from another.

    ``relative_level``: log mels relative to each window's peak (:func:`~vcsep.audio.tagger.log_mel`),
    and one window in :data:`NOISE_ONLY` holds no instrument (only the noise floor, which the peak
    normalisation raises to full level: a quiet room must not sound like an instrument).

    ``rolloff_db`` > 0: a share :data:`ROLLOFF_SHARE` of the stems also loses its upper band, a
    smooth step down of 0 to ``rolloff_db`` dB above a random corner (as soft playing, a distant or
    off-axis microphone and a damped room darken a real instrument far beyond the tilt above).
    """
    frames = int(WINDOW_S * SAMPLE_RATE / HOP) // TIME_POOL * TIME_POOL
    n_mels = stems[0][1].shape[0]
    axis = torch.linspace(-1, 1, n_mels)[:, None]
    x = torch.full((batch, n_mels, frames), MIXTURE_NOISE)
    y = torch.zeros(batch, vocab.K, frames)
    for b in range(batch):
        if relative_level and rng.random() < NOISE_ONLY:
            continue
        for i in rng.choice(len(stems), size=int(rng.integers(1, 5)), replace=False):
            slot, power, active = stems[i]
            start = int(rng.integers(0, max(1, power.shape[1] - frames)))
            crop = power[:, start : start + frames]
            tilt, r1, r2 = rng.uniform(-1, 1), rng.uniform(-0.5, 0.5), rng.uniform(-0.4, 0.4)
            envelope = tilt * axis + r1 * torch.sin(np.pi * rng.uniform(1, 3) * axis + rng.uniform(0, 6.3))
            envelope = envelope + r2 * torch.sin(np.pi * rng.uniform(3, 8) * axis + rng.uniform(0, 6.3))
            if rolloff_db > 0 and rng.random() < ROLLOFF_SHARE:
                depth = rng.uniform(0, rolloff_db) * np.log(10) / 10  # dB of power -> natural log
                envelope = envelope - depth * torch.sigmoid((axis - rng.uniform(-0.6, 0.6)) / 0.1)
            gain = 10 ** (rng.uniform(-15, 5) / 10) * torch.exp(envelope)
            x[b, :, : crop.shape[1]] += gain * crop
            active = active[start : start + frames]
            y[b, slot, : len(active)] = torch.maximum(y[b, slot, : len(active)], active)
    y = F.max_pool1d(y, TIME_POOL)
    return log_mel(x, relative_level), y


def tagger_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Frame BCE plus window-presence BCE (max over time) of logits and labels ``[B, K, T]``."""
    frame = F.binary_cross_entropy_with_logits(logits, labels)
    clip = F.binary_cross_entropy_with_logits(logits.amax(-1), labels.amax(-1))
    return frame + clip


def evaluate_tagger(tagger: Tagger, folders: Sequence[Path], threshold: float = 0.5) -> dict:
    """Presence scores of the tagger on each piece's own mixture (``AuMix``), reported as
    :func:`vcsep.vision.train.evaluate_presence` reports sight's: per instrument and micro-averaged."""
    per_code = {code: PresenceScores() for code in vocab.CODES}
    rows = []
    for folder in folders:
        track = load_urmp_piece(folder)
        audio, rate = read_audio(track.mixture)
        tags = tagger.tag(audio, rate)
        found = {c for c, p in zip(tags.codes, tags.presence, strict=True) if p >= threshold}
        truth = set(track.stems)
        for code, scores in per_code.items():
            scores.tp += code in truth and code in found
            scores.fp += code in found and code not in truth
            scores.fn += code in truth and code not in found
        rows.append({"folder": folder.name, "truth": sorted(truth), "found": sorted(found)})
    micro = PresenceScores(*(sum(getattr(s, k) for s in per_code.values()) for k in ("tp", "fp", "fn")))
    return {
        "per_instrument": {code: s.to_dict() for code, s in per_code.items() if s.tp + s.fp + s.fn},
        "micro": micro.to_dict(),
        "pieces": rows,
    }


def train_tagger(
    corpora: Sequence[str | Path],
    out: str | Path,
    *,
    steps: int = 1500,
    batch: int = 16,
    lr: float = 2e-3,
    n_mels: int = 64,
    channels: int = 32,
    seed: int = 0,
    threshold: float = 0.5,
    relative_level: bool = False,
    rolloff_db: float = 0.0,
    progress: bool = False,
) -> dict:
    """Train a tagger on the train pieces of ``corpora``, save it to ``out`` (a ``.pt`` file) and
    score it on their test pieces; returns the metrics (also written beside it as ``.json``).
    ``relative_level``: a tagger that does not depend on the level (:class:`TaggerNet`).
    ``rolloff_db``: the deepest high-frequency roll-off of the training stems (:func:`make_batch`).
    ``progress`` shows a progress bar over steps with the recent loss."""
    if rolloff_db < 0:
        raise ValueError(f"rolloff_db is a depth in dB and must be >= 0, got {rolloff_db}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = TaggerNet(n_mels=n_mels, channels=channels, relative_level=relative_level)
    mel = MelPower(n_mels)
    stems = stem_powers(_pieces(corpora, "train"), mel)
    if not stems:
        raise ValueError(f"no train pieces in {', '.join(map(str, corpora))}")
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    net.train()
    losses = []
    bar = tqdm(range(steps), desc="tagger", unit="step", disable=not progress)
    for step in bar:
        x, y = make_batch(stems, batch, rng, relative_level, rolloff_db)
        loss = tagger_loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if step % 50 == 49:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    tagger = Tagger(net)
    record = {
        "corpora": [str(c) for c in corpora],
        "train_stems": len(stems),
        "steps": steps,
        "batch": batch,
        "lr": lr,
        "seed": seed,
        "relative_level": relative_level,
        "rolloff_db": rolloff_db,
        "final_loss": round(float(np.mean(losses[-50:])), 5),
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tagger.save(out, **record)
    metrics = {"weights": str(out), **record}
    test = _pieces(corpora, "test")
    if test:
        metrics["test_presence"] = evaluate_tagger(tagger, test, threshold)
    write_json(out.with_suffix(".json"), metrics)
    return metrics
