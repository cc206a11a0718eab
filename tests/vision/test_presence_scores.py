"""Piece-level presence scores (vcsep.vision.train.PresenceScores), as every presence check counts them."""

from __future__ import annotations

import pytest

from vcsep.vision.train import PresenceScores


def test_scores_of_pieces_count_each_instrument_once_per_piece():
    rows = [({"vn", "vc"}, {"vn", "va"}), ({"tpt"}, {"tpt"}), (set(), {"fl"})]
    scores = PresenceScores.of_pieces(rows)
    assert (scores.tp, scores.fp, scores.fn) == (2, 2, 1)
    assert scores.precision == pytest.approx(0.5) and scores.recall == pytest.approx(2 / 3)
    assert scores.f1 == pytest.approx(4 / 7)
    assert PresenceScores.of_pieces([]).f1 is None  # nothing to score
