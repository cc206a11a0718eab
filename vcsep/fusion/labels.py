"""Labels from sight and sound: the rule that turns the vision stack's and the listening tagger's
presence/activity into the label vector the separator is told.

It lives in ``fusion`` because it is the one place above both ``vision`` and ``audio`` (they never
import each other) and below the separator that consumes its output.

The rule (:func:`fuse`), per instrument slot ``i``:

1. **Look-alike groups.** Sight cannot tell violin from viola, cello from double bass, oboe from
   clarinet, horn from tuba (:data:`LOOKALIKES`); it answers for the group: ``g = max`` of the
   sight presence of the group's members. A slot alone is its own group.
2. **Is the group there?** Sight's ``g`` and sound's group presence ``s_G`` (max over the members)
   are combined as independent probabilities: their log-odds add, each weighted, and sight's with
   an offset ``o_v`` (``sight_weight``, ``sound_weight``, ``sight_offset``; defaults
   :data:`SIGHT_WEIGHT`, :data:`SOUND_WEIGHT`, :data:`SIGHT_OFFSET`):
   ``P_G = sigmoid(w_v * (logit(g) - logit(t_v)) + o_v + w_a * logit(s_G))``, where ``t_v`` is sight's
   own presence threshold (0.7 for the recogniser, chosen on real players; 0.25 for the
   YOLO detector): sight at its threshold counts as undecided, but for the offset, which is there
   because sight misses more instruments than it invents (players turned away, instruments
   hidden). The offset counts only when there is sight: audio alone is read at sound's own 0.5.
   A source that knows nothing says 0.5
   (log-odds 0: the vision fallback, a slot the vision stack cannot see, or no source at all), so
   it drops out; probabilities are clipped to [0.01, 0.99] so that neither can veto alone with
   certainty: a confident sight and a confident sound that disagree give 0.5.
3. **Which member?** Both, as independent evidence of equal weight: member ``i`` scores
   ``m_i = v_i x s_i`` (each clipped to [0.01, 0.99]) and gets ``P_G x m_i / max(m)``, so the member
   both find likeliest carries the group's presence and one scored a third of that gets a third.
   Where sight is unsure (two members equally likely) sound alone decides, and the other way round.
   Equal, because on real recordings the tagger tells a violin from a viola no better than chance
   (6 of 12 real violin clips heard as violins) while sight, on a real violin, says violin: in
   ``bench/real_scenes.py`` (real photographs and real recordings) sight's evidence at half weight
   let sound's viola replace or join a violin sight was sure of in 7 of 24 violin scenes, at equal
   weight in 2; on synthetic validation pieces the two weights score alike.
   Without sound (no tagger) sight's scores alone choose, without sight sound's (the missing
   source says 0.5 for every member).
4. **When?** Activity takes its shape over time from sound when there is sound (note-accurate),
   else from sight, scaled so its loudest column equals the fused presence:
   ``a_i(t) = P_i x shape_i(t) / max_t shape_i(t)``.

An instrument is present when its fused presence reaches ``threshold`` (default 0.5). With
neither source (no video, no tagger) every slot is 0.5 and the labels are marked ``fallback``.
Audio-only input passes ``sight=None``; a video without a tagger passes ``sound=None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcsep import vocab
from vcsep.audio.io import finite_blocks
from vcsep.audio.tagger import SAMPLE_RATE as TAGGER_RATE
from vcsep.audio.tagger import Tagger, Tags
from vcsep.media import av_reason
from vcsep.vision import labels as vision_labels
from vcsep.vision.detector import Detections
from vcsep.vision.labels import DEFAULT_FPS, DEFAULT_MIN_FRACTION, DEFAULT_RATE_HZ, UNKNOWN, InstrumentLabels
from vcsep.vision.labels import DEFAULT_THRESHOLD as DEFAULT_SIGHT_THRESHOLD
from vcsep.vision.recognizer import LOOKALIKE, Recognizer, budget_fps
from vcsep.vision.recognizer import THRESHOLD as RECOGNIZER_THRESHOLD
from vcsep.vision.video import iter_audio, probe

# Sight's look-alike groups: an ImageNet class and the slots that borrow it (the recogniser's
# LOOKALIKE): (vn, va), (vc, db), (ob, cl), (hn, tba). ImageNet knows no tuba, so on real video sight
# sees a tuba and a horn alike; choosing with sound made the labels fused on the validation half of
# the real players exactly right on 0.61 of the clips against 0.50 (experiments/sight_imagenet.py).
LOOKALIKES: tuple[tuple[str, ...], ...] = tuple(
    (holder, *(code for code, held in LOOKALIKE.items() if held == holder))
    for holder in dict.fromkeys(LOOKALIKE.values())
)
DEFAULT_THRESHOLD = 0.5
# The rule's weights and sight's offset (log-odds), chosen by experiments/fusion_weights.py: the
# weighting fused exactly right on most of the validation half of the real players (38 ISFEE clips)
# among those that keep the synthetic validation pieces (seed 21's 12 test pieces, drawn players,
# tonejs-played; no model or benchmark uses them) at their best fused F1 (0.95): exact 0.66, where
# the weights fitted before on synthetic pieces alone (sound 0.75) gave 0.61 and weighting sound
# twice sight's, without the offset, 0.71 at a synthetic F1 of 0.88.
SIGHT_WEIGHT = 0.75
SOUND_WEIGHT = 1.0
SIGHT_OFFSET = 1.0
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

    def found(self) -> dict[str, set[str]]:
        """The instruments each column calls present: ``{"sight", "sound", "fused"}`` -> codes; sight
        at its own threshold, sound at the tagger's 0.5 (:data:`DEFAULT_THRESHOLD`); empty where that
        input is missing (or sight saw nothing)."""
        heard = set() if self.sound is None else set(vocab.codes_of(self.sound.presence, DEFAULT_THRESHOLD))
        seen = set() if self.sight is None else set(self.sight.present)
        return {"sight": seen, "sound": heard, "fused": set(self.fused.present)}

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
        """JSON-ready: the fused labels (:meth:`InstrumentLabels.to_dict`) plus, under ``sources``,
        each slot's sight, sound and fused presence (None where that input is missing)."""
        rnd = lambda v: None if v is None else round(v, 4)  # noqa: E731
        sources = {r["code"]: {k: rnd(r[k]) for k in ("sight", "sound", "fused")} for r in self.rows()}
        return {**self.fused.to_dict(), "sources": sources}


