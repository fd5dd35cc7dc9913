"""Reductions and scans. `axis` is None (all), an int or a tuple; `keepdims` as in NumPy.

Rules re-expand the output gradient to the reduced axes and broadcast it back; max and min share
the gradient equally between tied maxima.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.ops._checks import reports_as
from tapegrad.ops.elementwise import abs, sqrt
from tapegrad.ops.primitive import float_valued, nondifferentiable, primitive
from tapegrad.ops.shape import (
    _getitem,
    _shape_of,
    _tensor,
    broadcast_to,
    concatenate,
    flip,
    normalize_axis,
    reshape,
    transpose,
)
from tapegrad.tensor import Tensor

Axis = int | tuple[int, ...] | None


def normalize_axes(axis: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """None, or a sorted tuple of distinct non-negative axes."""
    if axis is None:
        return None
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, (bool, np.bool_)):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:
        raise TypeError(f"{op}: axis must be None, an int or a tuple of ints, got {axis!r} "
                        f"({type(axis).__name__})")
    out = tuple(sorted({normalize_axis(a, ndim, op) for a in axes}))
    if len(out) != len(axes):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return out


def _keepdims(keepdims: Any, op: str) -> bool:
    if keepdims.__class__ is not bool and not isinstance(keepdims, np.bool_):
        raise TypeError(f"{op}: keepdims must be True or False, got {keepdims!r}")
    return bool(keepdims)


def _kept_shape(shape: tuple, axes: tuple | None) -> tuple:
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _expand(g: Any, x: Any, axes: tuple | None, keepdims: bool) -> Any:
    """Give the output gradient (or output) back its reduced axes as size-1 dims."""
    return g if keepdims else reshape(g, _kept_shape(_shape_of(x), axes))


def _count(x: Any, axes: tuple | None) -> int:
    shape = _shape_of(x)
    return int(np.prod([shape[a] for a in axes])) if axes is not None else int(np.prod(shape))


def _reducer(prim: Any, doc: str) -> Any:
    def op(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
        x = _tensor(x, prim.name)
        axes = normalize_axes(axis, len(_shape_of(x)), prim.name)
        return prim(x, axis=axes, keepdims=_keepdims(keepdims, prim.name))

    op.__name__ = op.__qualname__ = prim.name
    op.__doc__ = prim.__doc__ = doc
    op.primitive = prim  # type: ignore[attr-defined]
    return op


@primitive(name="sum", phrase="d sum(x)/dx = 1: g copied back to every element")
def _sum(x, *, axis, keepdims):
    return np.add.reduce(x, axis=axis, keepdims=keepdims)  # (np.sum without its dispatch)


@primitive(name="mean", phrase="d mean(x)/dx = 1/n: g/n copied back")
def _mean(x, *, axis, keepdims):
    return np.mean(x, axis=axis, keepdims=keepdims)


@primitive(name="max", phrase="d max(x)/dx = 1 at the maximum")
def _max(x, *, axis, keepdims):
    return np.maximum.reduce(x, axis=axis, keepdims=keepdims)


@primitive(name="min", phrase="d min(x)/dx = 1 at the minimum")
def _min(x, *, axis, keepdims):
    return np.minimum.reduce(x, axis=axis, keepdims=keepdims)


@primitive(name="prod", phrase="d prod(x)/dx = prod(x)/x")
def _prod(x, *, axis, keepdims):
    return np.prod(x, axis=axis, keepdims=keepdims)


def _extremum_vjp(g, ans, x, axis, keepdims):
    ans = _expand(ans, x, axis, keepdims)
    mask = x == ans
    share = mask / _sum(mask, axis=axis, keepdims=True)
    return _expand(g, x, axis, keepdims) * share


_sum.defvjp(lambda g, ans, x, axis, keepdims:
            broadcast_to(_expand(g, x, axis, keepdims), _shape_of(x)))
_mean.defvjp(lambda g, ans, x, axis, keepdims:
             broadcast_to(_expand(g, x, axis, keepdims) / _count(x, axis), _shape_of(x)))
_max.defvjp(_extremum_vjp)


def _batched_sum_like(g, x, axis, keepdims, scale=1.0):
    """The sum's rule for a batch of upstream gradients (leading axis): copy back, scaled."""
    n = g.shape[0]
    if not keepdims:
        kept = tuple(1 if axis is None or i in axis else s for i, s in enumerate(x.shape))
        g = g.reshape((n,) + kept)
    return np.broadcast_to(g * scale, (n,) + x.shape)


