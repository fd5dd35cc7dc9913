"""Fuzz the public ops API with drawn bad input (issue 11): every call either matches NumPy or
raises TypeError/ValueError/IndexError whose message names the public function, and a rejected
call leaves its arguments and the tape unchanged.

Drawn input: good arrays (0-d and zero-size included, NaN/Inf), int/bool/uint8/float16 arrays,
complex/object/str arrays, Python scalars (huge ints, complex), None, strings, ragged and plain
lists, Tensors; static parameters from good values and bad ones (floats, strings, booleans,
out-of-range axes, repeated axes, negative sizes). The reference is NumPy on the same input, with
tapegrad's documented rules: float-valued ops compute integers as floats, and Python float
lists are float32 (compared at float32 tolerance).

Profiles: `make test` runs 12 examples per op; `TAPEGRAD_FUZZ=large` runs 400
(`TAPEGRAD_FUZZ_EXAMPLES=n` sets any number). With
`TAPEGRAD_FUZZ_REPORT=1` nothing fails and the counts (calls, clear, unclear, wrong) are printed
at the end, which is how the before/after figures of issue 11 were measured:

    TAPEGRAD_FUZZ=large TAPEGRAD_FUZZ_REPORT=1 pytest -q -s tests/test_fuzz_ops.py
"""

from __future__ import annotations

import collections
import inspect
import math
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tapegrad as tg

LARGE = os.environ.get("TAPEGRAD_FUZZ") == "large"
REPORT = os.environ.get("TAPEGRAD_FUZZ_REPORT") == "1"
EXAMPLES = int(os.environ.get("TAPEGRAD_FUZZ_EXAMPLES", 400 if LARGE else 12))
COUNTS: collections.Counter = collections.Counter()
EXAMPLES_OF: dict[str, list] = collections.defaultdict(list)
BY_OP: collections.Counter = collections.Counter()

# -- drawn input -------------------------------------------------------------------------------

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
small_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)
finite = st.floats(-3, 3, width=64)
special = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, 1e30])


def float_arrays(shape=shapes, dtype=np.float64):
    return hnp.arrays(dtype, shape, elements=st.one_of(finite, special) if dtype != np.float16
                      else st.floats(-3, 3, width=16))


good = st.one_of(
    float_arrays(), float_arrays(small_shapes), float_arrays(dtype=np.float32),
    hnp.arrays(np.int64, shapes, elements=st.integers(-4, 4)),
    hnp.arrays(np.uint8, shapes, elements=st.integers(0, 4)),
    hnp.arrays(np.bool_, shapes), float_arrays(dtype=np.float16),
)
bad = st.one_of(
    st.just(np.array([1 + 2j, 3j])), st.just(np.array([1, "a"], dtype=object)),
    st.just(np.array([1.0, 2.0], dtype=object)), st.just(np.array(["a", "bc"])),
    st.integers(-3, 3), st.floats(-3, 3), st.booleans(), st.just(2 ** 100),
    st.complex_numbers(max_magnitude=3, allow_nan=False, allow_infinity=False),
    st.none(), st.text(max_size=3), st.just({}), st.just([[1.0, 2.0], [3.0]]),
    st.just(["a", 1.0]), st.just([]), st.just(np.zeros((0, 2))),
    finite.map(lambda v: [v, v]), st.just([[1, 2], [3, 4]]), st.just((1.5, -0.5)),
)
values = st.one_of(good, good, good, bad)
axes = st.one_of(st.none(), st.integers(-4, 4), st.sampled_from(
    [1.5, "1", True, (0, 0), (1.5,), (0, 1), [0], -5, 7, (0, -1), (), np.int64(1)]))
sizes = st.one_of(st.integers(-2, 4), st.sampled_from([1.5, "2", True, None, (2, 2), (2, -1),
                                                        (3.0, 2.0), {}, (), (0,), [2, 1]]))


def tensors_or_raw(strategy):
    """A value as drawn, or (when it can be one) as a Tensor."""
    def maybe_wrap(pair):
        v, wrap = pair
        if wrap and isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
            return tg.tensor(v)
        return v
    return st.tuples(strategy, st.booleans()).map(maybe_wrap)


