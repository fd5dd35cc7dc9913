"""Metrics with Keras's names: `metric(y_true, y_pred) -> float` over a batch (never recorded).

`accuracy` picks the right kind from the shapes, as Keras's compile does for "accuracy":
predictions with one column (or none) are binary probabilities (threshold 0.5); several columns
are class scores compared by argmax with one-hot labels of the same shape (categorical) or with
integer labels (sparse). For binary *logits* use `binary_accuracy(y, logits, threshold=0.0)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.config import lookup
from tapegrad.tensor import Tensor

__all__ = [
    "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "mean_absolute_error", "mean_squared_error", "mae", "mse", "get",
]


def _np(x: Any, name: str = "metric", what: str = "y") -> np.ndarray:
    """`x` as a numeric ndarray, or a TypeError/ValueError naming the metric and the argument."""
    if isinstance(x, Tensor):
        return x.numpy()
    if x is None or isinstance(x, (str, bytes, dict, set)):
        raise TypeError(f"{name}: {what} must be an array of numbers, got {type(x).__name__}")
    try:
        a = np.asarray(x)
    except ValueError as e:
        raise ValueError(f"{name}: {what} is ragged (rows of different lengths): {e}") from e
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name}: {what} must be numbers, got dtype {a.dtype}")
    return a


def _pair(y_true: Any, y_pred: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    t, p = _np(y_true, name, "y_true"), _np(y_pred, name, "y_pred")
    if p.size == 0:
        raise ValueError(f"{name}: y_pred is empty (shape {p.shape}); a metric needs samples")
    return t, p


def _match(y_true: np.ndarray, y_pred: np.ndarray, name: str) -> np.ndarray:
    """y_true reshaped like y_pred when they differ only by a trailing axis of size 1."""
    if y_true.shape == y_pred.shape:
        return y_true
    if y_true.size == y_pred.size and y_true.squeeze().shape == y_pred.squeeze().shape:
        return y_true.reshape(y_pred.shape)
    raise ValueError(f"{name}: y_true of shape {y_true.shape} does not match y_pred of shape "
                     f"{y_pred.shape}")


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> float:
    """Fraction of elements where (y_pred > threshold) equals y_true.

    >>> binary_accuracy([1, 0, 1], [0.9, 0.2, 0.4])
    0.6666666666666666
    """
    t, p = _pair(y_true, y_pred, "binary_accuracy")
    t = _match(t, p, "binary_accuracy")
    return float(np.mean((p > threshold) == (t > 0.5)))


def categorical_accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of rows whose argmax matches the argmax of the one-hot labels.

    >>> categorical_accuracy([[0, 1], [1, 0]], [[0.3, 0.7], [0.4, 0.6]])
    0.5
    """
    t, p = _pair(y_true, y_pred, "categorical_accuracy")
    if t.shape != p.shape:
        raise ValueError(f"categorical_accuracy: one-hot y_true of shape {t.shape} does not "
                         f"match y_pred of shape {p.shape}")
    return float(np.mean(np.argmax(t, axis=-1) == np.argmax(p, axis=-1)))


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of rows whose argmax equals the integer label.

    >>> sparse_categorical_accuracy([1, 0], [[0.3, 0.7], [0.4, 0.6]])
    0.5
    """
    t, p = _pair(y_true, y_pred, "sparse_categorical_accuracy")
    if p.ndim == 0:
        raise ValueError("sparse_categorical_accuracy: y_pred must have a class axis, got a "
                         "scalar")
    if t.shape == p.shape[:-1] + (1,):
        t = t.reshape(p.shape[:-1])
    if t.shape != p.shape[:-1]:
        raise ValueError(f"sparse_categorical_accuracy: labels of shape {t.shape} do not fit "
                         f"predictions of shape {p.shape}")
    return float(np.mean(np.argmax(p, axis=-1) == t.astype(np.int64)))


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Binary, categorical or sparse accuracy, chosen from the shapes (see the module doc).

    >>> accuracy([2, 0], [[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]])
    1.0
    """
    t, p = _pair(y_true, y_pred, "accuracy")
    if p.ndim == 0 or p.ndim == 1 or p.shape[-1] == 1:
        return binary_accuracy(t, p)
    if t.shape == p.shape:
        return categorical_accuracy(t, p)
    return sparse_categorical_accuracy(t, p)


def mean_absolute_error(y_true: Any, y_pred: Any) -> float:
    """mean(|y_true - y_pred|) as a float.

    >>> mean_absolute_error([1.0, 2.0], [1.5, 2.5])
    0.5
    """
    t, p = _pair(y_true, y_pred, "mean_absolute_error")
    return float(np.mean(np.abs(p - _match(t, p, "mean_absolute_error"))))


