"""Preprocessing: one-hot labels, padding ragged sequences (Keras), standardising features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad.data._checks import as_array, check_int
from tapegrad.tensor import get_default_dtype

__all__ = ["one_hot", "pad_sequences", "Standardizer"]

_MAX_ONE_HOT = 2**32  # numbers in a one-hot result: beyond this a label is surely not a class


def one_hot(labels: Any, num_classes: int | None = None, dtype: Any = None) -> np.ndarray:
    """Integer class labels -> one-hot rows (Keras's `to_categorical`), float32 by default.

    >>> one_hot([0, 2], 3)
    array([[1., 0., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    y = as_array(labels, "labels", "one_hot")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise ValueError("one_hot: labels must be whole numbers (class indices)")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "iub":
        raise ValueError(f"one_hot: labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:  # a column of labels, as Keras accepts
        y = y[..., 0]
    if y.size and y.min() < 0:
        raise ValueError(f"one_hot: labels must be >= 0, got {int(y.min())}")
    top = int(y.max()) + 1 if y.size else 0
    if num_classes is None:
        num_classes = top
    else:
        num_classes = check_int(num_classes, "num_classes", "one_hot", minimum=0)
        if top > num_classes:
            raise ValueError(f"one_hot: label {top - 1} does not fit num_classes={num_classes}")
    size = y.size * num_classes
    if size > _MAX_ONE_HOT:
        raise ValueError(f"one_hot: {y.size} labels with {num_classes} classes make "
                         f"{size:.3g} numbers (more than {_MAX_ONE_HOT:.0e}); labels must be "
                         f"class indices 0..num_classes-1 (largest label here: {top - 1})")
    try:
        dt = np.dtype(dtype if dtype is not None else get_default_dtype())
    except TypeError as e:
        raise TypeError(f"one_hot: dtype {dtype!r} is not a NumPy dtype") from e
    out = np.zeros((*y.shape, num_classes), dtype=dt)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


def pad_sequences(sequences: Sequence[Any], maxlen: int | None = None, dtype: Any = "int32",
                  padding: str = "pre", truncating: str = "pre",
                  value: float = 0.0) -> np.ndarray:
    """Pad (or cut) sequences of different lengths to one length, like Keras.

    `padding`/`truncating` = "pre" adds/removes at the start, "post" at the end; `maxlen=None`
    uses the longest sequence.

    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2)
    array([[2, 3],
           [0, 4]], dtype=int32)
    """
    for kw, v in (("padding", padding), ("truncating", truncating)):
        if not isinstance(v, str) or v not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {kw} must be 'pre' or 'post', got {v!r}")
    try:
        seqs = [np.asarray(s) for s in sequences]
    except (TypeError, ValueError) as e:
        raise ValueError(f"pad_sequences: each sequence must be array-like: {e}") from None
    for i, s in enumerate(seqs):
        if s.ndim == 0:
            raise ValueError(f"pad_sequences: sequence {i} is a scalar ({s!r}); expected a "
                             f"list of sequences")
        if s.dtype == object:
            raise ValueError(f"pad_sequences: sequence {i} is ragged inside")
        if s.dtype.kind not in "biuf":
            raise ValueError(f"pad_sequences: sequence {i} must hold numbers, got dtype "
                             f"{s.dtype}")
    trailing = next((s.shape[1:] for s in seqs if len(s)), ())
    for i, s in enumerate(seqs):
        if len(s) and s.shape[1:] != trailing:
            raise ValueError(f"pad_sequences: sequence {i} has element shape {s.shape[1:]}, "
                             f"the others {trailing}")
    if maxlen is None:
        maxlen = max((len(s) for s in seqs), default=0)
    else:
        maxlen = check_int(maxlen, "maxlen", "pad_sequences", minimum=0)
    out = np.full((len(seqs), maxlen, *trailing), _fill_value(value, dtype), dtype=dtype)
    for i, s in enumerate(seqs):
        if not len(s) or not maxlen:
            continue
        cut = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "post":
            out[i, :len(cut)] = cut
        else:
            out[i, maxlen - len(cut):] = cut
    return out


def _fill_value(value: Any, dtype: Any) -> Any:
    """`value` if `dtype` holds it exactly (NaN in an int array, 0.5 in int32 or 300 in uint8
    would silently become another number), else a ValueError."""
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"pad_sequences: dtype {dtype!r} is not a NumPy dtype") from e
    try:
        v = np.asarray(value)
        if v.ndim != 0 or v.dtype.kind not in "biuf":
            raise TypeError
    except (TypeError, ValueError):
        raise TypeError(f"pad_sequences: value must be a number, got {value!r}") from None
    if dt.kind in "iub":
        fv = float(v)
        if not np.isfinite(fv) or fv != round(fv) or not (
                dt.kind == "b" or np.iinfo(dt).min <= fv <= np.iinfo(dt).max):
            raise ValueError(f"pad_sequences: value {value!r} cannot be stored in dtype {dt}; "
                             f"use a float dtype (e.g. dtype='float32') or a whole number in "
                             f"range")
    return value


class Standardizer:
    """Scale features to zero mean and unit variance using training-set statistics only.

    `fit(X_train)` stores the per-feature mean and standard deviation (population, ddof=0);
    `transform(X)` applies them to any data. Constant features get scale 1 (they become 0).

    >>> s = Standardizer().fit(np.array([[0.0, 5.0], [2.0, 5.0]]))
    >>> s.transform(np.array([[1.0, 5.0], [3.0, 6.0]]))
    array([[0., 0.],
           [2., 1.]])
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, X: Any) -> Standardizer:
        """Learn the mean and scale of each feature (column) of `X`; returns self."""
        X = as_array(X, "X", "Standardizer.fit")
        if len(X) == 0:
            raise ValueError("Standardizer.fit: X has no samples")
        Xf = X.astype(np.float64)
        if not np.all(np.isfinite(Xf)):
            raise ValueError("Standardizer.fit: X contains NaN or infinite values")
        self.mean_ = Xf.mean(axis=0)
        std = Xf.std(axis=0)
        self.scale_ = np.where(std > 1e-12 * np.maximum(np.abs(self.mean_), 1.0), std, 1.0)
        return self

    def _check(self, X: Any, where: str) -> np.ndarray:
        if self.mean_ is None:
            raise RuntimeError(f"Standardizer.{where}: not fitted; call fit(X_train) first")
        X = as_array(X, "X", f"Standardizer.{where}")
        if X.shape[1:] != self.mean_.shape:
            raise ValueError(f"Standardizer.{where}: X has feature shape {X.shape[1:]}, but "
                             f"the standardizer was fitted on {self.mean_.shape}")
        return X

    @staticmethod
    def _out_dtype(X: np.ndarray) -> np.dtype:
        return X.dtype if X.dtype.kind == "f" else get_default_dtype()

    def transform(self, X: Any) -> np.ndarray:
        """`(X - mean) / scale` with the fitted statistics (float dtype kept, ints -> float)."""
        X = self._check(X, "transform")
        return ((X - self.mean_) / self.scale_).astype(self._out_dtype(X))

    def fit_transform(self, X: Any) -> np.ndarray:
        """`fit(X)` then `transform(X)` (use on the training set only)."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Undo `transform`: `X * scale + mean`."""
        X = self._check(X, "inverse_transform")
        return (X * self.scale_ + self.mean_).astype(self._out_dtype(X))
