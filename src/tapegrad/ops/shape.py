"""Shape ops: reshape, transpose, broadcasting, joining, splitting, padding, flipping, casting.

`broadcast_to` and `sum_to` are each other's gradient: the one place where broadcasting is undone.
Ops that are only a rearrangement of others (squeeze, stack, split, tile, repeat) are composed.
"""

from __future__ import annotations

import builtins
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad.ops._checks import as_int, as_ints, as_shape, reports_as
from tapegrad.ops.primitive import primitive
from tapegrad.ops.primitive import shape_of as _shape_of
from tapegrad.state import STATE
from tapegrad.tensor import Tensor, _as_dtype, as_operand


def _ndim(x: Any) -> int:
    return len(_shape_of(x))


def _tensor(x: Any, op: str, weak: bool = False) -> Any:
    """`x` as an operand of `op` (Tensors and raw-mode arrays pass through unchanged; with
    `weak`, so do Python numbers, which then stay weakly typed in elementwise arithmetic)."""
    c = x.__class__
    if c is Tensor or isinstance(x, Tensor) or STATE.raw or (
            weak and (c is float or c is int or c is bool)):
        return x
    return as_operand(x, op)


def normalize_axis(axis: int, ndim: int, op: str) -> int:
    """`axis` as a non-negative int below `ndim`; floats, strings and booleans are refused."""
    if axis.__class__ is not int:
        axis = as_int(axis, op, "axis")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of bounds for a tensor of rank {ndim}")
    return axis % ndim


# -- broadcasting ---------------------------------------------------------------------------


@primitive(name="broadcast_to", phrase="undo broadcasting: sum g over the copied axes")
def _broadcast_to(x, *, shape):
    """A read-only broadcast view (built directly for contiguous inputs: 10x cheaper)."""
    if x.__class__ is not np.ndarray or not x.flags.c_contiguous or x.size == 0:
        return np.broadcast_to(x, shape)
    lead = len(shape) - x.ndim
    strides = (0,) * lead + tuple(0 if n == 1 else st
                                  for n, st in zip(x.shape, x.strides))
    view = np.ndarray(shape, x.dtype, x, 0, strides)
    view.flags.writeable = False
    return view


@primitive(name="sum_to", phrase="d sum_to(x)/dx = g broadcast back")
def _sum_to(x, *, shape):
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and x.shape[i + lead] != 1)
    if len(axes) == lead:  # only leading axes (a bias's gradient): no reshape needed
        return np.add.reduce(x, axis=axes) if axes else x
    y = np.add.reduce(x, axis=axes, keepdims=True)
    return y.reshape(shape) if lead else y


_broadcast_to.defvjp(lambda g, ans, x, shape: sum_to(g, _shape_of(x)))
_sum_to.defvjp(lambda g, ans, x, shape: broadcast_to(g, _shape_of(x)))
# Jacobian forms: g has a leading batch axis (one upstream gradient per row).
_broadcast_to.defbatched(lambda i, g, ans, x, shape: _sum_to.fwd(
    g, shape=(g.shape[0],) + (1,) * (g.ndim - 1 - x.ndim) + x.shape).reshape(
    (g.shape[0],) + x.shape))
_sum_to.defbatched(lambda i, g, ans, x, shape: np.broadcast_to(
    g.reshape((g.shape[0],) + (1,) * (x.ndim - len(shape)) + tuple(shape)),
    (g.shape[0],) + x.shape))


def broadcast_to(x: Any, shape: Sequence[int]) -> Tensor:
    """Broadcast `x` to `shape` (NumPy rules); the gradient is summed back by `sum_to`.

    >>> import tapegrad as tg
    >>> tg.broadcast_to(tg.tensor([1.0, 2.0]), (2, 2)).numpy()
    array([[1., 2.],
           [1., 2.]], dtype=float32)
    """
    if STATE.raw:
        shape = tuple(shape)
        return x if _shape_of(x) == shape else np.broadcast_to(x, shape)
    x, shape = _tensor(x, "broadcast_to"), as_shape(shape, "broadcast_to")
    if _shape_of(x) == shape:
        return x
    try:
        np.broadcast_shapes(_shape_of(x), shape)
    except ValueError:
        raise ValueError(
            f"broadcast_to: cannot broadcast shape {_shape_of(x)} to {shape}") from None
    return _broadcast_to(x, shape=shape)


