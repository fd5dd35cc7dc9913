"""Every registered op's gradient against central differences, driven by a table of op specs.

Each spec draws (f, args) from Hypothesis: shapes (broadcasting pairs included), values in the op's
domain and away from kinks, and the op's parameters (axes, keepdims, ...). Smooth ops are also
checked to second order through nested tapes. An op registered without a spec fails the suite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tapegrad as tg
from tapegrad.ops import REGISTRY
from tapegrad.testing import check_gradients
from tapegrad.testing import strategies as tst


@dataclass
class Spec:
    cases: Any  # strategy of (f, [arrays])
    order: int = 2
    rtol: float | None = None
    atol: float | None = None
    eps: float | None = None


def unary(fn, low=-2.0, high=2.0, avoid=(), order=2, **kw):
    return Spec(tst.arrays(tst.shapes(), low, high, avoid).map(lambda x: (fn, [x])), order, **kw)


def binary(fn, xdom=(-2.0, 2.0), ydom=(-2.0, 2.0), yavoid=(), order=2):
    def build(shapes):
        sx, sy = shapes
        return st.tuples(tst.arrays(sx, *xdom), tst.arrays(sy, *ydom, avoid=yavoid)).map(
            lambda xy: (fn, list(xy)))
    return Spec(tst.broadcastable_shapes().flatmap(build), order)


def grid_pair(fn):
    """x on quarter points, y on half points: never tied, at least 0.25 apart."""
    xs = st.sampled_from([k + 0.25 for k in np.arange(-2.0, 2.0, 0.5)])
    ys = st.sampled_from(list(np.arange(-2.0, 2.01, 0.5)))

    def build(shapes):
        sx, sy = shapes
        return st.tuples(hnp.arrays(np.float64, sx, elements=xs),
                         hnp.arrays(np.float64, sy, elements=ys)).map(lambda xy: (fn, list(xy)))
    return Spec(tst.broadcastable_shapes().flatmap(build))


@st.composite
def reduction_case(draw, op, distinct=False, low=-2.0, high=2.0, signed_away=False, min_side=1,
                   min_dims=0):
    shape = draw(tst.shapes(min_dims=min_dims, max_dims=3, min_side=min_side))
    x = draw(tst.distinct_arrays(shape) if distinct else tst.arrays(shape, low, high))
    if signed_away:  # |x| in [0.5, 1.5] with random signs, and some exact zeros (prod)
        x = np.sign(x + 1e-9) * (0.5 + np.abs(x) / 2)
        x = np.where(draw(hnp.arrays(bool, x.shape)), 0.0, x)
    axis = draw(tst.axes(len(shape)))
    keepdims = draw(st.booleans())
    return (lambda t: op(t, axis=axis, keepdims=keepdims)), [x]


@st.composite
def axis_case(draw, op, min_dims=1):
    shape = draw(tst.shapes(min_dims=min_dims))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return (lambda t: op(t, axis=axis)), [draw(tst.arrays(shape))]


@st.composite
def matmul_case(draw):
    m, k, n = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["mm", "vm", "mv", "vv", "batch", "broadcast"]))
    b = draw(st.integers(1, 3))
    shapes = {"mm": ((m, k), (k, n)), "vm": ((k,), (k, n)), "mv": ((m, k), (k,)),
              "vv": ((k,), (k,)), "batch": ((b, m, k), (b, k, n)),
              "broadcast": ((b, 1, m, k), (2, k, n))}[kind]
    return tg.matmul, [draw(tst.arrays(s)) for s in shapes]


EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ii->", [(3, 3)]), ("ii->i", [(3, 3)]),
    ("i,i->", [(4,), (4,)]), ("ij->ji", [(2, 3)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("ij,ij->i", [(3, 2), (3, 2)]), ("...ij,jk->...ik", [(2, 2, 3), (3, 2)]),
    ("ij->", [(2, 3)]), ("ij,k->ijk", [(2, 2), (3,)]), ("ij", [(2, 3)]),
    ("ij,jk", [(2, 3), (3, 1)]),
]


@st.composite
def einsum_case(draw):
    sub, shapes = draw(st.sampled_from(EINSUMS))
    return (lambda *ts: tg.einsum(sub, *ts)), [draw(tst.arrays(s)) for s in shapes]


@st.composite
def getitem_case(draw):
    shape = draw(tst.shapes(min_dims=1, max_dims=3, min_side=2))
    x = draw(tst.arrays(shape))
    kind = draw(st.sampled_from(["int", "slice", "newaxis", "ellipsis", "repeat", "mask", "mixed"]))
    n = shape[0]
    key = {"int": draw(st.integers(-n, n - 1)),
           "slice": slice(draw(st.integers(0, n - 1)), None, draw(st.integers(1, 2))),
           "newaxis": (None, Ellipsis),
           "ellipsis": (Ellipsis, 0),
           "repeat": np.array(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6))),
           "mask": draw(hnp.arrays(bool, shape)),
           "mixed": (slice(None), np.array([0, 1, 1, 0])) if len(shape) > 1 else [0, 0]}[kind]
    return (lambda t: t[key]), [x]


@st.composite
def scatter_case(draw):
    n = draw(st.integers(2, 5))
    idx = np.array(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6)))
    g = draw(tst.arrays((len(idx), 2)))
    return (lambda t: tg.scatter_add(t, key=idx, shape=(n, 2))), [g]


@st.composite
def shape_case(draw, kind):
    shape = draw(tst.shapes(min_dims=1, max_dims=3))
    x = draw(tst.arrays(shape))
    nd = len(shape)
    if kind == "reshape":
        new = (-1,) if draw(st.booleans()) else tuple(reversed(shape))
        return (lambda t: tg.reshape(t, new)), [x]
    if kind == "transpose":
        perm = draw(st.permutations(range(nd)))
        return (lambda t: tg.transpose(t, perm)), [x]
    if kind == "broadcast_to":
        lead = draw(st.integers(1, 3))
        return (lambda t: tg.broadcast_to(t, (lead,) + shape)), [x]
    if kind == "sum_to":
        target = tuple(1 if draw(st.booleans()) else s for s in shape)
        return (lambda t: tg.sum_to(t, target)), [x]
    if kind == "concatenate":
        axis = draw(st.integers(0, nd - 1))
        other = shape[:axis] + (draw(st.integers(1, 3)),) + shape[axis + 1:]
        return (lambda a, b: tg.concatenate([a, b, a], axis=axis)), [x, draw(tst.arrays(other))]
    if kind == "pad":
        widths = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in shape]
        return (lambda t: tg.pad(t, widths, constant_values=0.5)), [x]
    if kind == "flip":
        axis = draw(st.one_of(st.none(), st.integers(-nd, nd - 1)))
        return (lambda t: tg.flip(t, axis)), [x]
    if kind == "cumsum":
        axis = draw(st.one_of(st.none(), st.integers(-nd, nd - 1)))
        return (lambda t: tg.cumsum(t, axis)), [x]
    raise AssertionError(kind)


def where_case():
    def build(shapes):
        sc, sx, sy = shapes
        return st.tuples(hnp.arrays(bool, sc), tst.arrays(sx), tst.arrays(sy)).map(
            lambda a: ((lambda x, y, c=a[0]: tg.where(c, x, y)), [a[1], a[2]]))
    return Spec(tst.broadcastable_shapes(3).flatmap(build))


@st.composite
def conv_case(draw, kind):
    """Small NHWC images with drawn kernel size, strides, padding and dilation."""
    k = draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["valid", "same"]))
    s, d = draw(st.sampled_from([(1, 1), (2, 1), (1, 2)]))
    span = (k - 1) * d + 1  # the dilated kernel must fit the input
    n, c = draw(st.integers(1, 2)), 2
    h, w = draw(st.integers(max(span, 3), 6)), draw(st.integers(max(span, 3), 6))
    x = draw(tst.arrays((n, h, w, c)))
    if kind == "conv2d":
        kern = draw(tst.arrays((k, k, c, 3)))
        return (lambda a, b: tg.conv2d(a, b, s, padding, d)), [x, kern]
    if kind == "depthwise_conv2d":
        kern = draw(tst.arrays((k, k, c, 2)))
        return (lambda a, b: tg.depthwise_conv2d(a, b, s, padding, d)), [x, kern]
    if kind == "im2col":
        return (lambda a: tg.im2col(a, k, s, padding, d)), [x]
    if kind == "col2im":
        shape = tg.im2col(np.zeros((n, h, w, c)), k, s, padding, d).shape
        return (lambda a: tg.col2im(a, (n, h, w, c), s, padding, d)), \
            [draw(tst.arrays(shape))]
    x = draw(tst.distinct_arrays((n, h, w, c)))  # no ties inside a pooling window
    stride = draw(st.sampled_from([None, 1, 2]))
    if kind in ("max_pool2d", "avg_pool2d"):
        pool = getattr(tg, kind)
        return (lambda a: pool(a, k, stride, padding)), [x]
    from tapegrad.ops import conv

    y = tg.max_pool2d(x, k, stride, padding)
    params = conv._pool_args(x, k, stride, padding, "max_pool2d")
    if kind == "max_unpool2d":  # max-pool's gradient rule, linear in the upstream gradient
        return (lambda g: conv._max_unpool2d(g, x, y.numpy(), **params)), \
            [draw(tst.arrays(y.shape))]
    return (lambda gx: conv._max_select2d(gx, x, y.numpy(), **params)), [draw(tst.arrays(x.shape))]


@st.composite
def lstm_case(draw):
    b, u = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return tg.lstm_cell, [draw(tst.arrays((b, 4 * u), -3.0, 3.0)), draw(tst.arrays((b, u)))]


@st.composite
def lstm_sequence_case(draw):
    t, b, u = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    return tg.lstm_sequence, [draw(tst.arrays((t, b, 4 * u), -2.0, 2.0)),
                              draw(tst.arrays((b, u))), draw(tst.arrays((b, u))),
                              draw(tst.arrays((u, 4 * u), -1.0, 1.0))]


@st.composite
def gru_sequence_case(draw):
    t, b, u = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    return tg.gru_sequence, [draw(tst.arrays((t, b, 3 * u), -2.0, 2.0)),
                             draw(tst.arrays((b, u))), draw(tst.arrays((u, 3 * u), -1.0, 1.0)),
                             draw(tst.arrays((3 * u,)))]


SPECS: dict[str, Spec] = {
    "negative": unary(tg.negative),
    "exp": unary(tg.exp),
    "log": unary(tg.log, 0.2, 3.0),
    "log1p": unary(tg.log1p, -0.5, 2.0),
    "expm1": unary(tg.expm1),
    "sqrt": unary(tg.sqrt, 0.2, 3.0),
    "square": unary(tg.square),
    "sin": unary(tg.sin),
    "cos": unary(tg.cos),
    "tan": unary(tg.tan, -1.2, 1.2),
    "tanh": unary(tg.tanh),
    "sigmoid": unary(tg.sigmoid, -5.0, 5.0),
    "softplus": unary(tg.softplus, -5.0, 5.0),
    "erf": unary(tg.erf, -3.0, 3.0),
    "mod": binary(tg.mod, xdom=(0.1, 1.0), ydom=(1.1, 2.0)),
    "abs": unary(tg.abs, avoid=(0.0,)),
    "sign": unary(tg.sign, avoid=(0.0,), order=1),
    "relu": unary(tg.relu, avoid=(0.0,)),
    "leaky_relu": unary(lambda t: tg.leaky_relu(t, alpha=0.1), avoid=(0.0,)),
    "elu": unary(lambda t: tg.elu(t, alpha=0.7), avoid=(0.0,)),
    "clip": unary(lambda t: tg.clip(t, -1.0, 1.0), avoid=(-1.0, 1.0)),
    "astype": unary(lambda t: tg.astype(tg.astype(t, "float32"), "float64"), order=1,
                    rtol=2e-3, atol=2e-3, eps=1e-2),
    "add": binary(tg.add),
    "subtract": binary(tg.subtract),
    "multiply": binary(tg.multiply),
    "divide": binary(tg.divide, ydom=(-2.0, 2.0), yavoid=(0.0,), order=2),
    "power": binary(tg.power, xdom=(0.3, 2.0)),
    "maximum": grid_pair(tg.maximum),
    "minimum": grid_pair(tg.minimum),
    "where": where_case(),
    "matmul": Spec(matmul_case()),
    "einsum": Spec(einsum_case()),
    "getitem": Spec(getitem_case()),
    "scatter_add": Spec(scatter_case()),
    "sum": Spec(reduction_case(tg.sum)),
    "mean": Spec(reduction_case(tg.mean)),
    "max": Spec(reduction_case(tg.max, distinct=True)),
    "min": Spec(reduction_case(tg.min, distinct=True)),
    "prod": Spec(reduction_case(tg.prod, signed_away=True)),
    "logsumexp": Spec(reduction_case(tg.logsumexp)),
    "softmax": Spec(axis_case(tg.softmax)),
    "log_softmax": Spec(axis_case(tg.log_softmax)),
    "cumsum": Spec(shape_case("cumsum")),
    "reshape": Spec(shape_case("reshape")),
    "transpose": Spec(shape_case("transpose")),
    "broadcast_to": Spec(shape_case("broadcast_to")),
    "sum_to": Spec(shape_case("sum_to")),
    "concatenate": Spec(shape_case("concatenate")),
    "pad": Spec(shape_case("pad")),
    "flip": Spec(shape_case("flip")),
    "lstm_cell": Spec(lstm_case()),
    "lstm_sequence": Spec(lstm_sequence_case()),
    "gru_sequence": Spec(gru_sequence_case()),
    **{name: Spec(conv_case(name)) for name in (
        "conv2d", "depthwise_conv2d", "im2col", "col2im", "max_pool2d", "avg_pool2d",
        "max_unpool2d", "max_select2d")},
}

# Functions composed of registered ops: checked the same way.
COMPOSITES: dict[str, Spec] = {
    "var": Spec(reduction_case(tg.var)),
    "std": Spec(reduction_case(tg.std, distinct=True, min_side=2, min_dims=1)),
    "norm": unary(lambda t: tg.norm(t + 3.0)),
    "stack": unary(lambda t: tg.stack([t, t * 2, tg.sin(t)], axis=-1)),
    "split": unary(lambda t: tg.concatenate(tg.split(tg.reshape(t, (-1,)) * 1.0,
                                                      [1, 2]), 0) ** 2),
    "tile": unary(lambda t: tg.tile(t, (2, 1))),
    "repeat": unary(lambda t: tg.repeat(t, 2, axis=0) if t.ndim else tg.repeat(t, 3)),
    "repeat_counts": Spec(st.just(((lambda t: tg.repeat(t, [1, 0, 3], axis=1)),
                                   [np.linspace(-1, 1, 6).reshape(2, 3)]))),
    "take": unary(lambda t: tg.take(t, [0, 0, -1])),
    "take_along_axis": unary(lambda t: tg.take_along_axis(t, np.indices(t.shape)[-1] // 2, -1)
                             if t.ndim else t * 1),
    "expand_dims": unary(lambda t: tg.expand_dims(t, 0) * tg.sin(tg.expand_dims(t, 0))),
    "conv1d": Spec(st.just(((lambda a, b: tg.conv1d(a, b, 1, "same")),
                            [np.linspace(-1, 1, 10).reshape(1, 5, 2),
                             np.linspace(-2, 1, 12).reshape(3, 2, 2)]))),
    "avg_pool1d": Spec(st.just((lambda a: tg.avg_pool1d(a, 2),
                                [np.linspace(-1, 1, 8).reshape(1, 4, 2)]))),
    "max_pool1d": Spec(st.just((lambda a: tg.max_pool1d(a, 2), [np.array(
        [0.3, -1.0, 2.0, 0.7, -0.2, 1.1, 0.5, -0.6]).reshape(1, 4, 2)]))),
    "squeeze": unary(lambda t: tg.squeeze(tg.expand_dims(t, 0), 0)),
    "swapaxes": unary(lambda t: tg.swapaxes(t, 0, -1) if t.ndim else t * 1),
    "moveaxis": unary(lambda t: tg.moveaxis(t, 0, -1) if t.ndim else t * 1),
    "dot": Spec(matmul_case().map(lambda c: (tg.dot, c[1]))),
    "dot_nd": Spec(st.just((tg.dot, [np.linspace(-1, 1, 12).reshape(2, 3, 2),
                                     np.linspace(-2, 1, 12).reshape(3, 2, 2)]))),
    "operators": binary(lambda x, y: (x + 2) * y - x / (y * y + 1) - (-x) ** 2 + 1.5 ** y),
    "gelu": unary(tg.gelu, -3.0, 3.0),
    "gelu_tanh": unary(lambda x: tg.gelu(x, approximate=True)),
}


@pytest.mark.parametrize("name", sorted(SPECS) + sorted(COMPOSITES))
def test_gradient_matches_numerical(name):
    spec = SPECS.get(name) or COMPOSITES[name]

    @given(spec.cases)
    def check(case):
        f, args = case
        check_gradients(f, args, order=spec.order, rtol=spec.rtol, atol=spec.atol, eps=spec.eps)

    check()


# Public functions without a gradient (comparisons, rounding, argmax, shape arithmetic).
NOT_DIFFERENTIABLE = {
    "ceil", "equal", "floor", "greater", "greater_equal", "isfinite", "isnan", "less",
    "less_equal", "logical_and", "logical_not", "logical_or", "logical_xor", "not_equal", "round",
    "argmax", "argmin", "conv_output_length", "floor_divide",
}


def test_every_registered_op_and_public_function_has_a_gradient_spec():
    missing = sorted(set(REGISTRY) - set(SPECS))
    assert not missing, f"ops registered without a gradient spec: {missing}"
    public = [n for n in tg.ops.__all__ if not n[0].isupper() and n not in (
        "primitive", "nondifferentiable")]
    missing = sorted(n for n in public
                     if n not in SPECS and n not in COMPOSITES and n not in NOT_DIFFERENTIABLE)
    assert not missing, f"public ops without a gradient spec (or NOT_DIFFERENTIABLE): {missing}"


@pytest.mark.parametrize("name", sorted(SPECS) + sorted(COMPOSITES))
def test_step_through_is_the_same_backward_pass_as_tape_gradient(name):
    """`backward_steps` (the learner's view) ends with exactly the gradients of tape.gradient."""
    spec = SPECS.get(name) or COMPOSITES[name]

    @settings(max_examples=3, deadline=None)
    @given(spec.cases)
    def check(case):
        f, arrays = case
        xs = [tg.Variable(a, dtype="float64") for a in arrays]
        with tg.GradientTape(persistent=True) as tape:
            y = f(*xs)
        want = tape.gradient(y, xs)
        if all(w is None for w in want):
            return
        steps = list(tape.backward_steps(y))
        for x, w in zip(xs, want):
            got = steps[-1].gradient_of(x) if steps else None
            if w is None:
                continue
            np.testing.assert_array_equal(got.numpy(), w.numpy())

    check()