_sum.defbatched(lambda i, g, ans, x, axis, keepdims: _batched_sum_like(g, x, axis, keepdims))
_mean.defbatched(lambda i, g, ans, x, axis, keepdims: _batched_sum_like(
    g, x, axis, keepdims, 1.0 / (x.size / max(ans.size, 1))))
_min.defvjp(_extremum_vjp)


def _products_before(x: Any, n: int) -> Any:
    """Exclusive cumulative products along the last axis (1, x0, x0 x1, ...), by log2(n) rounds
    of shifted multiplies (a Hillis-Steele scan): no division, so exact at zeros and tiny values
    and differentiable again by the multiply rule."""
    ones = np.ones(_shape_of(x)[:-1] + (1,), dtype=x.dtype)
    y = concatenate([ones, _getitem(x, (Ellipsis, slice(0, n - 1)))], axis=-1)
    shift = 1
    while shift < n:
        y = concatenate([_getitem(y, (Ellipsis, slice(0, shift))),
                         _getitem(y, (Ellipsis, slice(shift, n)))
                         * _getitem(y, (Ellipsis, slice(0, n - shift)))], axis=-1)
        shift *= 2
    return y


def _prod_vjp(g, ans, x, axis, keepdims):
    """d prod / d x_i = the product of the other elements = (product of those before i) *
    (product of those after i): cumulative products from both sides, never prod / x_i, so the
    rule and its own derivative are exact at zeros and at tiny factors."""
    shape = _shape_of(x)
    axes = tuple(range(len(shape))) if axis is None else axis
    rest = tuple(i for i in range(len(shape)) if i not in axes)
    perm = rest + axes
    n = int(np.prod([shape[a] for a in axes]))
    if n == 0:
        others = x
    else:
        flat = reshape(transpose(x, perm), tuple(shape[i] for i in rest) + (n,))
        others = _products_before(flat, n) * flip(_products_before(flip(flat, -1), n), -1)
        others = transpose(reshape(others, tuple(shape[i] for i in perm)),
                           tuple(np.argsort(perm)))
    return _expand(g, x, axis, keepdims) * others


_prod.defvjp(_prod_vjp)

sum = _reducer(_sum, """Sum of elements over `axis` (an int, a tuple, or None for all).

>>> import tapegrad as tg
>>> tg.sum(tg.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0).numpy()
array([4., 6.], dtype=float32)
""")
mean = _reducer(_mean, """Arithmetic mean over `axis` (an int, a tuple, or None for all).

>>> import tapegrad as tg
>>> tg.mean(tg.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1, keepdims=True).numpy()
array([[1.5],
       [3.5]], dtype=float32)
""")
max = _reducer(_max, """Maximum over `axis`; tied maxima share the gradient equally.

>>> import tapegrad as tg
>>> x = tg.Variable([1.0, 3.0, 3.0])
>>> with tg.GradientTape() as tape:
...     y = tg.max(x)
>>> y.numpy(), tape.gradient(y, x).numpy()
(array(3., dtype=float32), array([0. , 0.5, 0.5], dtype=float32))
""")
min = _reducer(_min, """Minimum over `axis`; tied minima share the gradient equally.

>>> import tapegrad as tg
>>> tg.min(tg.tensor([[1.0, 2.0], [3.0, 0.5]]), axis=1).numpy()
array([1. , 0.5], dtype=float32)
""")
prod = _reducer(_prod, """Product over `axis`; the gradient is exact also where inputs are zero.

>>> import tapegrad as tg
>>> x = tg.Variable([2.0, 0.0, 3.0])
>>> with tg.GradientTape() as tape:
...     y = tg.prod(x)
>>> y.numpy(), tape.gradient(y, x).numpy()
(array(0., dtype=float32), array([0., 6., 0.], dtype=float32))
""")


