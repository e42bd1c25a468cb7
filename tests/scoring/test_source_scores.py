"""LEEP and NCE against examples worked out by hand from their formulas."""

import numpy as np
import pytest

from lead_hf.errors import InvalidInputError
from lead_hf.scoring.leep import leep_score
from lead_hf.scoring.nce import nce_score

FEATURES4 = np.zeros((4, 2))  # validated only: LEEP and NCE read the head's outputs


def test_leep_hand_computed():
    # softmax rows: (3/4, 1/4), (1/2, 1/2), (1/4, 3/4), (1/2, 1/2); the last logits are shifted on purpose
    logits = np.array([[np.log(3.0), 0.0], [0.0, 0.0], [0.0, np.log(3.0)], [5.0, 5.0]])
    labels = np.array([0, 0, 1, 1])
    # P(y, z) = 1/4 sum theta_z [y_i = y]: y=0 -> (5/16, 3/16), y=1 -> (3/16, 5/16); P(z) = (1/2, 1/2)
    # P(y|z): P(0|z0) = 5/8, P(1|z0) = 3/8, P(0|z1) = 3/8, P(1|z1) = 5/8
    # EEP: 3/4*5/8 + 1/4*3/8 = 9/16, 1/2*5/8 + 1/2*3/8 = 1/2, 1/4*3/8 + 3/4*5/8 = 9/16, 1/2
    expected = (2 * np.log(9 / 16) + 2 * np.log(1 / 2)) / 4
    assert leep_score(FEATURES4, labels, source_logits=logits) == pytest.approx(expected, rel=1e-12)


def test_leep_hand_computed_more_source_than_target_classes():
    # three source classes: theta = (1/2, 1/4, 1/4) for the first two samples, (1/4, 1/4, 1/2) for the last two
    logits = np.log(np.array([[2.0, 1, 1], [2, 1, 1], [1, 1, 2], [1, 1, 2]]))
    labels = np.array(["a", "a", "b", "b"])
    # P(y, z): a -> (1/4, 1/8, 1/8), b -> (1/8, 1/8, 1/4); P(z) = (3/8, 1/4, 3/8)
    # P(a|z) = (2/3, 1/2, 1/3), P(b|z) = (1/3, 1/2, 2/3)
    # EEP(a) = 1/2*2/3 + 1/4*1/2 + 1/4*1/3 = 13/24; EEP(b) = 1/4*1/3 + 1/4*1/2 + 1/2*2/3 = 13/24
    assert leep_score(FEATURES4, labels, source_logits=logits) == pytest.approx(np.log(13 / 24), rel=1e-12)


def test_leep_is_invariant_to_source_class_order_and_rises_with_a_better_head():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    logits = rng.normal(size=(60, 5))
    features = np.zeros((60, 1))
    base = leep_score(features, labels, source_logits=logits)
    assert leep_score(features, labels, source_logits=logits[:, ::-1]) == pytest.approx(base, rel=1e-12)
    informative = logits + 4.0 * np.eye(3, 5)[labels]
    assert base < leep_score(features, labels, source_logits=informative) <= 0.0


def test_nce_hand_computed():
    labels = np.array([0, 0, 1, 1, 1, 2])
    # argmax z = 0, 0, 0, 1, 1, 1; a third source class is never predicted
    logits = np.array([[2.0, 0, -1], [1, 0, 0.5], [3, 2, 0], [0, 1, 0], [0, 5, 1], [-1, 0, -2]])
    # counts z0: y0=2, y1=1; z1: y1=2, y2=1  ->  NCE = 2 * (2/6 log 2/3 + 1/6 log 1/3)
    expected = 2 * (2 / 6 * np.log(2 / 3) + 1 / 6 * np.log(1 / 3))
    assert nce_score(np.zeros((6, 3)), labels, source_logits=logits) == pytest.approx(expected, rel=1e-12)


def test_nce_is_zero_when_the_source_label_determines_the_target():
    labels = np.array([0, 0, 1, 1, 2, 2])
    logits = np.eye(4)[[3, 3, 0, 0, 1, 2]]  # target 2 split over two source classes: still H(Y|Z) = 0
    assert nce_score(np.zeros((6, 1)), labels, source_logits=logits) == 0.0


@pytest.mark.parametrize("scorer", [leep_score, nce_score])
def test_missing_source_logits_is_an_error_naming_the_problem(scorer):
    with pytest.raises(InvalidInputError, match="source_logits are required"):
        scorer(FEATURES4, np.array([0, 0, 1, 1]))


@pytest.mark.parametrize("scorer", [leep_score, nce_score])
def test_source_logits_row_mismatch_is_refused(scorer):
    with pytest.raises(InvalidInputError, match="source_logits have 3 rows but there are 4 samples"):
        scorer(FEATURES4, np.array([0, 0, 1, 1]), source_logits=np.zeros((3, 2)))
