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
PLATT_MAX_ITER = 50  # a safety cap: with Platt's smoothed targets Newton converges in well under 20 steps
PLATT_BLOCK = 1 << 14  # values per block of a pass over the decision values
PLATT_WARM_START_VALUES = 1 << 18  # size of the row subsample whose fit starts the full one


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


def _platt_sums(f: np.ndarray, slope: float, offset: float) -> np.ndarray:
    """Sums over the flat values ``f`` at ``z = slope f + offset``: softplus(z), q f, q, w f^2, w f, w with
    ``q = sigmoid(z)`` and ``w = q (1 - q)``: the loss, gradient and Hessian of the Platt fit in one pass.

    Blocks keep the temporaries in cache: a pass costs about as much as one full-size ufunc call.
    """
    sums = np.zeros(6)
    for start in range(0, f.size, PLATT_BLOCK):
        fb = f[start : start + PLATT_BLOCK]
        z = fb * slope + offset
        abs_z = np.abs(z)
        e = np.exp(-abs_z)  # exp(-|z|) never overflows
        r = 1.0 / (1.0 + e)
        q = np.where(z >= 0.0, r, e * r)
        w = e * r * r  # q (1 - q) for either sign of z
        wf = w * fb
        softplus = (z.sum() + abs_z.sum()) / 2 + np.log1p(e).sum()  # max(z, 0) + log1p(exp(-|z|))
        sums += (softplus, q @ fb, q.sum(), wf @ fb, wf.sum(), w.sum())
    return sums


def _platt_newton(f: np.ndarray, target_dot: float, target_sum: float, start: np.ndarray, *, tol: float) -> np.ndarray:
    """Slope and offset minimising the mean cross-entropy of ``sigmoid(a f + b)`` against targets ``t``,
    given ``target_dot = sum t f`` and ``target_sum = sum t``, by damped Newton from ``start``; stops when
    the Newton decrement (the predicted gain of the next step) is below ``tol`` times the loss."""
    n = f.size

    def evaluate(params):
        s = _platt_sums(f, *params)
        loss = (s[0] - params[0] * target_dot - params[1] * target_sum) / n
        return loss, np.array([s[1] - target_dot, s[2] - target_sum]) / n, np.array([[s[3], s[4]], [s[4], s[5]]]) / n

    params = np.asarray(start, dtype=np.float64)
    current, grad, hess = evaluate(params)
    for _ in range(PLATT_MAX_ITER):
        step = np.linalg.solve(hess + 1e-12 * np.eye(2), grad)
        if grad @ step / 2.0 <= tol * current:
            return params - step  # inside the quadratic region: the last full step needs no check
        scale = 1.0
        while (candidate := evaluate(params - scale * step))[0] > current:
            scale /= 2.0  # backtracking keeps every step a descent step
            if scale < 1e-6:
                return params
        params = params - scale * step
        current, grad, hess = candidate
    return params


def _platt_parameters(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Slope and offset of one sigmoid shared by all classes, fitted by cross-entropy (Platt 1999).

    Platt's smoothed targets, ``(N+ + 1) / (N+ + 2)`` for the N values of the true classes and
    ``1 / (N- + 2)`` for the others, keep the fit finite when the decision values separate the classes.
    Newton first runs on a subsample of rows (a starting point), then on all N x K values: the full
    fit then needs only the few quadratically convergent steps, the pass over N x K values being the cost.
    """
    n, k = values.shape
    target_pos, target_neg = (n + 1) / (n + 2), 1.0 / (n * (k - 1) + 2)

    def targets(block, block_labels):
        pos_sum = block[np.arange(block_labels.shape[0]), block_labels].sum()
        target_dot = target_pos * pos_sum + target_neg * (block.sum() - pos_sum)
        return target_dot, target_pos * block_labels.shape[0] + target_neg * (block.size - block_labels.shape[0])

    start = np.array([1.0, 0.0])
    stride = -(-values.size // PLATT_WARM_START_VALUES)
    if stride > 1:
        rows = slice(None, None, stride)
        start = _platt_newton(np.ravel(values[rows]), *targets(values[rows], labels[rows]), start, tol=1e-8)
    return _platt_newton(values.ravel(), *targets(values, labels), start, tol=1e-10)


def _softmax_temperature(values: np.ndarray, labels: np.ndarray) -> float:
    """Temperature of the softmax minimising the cross-entropy (searched on log T)."""
    rows = np.arange(labels.shape[0])

    def ce(log_t):
        return -log_softmax(values / np.exp(log_t), axis=1)[rows, labels].mean()

    # log T to 1e-3 (0.1 % in T): finer steps do not move the score, and each step costs a pass over N x K.
    return float(np.exp(minimize_scalar(ce, bounds=(-7.0, 7.0), method="bounded", options={"xatol": 1e-3}).x))


def decision_to_probabilities(values: np.ndarray, labels: np.ndarray, *, prob_norm: str, calibrate: bool) -> np.ndarray:
    """Per-class probabilities (N, K) from decision values (N, K).

    ``"sigmoid"``: squash each class's value with a sigmoid, then divide by the row sum (Platt-style; a
    fitted slope below 0 is clipped to 0);
    ``"softmax"``: softmax over the classes. With ``calibrate`` the sigmoid's slope/offset or the
    softmax temperature are fitted to the labels (two or one scalars: they rescale, never reorder).
    """
    if prob_norm == "sigmoid":
        slope, offset = _platt_parameters(values, labels) if calibrate else (1.0, 0.0)
        # A negative slope would turn values that anti-correlate with the labels into confidence. Held-out
        # values of a probe that memorised noise do anti-correlate (leaving a sample out moves its class away
        # from it), so they are treated as what they are: no information (slope 0, uniform rows).
        p = expit(max(slope, 0.0) * values + offset)
        return p / p.sum(axis=1, keepdims=True)
    temperature = _softmax_temperature(values, labels) if calibrate else 1.0
    return np.exp(log_softmax(values / temperature, axis=1))
