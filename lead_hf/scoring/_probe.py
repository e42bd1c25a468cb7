"""LEAD's initial probe: decision values of a linear classifier on frozen features, as probabilities.

The least-squares SVM lives in :mod:`._ridge`; this module adds the multinomial logistic
alternative and the normalisation of decision values into per-class probabilities (Platt-style
sigmoid, Platt 1999, or softmax; optionally calibrated by one or two fitted scalars).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_softmax

from ._ridge import FeatureMoments, ridge_ovr_decision, stratified_folds

__all__ = ["initial_decision_values", "decision_to_probabilities"]

LOGISTIC_MAX_ITER = 200
# Newton converges in well under 25 steps unless the classes are separated by the decision values; then the
# slope grows without bound and after 25 steps P0 is one-hot to within float precision anyway.
PLATT_MAX_ITER = 25


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


def _platt_parameters(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Slope and offset of one sigmoid shared by all classes, fitted by binary cross-entropy (Newton).

    Two parameters on N*K points: damped Newton converges in a handful of passes over the values,
    where a quasi-Newton solver needs dozens (the pass over N*K values is the cost at large N and K).
    """
    f = values.ravel()
    f_sq = f * f
    rows = np.arange(labels.shape[0])
    pos_sum, n_pos, n = values[rows, labels].sum(), labels.shape[0], f.size

    def loss(p):  # mean BCE = mean softplus(s) - mean(t * s), the second term from the positives only
        return np.logaddexp(0.0, p[0] * f + p[1]).mean() - (p[0] * pos_sum + p[1] * n_pos) / n

    params = np.array([1.0, 0.0])
    current = loss(params)
    for _ in range(PLATT_MAX_ITER):
        q = expit(params[0] * f + params[1])
        w = q * (1.0 - q)
        grad = np.array([q @ f - pos_sum, q.sum() - n_pos]) / n
        hess = np.array([[w @ f_sq, w @ f], [w @ f, w.sum()]]) / n
        step = np.linalg.solve(hess + 1e-12 * np.eye(2), grad)
        scale = 1.0
        while scale > 1e-6 and (new := loss(params - scale * step)) > current:
            scale /= 2.0  # backtracking keeps every step a descent step
        if scale <= 1e-6:
            break
        params, improvement, current = params - scale * step, current - new, new
        if improvement <= 1e-12 * abs(current) or np.abs(scale * step).max() <= 1e-9 * (1.0 + np.abs(params).max()):
            break
    return params


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
