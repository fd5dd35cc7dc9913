"""Indexing: `x[key]` for ints, slices, None, Ellipsis, integer arrays and boolean masks.

The gradient scatters back with `scatter_add`, which accumulates repeated indices; the two ops
are each other's gradient, so indexing is differentiable to any order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.ops._checks import reports_as
from tapegrad.ops.primitive import primitive
from tapegrad.ops.primitive import shape_of as _shape_of
from tapegrad.tensor import Tensor, as_operand


def _normalize_part(k: Any) -> Any:
    if isinstance(k, Tensor):  # a scalar or a mask fixes the result's shape: read in Python
        k = k.numpy() if k.ndim == 0 or k.dtype.kind == "b" else k._value
    if isinstance(k, list):
        k = np.asarray(k)
    if isinstance(k, np.ndarray):
        if k.dtype.kind not in "iub":
            raise IndexError(
                f"getitem: index arrays must be integers or booleans, not {k.dtype}")
        if k.ndim == 0 and k.dtype.kind != "b":
            return int(k)
    elif isinstance(k, float):
        raise IndexError(f"getitem: float index {k!r}; use an int")
    return k


def normalize_key(key: Any) -> Any:
    """Turn Tensors and lists inside an index into ndarrays (static, never differentiated)."""
    if isinstance(key, tuple):
        return tuple(_normalize_part(k) for k in key)
    return _normalize_part(key)


def _is_advanced(key: Any) -> bool:
    parts = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, np.ndarray) and k.dtype.kind != "b" for k in parts)


@primitive(name="getitem", phrase="scatter g into zeros shaped like x")
def _getitem_p(x, *, key):
    return x[key]


@primitive(phrase="gather g at the scattered positions")
def scatter_add(g, *, key, shape):
    """Zeros of `shape` with `g` added at `key` (repeated indices accumulate); getitem's gradient.

    >>> import tapegrad as tg
    >>> import numpy as np
    >>> tg.scatter_add(tg.tensor([1.0, 1.0]), key=(np.array([0, 0]),), shape=(3,)).numpy()
    array([2., 0., 0.], dtype=float32)
    """
    z = np.zeros(shape, dtype=g.dtype if hasattr(g, "dtype") else np.float64)
    if _is_advanced(key):
        np.add.at(z, key, g)
    else:
        z[key] = g
    return z


_getitem_p.defvjp(lambda g, ans, x, key: scatter_add(g, key=key, shape=_shape_of(x)))
scatter_add.defvjp(lambda g, ans, x, key, shape: _getitem_p(g, key=key))


def _batched_getitem(g, x, key):
    """getitem's rule for a batch of upstream gradients (leading axis): scatter each row."""
    parts = key if isinstance(key, tuple) else (key,)
    arrays = [k for k, p in enumerate(parts) if isinstance(p, np.ndarray) and p.ndim > 0]
    if arrays and arrays[-1] - arrays[0] + 1 != len(arrays):
        return None  # separated array indices move to the front in NumPy: go row by row
    z = np.zeros((g.shape[0],) + x.shape, g.dtype)
    np.add.at(z, (slice(None),) + parts, g)
    return z


_getitem_p.defbatched(lambda i, g, ans, x, key: _batched_getitem(g, x, key))


def _getitem(x: Any, key: Any) -> Tensor:
    """Index with an already normalized key."""
    return _getitem_p(x, key=key)


def getitem(x: Any, key: Any) -> Tensor:
    """`x[key]` with NumPy semantics; repeated integer indices accumulate gradient.

    >>> import tapegrad as tg
    >>> x = tg.Variable([1.0, 2.0, 3.0])
    >>> with tg.GradientTape() as tape:
    ...     y = tg.sum(tg.getitem(x, [0, 0, 2]))
    >>> tape.gradient(y, x).numpy()
    array([2., 0., 1.], dtype=float32)
    """
    return _getitem_p(x, key=normalize_key(key))


@reports_as("take")
def take(x: Any, indices: Any, axis: int | None = None) -> Tensor:
    """Elements at `indices` along `axis` (flattened when None), as `numpy.take`; the indices
    must be integers (NumPy would read booleans as 0 and 1, not as a mask: use `x[mask]`).

    >>> import tapegrad as tg
    >>> tg.take(tg.tensor([10.0, 20.0, 30.0]), [2, 0]).numpy()
    array([30., 10.], dtype=float32)
    """
    from tapegrad.ops.shape import _tensor, normalize_axis, reshape

    x = _tensor(x, "take")
    idx = normalize_key(indices)
    if isinstance(idx, np.ndarray) and idx.dtype.kind == "b" or isinstance(idx, (bool, np.bool_)):
        raise IndexError("take: indices must be integers, not booleans (NumPy would read them "
                         "as 0 and 1); to select by a mask use x[mask]")
    if not isinstance(idx, (int, np.ndarray)):
        raise IndexError(f"take: indices must be an int or an array of ints, got {indices!r}")
    if axis is None:
        return _getitem_p(reshape(x, (-1,)), key=idx)
    ax = normalize_axis(axis, len(_shape_of(x)), "take")
    return _getitem_p(x, key=(slice(None),) * ax + (idx,))


def take_along_axis(x: Any, indices: Any, axis: int) -> Tensor:
    """Values of `x` at `indices` along `axis`, as `numpy.take_along_axis` (indices have x's
    number of dimensions; the gradient adds back at those positions, repeats accumulate).

    >>> import tapegrad as tg
    >>> x = tg.tensor([[10.0, 30.0, 20.0], [5.0, 4.0, 6.0]])
    >>> tg.take_along_axis(x, [[1], [2]], axis=1).numpy()
    array([[30.],
           [ 6.]], dtype=float32)
    """
    from tapegrad.ops.shape import normalize_axis

    x = x if isinstance(x, Tensor) else as_operand(x, "take_along_axis")
    shape = _shape_of(x)
    try:
        idx = np.asarray(indices._value if isinstance(indices, Tensor) else indices)
    except ValueError as e:
        raise ValueError(f"take_along_axis: indices are ragged: {e}") from e
    if idx.dtype.kind not in "iu":
        raise TypeError(f"take_along_axis: indices must be integers, got dtype {idx.dtype}")
    if idx.ndim != len(shape):
        raise ValueError(f"take_along_axis: indices of shape {idx.shape} must have as many "
                         f"dimensions as x of shape {shape}")
    axis = normalize_axis(axis, len(shape), "take_along_axis")
    n = shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"take_along_axis: indices must lie in [-{n}, {n}) along axis {axis} "
                         f"of x of shape {shape}")
    try:
        out = np.broadcast_shapes(idx.shape, shape[:axis] + (1,) + shape[axis + 1:])
    except ValueError as e:
        raise ValueError(f"take_along_axis: indices of shape {idx.shape} do not broadcast "
                         f"against x of shape {shape} outside axis {axis}") from e
    out = out[:axis] + idx.shape[axis:axis + 1] + out[axis + 1:]
    grid = list(np.ix_(*(np.arange(s) for s in out)))
    grid[axis] = np.broadcast_to(idx, out) % n
    return _getitem_p(x, key=tuple(grid))


__all__ = [  # the public ops of this family (tapegrad.ops exports exactly these)
    "getitem", "scatter_add", "take", "take_along_axis",
]
