"""The sight+sound rule (vcsep.fusion.labels.fuse) on hand-made label vectors."""

from __future__ import annotations

import numpy as np
import pytest

from vcsep import vocab
from vcsep.audio.tagger import Tags
from vcsep.fusion.labels import fuse
from vcsep.vision.labels import UNKNOWN, InstrumentLabels


def sight(values: dict[str, float], fallback: bool = False, threshold: float = 0.5) -> InstrumentLabels:
    columns = 8
    presence = np.zeros(vocab.K, dtype=np.float32)
    for code, p in values.items():
        presence[vocab.index(code)] = p
    if fallback:
        presence[:] = UNKNOWN
    activity = np.repeat(presence[:, None], columns, axis=1)
    return InstrumentLabels(presence, activity, 4.0, threshold, fallback)


def sound(values: dict[str, float], activity: dict[str, list[float]] | None = None, columns: int = 8) -> Tags:
    presence = np.zeros(vocab.K, dtype=np.float32)
    act = np.zeros((vocab.K, columns), dtype=np.float32)
    for code, p in values.items():
        presence[vocab.index(code)] = p
        act[vocab.index(code)] = (activity or {}).get(code, [p] * columns)
    return Tags(presence, act, 4.0, vocab.CODES)


def present(result) -> list[str]:
    return sorted(result.fused.present)


# the rule's structure with unit weights and no offset (the shipped values are fitted, see the last test)
PLAIN = {"sight_weight": 1.0, "sound_weight": 1.0, "sight_offset": 0.0}


def plain(seen, heard, **kwargs):
    return fuse(seen, heard, **PLAIN, **kwargs)


def test_audio_only_is_the_tagger_and_video_only_is_sight():
    heard = sound({"vn": 0.9, "tba": 0.7, "fl": 0.2})
    assert present(plain(None, heard)) == ["tba", "vn"]
    # equal up to the [0.01, 0.99] clipping of the log-odds
    np.testing.assert_allclose(plain(None, heard).fused.presence, heard.presence, atol=0.0101)
    seen = sight({"tpt": 0.8, "vc": 0.3})
    np.testing.assert_allclose(plain(seen, None).fused.presence, seen.presence, atol=0.0101)
    # the vision fallback (nothing detected) says nothing: sound alone decides
    np.testing.assert_allclose(
        plain(sight({}, fallback=True), heard).fused.presence, plain(None, heard).fused.presence
    )


def test_sound_picks_the_member_of_a_lookalike_group_where_sight_is_unsure():
    # sight sees a violin-shaped instrument and cannot tell violin from viola; sound hears a viola
    seen = sight({"vn": 0.9, "va": 0.85})
    result = fuse(seen, sound({"va": 0.9, "vn": 0.1}))
    assert present(result) == ["va"]
    # cello or double bass, oboe or clarinet: the same
    assert present(fuse(sight({"vc": 0.8, "db": 0.7}), sound({"db": 0.8, "vc": 0.05}))) == ["db"]
    assert present(fuse(sight({"ob": 0.7, "cl": 0.6}), sound({"cl": 0.9}))) == ["cl"]
    # ImageNet knows no tuba: a real horn player lights up both, sound hears the horn
    assert present(fuse(sight({"hn": 0.9, "tba": 0.9}), sound({"hn": 0.6, "tba": 0.05}))) == ["hn"]
    assert present(fuse(sight({"hn": 0.9, "tba": 0.9}), sound({"tba": 0.7, "hn": 0.1}))) == ["tba"]
    # two members both heard (a violin and a viola) both stay
    assert present(fuse(seen, sound({"va": 0.9, "vn": 0.8}))) == ["va", "vn"]


def test_members_weigh_sight_and_sound_equally():
    vn, va = vocab.index("vn"), vocab.index("va")
    # sound leans to a viola (0.5 against 0.05: a real violin it half hears), sight is sure of a
    # violin (0.99 against 0.01): the violin, and the viola gets the product's share
    result = fuse(sight({"vn": 0.99, "va": 0.01}), sound({"vn": 0.05, "va": 0.5}))
    assert present(result) == ["vn"]
    p = result.fused.presence
    assert p[va] / p[vn] == pytest.approx((0.01 / 0.99) * (0.5 / 0.05), rel=1e-5)
    # sight's 3 to 1 for the violin is sound's 3 to 1 for the viola: even shares
    even = fuse(sight({"vn": 0.9, "va": 0.3}), sound({"vn": 0.2, "va": 0.6})).fused.presence
    assert even[vn] == pytest.approx(even[va], rel=1e-5)
    # and the same weights the other way round: sight unsure, sound's 3 to 1 decides
    assert present(fuse(sight({"vn": 0.8, "va": 0.8}), sound({"vn": 0.2, "va": 0.6}))) == ["va"]


