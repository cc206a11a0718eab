"""Labels from sight and sound: the rule that turns the vision stack's and the listening tagger's
presence/activity into the label vector the separator is told.

It lives in ``fusion`` because it is the one place above both ``vision`` and ``audio`` (they never
import each other) and below the separator that consumes its output.

The rule (:func:`fuse`), per instrument slot ``i``:

1. **Look-alike groups.** Sight cannot tell violin from viola, cello from double bass, oboe from
   clarinet (:data:`LOOKALIKES`); it answers for the group: ``g = max`` of the sight presence of
   the group's members. A slot alone is its own group.
2. **Is the group there?** Sight's ``g`` and sound's group presence ``s_G`` (max over the members)
   are combined as independent calibrated probabilities with a flat prior: their log-odds add,
   each weighted (``sight_weight``, ``sound_weight``, default 1):
   ``P_G = sigmoid(w_v * logit(g) + w_a * logit(s_G))``. A source that knows nothing says 0.5
   (log-odds 0: the vision fallback, a slot the vision stack cannot see, or no source at all), so
   it drops out; probabilities are clipped to [0.01, 0.99] so that neither can veto alone with
   certainty: a confident sight and a confident sound that disagree give 0.5.
3. **Which member?** Sound decides: slot ``i`` gets ``P_G x s_i / s_G``, so the member sound hears
   best carries the group's presence and a member sound hears at a third of that gets a third.
   Without sound (no tagger, or a silent file), members keep sight's own scores (``P_G x v_i / g``).
4. **When?** Activity takes its shape over time from sound when there is sound (note-accurate),
   else from sight, scaled so its loudest column equals the fused presence:
   ``a_i(t) = P_i x shape_i(t) / max_t shape_i(t)``.

An instrument is present when its fused presence reaches ``threshold`` (default 0.5). With
neither source (no video, no tagger) every slot is 0.5 and the labels are marked ``fallback``.
Audio-only input passes ``sight=None``; a video without a tagger passes ``sound=None``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vcsep import vocab
from vcsep.audio.tagger import Tags
from vcsep.vision.labels import UNKNOWN, InstrumentLabels

LOOKALIKES: tuple[tuple[str, ...], ...] = (("vn", "va"), ("vc", "db"), ("ob", "cl"))
DEFAULT_THRESHOLD = 0.5
_CLIP = 0.01


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _CLIP, 1 - _CLIP)
    return np.log(p / (1 - p))


def _groups(codes: tuple[str, ...]) -> list[list[int]]:
    """Row indices of each look-alike group among ``codes`` (every row in exactly one group)."""
    grouped = {c for g in LOOKALIKES for c in g}
    out = [[codes.index(c) for c in g if c in codes] for g in LOOKALIKES]
    out += [[i] for i, c in enumerate(codes) if c not in grouped]
    return [g for g in out if g]


@dataclass(frozen=True)
class SightSound:
    """The three columns of labels: what sight saw, what sound heard, and the fused labels.

    ``sight`` and ``sound`` are None where that input was missing; ``fused`` is what the separator
    is told (its ``codes`` are the rows of all three, the 13 URMP slots).
    """

    sight: InstrumentLabels | None
    sound: Tags | None
    fused: InstrumentLabels

    def rows(self) -> list[dict]:
        """One dict per slot: ``code``, ``name``, ``sight``, ``sound`` (None where missing), ``fused``,
        ``present`` (fused reaches the threshold), sorted by fused presence, highest first."""
        out = []
        for k, code in enumerate(self.fused.codes):
            sight = None if self.sight is None or self.sight.fallback else float(self.sight.presence[k])
            sound = None if self.sound is None else float(self.sound.presence[k])
            fused = float(self.fused.presence[k])
            name = vocab.BY_CODE[code].name if code in vocab.BY_CODE else code
            out.append(
                {
                    "code": code,
                    "name": name,
                    "sight": sight,
                    "sound": sound,
                    "fused": fused,
                    "present": fused >= self.fused.threshold,
                }
            )
        return sorted(out, key=lambda r: -r["fused"])

    def table(self) -> str:
        """The rows as aligned text (``-``: no such input), one instrument per line."""
        fmt = lambda v: f"{v:>7.2f}" if v is not None else f"{'-':>7}"  # noqa: E731
        lines = [f"{'':<4}{'':<13}{'sight':>7}{'sound':>7}{'fused':>7}"]
        for r in self.rows():
            mark = "  present" if r["present"] else ""
            lines.append(
                f"{r['code']:<4}{r['name']:<13}{fmt(r['sight'])}{fmt(r['sound'])}{fmt(r['fused'])}{mark}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready: the fused labels (:meth:`InstrumentLabels.to_dict`) plus per-slot sight/sound/fused."""
        return {
            **self.fused.to_dict(),
            "sources": {r["code"]: {k: r[k] for k in ("sight", "sound", "fused")} for r in self.rows()},
        }


def fuse(
    sight: InstrumentLabels | None,
    sound: Tags | None,
    *,
    sight_weight: float = 1.0,
    sound_weight: float = 1.0,
    threshold: float = DEFAULT_THRESHOLD,
    rate_hz: float | None = None,
    n_columns: int | None = None,
) -> SightSound:
    """Combine sight and sound into the separator's labels by the rule of the module docstring.

    Args:
        sight: the vision stack's labels (13 URMP rows), or None (audio-only input).
        sound: the tagger's tags (13 URMP rows), or None (no tagger).
        sight_weight, sound_weight: weights of each source's log-odds.
        threshold: fused presence counted as present.
        rate_hz, n_columns: activity rate and length when neither input gives them (both None):
            default 4 Hz and 1 column.

    Returns:
        :class:`SightSound` whose ``fused`` has presence float32 ``[K]`` and activity float32
        ``[K, T]`` (``T`` from sound when given, else from sight).
    """
    codes = vocab.CODES
    for name, src in (("sight", sight), ("sound", sound)):
        if src is not None and tuple(src.codes) != codes:
            raise ValueError(
                f"{name} labels have rows {tuple(src.codes)}; fuse takes the 13 URMP slots {codes}"
            )
    see = sight is not None and not sight.fallback
    v = sight.presence.astype(np.float64) if see else np.full(len(codes), UNKNOWN)
    a = sound.presence.astype(np.float64) if sound is not None else np.full(len(codes), UNKNOWN)
    fused = np.zeros(len(codes))
    for group in _groups(codes):
        g, s_g = v[group].max(), a[group].max()
        p_group = 1 / (1 + np.exp(-(sight_weight * _logit(g) + sound_weight * _logit(s_g))))
        share = a[group] / s_g if sound is not None and s_g > 0 else (v[group] / g if see and g > 0 else 1.0)
        fused[group] = p_group * share

    if sound is not None:
        rate, shape = sound.rate_hz, sound.activity
    elif sight is not None:
        rate, shape = sight.rate_hz, sight.activity
    else:
        rate = rate_hz or 4.0
        shape = np.ones((len(codes), n_columns or 1), dtype=np.float32)
    peak = shape.max(1, keepdims=True)
    shape = np.where(peak > 0, shape / np.where(peak > 0, peak, 1), 0.0)
    activity = (fused[:, None] * shape).astype(np.float32)
    labels = InstrumentLabels(
        presence=fused.astype(np.float32),
        activity=activity,
        rate_hz=rate,
        threshold=threshold,
        # neither source knows anything: 0.5 everywhere, which the separator reads as "unknown"
        fallback=not see and sound is None,
        codes=codes,
    )
    return SightSound(sight, sound, labels)