def sum_to(x: Any, shape: Sequence[int]) -> Tensor:
    """Sum `x` down to `shape` (the inverse of broadcasting to x's shape).

    >>> import tapegrad as tg
    >>> tg.sum_to(tg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), (1, 3)).numpy()
    array([[5., 7., 9.]], dtype=float32)
    """
    if STATE.raw:  # inside a gradient rule: the shapes are right by construction
        shape = tuple(shape)
    else:
        x, shape = _tensor(x, "sum_to"), as_shape(shape, "sum_to")
        xs = _shape_of(x)
        lead = len(xs) - len(shape)
        if lead < 0 or -1 in shape or any(s != 1 and s != n for s, n in zip(shape, xs[lead:])):
            raise ValueError(f"sum_to: cannot sum shape {xs} down to {shape}: the target must "
                             f"broadcast to {xs} (each size equal or 1, at most {len(xs)} dims)")
    if _shape_of(x) == shape:
        return x
    return _sum_to(x, shape=shape)


# -- reshaping and permuting ----------------------------------------------------------------


@primitive(name="reshape", phrase="reshape g back to x's shape")
def _reshape(x, *, shape):
    return np.reshape(x, shape)


_reshape.defvjp(lambda g, ans, x, shape: reshape(g, _shape_of(x)))
_reshape.defbatched(lambda i, g, ans, x, shape: g.reshape((g.shape[0],) + x.shape))


def reshape(x: Any, shape: Sequence[int] | int) -> Tensor:
    """Give `x` a new shape with the same number of elements (one entry may be -1).

    >>> import tapegrad as tg
    >>> tg.reshape(tg.tensor([1.0, 2.0, 3.0, 4.0]), (2, -1)).numpy()
    array([[1., 2.],
           [3., 4.]], dtype=float32)
    """
    if not STATE.raw or shape.__class__ is not tuple:
        shape = as_shape(shape, "reshape")
    x = _tensor(x, "reshape")
    if _shape_of(x) == shape:
        return x
    return _reshape(x, shape=shape)


@primitive(name="transpose", phrase="transpose g back")
def _transpose(x, *, axes):
    return np.transpose(x, axes)


_transpose.defvjp(lambda g, ans, x, axes: transpose(g, tuple(np.argsort(axes))))
_transpose.defbatched(lambda i, g, ans, x, axes: np.transpose(
    g, (0,) + tuple(int(a) + 1 for a in np.argsort(axes))))