@reports_as("var")
def var(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Variance with ddof=0: mean((x - mean(x))**2) over `axis`.

    >>> import tapegrad as tg
    >>> tg.var(tg.tensor([1.0, 2.0, 3.0, 4.0])).numpy()
    array(1.25, dtype=float32)
    """
    x = _tensor(x, "var")
    axis = normalize_axes(axis, len(_shape_of(x)), "var")
    d = x - mean(x, axis, keepdims=True)
    return mean(d * d, axis, _keepdims(keepdims, "var"))


@reports_as("std")
def std(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Standard deviation with ddof=0 over `axis`. Where it is 0 (a constant input) its
    gradient is NaN (0 / 0), as in NumPy-based autodiff and PyTorch; add a small epsilon
    inside, `tg.sqrt(tg.var(x) + 1e-8)`, if that can happen.

    >>> import tapegrad as tg
    >>> tg.std(tg.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0).numpy()
    array([1., 1.], dtype=float32)
    """
    return sqrt(var(x, axis, keepdims))


@reports_as("norm")
def norm(x: Any, ord: Any = None, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Vector norm over `axis` (all elements when None): ord None/2/'fro', 1 or inf.

    >>> import tapegrad as tg
    >>> tg.norm(tg.tensor([3.0, -4.0])).numpy(), tg.norm(tg.tensor([3.0, -4.0]), ord=1).numpy()
    (array(5., dtype=float32), array(7., dtype=float32))
    """
    x = _tensor(x, "norm")
    axis = normalize_axes(axis, len(_shape_of(x)), "norm")
    keepdims = _keepdims(keepdims, "norm")
    if isinstance(ord, (bool, np.bool_)) or not isinstance(ord, (str, int, float, type(None))):
        raise ValueError(f"norm: ord must be None, 2, 'fro', 1 or inf, got {ord!r}")
    if ord in (None, 2, "fro"):
        return sqrt(sum(x * x, axis, keepdims))
    if ord == 1:
        return sum(abs(x), axis, keepdims)
    if ord == np.inf:
        return max(abs(x), axis, keepdims)
    raise ValueError(f"norm: ord must be None, 2, 'fro', 1 or inf, got {ord!r}")


@primitive(name="cumsum", phrase="d cumsum(x)/dx = reversed cumsum of g")
def _cumsum(x, *, axis):
    return np.cumsum(x, axis=axis)


_cumsum.defvjp(lambda g, ans, x, axis: flip(_cumsum(flip(g, axis), axis=axis), axis))


def cumsum(x: Any, axis: int | None = None) -> Tensor:
    """Cumulative sum along `axis` (over the flattened tensor when None).

    >>> import tapegrad as tg
    >>> tg.cumsum(tg.tensor([1.0, 2.0, 3.0])).numpy()
    array([1., 3., 6.], dtype=float32)
    """
    x = _tensor(x, "cumsum")
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    if not _shape_of(x):
        raise ValueError("cumsum: a 0-d tensor has no axis to sum along (use axis=None)")
    return _cumsum(x, axis=normalize_axis(axis, len(_shape_of(x)), "cumsum"))


_argmax = nondifferentiable(np.argmax, "argmax")
_argmin = nondifferentiable(np.argmin, "argmin")


def argmax(x: Any, axis: int | None = None) -> Tensor:
    """Index of the maximum along `axis` (of the flattened tensor when None); not differentiable.

    >>> import tapegrad as tg
    >>> tg.argmax(tg.tensor([[1.0, 5.0], [7.0, 2.0]]), axis=1).numpy().tolist()
    [1, 0]
    """
    return _argmax(x, axis=_arg_axis(x, axis, "argmax"))


def argmin(x: Any, axis: int | None = None) -> Tensor:
    """Index of the minimum along `axis` (of the flattened tensor when None); not differentiable.

    >>> import tapegrad as tg
    >>> int(tg.argmin(tg.tensor([3.0, 1.0, 2.0])))
    1
    """
    return _argmin(x, axis=_arg_axis(x, axis, "argmin"))


def _arg_axis(x: Any, axis: Any, op: str) -> int | None:
    if axis is None:
        return None
    shape = _shape_of(x) if isinstance(x, Tensor) else np.shape(_tensor(x, op))
    if not shape:
        raise ValueError(f"{op}: a 0-d tensor has no axis {axis!r} (use axis=None)")
    return normalize_axis(axis, len(shape), op)


float_valued(_mean)

__all__ = [  # the public ops of this family (tapegrad.ops exports exactly these)
    "argmax", "argmin", "cumsum", "max", "mean", "min", "norm", "prod", "std", "sum", "var"
]
