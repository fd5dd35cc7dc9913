"""Loss functions with Keras's names: `loss(y_true, y_pred) -> scalar`, the mean over the batch.

Probabilities are clipped to [EPSILON, 1 - EPSILON] (EPSILON = 1e-7, as Keras) before a log. With
`from_logits=True` the fused, stable forms are used instead:
- categorical: -sum(y * log_softmax(logits)), gradient (softmax(logits) - y) / batch;
- binary: softplus(x) - x * z, where softplus is computed as max(x, 0) + log1p(exp(-|x|));
  softplus's rule is g * sigmoid(x), so the loss gradient is (p - y) / batch (to rounding).
A label vector of shape (batch,) against predictions (batch, 1) is reshaped to match (Keras does
the same), so (batch,) vs (batch, 1) never broadcasts to (batch, batch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad import _args, ops
from tapegrad.config import Configurable
from tapegrad.ops import nondifferentiable
from tapegrad.state import name_scope
from tapegrad.tensor import Tensor, as_tensor

__all__ = [
    "EPSILON", "mean_squared_error", "mean_absolute_error", "huber", "binary_crossentropy",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "mse", "mae",
    "MeanSquaredError", "MeanAbsoluteError", "Huber", "BinaryCrossentropy",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Loss", "get",
    "sigmoid_cross_entropy_with_logits",
]

EPSILON = 1e-7


def _input(x: Any, name: str, what: str) -> Tensor:
    try:
        return as_tensor(x)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{name}: {what}: {e}") from e


def _pair(y_true: Any, y_pred: Any, name: str) -> tuple[Tensor, Tensor]:
    """y_pred as a float Tensor, y_true cast to its dtype and shaped like it."""
    y_pred = _input(y_pred, name, "y_pred")
    if y_pred.dtype.kind != "f":
        y_pred = ops.astype(y_pred, np.float32)
    y_true = _input(y_true, name, "y_true")
    if y_true.dtype != y_pred.dtype:
        y_true = ops.astype(y_true, y_pred.dtype)
    ts, ps = y_true.shape, y_pred.shape
    if ts != ps:
        if len(ts) + 1 == len(ps) and ps[-1] == 1 and ts == ps[:-1]:
            y_true = ops.reshape(y_true, ps)
        elif len(ps) + 1 == len(ts) and ts[-1] == 1 and ps == ts[:-1]:
            y_true = ops.reshape(y_true, ps)
        else:
            raise ValueError(f"{name}: y_true of shape {ts} does not match y_pred of shape {ps}")
    return y_true, y_pred


def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """mean((y_true - y_pred)**2).

    >>> import tapegrad as tg
    >>> float(mean_squared_error([1.0, 2.0], tg.tensor([1.0, 4.0])))
    2.0
    """
    y_true, y_pred = _pair(y_true, y_pred, "mean_squared_error")
    d = y_pred - y_true
    return ops.mean(d * d)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """mean(|y_true - y_pred|) (gradient 0 where they are equal).

    >>> import tapegrad as tg
    >>> float(mean_absolute_error([1.0, 2.0], tg.tensor([1.0, 4.0])))
    1.0
    """
    y_true, y_pred = _pair(y_true, y_pred, "mean_absolute_error")
    return ops.mean(ops.abs(y_pred - y_true))


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Tensor:
    """mean of 0.5 e**2 where |e| <= delta, else delta * (|e| - 0.5 delta); e = y_pred - y_true.

    >>> import tapegrad as tg
    >>> float(huber([0.0, 0.0], tg.tensor([0.5, 3.0])))
    1.3125
    """
    y_true, y_pred = _pair(y_true, y_pred, "huber")
    err = ops.abs(y_pred - y_true)
    quad = ops.minimum(err, float(delta))
    return ops.mean(0.5 * quad * quad + float(delta) * (err - quad))


def sigmoid_cross_entropy_with_logits(labels: Any, logits: Any) -> Tensor:
    """Elementwise softplus(x) - x z = max(x, 0) - x z + log1p(exp(-|x|)) (stable for any x);
    its gradient is sigmoid(x) - z (softplus's rule is g * sigmoid(x)).

    >>> import tapegrad as tg
    >>> round(float(sigmoid_cross_entropy_with_logits(tg.tensor(1.0), tg.tensor(0.0))), 4)
    0.6931
    """
    return ops.softplus(logits) - logits * labels


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False) -> Tensor:
    """mean of -(y log p + (1 - y) log(1 - p)), p clipped to [1e-7, 1 - 1e-7]; with
    `from_logits=True` the stable logits form (gradient exactly (sigmoid(x) - y) / n).

    >>> import tapegrad as tg
    >>> round(float(binary_crossentropy([1.0, 0.0], tg.tensor([0.9, 0.1]))), 4)
    0.1054
    """
    y_true, y_pred = _pair(y_true, y_pred, "binary_crossentropy")
    if from_logits:
        return ops.mean(sigmoid_cross_entropy_with_logits(y_true, y_pred))
    p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
    return -ops.mean(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                             axis: int = -1) -> Tensor:
    """Batch mean of -sum(y_true * log p) over classes for one-hot (or soft) labels.

    Probabilities are renormalized to sum to 1 and clipped to [1e-7, 1 - 1e-7] (Keras);
    `from_logits=True` uses log_softmax (gradient (softmax - y) / batch).

    >>> import tapegrad as tg
    >>> round(float(categorical_crossentropy([[0.0, 1.0]], tg.tensor([[0.2, 0.8]]))), 4)
    0.2231
    """
    y_true, y_pred = _pair(y_true, y_pred, "categorical_crossentropy")
    if from_logits:
        logp = ops.log_softmax(y_pred, axis=axis)
    else:
        p = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
        logp = ops.log(ops.clip(p, EPSILON, 1.0 - EPSILON))
    return -ops.mean(ops.sum(y_true * logp, axis=axis))


def _check_labels(labels: np.ndarray, *, n_classes: int) -> np.ndarray:
    """Integer class indices in [0, n_classes), as intp (else a ValueError naming the loss)."""
    if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
        raise ValueError("sparse_categorical_crossentropy: labels must be integer class "
                         "indices (use categorical_crossentropy for one-hot labels)")
    labels = labels.astype(np.intp)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"sparse_categorical_crossentropy: labels must be in [0, {n_classes}), "
                         f"got values from {labels.min()} to {labels.max()}")
    return labels


_class_labels = nondifferentiable(_check_labels, "check_class_labels")


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                                    axis: int = -1) -> Tensor:
    """categorical_crossentropy with integer class labels of shape (batch,) or (batch, 1).

    >>> import tapegrad as tg
    >>> round(float(sparse_categorical_crossentropy([1], tg.tensor([[0.2, 0.8]]))), 4)
    0.2231
    """
    y_pred = _input(y_pred, "sparse_categorical_crossentropy", "y_pred")
    if y_pred.dtype.kind != "f":
        y_pred = ops.astype(y_pred, np.float32)
    labels = _input(y_true, "sparse_categorical_crossentropy", "y_true")
    ps = y_pred.shape
    if len(ps) < 1:
        raise ValueError("sparse_categorical_crossentropy: y_pred must have a class axis")
    if axis not in (-1, len(ps) - 1):
        raise ValueError("sparse_categorical_crossentropy: only the last axis can hold classes")
    if labels.shape == ps[:-1] + (1,):
        labels = ops.reshape(labels, ps[:-1])
    if labels.shape != ps[:-1]:
        raise ValueError(f"sparse_categorical_crossentropy: labels of shape {labels.shape} do "
                         f"not fit predictions of shape {ps} (expected {ps[:-1]})")
    n_classes = ps[-1]
    try:  # an op, so that a `tg.function` replay checks every call's labels too
        labels = _class_labels(labels, n_classes=n_classes)
    except ValueError as e:  # the check's own message names this loss, not the internal op
        raise ValueError(str(e.__cause__ or e)) from e
    if from_logits:
        logp = ops.log_softmax(y_pred, axis=-1)
    else:
        p = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
        logp = ops.log(ops.clip(p, EPSILON, 1.0 - EPSILON))
    is_label = ops.equal(ops.reshape(labels, labels.shape + (1,)), np.arange(n_classes))
    picked = ops.sum(ops.where(is_label, logp, 0.0), axis=-1)  # each label's log-probability
    return -ops.mean(picked)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error


class Loss(Configurable):
    """A loss as an object (for `compile`): `loss(y_true, y_pred) -> scalar`.

    >>> import tapegrad as tg
    >>> class AbsSum(Loss):  # subclasses implement `call`; `__call__` adds the name scope
    ...     name = "abs_sum"
    ...     def call(self, y_true, y_pred):
    ...         return tg.sum(tg.abs(y_pred - y_true))
    >>> float(AbsSum()([0.0, 0.0], tg.tensor([1.0, -2.0])))
    3.0
    """

    name = "loss"

    def __call__(self, y_true: Any, y_pred: Any) -> Tensor:
        with name_scope(self.name):  # so graph pictures group the loss's ops under its name
            return self.call(y_true, y_pred)

    def call(self, y_true: Any, y_pred: Any) -> Tensor:
        """Subclasses compute the loss here."""
        raise NotImplementedError


class MeanSquaredError(Loss):
    """Object form of `mean_squared_error`.

    >>> import tapegrad as tg
    >>> float(MeanSquaredError()([0.0], tg.tensor([2.0])))
    4.0
    """

    name = "mean_squared_error"

    def call(self, y_true, y_pred):
        return mean_squared_error(y_true, y_pred)


class MeanAbsoluteError(Loss):
    """Object form of `mean_absolute_error`.

    >>> import tapegrad as tg
    >>> float(MeanAbsoluteError()([0.0, 1.0], tg.tensor([1.0, 3.0])))
    1.5
    """

    name = "mean_absolute_error"

    def call(self, y_true, y_pred):
        return mean_absolute_error(y_true, y_pred)


class Huber(Loss):
    """Object form of `huber(delta)`: quadratic for errors up to `delta`, linear beyond.

    >>> import tapegrad as tg
    >>> float(Huber(delta=1.0)([0.0, 0.0], tg.tensor([0.5, 3.0])))  # (0.125 + 2.5) / 2
    1.3125
    """

    name = "huber"

    def __init__(self, delta: float = 1.0):
        self.delta = _args.number(delta, "Huber", "delta", 0.0, low_open=True)

    def call(self, y_true, y_pred):
        return huber(y_true, y_pred, self.delta)


class BinaryCrossentropy(Loss):
    """Object form of `binary_crossentropy(from_logits)`.

    >>> import tapegrad as tg
    >>> round(float(BinaryCrossentropy(from_logits=True)([1.0], tg.tensor([0.0]))), 4)  # log 2
    0.6931
    """

    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return binary_crossentropy(y_true, y_pred, self.from_logits)


class CategoricalCrossentropy(Loss):
    """Object form of `categorical_crossentropy(from_logits)`.

    >>> import tapegrad as tg
    >>> round(float(CategoricalCrossentropy()([[0.0, 1.0]], tg.tensor([[0.5, 0.5]]))), 4)
    0.6931
    """

    name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False, axis: int = -1):
        self.from_logits, self.axis = bool(from_logits), axis

    def call(self, y_true, y_pred):
        return categorical_crossentropy(y_true, y_pred, self.from_logits, self.axis)


class SparseCategoricalCrossentropy(Loss):
    """Object form of `sparse_categorical_crossentropy(from_logits)` (integer labels).

    >>> import tapegrad as tg
    >>> round(float(SparseCategoricalCrossentropy()([1], tg.tensor([[0.5, 0.5]]))), 4)
    0.6931
    """

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits)


_BY_NAME: dict[str, Callable] = {
    "mean_squared_error": mean_squared_error, "mse": mse, "MSE": mse,
    "mean_absolute_error": mean_absolute_error, "mae": mae, "MAE": mae, "huber": huber,
    "binary_crossentropy": binary_crossentropy, "categorical_crossentropy":
    categorical_crossentropy, "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}
_CLASSES: dict[str, type] = {c.__name__: c for c in (
    MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy)}


def get(identifier: Any) -> Callable[[Any, Any], Tensor]:
    """A loss from a name (`"mse"`, `"categorical_crossentropy"`, `"Huber"`), a Loss class or
    object, or any callable `f(y_true, y_pred)`.

    >>> get("mse") is mean_squared_error
    True
    """
    if isinstance(identifier, str):
        if identifier in _BY_NAME:
            return _BY_NAME[identifier]
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise ValueError(f"unknown loss {identifier!r}; known: "
                         f"{sorted(_BY_NAME) + sorted(_CLASSES)}")
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"a loss must be a name or a callable f(y_true, y_pred), got {identifier!r}")


# -- Kullback-Leibler divergence (issue 14) ------------------------------------------------------
def kl_divergence(y_true: Any, y_pred: Any, axis: int = -1) -> Tensor:
    """Batch mean of sum(p * log(p / q)) over `axis`, p = y_true and q = y_pred both clipped to
    [1e-7, 1] (Keras's `kl_divergence`, alias `kld`): how many nats are lost when q stands in
    for p. It is 0 for q == p and never negative for distributions.

    >>> import tapegrad as tg
    >>> round(float(kl_divergence([[0.5, 0.5]], tg.tensor([[0.9, 0.1]]))), 4)  # 0.5 log(25/9)
    0.5108
    """
    y_true, y_pred = _pair(y_true, y_pred, "kl_divergence")
    p = ops.clip(y_true, EPSILON, 1.0)
    q = ops.clip(y_pred, EPSILON, 1.0)
    return ops.mean(ops.sum(p * ops.log(p / q), axis=axis))


kld = KLD = kullback_leibler_divergence = kl_divergence


class KLDivergence(Loss):
    """Object form of `kl_divergence(y_true, y_pred)`.

    >>> import tapegrad as tg
    >>> float(KLDivergence()([[0.25, 0.75]], tg.tensor([[0.25, 0.75]])))
    0.0
    """

    name = "kl_divergence"

    def __init__(self, axis: int = -1):
        self.axis = axis

    def call(self, y_true, y_pred):
        return kl_divergence(y_true, y_pred, self.axis)


__all__ += ["kl_divergence", "kld", "KLD", "kullback_leibler_divergence", "KLDivergence"]
_BY_NAME.update({"kl_divergence": kl_divergence, "kld": kld, "KLD": kld,
                 "kullback_leibler_divergence": kl_divergence})
_CLASSES["KLDivergence"] = KLDivergence