def transpose(x: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Permute dimensions (reverse them when `axes` is None).

    >>> import tapegrad as tg
    >>> tg.transpose(tg.tensor([[1.0, 2.0, 3.0]])).numpy()
    array([[1.],
           [2.],
           [3.]], dtype=float32)
    """
    x = _tensor(x, "transpose")
    n = _ndim(x)
    axes = tuple(range(n))[::-1] if axes is None else tuple(
        normalize_axis(a, n, "transpose") for a in as_ints(axes, "transpose", "axes"))
    if sorted(axes) != list(range(n)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of a rank-{n} tensor")
    if axes == tuple(range(n)):
        return x
    return _transpose(x, axes=axes)


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """Exchange two dimensions `axis1` and `axis2`.

    >>> import tapegrad as tg
    >>> import numpy as np
    >>> tg.swapaxes(tg.tensor(np.zeros((2, 3, 4))), 0, 2).shape
    (4, 3, 2)
    """
    x = _tensor(x, "swapaxes")
    n = _ndim(x)
    perm = list(range(n))
    a, b = normalize_axis(axis1, n, "swapaxes"), normalize_axis(axis2, n, "swapaxes")
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


def moveaxis(x: Any, source: int, destination: int) -> Tensor:
    """Move dimension `source` to position `destination`, keeping the others in order.

    >>> import tapegrad as tg
    >>> import numpy as np
    >>> tg.moveaxis(tg.tensor(np.zeros((2, 3, 4))), 0, -1).shape
    (3, 4, 2)
    """
    x = _tensor(x, "moveaxis")
    n = _ndim(x)
    s, d = normalize_axis(source, n, "moveaxis"), normalize_axis(destination, n, "moveaxis")
    perm = [i for i in range(n) if i != s]
    perm.insert(d, s)
    return transpose(x, perm)


def squeeze(x: Any, axis: int | Sequence[int] | None = None) -> Tensor:
    """Remove size-1 dimensions (only those in `axis` if given).

    >>> import tapegrad as tg
    >>> tg.squeeze(tg.tensor([[[1.0], [2.0]]])).shape
    (2,)
    """
    x = _tensor(x, "squeeze")
    shape = _shape_of(x)
    if axis is None:
        axes = {i for i, s in enumerate(shape) if s == 1}
    else:
        axes = {normalize_axis(a, len(shape), "squeeze")
                for a in as_ints(axis, "squeeze", "axis")}
        bad = [a for a in axes if shape[a] != 1]
        if bad:
            raise ValueError(f"squeeze: cannot squeeze axis {bad[0]} of size {shape[bad[0]]} "
                             f"in shape {shape}")
    return reshape(x, tuple(s for i, s in enumerate(shape) if i not in axes))


def expand_dims(x: Any, axis: int | Sequence[int]) -> Tensor:
    """Insert size-1 dimensions at `axis` (an int or a tuple of positions in the result).

    >>> import tapegrad as tg
    >>> tg.expand_dims(tg.tensor([1.0, 2.0]), 0).shape
    (1, 2)
    """
    x = _tensor(x, "expand_dims")
    shape = list(_shape_of(x))
    axes = as_ints(axis, "expand_dims", "axis")
    n = len(shape) + len(axes)
    positions = sorted(normalize_axis(a, n, "expand_dims") for a in axes)
    if len(set(positions)) != len(positions):
        raise ValueError(f"expand_dims: repeated axis in {axis!r}")
    for a in positions:
        shape.insert(a, 1)
    return reshape(x, tuple(shape))


# -- joining and splitting ------------------------------------------------------------------


@primitive(name="concatenate", phrase="split g back into the pieces")
def _concatenate(*xs, axis, offsets):
    return np.concatenate(xs, axis=axis)


def _concatenate_vjp_all(g, ans, *xs, axis, offsets):
    """Every input's slice of g in one call, so the backward pass through n inputs is linear;
    `offsets` (where each input starts) is computed once per call."""
    lead = (slice(None),) * axis
    return [_getitem(g, lead + (slice(a, b),)) for a, b in zip(offsets[:-1], offsets[1:])]


_concatenate.defvjp_all(_concatenate_vjp_all)


def concatenate(xs: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis.

    >>> import tapegrad as tg
    >>> tg.concatenate([tg.tensor([1.0]), tg.tensor([2.0, 3.0])]).numpy()
    array([1., 2., 3.], dtype=float32)
    """
    xs = _sequence(xs, "concatenate")
    if axis is None:  # as NumPy: flatten first
        xs, axis = [reshape(x, (-1,)) for x in xs], 0
    n = _ndim(xs[0])
    if n == 0:
        raise ValueError("concatenate: 0-d tensors cannot be concatenated (use stack)")
    ax = normalize_axis(axis, n, "concatenate")
    shapes = [_shape_of(x) for x in xs]
    for s in shapes:
        if len(s) != n or s[:ax] + s[ax + 1:] != shapes[0][:ax] + shapes[0][ax + 1:]:
            raise ValueError(f"concatenate: shapes {shapes} differ outside axis {axis}")
    if STATE.raw:
        return np.concatenate(xs, axis=ax)
    offsets = (0, *itertools.accumulate(s[ax] for s in shapes))
    return _concatenate(*xs, axis=ax, offsets=offsets)


def _sequence(xs: Any, op: str) -> list:
    """The tensors to join: a list or tuple of array-likes (not None, not one tensor)."""
    if isinstance(xs, (Tensor, np.ndarray)) or not isinstance(xs, Sequence) or isinstance(
            xs, str):
        raise TypeError(f"{op}: expected a list or tuple of tensors, got {type(xs).__name__}")
    if not xs:
        raise ValueError(f"{op}: need at least one tensor")
    strong = [_tensor(x, op) for x in xs if not isinstance(x, (int, float, bool))]
    floats = [t.dtype for t in strong if t.dtype.kind == "f"]
    if len(strong) == len(xs) or not floats:
        return [_tensor(x, op) for x in xs]
    weak = np.result_type(*floats)  # Python numbers take the tensors' float dtype (NEP 50)
    return [_tensor(np.asarray(x, weak) if isinstance(x, (int, float, bool)) else x, op)
            for x in xs]


def stack(xs: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis.

    >>> import tapegrad as tg
    >>> tg.stack([tg.tensor([1.0, 2.0]), tg.tensor([3.0, 4.0])], axis=1).numpy()
    array([[1., 3.],
           [2., 4.]], dtype=float32)
    """
    xs = _sequence(xs, "stack")
    shapes = {_shape_of(x) for x in xs}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    ax = normalize_axis(axis, _ndim(xs[0]) + 1, "stack")
    return concatenate([expand_dims(x, ax) for x in xs], axis=ax)


def split(x: Any, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """Split into equal parts (an int) or at the given indices, as `numpy.split`.

    >>> import tapegrad as tg
    >>> [t.numpy().tolist() for t in tg.split(tg.tensor([1.0, 2.0, 3.0, 4.0]), [1])]
    [[1.0], [2.0, 3.0, 4.0]]
    """
    x = _tensor(x, "split")
    shape = _shape_of(x)
    ax = normalize_axis(axis, len(shape), "split")
    n = shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(
            indices_or_sections, (bool, np.bool_)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: axis {axis} of size {n} cannot be split into {k} equal parts")
        bounds = [i * (n // k) for i in range(k + 1)]
    else:
        cuts = as_ints(indices_or_sections, "split", "indices_or_sections")
        bounds = [0, *[min(max(i + n if i < 0 else i, 0), n) for i in cuts], n]
    return [_getitem(x, (slice(None),) * ax + (slice(a, builtins.max(a, b)),))
            for a, b in zip(bounds[:-1], bounds[1:])]


@reports_as("tile")
def tile(x: Any, reps: int | Sequence[int]) -> Tensor:
    """Repeat the whole tensor `reps` times along each axis (as `numpy.tile`).

    >>> import tapegrad as tg
    >>> tg.tile(tg.tensor([1.0, 2.0]), 2).numpy()
    array([1., 2., 1., 2.], dtype=float32)
    """
    x = _tensor(x, "tile")
    reps = as_ints(reps, "tile", "reps")
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: reps must be non-negative, got {reps}")
    shape = _shape_of(x)
    d = builtins.max(len(shape), len(reps))
    shape = (1,) * (d - len(shape)) + tuple(shape)
    reps = (1,) * (d - len(reps)) + reps
    inter = tuple(v for pair in zip((1,) * d, shape) for v in pair)
    big = tuple(v for pair in zip(reps, shape) for v in pair)
    y = broadcast_to(reshape(x, inter), big)
    return reshape(y, tuple(r * s for r, s in zip(reps, shape)))


@reports_as("repeat")
def repeat(x: Any, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
    """Repeat each element `repeats` times (as `numpy.repeat`; axis None flattens first).

    >>> import tapegrad as tg
    >>> tg.repeat(tg.tensor([1.0, 2.0]), 2).numpy()
    array([1., 1., 2., 2.], dtype=float32)
    """
    x = _tensor(x, "repeat")
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    shape = _shape_of(x)
    ax = normalize_axis(axis, len(shape), "repeat")
    counts = as_ints(repeats, "repeat", "repeats")
    if any(r < 0 for r in counts):
        raise ValueError(f"repeat: repeats must be non-negative, got {repeats!r}")
    if not isinstance(repeats, (int, np.integer)):
        if len(counts) not in (1, shape[ax]):
            raise ValueError(f"repeat: {len(counts)} repeats for axis {axis} of size {shape[ax]}")
        idx = np.repeat(np.arange(shape[ax]), counts)
        return _getitem(x, (slice(None),) * ax + (idx,))
    r = counts[0]
    y = expand_dims(x, ax + 1)
    y = broadcast_to(y, shape[:ax + 1] + (r,) + shape[ax + 1:])
    return reshape(y, shape[:ax] + (shape[ax] * r,) + shape[ax + 1:])


# -- padding, flipping, casting ---------------------------------------------------------------


@primitive(name="pad", phrase="cut the padding off g")
def _pad(x, *, pad_width, constant_values):
    return np.pad(x, pad_width, mode="constant", constant_values=constant_values)


_pad.defvjp(lambda g, ans, x, pad_width, constant_values: _getitem(
    g, tuple(slice(a, a + n) for (a, _), n in zip(pad_width, _shape_of(x)))))


def pad(x: Any, pad_width: Any, constant_values: float = 0) -> Tensor:
    """Pad with a constant, `pad_width` as in `numpy.pad` (e.g. `((1, 2), (0, 1))`).

    >>> import tapegrad as tg
    >>> tg.pad(tg.tensor([1.0, 2.0]), (1, 2)).numpy()
    array([0., 1., 2., 0., 0.], dtype=float32)
    """
    x = _tensor(x, "pad")
    n = _ndim(x)
    try:
        pw = np.asarray(pad_width)
        if pw.dtype.kind not in "iu" or pw.ndim > 2:
            raise TypeError(f"pad: pad_width must be ints (an int, a pair or one pair per "
                            f"axis), got {pad_width!r}")
        pw = np.broadcast_to(pw, (n, 2))
    except ValueError as e:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit a rank-{n} tensor") from e
    if not isinstance(constant_values, (int, float, np.integer, np.floating)) or isinstance(
            constant_values, (bool, np.bool_)):
        raise TypeError(f"pad: constant_values must be a number, got {constant_values!r}")
    if (pw < 0).any():
        raise ValueError(f"pad: pad_width must be non-negative, got {pad_width!r}")
    pw = tuple((int(a), int(b)) for a, b in pw)
    return _pad(x, pad_width=pw, constant_values=constant_values)


@primitive(name="flip", phrase="flip g back")
def _flip(x, *, axis):
    return np.flip(x, axis)


_flip.defvjp(lambda g, ans, x, axis: flip(g, axis))


def flip(x: Any, axis: int | Sequence[int] | None = None) -> Tensor:
    """Reverse the order of elements along `axis` (all axes if None).

    >>> import tapegrad as tg
    >>> tg.flip(tg.tensor([1.0, 2.0, 3.0])).numpy()
    array([3., 2., 1.], dtype=float32)
    """
    x = _tensor(x, "flip")
    n = _ndim(x)
    if axis is None:
        axis = tuple(range(n))
    else:
        axis = tuple(normalize_axis(a, n, "flip") for a in as_ints(axis, "flip", "axis"))
    return _flip(x, axis=axis)


@primitive(name="astype", elementwise=True, phrase="cast g back to x's dtype")
def _astype(x, *, dtype):
    return x.astype(dtype)


_astype.defvjp(lambda g, ans, x, dtype: astype(g, x.dtype))


def astype(x: Any, dtype: Any) -> Tensor:
    """Cast to `dtype`; casting to an integer or bool dtype cuts the gradient.

    >>> import tapegrad as tg
    >>> tg.astype(tg.tensor([1.7, -1.7]), "int32").numpy()  # truncates toward 0, like NumPy
    array([ 1, -1], dtype=int32)
    """
    dtype = _as_dtype(dtype, "astype")
    if not (STATE.raw or isinstance(x, Tensor)):
        x = as_operand(x, "astype")
    if x.dtype == dtype:
        return x
    return _astype(x, dtype=dtype)


from tapegrad.ops.indexing import _getitem  # noqa: E402

__all__ = [  # the public ops of this family (tapegrad.ops exports exactly these)
    "astype", "broadcast_to", "concatenate", "expand_dims", "flip", "moveaxis", "pad",
    "repeat", "reshape", "split", "squeeze", "stack", "sum_to", "swapaxes", "tile",
    "transpose"
]
