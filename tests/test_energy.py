"""Initial-energy diagnostics (Ren et al., ICLR 2023): hand-computed values and the head-probing curve."""

import numpy as np
import pytest

from lead_hf.energy import head_probing_curve, initial_energy
from lead_hf.errors import InvalidInputError


def test_initial_energy_hand_computed():
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.25, 0.25], [0.0, 0.0, 1.0]])
    y = np.array([0, 1, 2])
    out = initial_energy(p, y)
    # ||(0.3, -0.2, -0.1)|| = sqrt(0.14); ||(-0.5, 0.75, -0.25)|| = sqrt(0.875); third row exact.
    assert out["energy0"] == pytest.approx((np.sqrt(0.14) + np.sqrt(0.875) + 0.0) / 3)
    assert out["loss0"] == pytest.approx(-(np.log(0.7) + np.log(0.25) + np.log(1.0)) / 3)
    assert out["acc0"] == pytest.approx(2 / 3)


def test_initial_energy_extremes():
    perfect = initial_energy(np.eye(4), np.arange(4))
    assert perfect == {"energy0": 0.0, "loss0": 0.0, "acc0": 1.0}
    wrong = initial_energy(np.eye(2)[[1, 0]], [0, 1])
    assert wrong["energy0"] == pytest.approx(np.sqrt(2)) and wrong["acc0"] == 0.0
    assert wrong["loss0"] == pytest.approx(-np.log(1e-12))  # floored, not inf


@pytest.mark.parametrize(
    ("probs", "labels", "match"),
    [
        ([[2.0, -1.0], [0.5, 0.5]], [0, 1], "non-negative rows summing to 1"),
        ([[0.5, 0.5], [0.5, 0.5]], [0, 2], r"labels range over \[0, 2\]"),
        ([[0.5, 0.5], [0.5, 0.5]], [0.0, 1.0], "integer class indices"),
        ([[0.5, 0.5]], [0, 1], "must be 1 integer class indices"),
    ],
)
def test_initial_energy_rejects_bad_input(probs, labels, match):
    with pytest.raises(InvalidInputError, match=match):
        initial_energy(probs, labels)


def _separable(seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), 20)
    return rng.normal(scale=0.3, size=(60, 5)) + 3 * np.eye(3, 5)[y], y


def test_head_probing_curve_shape_and_decreasing_loss():
    x, y = _separable()
    curve = head_probing_curve(x, y, epochs=(0, 1, 3, 10), lr=0.05, batch_size=16)
    assert [c["epoch"] for c in curve] == [0.0, 1.0, 3.0, 10.0]
    assert all(set(c) == {"epoch", "energy0", "loss0", "acc0"} for c in curve)
    losses = [c["loss0"] for c in curve]
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.1 * losses[0]
    assert curve[-1]["acc0"] == 1.0 and curve[-1]["energy0"] < curve[0]["energy0"]


def test_epoch_zero_is_the_untrained_head():
    import torch

    x, y = _separable()
    (first,) = head_probing_curve(x, y, epochs=(0,), seed=3)
    # PyTorch's default nn.Linear init, drawn from the same seeded generator in the same order.
    gen = torch.Generator().manual_seed(3)
    bound = 1 / np.sqrt(5)
    w = (torch.rand(5, 3, generator=gen, dtype=torch.float64) * 2 - 1) * bound
    b = (torch.rand(3, generator=gen, dtype=torch.float64) * 2 - 1) * bound
    probs = torch.softmax(torch.from_numpy(x) @ w + b, dim=1).numpy()
    assert first == {"epoch": 0.0, **initial_energy(probs, y)}


def test_head_probing_curve_is_deterministic_and_seeded():
    x, y = _separable()
    a = head_probing_curve(x, y, epochs=(0, 2), seed=1)
    assert head_probing_curve(x, y, epochs=(0, 2), seed=1) == a
    assert head_probing_curve(x, y, epochs=(0, 2), seed=2) != a


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": (2, 1)}, "increasing sequence"),
        ({"epochs": ()}, "non-empty"),
        ({"epochs": (0, -1)}, "non-negative"),
        ({"lr": 0.0}, "lr > 0"),
        ({"batch_size": 0}, "batch_size >= 1"),
    ],
)
def test_head_probing_curve_rejects_bad_options(kwargs, match):
    x, y = _separable()
    with pytest.raises(InvalidInputError, match=match):
        head_probing_curve(x, y, **kwargs)
