"""LEAD's initial probe: decision values of a linear classifier on frozen features, as probabilities.

The least-squares SVM lives in :mod:`._ridge`; this module adds the multinomial logistic
alternative and the normalisation of decision values into per-class probabilities (Platt-style
sigmoid, Platt 1999, or softmax; optionally calibrated by one or two fitted scalars).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, log_expit, log_softmax

from ._ridge import FeatureMoments, ridge_ovr_decision, stratified_folds

__all__ = ["initial_decision_values", "decision_to_probabilities"]

LOGISTIC_MAX_ITER = 200


def _logistic_fit_predict(z_train, y_train, z_test, n_classes, reg):
    """Multinomial logistic regression (mean CE + reg/2 ||W||^2, bias free) by full-batch L-BFGS."""
    import torch  # only this optional probe needs torch; the default path stays numpy/scipy

    x = torch.from_numpy(z_train)
    y = torch.from_numpy(y_train)
    w = torch.zeros(z_train.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=LOGISTIC_MAX_ITER, tolerance_grad=1e-9, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w + b, y) + 0.5 * reg * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return (torch.from_numpy(z_test) @ w + b).numpy()


def _logistic_decision(x, labels, n_classes, *, cv, reg, moments, order_key):
    # Materialises the standardised features in float64: the logistic probe is for small inputs.
    z = (x - moments.mean) / moments.scale
    if cv == 0:
        return _logistic_fit_predict(z, labels, z, n_classes, reg)
    folds = stratified_folds(order_key, labels, cv)
    out = np.empty((x.shape[0], n_classes))
    for f in range(cv):
        test = folds == f
        out[test] = _logistic_fit_predict(z[~test], labels[~test], z[test], n_classes, reg)
    return out


def initial_decision_values(
    x: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    classifier: str,
    cv: int | str,
    reg: float,
    moments: FeatureMoments,
    order_key: np.ndarray,
) -> np.ndarray:
    """Decision values (N, K) of the initial classifier (``"svm"`` or ``"logistic"``), see ``_ridge``."""
    solver = ridge_ovr_decision if classifier == "svm" else _logistic_decision
    return solver(x, labels, n_classes, cv=cv, reg=reg, moments=moments, order_key=order_key)


def _platt_parameters(values: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Slope and offset of one sigmoid shared by all classes, fitted by binary cross-entropy."""
    target = np.zeros_like(values)
    target[np.arange(labels.shape[0]), labels] = 1.0
    f, t = values.ravel(), target.ravel()

    def loss_grad(p):
        s = p[0] * f + p[1]
        loss = -(t * log_expit(s) + (1 - t) * log_expit(-s)).mean()
        r = (expit(s) - t) / f.size
        return loss, np.array([r @ f, r.sum()])

    res = minimize(loss_grad, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def _softmax_temperature(values: np.ndarray, labels: np.ndarray) -> float:
    """Temperature of the softmax minimising the cross-entropy (searched on log T)."""
    rows = np.arange(labels.shape[0])

    def ce(log_t):
        return -log_softmax(values / np.exp(log_t), axis=1)[rows, labels].mean()

    # log T to 1e-3 (0.1 % in T): finer steps do not move the score, and each step costs a pass over N x K.
    return float(np.exp(minimize_scalar(ce, bounds=(-7.0, 7.0), method="bounded", options={"xatol": 1e-3}).x))


def decision_to_probabilities(values: np.ndarray, labels: np.ndarray, *, prob_norm: str, calibrate: bool) -> np.ndarray:
    """Per-class probabilities (N, K) from decision values (N, K).

    ``"sigmoid"``: squash each class's value with a sigmoid, then divide by the row sum (Platt-style);
    ``"softmax"``: softmax over the classes. With ``calibrate`` the sigmoid's slope/offset or the
    softmax temperature are fitted to the labels (two or one scalars: they rescale, never reorder).
    """
    if prob_norm == "sigmoid":
        slope, offset = _platt_parameters(values, labels) if calibrate else (1.0, 0.0)
        p = expit(slope * values + offset)
        return p / p.sum(axis=1, keepdims=True)
    temperature = _softmax_temperature(values, labels) if calibrate else 1.0
    return np.exp(log_softmax(values / temperature, axis=1))