X = tensors_or_raw(values)

# -- references: NumPy with tapegrad's documented dtype rules ---------------------------------


def arr(x: Any) -> np.ndarray:
    return np.asarray(x.numpy() if isinstance(x, tg.Tensor) else x)


def floats(x: Any) -> np.ndarray:
    """The float-valued rule: integers and booleans are computed as floats."""
    a = arr(x)
    if a.dtype.kind not in "biuf":
        raise TypeError("not a number")
    return a.astype(np.float64) if a.dtype.kind in "biu" else a


def numeric(x: Any) -> np.ndarray:
    a = arr(x)
    if a.dtype.kind not in "biuf":
        raise TypeError("not a number")
    return a


def _sigmoid(x):
    a = floats(x)
    return 1 / (1 + np.exp(-a))


def _softmax(x, axis=-1):
    a = floats(x)
    if a.ndim == 0:
        raise ValueError("0-d")
    e = np.exp(a - np.max(a, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _erf(x):
    a = floats(x)
    return np.vectorize(math.erf, otypes=[np.float64])(a).astype(a.dtype) if a.size else a


def _sum_to(x, shape):
    a = numeric(x)
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if any(not isinstance(s, int) or isinstance(s, bool) for s in shape):
        raise TypeError("shape")
    if np.broadcast_shapes(shape, a.shape) != a.shape:
        raise ValueError("target does not broadcast")
    lead = a.ndim - len(shape)
    ax = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1)
    return np.sum(a, axis=ax, keepdims=True).reshape(shape)


def _norm(x, ord=None, axis=None, keepdims=False):
    a = numeric(x)
    if ord in (None, 2, "fro"):
        return np.sqrt(np.sum(a * a, axis=axis, keepdims=keepdims))
    if ord == 1:
        return np.sum(np.abs(a), axis=axis, keepdims=keepdims)
    if ord == np.inf:
        return np.max(np.abs(a), axis=axis, keepdims=keepdims)
    raise ValueError("ord")


def _conv_output_length(size, kernel, stride=1, padding="valid"):
    for v in (size, kernel, stride):
        if not isinstance(v, int) or isinstance(v, bool):
            raise TypeError("int")
    if kernel < 1 or stride < 1 or size < 0 or padding not in ("valid", "same", "causal"):
        raise ValueError("range")
    n = size - kernel + 1 if padding == "valid" else size
    return (n + stride - 1) // stride


def _scatter_add(g, key, shape):
    z = np.zeros(shape, dtype=numeric(g).dtype)
    np.add.at(z, key, numeric(g))
    return z


def _lstm_cell(z, c):
    z, c = floats(z), floats(c)
    u = c.shape[-1]
    if z.ndim != 2 or c.ndim != 2 or z.shape != (c.shape[0], 4 * u):
        raise ValueError("shapes")
    sg = 1 / (1 + np.exp(-z))
    i, f, g, o = sg[:, :u], sg[:, u:2 * u], np.tanh(z[:, 2 * u:3 * u]), sg[:, 3 * u:]
    c2 = f * c + i * g
    return np.concatenate([o * np.tanh(c2), c2, i, f, g, o], axis=-1)


def _lstm_sequence(xw, h0, c0, r):
    xw, h0, c0, r = (floats(a) for a in (xw, h0, c0, r))
    if (xw.ndim != 3 or not len(xw) or xw.shape[2] % 4 or c0.shape != h0.shape
            or h0.shape != (xw.shape[1], xw.shape[2] // 4)
            or r.shape != (h0.shape[1], xw.shape[2])):
        raise ValueError("shapes")
    b, u = h0.shape
    h, c, steps = h0, c0, []
    for z in xw:
        hc = _lstm_cell(z + h @ r, c).reshape(b, 6, u).transpose(1, 0, 2)
        h, c = hc[0], hc[1]
        steps.append(hc)
    return np.stack(steps, axis=1)


def _gru_sequence(xw, h0, r, rb):
    xw, h0, r, rb = (floats(a) for a in (xw, h0, r, rb))
    if (xw.ndim != 3 or not len(xw) or xw.shape[2] % 3
            or h0.shape != (xw.shape[1], xw.shape[2] // 3)
            or r.shape != (h0.shape[1], xw.shape[2]) or rb.shape != (xw.shape[2],)):
        raise ValueError("shapes")
    u = h0.shape[1]
    h, steps = h0, []
    for x in xw:
        hr = h @ r + rb
        z, reset = _sigmoid(x[:, :u] + hr[:, :u]), _sigmoid(x[:, u:2 * u] + hr[:, u:2 * u])
        hh = np.tanh(x[:, 2 * u:] + reset * hr[:, 2 * u:])
        h = z * h + (1 - z) * hh
        steps.append(np.stack([h, z, reset, hh, hr[:, 2 * u:]]))
    return np.stack(steps, axis=1)


def _conv2d(x, k, strides=1, padding="valid"):
    x, k = numeric(x), numeric(k)
    if x.ndim != 4 or k.ndim != 4 or k.shape[2] != x.shape[3] or padding != "valid":
        raise ValueError("shapes")
    s = strides
    kh, kw = k.shape[:2]
    oh, ow = (x.shape[1] - kh) // s + 1, (x.shape[2] - kw) // s + 1
    if oh < 1 or ow < 1:
        raise ValueError("window larger than input")
    out = np.zeros((x.shape[0], oh, ow, k.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * s:i * s + kh, j * s:j * s + kw, :]
            out[:, i, j, :] = np.tensordot(patch, k, axes=([1, 2, 3], [0, 1, 2]))
    return out


def _pool2d(x, pool_size=2, reduce=np.max):
    x = numeric(x)
    if x.ndim != 4:
        raise ValueError("rank")
    p = pool_size
    oh, ow = x.shape[1] // p, x.shape[2] // p
    if oh < 1 or ow < 1:
        raise ValueError("window larger than input")
    v = x[:, :oh * p, :ow * p, :].reshape(x.shape[0], oh, p, ow, p, x.shape[3])
    return reduce(v, axis=(2, 4))


# -- specs: how to call each public op, and its NumPy reference ------------------------------


@dataclass
class Fuzz:
    args: Any  # strategy of (args tuple, kwargs dict)
    ref: Callable | None  # NumPy reference taking the same arguments (None: errors only)
    data: int = 1  # how many leading positional arguments are data (the rest are parameters)


def one(ref, x=X):
    return Fuzz(st.tuples(x).map(lambda a: (a, {})), ref)


def two(ref, x=X, y=X):
    return Fuzz(st.tuples(x, y).map(lambda a: (a, {})), ref, data=2)


def reduction(ref):
    return Fuzz(st.tuples(X, axes, st.sampled_from([False, True, "yes"])).map(
        lambda a: ((a[0],), {"axis": a[1], "keepdims": a[2]})), ref)


def with_kw(ref, x=X, **kw):
    names = list(kw)
    return Fuzz(st.tuples(x, *kw.values()).map(
        lambda a: ((a[0],), dict(zip(names, a[1:])))), ref)


def with_args(ref, *params, x=X):
    return Fuzz(st.tuples(x, *params).map(lambda a: (tuple(a), {})), ref)


def seq(ref, **kw):
    lists = st.one_of(st.lists(X, min_size=0, max_size=3), X, st.none())
    names = list(kw)
    return Fuzz(st.tuples(lists, *kw.values()).map(
        lambda a: ((a[0],), dict(zip(names, a[1:])))), ref)


def reject() -> Any:
    """A documented refusal where NumPy would guess (no dtype, both clip bounds None, boolean
    indices to take): the reference raises, so tapegrad must raise clearly."""
    raise ValueError("rejected by tapegrad's documented rule")


def _clip(x, lo, hi):
    if lo is None and hi is None:
        reject()
    return np.clip(numeric(x), None if lo is None else numeric(lo),
                   None if hi is None else numeric(hi))


def float_reduction(f):
    return lambda x, axis, keepdims: f(floats(x), axis=_axes(axis), keepdims=keepdims)


def _axes(axis):
    """tapegrad also takes a list of axes (as TF does) where NumPy wants a tuple."""
    return tuple(axis) if isinstance(axis, list) else axis


def fl(np_fn):
    return lambda x: np_fn(floats(x))


def nm(np_fn):
    return lambda *xs, **kw: np_fn(*[numeric(x) for x in xs], **kw)


keys = st.one_of(st.integers(-4, 4), st.sampled_from(
    [slice(None, 2), (0, 0), 1.5, "a", None, Ellipsis, (Ellipsis, 0), [0, 0, 1], [True, False],
     (slice(None), [0, 1]), np.array([0, 2]), np.array([True]), [[0]], (0, 0, 0, 0), {}]))
dtypes = st.sampled_from(["float32", np.float64, "int32", bool, "float16", "complex64", object,
                          "U3", "nonsense", None, 1.5])

SPECS: dict[str, Fuzz] = {
    # elementwise: NumPy's ufuncs, float-valued ones computing integers as floats
    **{n: one(nm(getattr(np, n))) for n in ("negative", "abs", "sign", "square", "floor", "ceil",
                                            "round", "isfinite", "isnan", "logical_not")},
    **{n: one(fl(getattr(np, n))) for n in ("exp", "log", "log1p", "expm1", "sqrt", "sin",
                                            "cos", "tan", "tanh")},
    "sigmoid": one(_sigmoid),
    "relu": one(nm(lambda a: np.maximum(a, 0))),
    "softplus": one(fl(lambda a: np.logaddexp(0, a))),
    "elu": one(fl(lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0))))),
    "leaky_relu": one(fl(lambda a: np.where(a > 0, a, 0.2 * a))),
    "erf": one(_erf),
    "gelu": one(lambda x: (lambda a: a * 0.5 * (1 + _erf(a / np.sqrt(2)))
                           )(floats(x).astype(np.float64))),
    **{n: two(nm(getattr(np, n))) for n in (
        "add", "subtract", "multiply", "power", "maximum", "minimum", "equal", "not_equal",
        "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
        "logical_xor", "floor_divide", "mod")},
    "divide": two(lambda x, y: floats(x) / floats(y)),
    "where": Fuzz(st.tuples(X, X, X).map(lambda a: (a, {})), nm(np.where), data=3),
    "clip": Fuzz(st.tuples(X, st.one_of(st.none(), finite, X), st.one_of(st.none(), finite, X))
                 .map(lambda a: (a, {})), _clip, data=3),
    # reductions
    **{n: reduction((lambda f: lambda x, axis, keepdims: f(numeric(x), axis=_axes(axis),
                                                          keepdims=keepdims))(getattr(np, n)))
       for n in ("sum", "max", "min", "prod")},
    **{n: reduction(float_reduction(getattr(np, n))) for n in ("mean", "var", "std")},
    "logsumexp": reduction(lambda x, axis, keepdims: np.log(np.sum(
        np.exp(floats(x)), axis=_axes(axis), keepdims=keepdims))),
    "norm": Fuzz(st.tuples(X, st.sampled_from([None, 1, 2, np.inf, "fro", "nuc", 3, True]), axes)
                 .map(lambda a: ((a[0],), {"ord": a[1], "axis": a[2]})), _norm),
    "argmax": with_kw(nm(np.argmax), axis=axes),
    "argmin": with_kw(nm(np.argmin), axis=axes),
    "cumsum": with_kw(lambda x, axis: np.cumsum(numeric(x), axis=axis), axis=axes),
    "softmax": with_kw(_softmax, axis=axes),
    "log_softmax": with_kw(lambda x, axis: np.log(_softmax(x, axis)), axis=axes),
    # shapes
    "reshape": with_args(lambda x, s: np.reshape(numeric(x), s), sizes),
    "transpose": with_args(lambda x, a: np.transpose(numeric(x), a), axes),
    "expand_dims": with_args(lambda x, a: np.expand_dims(numeric(x), _axes(a)), axes),
    "squeeze": with_args(lambda x, a: np.squeeze(numeric(x), _axes(a)), axes),
    "broadcast_to": with_args(lambda x, s: np.broadcast_to(numeric(x), s), sizes),
    "sum_to": with_args(_sum_to, sizes),
    "swapaxes": with_args(lambda x, a, b: np.swapaxes(numeric(x), a, b), axes, axes),
    "moveaxis": with_args(lambda x, a, b: np.moveaxis(numeric(x), a, b), axes, axes),
    "flip": with_args(lambda x, a: np.flip(numeric(x), _axes(a)), axes),
    "tile": with_args(lambda x, r: np.tile(numeric(x), r), sizes),
    "repeat": with_args(lambda x, r, a: np.repeat(numeric(x), r, a), sizes, axes),
    "split": with_args(lambda x, s, a: np.split(numeric(x), s, a), sizes, axes),
    "pad": with_args(lambda x, p: np.pad(numeric(x), p), sizes),
    "astype": with_args(lambda x, d: numeric(x).astype(d), dtypes),
    "concatenate": seq(lambda xs, axis: np.concatenate([numeric(x) for x in xs], axis=axis),
                       axis=axes),
    "stack": seq(lambda xs, axis: np.stack([numeric(x) for x in xs], axis=axis), axis=axes),
    # indexing
    "getitem": with_args(lambda x, k: numeric(x)[k], keys),
    "take": with_args(lambda x, i, a: np.take(numeric(x), i, a) if arr(i).dtype.kind in "iu"
                      else reject(), keys, axes),
    "take_along_axis": with_args(
        lambda x, i, a: np.take_along_axis(numeric(x), i, a)
        if arr(i).dtype.kind in "iu" and a is not None and not isinstance(a, (bool, np.bool_))
        else reject(), st.sampled_from([np.array([[0]]), np.array([0, 1]), np.array([[1, 0]]),
                                        np.array([[5]]), [[0]], np.array([[0.5]]),
                                        np.array([[True]]), np.array([[[0]]])]), axes),
    "scatter_add": Fuzz(st.tuples(X, st.sampled_from([(np.array([0, 0]),), (0,), (5,), 1.5]),
                                  sizes).map(lambda a: ((a[0],), {"key": a[1], "shape": a[2]})),
                        _scatter_add),
    # matrix products
    "matmul": two(nm(np.matmul)),
    "dot": two(nm(np.dot)),
    "einsum": Fuzz(st.tuples(st.sampled_from(["ij,jk->ik", "i,i", "ii", "...i->...", "ij", "i,j",
                                              5, "", "a->b", "iJ->"]),
                             st.lists(X, min_size=0, max_size=2)).map(
        lambda a: ((a[0], *a[1]), {})),
        lambda s, *ops: np.einsum(s, *[numeric(o) for o in ops]), data=0),
    # fused nn ops
    "lstm_cell": two(_lstm_cell),
    "lstm_sequence": Fuzz(st.tuples(X, X, X, X).map(lambda a: (a, {})), _lstm_sequence, data=4),
    "gru_sequence": Fuzz(st.tuples(X, X, X, X).map(lambda a: (a, {})), _gru_sequence, data=4),
    # convolution and pooling
    "conv2d": Fuzz(st.tuples(X, X, st.sampled_from([1, 2, 0, 1.5, "a", None])).map(
        lambda a: ((a[0], a[1]), {"strides": a[2]})), _conv2d, data=2),
    "conv1d": Fuzz(st.tuples(X, X, st.sampled_from([1, 0, "same", None])).map(
        lambda a: ((a[0], a[1]), {"padding": a[2] if isinstance(a[2], str) else "valid",
                                  "strides": a[2] if not isinstance(a[2], str) else 1})), None),
    "depthwise_conv2d": two(None),
    "im2col": with_args(None, sizes),
    "col2im": with_args(None, sizes),
    "max_pool2d": with_kw(lambda x, pool_size: _pool2d(x, pool_size, np.max),
                          pool_size=st.sampled_from([1, 2, 0, 1.5, None])),
    "avg_pool2d": with_kw(lambda x, pool_size: _pool2d(x, pool_size, np.mean),
                          pool_size=st.sampled_from([1, 2, 0, 1.5, None])),
    "max_pool1d": with_kw(None, pool_size=st.sampled_from([1, 2, 0, 1.5, None])),
    "avg_pool1d": with_kw(None, pool_size=st.sampled_from([1, 2, 0, 1.5, None])),
    "conv_output_length": Fuzz(st.tuples(st.one_of(st.integers(-2, 9), st.sampled_from(
        [1.5, None, "4"])), st.one_of(st.integers(-1, 4), st.just(2.5)), st.integers(-1, 3),
        st.sampled_from(["valid", "same", "causal", "full", None])).map(
        lambda a: (a[:3], {"padding": a[3]})), _conv_output_length, data=0),
    # conversions in the tg namespace
    "tensor": one(numeric), "constant": one(numeric), "as_tensor": one(numeric),
    "stop_gradient": one(numeric),
}

MACHINERY = {"REGISTRY", "Primitive", "primitive", "nondifferentiable"}
NOT_OPS = {  # public tg names that are not ops on arrays (engine, state, modules, classes)
    "custom_gradient", "grad", "hessian", "hvp", "jacobian", "recompute_grad", "value_and_grad",
    "get_default_dtype", "set_default_dtype", "name_scope", "no_grad", "note_cut",
    "from_dlpack",  # interop: imports another library's array (tests/test_dlpack.py)
    "function", "tracing",  # tg.function traces Python functions (tests/test_function.py)
}


def public_ops() -> list[str]:
    names = [n for n in tg.ops.__all__ if n not in MACHINERY]
    for n in tg.__all__:
        obj = getattr(tg, n)
        if (callable(obj) and not inspect.isclass(obj) and not inspect.ismodule(obj)
                and n not in NOT_OPS | MACHINERY and n not in names):
            names.append(n)
    return sorted(names)


def test_every_public_op_has_a_fuzz_spec():
    missing = [n for n in public_ops() if n not in SPECS]
    assert not missing, f"public ops without a fuzz spec in tests/test_fuzz_ops.py: {missing}"


# -- judging one call ----------------------------------------------------------------------------


def _out(v: Any) -> Any:
    if isinstance(v, tg.Tensor):
        return v.numpy()
    if isinstance(v, (list, tuple)):
        return [_out(o) for o in v]
    return v


def _same(ours: Any, ref: Any) -> str | None:
    """None if tapegrad's result matches NumPy's, else what differs."""
    if isinstance(ref, (list, tuple)):
        if not isinstance(ours, list) or len(ours) != len(ref):
            return f"expected {len(ref)} results, got {type(ours).__name__}"
        for o, r in zip(ours, ref):
            why = _same(o, r)
            if why:
                return why
        return None
    o, r = np.asarray(ours), np.asarray(ref)
    if o.dtype.kind not in "biuf":
        return f"unsupported result dtype {o.dtype}"
    if o.shape != r.shape:
        return f"shape {o.shape} != NumPy's {r.shape}"
    if (o.dtype.kind == "f") != (r.dtype.kind in "fc"):
        return f"dtype {o.dtype} where NumPy gives {r.dtype}"
    if o.dtype.kind != "f":
        return None if np.array_equal(o, r) else "values differ"
    tol = {2: 2e-2, 4: 2e-5}.get(o.dtype.itemsize, 1e-9)
    if np.allclose(o, r.astype(np.float64), rtol=tol, atol=tol, equal_nan=True):
        return None
    return "values differ"


def _snapshot(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return ("array", v.copy())
    if isinstance(v, tg.Tensor):
        return ("tensor", v.numpy().copy())
    if isinstance(v, (list, tuple)):
        return [_snapshot(a) for a in v]
    return None


def _unchanged(before: Any, v: Any) -> bool:
    if isinstance(before, tuple) and before and before[0] in ("array", "tensor"):
        now, old = (v if isinstance(v, np.ndarray) else v.numpy()), before[1]
        if now.shape != old.shape or now.dtype != old.dtype:
            return False
        return np.array_equal(now, old, equal_nan=old.dtype.kind == "f")
    if isinstance(before, list):
        return all(_unchanged(b, a) for b, a in zip(before, v))
    return True


def _python_number(a: Any) -> bool:
    return isinstance(a, (bool, int, float)) and not isinstance(a, np.generic)


def _as_tapegrad_reads(a: Any, numbers_only: bool) -> Any:
    """Data as tapegrad's documented rules read it: Python float lists are float32, and so are
    Python floats when no array is given (next to an array they stay weakly typed)."""
    if isinstance(a, (list, tuple)):
        try:
            v = np.asarray(a)
        except ValueError:
            return a
        return v.astype(np.float32) if v.dtype == np.float64 else a
    if numbers_only and _python_number(a):
        return np.asarray(a, np.float32) if isinstance(a, float) else np.asarray(a)
    return a


def judge(name: str, fn: Callable, spec: Fuzz, args: tuple, kwargs: dict) -> str:
    """'match', 'clear' (a clear error), 'unchecked' (no reference), 'unclear' or 'wrong'."""
    ref = spec.ref
    before = _snapshot([args, list(kwargs.values())])
    numbers_only = all(_python_number(a) for a in args[:spec.data])
    ref_args = tuple(_as_tapegrad_reads(a, numbers_only) if i < spec.data else a
                     for i, a in enumerate(args))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            expected, np_error = ref(*ref_args, **kwargs) if ref else None, None
        except Exception as e:  # NumPy (or the documented rule) rejects the input
            expected, np_error = None, e
        with tg.GradientTape() as tape:
            n_ops = len(tape.ops)
            try:
                ours = _out(fn(*args, **kwargs))
            except (TypeError, ValueError, IndexError) as e:
                msg, names = str(e), {name, getattr(fn, "__name__", name)}  # aliases: its own
                if not _unchanged(before, [args, list(kwargs.values())]) or len(tape.ops) != n_ops:
                    return "wrong: a rejected call changed state"
                if any(msg.startswith(f"{n}:") for n in names):
                    return "clear"
                return f"unclear: {type(e).__name__}: {msg}"
            except Exception as e:
                return f"unclear: {type(e).__name__}: {e}"
    if not _unchanged(before, [args, list(kwargs.values())]):
        return "wrong: an argument was modified"
    if ref is None:
        return "unchecked"
    if np_error is not None:
        return f"wrong: accepted what NumPy rejects ({type(np_error).__name__}: {np_error})"
    why = _same(ours, expected)
    return "match" if why is None else f"wrong: {why}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_fuzz_op(name):
    fn = getattr(tg, name, None)
    if fn is None:
        if REPORT:
            pytest.skip(f"{name} does not exist in this version")
        pytest.fail(f"tg.{name} has a fuzz spec but does not exist")
    spec = SPECS[name]

    # The small profile of `make test` draws the same calls on every run (a red run is always
    # reproducible); TAPEGRAD_FUZZ=large explores with fresh draws.
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not LARGE,
              suppress_health_check=list(HealthCheck))
    @given(spec.args)
    def check(call):
        args, kwargs = call
        verdict = judge(name, fn, spec, args, kwargs)
        kind = verdict.split(":")[0]
        COUNTS[kind] += 1
        if kind in ("wrong", "unclear"):
            BY_OP[name] += 1
        if kind in ("wrong", "unclear"):
            EXAMPLES_OF[kind].append(f"{name}{_show(args, kwargs)}: {verdict}")
            if not REPORT:
                raise AssertionError(f"tg.{name}{_show(args, kwargs)}: {verdict}")

    check()


def _show(args: tuple, kwargs: dict) -> str:
    parts = [_brief(a) for a in args] + [f"{k}={_brief(v)}" for k, v in kwargs.items()]
    return f"({', '.join(parts)})"


def _brief(v: Any) -> str:
    if isinstance(v, tg.Tensor):
        return f"tg.tensor({_brief(v.numpy())})"
    if isinstance(v, np.ndarray):
        return f"np.array({v.tolist()!r}, {v.dtype})" if v.size <= 6 else f"array{v.shape}"
    return repr(v)[:60]


def teardown_module():
    if not REPORT:
        return
    calls = sum(COUNTS.values())
    print(f"\nfuzz ops: {calls} calls; " + ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items())),
          file=sys.stderr)
    print(f"by op: {dict(sorted(BY_OP.items()))}", file=sys.stderr)
    for kind in ("wrong", "unclear"):
        for line in EXAMPLES_OF[kind][:40]:
            print(f"  {line}", file=sys.stderr)
