"""Numerically delicate fused ops: logsumexp, softmax, log_softmax (stable at +-1000)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.ops.elementwise import exp
from tapegrad.ops.primitive import primitive
from tapegrad.ops.reduce import Axis, _expand, _sum, normalize_axes
from tapegrad.ops.shape import _shape_of, normalize_axis
from tapegrad.tensor import Tensor


def _stable_max(x: np.ndarray, axis: Any) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0)


@primitive(name="logsumexp", phrase="d logsumexp(x)/dx = softmax(x)")
def _logsumexp(x, *, axis, keepdims):
    m = _stable_max(x, axis)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


_logsumexp.defvjp(lambda g, ans, x, axis, keepdims:
                  _expand(g, x, axis, keepdims) * exp(x - _expand(ans, x, axis, keepdims)))


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over `axis`, computed without overflow (the max is subtracted first).

    >>> import tapegrad as tg
    >>> tg.logsumexp(tg.tensor([1000.0, 1000.0])).numpy()  # log(2) + 1000
    array(1000.6932, dtype=float32)
    """
    return _logsumexp(x, axis=normalize_axes(axis, len(_shape_of(x)), "logsumexp"),
                      keepdims=keepdims)


@primitive(name="softmax", phrase="d softmax(x)/dx: s*(g - sum(g*s))")
def _softmax(x, *, axis):
    e = np.exp(x - _stable_max(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


@primitive(name="log_softmax", phrase="d log_softmax(x)/dx: g - softmax(x)*sum(g)")
def _log_softmax(x, *, axis):
    z = x - _stable_max(x, axis)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


_softmax.defvjp(lambda g, ans, x, axis: ans * (g - _sum(g * ans, axis=(axis,), keepdims=True)))
_log_softmax.defvjp(lambda g, ans, x, axis:
                    g - exp(ans) * _sum(g, axis=(axis,), keepdims=True))


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis`, stable for large inputs.

    >>> import tapegrad as tg
    >>> tg.softmax(tg.tensor([[0.0, 0.0], [0.0, 1000.0]])).numpy()
    array([[0.5, 0.5],
           [0. , 1. ]], dtype=float32)
    """
    return _softmax(x, axis=normalize_axis(axis, len(_shape_of(x)), "softmax"))


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along `axis`, stable for large inputs (better than log(softmax(x))).

    >>> import tapegrad as tg
    >>> tg.log_softmax(tg.tensor([0.0, 1000.0])).numpy()
    array([-1000.,     0.], dtype=float32)
    """
    return _log_softmax(x, axis=normalize_axis(axis, len(_shape_of(x)), "log_softmax"))


# -- a fused LSTM cell ----------------------------------------------------------------------


def _sigmoid_np(z: np.ndarray) -> np.ndarray:
    """Sigmoid as (1 + tanh(z / 2)) / 2: no overflow and one transcendental (gates need
    absolute, not relative, accuracy near 0)."""
    return 0.5 + 0.5 * np.tanh(0.5 * z)


@primitive(name="lstm_cell",
           phrase=("d lstm_cell/dz: through the gates", "d lstm_cell/dc_prev = f * dc"))
def _lstm_cell(z, c_prev):
    """[h, c, i, f, g, o] of one LSTM step from the gate pre-activations z = (i, f, g, o)."""
    u = c_prev.shape[-1]
    i, f, o = _sigmoid_np(z[:, :u]), _sigmoid_np(z[:, u:2 * u]), _sigmoid_np(z[:, 3 * u:])
    g = np.tanh(z[:, 2 * u:3 * u])
    c = f * c_prev + i * g
    return np.concatenate([o * np.tanh(c), c, i, f, g, o], axis=-1)


def _lstm_vjp(g, ans, z, c_prev):
    """Gradients of z and c_prev together, one joint rule (the gates are read from the output,
    so the rule is differentiable again)."""
    from tapegrad.ops.elementwise import tanh
    from tapegrad.ops.indexing import _getitem
    from tapegrad.ops.shape import concatenate

    u = _shape_of(c_prev)[-1]
    gh, gc, gi, gf, gg, go = (_getitem(g, (slice(None), slice(n * u, (n + 1) * u)))
                              for n in range(6))
    c, i, f, cand, o = (_getitem(ans, (slice(None), slice(n * u, (n + 1) * u)))
                        for n in range(1, 6))
    tc = tanh(c)
    dc = gc + gh * o * (1 - tc * tc)
    dz = concatenate([(dc * cand + gi) * i * (1 - i), (dc * c_prev + gf) * f * (1 - f),
                      (dc * i + gg) * (1 - cand * cand), (gh * tc + go) * o * (1 - o)],
                     axis=-1)
    return dz, dc * f


_lstm_cell.defvjp_all(_lstm_vjp)


def lstm_cell(z: Any, c_prev: Any) -> Tensor:
    """One LSTM step, fused: gate pre-activations `z` (batch, 4 units; Keras order i, f, g, o)
    and the previous cell state `c_prev` (batch, units) give `[h, c, i, f, g, o]` side by side
    (batch, 6 units), with `c = f * c_prev + i * tanh(g)` and `h = o * tanh(c)` (sigmoid gates;
    the gates are returned so the gradient rule need not recompute them). One recorded op per
    step instead of a dozen.

    >>> import numpy as np, tapegrad as tg
    >>> out = tg.lstm_cell(np.zeros((1, 8)), np.ones((1, 2)))
    >>> out.numpy()[:, :4].round(3)  # h, c: f = 0.5 keeps half of c; o = 0.5 scales tanh(c)
    array([[0.231, 0.231, 0.5  , 0.5  ]])
    """
    zs, cs = _shape_of(z), _shape_of(c_prev)
    if len(zs) != 2 or len(cs) != 2 or zs[0] != cs[0] or zs[1] != 4 * cs[1]:
        raise ValueError(f"lstm_cell: z must be (batch, 4 units) and c_prev (batch, units); got "
                         f"shapes {zs} and {cs}")
    return _lstm_cell(z, c_prev)


__all__ = [  # the public ops of this family (tapegrad.ops exports exactly these)
    "log_softmax", "logsumexp", "lstm_cell", "softmax"
]
