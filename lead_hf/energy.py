"""Initial-energy diagnostics of a task head (Ren, Guo, Bae and Sutherland, ICLR 2023).

"How to prepare your task head for finetuning" shows that the training loss and accuracy of the
head when fine-tuning starts set the "energy" left for adapting the features: the residual
``onehot(y) - P0(x)`` drives the backbone's gradient. This module reports that energy for given
initial probabilities (LEAD's initial probe supplies them for free) and, on request, how it falls
while a linear head is probed on frozen features, to help choose how long to probe before
fine-tuning. Math layer: numpy/torch only; it never imports :mod:`lead_hf.scoring`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._validation import check_features, check_labels
from .errors import InvalidInputError

__all__ = ["initial_energy", "head_probing_curve"]

PROB_FLOOR = 1e-12  # log(0) guard: a zero probability on the true class costs -log(1e-12) ~ 27.6 nats
ROW_SUM_TOL = 1e-4  # float32 softmax rows sum to 1 within ~1e-6; larger gaps mean logits were passed


def initial_energy(probabilities: Any, labels: Any) -> dict[str, float]:
    """Energy, loss and accuracy of initial class probabilities (Ren et al., ICLR 2023).

    Args:
        probabilities (`array-like` of shape `(n_samples, n_classes)`): the head's class probabilities
            ``P0(x)`` (rows are distributions).
        labels (`array-like` of shape `(n_samples,)`): integer classes in ``0..n_classes-1`` (column
            indices of ``probabilities``; not re-encoded).

    Returns:
        `dict[str, float]`: ``energy0 = mean_x ||onehot(y) - P0(x)||_2``, ``loss0`` (mean cross-entropy
        ``-log P0[y]``, probabilities floored at 1e-12) and ``acc0`` (argmax accuracy).

    Raises:
        InvalidInputError: shapes disagree, rows are not probability distributions, or labels are not
            valid column indices.

    Example:
        >>> from lead_hf.energy import initial_energy
        >>> initial_energy([[1.0, 0.0], [0.5, 0.5]], [0, 1])["acc0"]
        0.5
    """
    p = check_features(probabilities, name="probabilities", scorer="initial_energy")
    if p.min() < 0 or not np.allclose(p.sum(axis=1), 1.0, atol=ROW_SUM_TOL):
        raise InvalidInputError(
            "initial_energy: probabilities must be non-negative rows summing to 1 "
            f"(got min {p.min():.3g}, row sums in [{p.sum(axis=1).min():.4g}, {p.sum(axis=1).max():.4g}]); "
            "apply a softmax to logits first."
        )
    y = _column_labels(labels, n_samples=p.shape[0], n_classes=p.shape[1])
    rows = np.arange(p.shape[0])
    residual = -p
    residual[rows, y] += 1.0
    return {
        "energy0": float(np.linalg.norm(residual, axis=1).mean()),
        "loss0": float(-np.log(np.maximum(p[rows, y], PROB_FLOOR)).mean()),
        "acc0": float((p.argmax(axis=1) == y).mean()),
    }


def _column_labels(labels: Any, *, n_samples: int, n_classes: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != n_samples or y.dtype.kind not in "iu":
        raise InvalidInputError(
            f"initial_energy: labels must be {n_samples} integer class indices, got shape {y.shape} "
            f"and dtype {y.dtype}; encode classes as 0..{n_classes - 1} matching the probability columns."
        )
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise InvalidInputError(
            f"initial_energy: labels range over [{y.min()}, {y.max()}] but probabilities have {n_classes} "
            "columns; every label must index a column."
        )
    return y.astype(np.int64)


def _check_epochs(epochs: Sequence[int]) -> list[int]:
    values = list(epochs)
    if not values or any(not isinstance(e, (int, np.integer)) or e < 0 for e in values) or values != sorted(set(values)):
        raise InvalidInputError(
            f"head_probing_curve: epochs must be a non-empty increasing sequence of distinct non-negative ints, "
            f"got {epochs!r}; e.g. epochs=(0, 1, 2, 5, 10, 20)."
        )
    return [int(e) for e in values]


def head_probing_curve(
    features: Any,
    labels: Any,
    *,
    epochs: Sequence[int] = (0, 1, 2, 5, 10, 20),
    lr: float = 0.01,
    momentum: float = 0.9,
    batch_size: int = 64,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Energy, loss and accuracy of a linear head probed on frozen features, after each epoch count.

    The head is ``nn.Linear(D, K)`` with PyTorch's default initialisation, trained by SGD with momentum on
    the cross-entropy in shuffled mini-batches (last partial batch kept), as a head-probing stage before
    fine-tuning (Ren et al., ICLR 2023). Everything is seeded and runs in float64 on the CPU, so the same
    input gives the same curve.

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): frozen features.
        labels (`array-like` of shape `(n_samples,)`): class labels (ints or strings; re-encoded).
        epochs (`Sequence[int]`, *optional*): increasing epoch counts at which to measure; 0 is the
            untrained head.
        lr (`float`, *optional*): SGD learning rate.
        momentum (`float`, *optional*): SGD momentum.
        batch_size (`int`, *optional*): mini-batch size.
        seed (`int`, *optional*): seeds the head's initialisation and the shuffling.

    Returns:
        `list[dict[str, float]]`: one dict per requested epoch count with keys ``"epoch"``, ``"energy0"``,
        ``"loss0"`` and ``"acc0"`` measured on the training samples (see :func:`initial_energy`).

    Raises:
        InvalidInputError: bad features/labels, epochs, or non-positive ``lr``/``batch_size``.
    """
    import torch  # deferred: initial_energy (used by every LEAD call) must not pay torch's import time

    x = check_features(features, scorer="head_probing_curve")
    y, classes = check_labels(labels, n_samples=x.shape[0], scorer="head_probing_curve")
    schedule = _check_epochs(epochs)
    if not lr > 0 or not 0 <= momentum < 1 or int(batch_size) < 1:
        raise InvalidInputError(
            f"head_probing_curve: need lr > 0, 0 <= momentum < 1 and batch_size >= 1, got lr={lr!r}, "
            f"momentum={momentum!r}, batch_size={batch_size!r}."
        )
    generator = torch.Generator().manual_seed(seed)
    bound = 1.0 / np.sqrt(x.shape[1])  # nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    weight = ((torch.rand(x.shape[1], classes.size, generator=generator, dtype=torch.float64) * 2 - 1) * bound)
    bias = ((torch.rand(classes.size, generator=generator, dtype=torch.float64) * 2 - 1) * bound)
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    opt = torch.optim.SGD([weight, bias], lr=lr, momentum=momentum)
    xt, yt = torch.from_numpy(np.array(x)), torch.from_numpy(y)
    curve, done = [], 0
    for target in schedule:
        for _ in range(target - done):
            for batch in torch.randperm(xt.shape[0], generator=generator).split(int(batch_size)):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(xt[batch] @ weight + bias[None], yt[batch]).backward()
                opt.step()
        done = target
        with torch.no_grad():
            probs = torch.softmax(xt @ weight + bias, dim=1).numpy()
        curve.append({"epoch": float(target), **initial_energy(probs, y)})
    return curve