def mean_squared_error(y_true: Any, y_pred: Any) -> float:
    """mean((y_true - y_pred)**2) as a float.

    >>> mean_squared_error([1.0, 2.0], [1.5, 3.0])
    0.625
    """
    t, p = _pair(y_true, y_pred, "mean_squared_error")
    return float(np.mean((p - _match(t, p, "mean_squared_error")) ** 2))


mae = mean_absolute_error
mse = mean_squared_error

_BY_NAME: dict[str, Callable[[Any, Any], float]] = {
    "accuracy": accuracy, "acc": accuracy, "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "mean_absolute_error": mean_absolute_error, "mae": mae,
    "mean_squared_error": mean_squared_error, "mse": mse,
}


def get(identifier: Any) -> Callable[[Any, Any], float]:
    """A metric function from its name, or any callable `f(y_true, y_pred)`.

    >>> get("accuracy") is accuracy
    True
    """
    if isinstance(identifier, str):
        return lookup("metric", _BY_NAME, identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"a metric must be a name or a callable f(y_true, y_pred), "
                    f"got {identifier!r}")


# -- stateful metrics: running values over an epoch (what `fit` logs, as Keras 3) ----------------
class Metric:
    """A running value: `update_state(...)` per batch, `result()`, `reset_state()` at epoch
    start (`fit` resets every metric in `model.metrics`). Subclasses implement the three.

    >>> class Max(Metric):
    ...     def update_state(self, values):
    ...         self.top = max(self.top, float(np.max(values)))
    ...     def result(self):
    ...         return self.top
    ...     def reset_state(self):
    ...         self.top = -np.inf
    >>> m = Max(); m.reset_state(); m([1.0, 3.0]), m.name
    (3.0, 'max')
    """

    def __init__(self, name: str | None = None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, got {name!r}")
        self.name = name or _snake(type(self).__name__)

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def result(self) -> float:
        raise NotImplementedError

    def reset_state(self) -> None:
        raise NotImplementedError

    def __call__(self, *args: Any, **kwargs: Any) -> float:
        """Update with one batch and return the running result."""
        self.update_state(*args, **kwargs)
        return self.result()

    def __repr__(self) -> str:
        return f"<tg.metrics.{type(self).__name__} name={self.name!r} result={self.result()}>"


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower()
                   for i, c in enumerate(name))


class Mean(Metric):
    """The (weighted) mean of every value given to `update_state` since the last reset, as
    `keras.metrics.Mean`; values may be Tensors, arrays or numbers. A custom `train_step`
    keeps one per logged quantity (list them in the model's `metrics` property).

    >>> m = Mean(name="d_loss")
    >>> m.update_state([1.0, 3.0]); m.update_state(5.0, sample_weight=2.0)
    >>> m.result()
    3.5
    >>> m.reset_state(); m.result()
    0.0
    """

    def __init__(self, name: str = "mean") -> None:
        super().__init__(name)
        self.reset_state()

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        if isinstance(values, (int, float)) and isinstance(sample_weight, (int, float, type(None))):
            w = 1.0 if sample_weight is None else float(sample_weight)  # fit's per-batch path
            self.total += float(values) * w
            self.count += w
            return
        v = np.asarray(_np(values), dtype=np.float64)
        if v.dtype.kind not in "fiub":
            raise TypeError(f"Mean.update_state: values must be numbers, got dtype {v.dtype}")
        w = np.ones_like(v) if sample_weight is None else np.broadcast_to(
            np.asarray(_np(sample_weight), dtype=np.float64), v.shape)
        self.total += float(np.sum(v * w))
        self.count += float(np.sum(w))

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0


class MeanMetricWrapper(Mean):
    """The running mean (weighted by batch size) of a metric function `fn(y_true, y_pred)`;
    what `compile(metrics=[...])` makes of each metric.

    >>> m = MeanMetricWrapper(binary_accuracy, name="acc")
    >>> m.update_state([1, 0], [0.9, 0.8]); m.update_state([1, 1], [0.9, 0.8]); m.result()
    0.75
    """

    def __init__(self, fn: Callable[[Any, Any], Any], name: str | None = None) -> None:
        super().__init__(name or getattr(fn, "__name__", "metric"))
        self.fn = fn

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        shape = np.shape(_np(y_pred))
        super().update_state(float(_np(self.fn(y_true, y_pred))),
                             sample_weight=shape[0] if shape else 1)


__all__ += ["Mean", "MeanMetricWrapper", "Metric"]