def test_agreement_strengthens_and_confident_disagreement_is_undecided():
    both = plain(sight({"tpt": 0.7}), sound({"tpt": 0.7})).fused.presence[vocab.index("tpt")]
    assert both > 0.8
    clash = plain(sight({"hn": 0.99}), sound({"hn": 0.01})).fused.presence[vocab.index("hn")]
    assert clash == pytest.approx(0.5, abs=1e-6)
    # sight's false alarm the tagger does not hear is dropped; nothing else appears
    assert present(plain(sight({"tpt": 0.9, "tba": 0.6}), sound({"tpt": 0.9, "tba": 0.05}))) == ["tpt"]


def test_sight_is_read_against_its_own_threshold():
    # a YOLO detector's 0.25 means what the recogniser's 0.7 means: undecided
    detector = plain(sight({"tpt": 0.25}, threshold=0.25), None).fused.presence[vocab.index("tpt")]
    assert detector == pytest.approx(0.5)
    assert present(plain(sight({"tpt": 0.3, "vn": 0.2}, threshold=0.25), None)) == ["tpt"]


def test_activity_follows_sound_and_peaks_at_the_fused_presence():
    shape = [0.0, 0.1, 0.9, 0.9, 0.3, 0.0, 0.0, 0.45]
    result = fuse(sight({"fl": 0.9}), sound({"fl": 0.9}, {"fl": shape}))
    row = result.fused.activity[vocab.index("fl")]
    p = result.fused.presence[vocab.index("fl")]
    assert row.max() == pytest.approx(p)
    np.testing.assert_allclose(row, p * np.array(shape) / 0.9, atol=1e-6)
    assert result.fused.activity.shape == (vocab.K, 8)


def test_neither_source_is_the_unknown_fallback_and_rows_table_all_three():
    nothing = fuse(None, None, n_columns=3)
    assert nothing.fused.fallback and nothing.fused.present == []
    assert nothing.fused.activity.shape == (vocab.K, 3)
    result = fuse(sight({"vn": 0.9}), sound({"vn": 0.8, "vc": 0.6}))
    rows = {r["code"]: r for r in result.rows()}
    assert rows["vn"]["sight"] == pytest.approx(0.9) and rows["vn"]["sound"] == pytest.approx(0.8)
    assert rows["vn"]["present"] and not rows["tpt"]["present"]
    text = result.table()
    assert "sight" in text.splitlines()[0] and "violin" in text
    assert fuse(None, sound({"vn": 0.8})).rows()[0]["sight"] is None


def test_rows_other_than_the_urmp_slots_are_refused():
    seen = sight({"vn": 0.9}).for_sources(["vn", "vc"])
    with pytest.raises(ValueError, match="13 URMP slots"):
        fuse(seen, None)


def test_weights_and_sight_offset_scale_and_shift_the_evidence():
    tpt = vocab.index("tpt")
    heard = sound({"tpt": 0.7})
    logit = np.log(0.7 / 0.3)
    presence = lambda seen, **kw: float(fuse(seen, heard, **{**PLAIN, **kw}).fused.presence[tpt])  # noqa: E731
    assert presence(None, sound_weight=2.0) == pytest.approx(1 / (1 + np.exp(-2 * logit)))
    # sight at its threshold plus the offset: the offset's log-odds on top of sound's
    assert presence(sight({"tpt": 0.5}), sight_offset=1.0) == pytest.approx(1 / (1 + np.exp(-1.0 - logit)))
    # no sight, no offset: audio alone is read at sound's own threshold
    assert presence(None, sight_offset=1.0) == pytest.approx(presence(None))
    # a sight weight of 0 leaves sound alone, however sure sight is
    assert presence(sight({"tpt": 0.01}), sight_weight=0.0) == pytest.approx(presence(None))
    # with neither source the labels stay "unknown" (0.5), whatever the offset
    nothing = fuse(None, None, sight_offset=2.0)
    assert nothing.fused.fallback and np.allclose(nothing.fused.presence, 0.5)


def test_shipped_weights_keep_audio_only_at_the_taggers_threshold_and_let_unseen_heard_instruments_in():
    heard = sound({"vn": 0.55, "fl": 0.45})
    assert present(fuse(None, heard)) == ["vn"]
    # drawn or real, players hide instruments: sight's "probably not" (0.3) does not veto what sound
    # hears clearly (0.8), while sight's "surely not" (0.02) still vetoes a faint sound (0.55)
    assert present(fuse(sight({"tpt": 0.3}), sound({"tpt": 0.8}))) == ["tpt"]
    assert present(fuse(sight({"tpt": 0.02}), sound({"tpt": 0.55}))) == []


def test_found_names_what_each_column_calls_present():
    result = fuse(sight({"vn": 0.9, "tpt": 0.2}), sound({"vn": 0.8, "va": 0.6, "tpt": 0.3}))
    found = result.found()
    assert found["sight"] == {"vn"}
    assert found["sound"] == {"vn", "va"}
    assert found["fused"] == set(result.fused.present)
    # a missing input calls nothing present
    assert fuse(None, sound({"tpt": 0.9})).found()["sight"] == set()
    assert fuse(sight({"tpt": 0.9}), None).found()["sound"] == set()