def fuse(
    sight: InstrumentLabels | None,
    sound: Tags | None,
    *,
    sight_weight: float = SIGHT_WEIGHT,
    sound_weight: float = SOUND_WEIGHT,
    sight_offset: float = SIGHT_OFFSET,
    threshold: float = DEFAULT_THRESHOLD,
    rate_hz: float | None = None,
    n_columns: int | None = None,
) -> SightSound:
    """Combine sight and sound into the separator's labels by the rule of the module docstring.

    Args:
        sight: the vision stack's labels (13 URMP rows), or None (audio-only input).
        sound: the tagger's tags (13 URMP rows), or None (no tagger).
        sight_weight, sound_weight: weights of each source's log-odds.
        sight_offset: log-odds added to sight's weighted evidence (only where there is sight).
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
    shift = _logit(np.float64(sight.threshold)) if see else 0.0
    offset = sight_offset if see else 0.0
    a = sound.presence.astype(np.float64) if sound is not None else np.full(len(codes), UNKNOWN)
    fused = np.zeros(len(codes))
    for group in _groups(codes):
        g, s_g = v[group].max(), a[group].max()
        evidence = sight_weight * (_logit(g) - shift) + sound_weight * _logit(s_g) + offset
        p_group = 1 / (1 + np.exp(-evidence))
        # a missing source is 0.5 for every member, so the other's scores alone choose
        member = np.prod([np.clip(x[group], _CLIP, 1 - _CLIP) for x in (v, a)], axis=0)
        fused[group] = p_group * member / member.max()

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


def has_picture(path: str | Path) -> bool:
    """Whether a media file has a video stream that is a picture track (a cover image in an mp3 or
    m4a is not); raises ``ValueError`` naming the file when it cannot be opened."""
    import av

    try:
        with av.open(str(path)) as container:
            return any(
                not (s.disposition & av.stream.Disposition.attached_pic) for s in container.streams.video
            )
    except (av.error.FFmpegError, OSError) as err:
        raise ValueError(f"{path}: cannot read the file ({av_reason(err)})") from None


def label_recording(
    path: str | Path,
    *,
    sight=None,
    tagger: Tagger | None = None,
    fps: float | None = None,
    sight_threshold: float | None = None,
    rate_hz: float = DEFAULT_RATE_HZ,
    min_fraction: float = DEFAULT_MIN_FRACTION,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: bool = False,
) -> tuple[SightSound, Detections | None]:
    """Sight, sound and fused labels of a video or audio file, and the detections behind sight.

    Args:
        path: a video (its frames go to ``sight``, its audio track to ``tagger``) or an audio file.
        sight: a :class:`~vcsep.vision.recognizer.Recognizer` or
            :class:`~vcsep.vision.detector.Detector`, or None (no sight).
        tagger: the listening tagger, or None (no sound).
        fps: frames sampled per second; default: the recogniser's frame budget
            (:func:`~vcsep.vision.recognizer.budget_fps`), 2 for a detector.
        sight_threshold: sight's presence threshold (shown in sight's own labels); default the
            recogniser's :data:`~vcsep.vision.recognizer.THRESHOLD`, the detector's 0.25 otherwise.
        rate_hz, min_fraction: activity rate and the fraction of frames an instrument must be seen on.

    Returns:
        ``(SightSound, detections or None)``.
    """
    path = Path(path)
    picture = has_picture(path)
    sight_labels, detections = None, None
    if picture and sight is not None:
        info = probe(path)
        recognizer = isinstance(sight, Recognizer)
        if fps is None:
            fps = budget_fps(info.duration_s) if recognizer else DEFAULT_FPS
        if sight_threshold is None:
            sight_threshold = RECOGNIZER_THRESHOLD if recognizer else DEFAULT_SIGHT_THRESHOLD
        sight_labels, detections = vision_labels.video_labels(
            path,
            sight,
            fps=fps,
            rate_hz=rate_hz,
            min_fraction=min_fraction,
            threshold=sight_threshold,
            cache_dir=cache_dir,
            use_cache=use_cache,
            progress=progress,
        )
    sound = None
    if tagger is not None and (not picture or probe(path).has_audio):
        # streamed at the tagger's rate: memory does not grow with the length of the recording
        audio = finite_blocks(iter_audio(path, TAGGER_RATE), TAGGER_RATE, path)
        sound = tagger.tag(audio, TAGGER_RATE, rate_hz=rate_hz)
    return fuse(sight_labels, sound), detections
