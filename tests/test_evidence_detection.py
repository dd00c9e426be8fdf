"""``experiments/evidence_detection.roc_auc``: the rank statistic the detector table reports."""

from __future__ import annotations

import pytest


def test_roc_auc_counts_pairs_ranked_right_and_ties_as_half(load_experiment):
    auc = load_experiment("evidence_detection").roc_auc
    assert auc([1, 2, 3, 4], [False, False, True, True]) == 1.0
    assert auc([4, 3, 2, 1], [False, False, True, True]) == 0.0
    assert auc([5, 5, 5, 5], [True, False, True, False]) == 0.5
    # pairs (positive, negative): (3,1) right, (3,3) tie, (2,1) right, (2,3) wrong -> (1 + 0.5 + 1 + 0) / 4
    assert auc([3, 2, 1, 3], [True, True, False, False]) == pytest.approx(0.625)
