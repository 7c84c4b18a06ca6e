"""Calibration scores (a model that says 90% should be right 90% of the time) and
temperature scaling (Guo et al. 2017), fitted on validation. It divides the log of the
averaged probabilities (after test-time augmentation or an ensemble's average), which keeps the
order of the classes: the predicted class never changes, only how sure the model says it is.

    t = fit_temperature(val_proba, val_labels)
    calibrated = apply_temperature(test_proba, t)
    calibration_scores(test_labels, calibrated)   # {"ece": ..., "brier": ..., "nll": ...}
"""

from __future__ import annotations

import numpy as np
import pandas as pd

N_BINS = 15  # the usual choice since Guo et al. 2017; small test sets get noisy beyond it
_EPS = 1e-7  # probabilities are clipped here before a log (CSV rounding writes exact zeros)
_LOG_T_BOUNDS = (-3.0, 3.0)  # temperatures from 0.05 to 20: far past any model seen in practice


def _check(labels: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    proba = np.asarray(proba, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if proba.ndim != 2 or len(proba) != len(labels):
        raise ValueError(f"proba must be (N, classes) with N = len(labels) = {len(labels)}; "
                         f"got shape {proba.shape}.")
    return labels, proba


def log_probabilities(proba: np.ndarray) -> np.ndarray:
    """The log of (averaged) probabilities: the scores temperature scaling divides."""
    return np.log(np.clip(np.asarray(proba, dtype=np.float64), _EPS, 1.0))


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities with their log divided by ``temperature`` and renormalised (float32)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive; got {temperature}.")
    scaled = log_probabilities(proba) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def negative_log_likelihood(labels: np.ndarray, proba: np.ndarray) -> float:
    labels, proba = _check(labels, proba)
    return float(-log_probabilities(proba)[np.arange(len(labels)), labels].mean())


def brier_score(labels: np.ndarray, proba: np.ndarray) -> float:
    """Mean over images of the squared distance to the one-hot truth (0 best, 2 worst)."""
    labels, proba = _check(labels, proba)
    onehot = np.eye(proba.shape[1])[labels]
    return float(((proba - onehot) ** 2).sum(axis=1).mean())


def reliability_table(labels: np.ndarray, proba: np.ndarray, *, n_bins: int = N_BINS
                      ) -> pd.DataFrame:
    """Per equal-width confidence bin (empty ones kept): range, count, confidence, accuracy."""
    labels, proba = _check(labels, proba)
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        inside = which == b
        count = int(inside.sum())
        rows.append({"bin_low": edges[b], "bin_high": edges[b + 1], "count": count,
                     "confidence": float(confidence[inside].mean()) if count else np.nan,
                     "accuracy": float(correct[inside].mean()) if count else np.nan})
    return pd.DataFrame(rows)


def expected_calibration_error(labels: np.ndarray, proba: np.ndarray, *,
                               n_bins: int = N_BINS) -> float:
    """The gap between confidence and accuracy, averaged over bins weighted by their size."""
    table = reliability_table(labels, proba, n_bins=n_bins)
    filled = table[table["count"] > 0]
    if filled.empty:
        return 0.0
    gaps = (filled["confidence"] - filled["accuracy"]).abs()
    return float((gaps * filled["count"]).sum() / filled["count"].sum())


def calibration_scores(labels: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """ECE (15 bins), Brier score and NLL, with the number of images they are over."""
    return {"n": int(len(labels)), "ece": expected_calibration_error(labels, proba),
            "brier": brier_score(labels, proba), "nll": negative_log_likelihood(labels, proba)}


def fit_temperature(proba: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises validation NLL (one parameter: a bounded 1-D search)."""
    from scipy.optimize import minimize_scalar

    labels, proba = _check(labels, proba)
    if len(labels) == 0:
        raise ValueError("Fitting a temperature needs at least one validation image.")
    logp = log_probabilities(proba)
    rows = np.arange(len(labels))

    def nll(log_t: float) -> float:
        scaled = logp / np.exp(log_t)
        top = scaled.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))
        return float((log_norm - scaled[rows, labels]).mean())

    found = minimize_scalar(nll, bounds=_LOG_T_BOUNDS, method="bounded",
                            options={"xatol": 1e-4})
    return float(np.exp(found.x))
