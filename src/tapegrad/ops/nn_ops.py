"""Numerically delicate fused ops: logsumexp, softmax, log_softmax (stable at +-1000)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.ops.elementwise import erf, exp, sigmoid, tanh
from tapegrad.ops.primitive import float_valued, primitive
from tapegrad.ops.reduce import Axis, _expand, _keepdims, _sum, normalize_axes
from tapegrad.ops.shape import _shape_of, _tensor, normalize_axis
from tapegrad.tensor import Tensor, as_operand, get_default_dtype


def _stable_max(x: np.ndarray, axis: Any) -> np.ndarray:
    m = np.maximum.reduce(x, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0)


@primitive(name="logsumexp", phrase="d logsumexp(x)/dx = softmax(x)")
def _logsumexp(x, *, axis, keepdims):
    m = _stable_max(x, axis)
    out = np.log(np.add.reduce(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


_logsumexp.defvjp(lambda g, ans, x, axis, keepdims:
                  _expand(g, x, axis, keepdims) * exp(x - _expand(ans, x, axis, keepdims)))


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over `axis`, computed without overflow (the max is subtracted first).

    >>> import tapegrad as tg
    >>> tg.logsumexp(tg.tensor([1000.0, 1000.0])).numpy()  # log(2) + 1000
    array(1000.6932, dtype=float32)
    """
    x = _tensor(x, "logsumexp")
    return _logsumexp(x, axis=normalize_axes(axis, len(_shape_of(x)), "logsumexp"),
                      keepdims=_keepdims(keepdims, "logsumexp"))


@primitive(name="softmax", phrase="d softmax(x)/dx: s*(g - sum(g*s))")
def _softmax(x, *, axis):
    e = np.exp(x - _stable_max(x, axis))
    return e / np.add.reduce(e, axis=axis, keepdims=True)


@primitive(name="log_softmax", phrase="d log_softmax(x)/dx: g - softmax(x)*sum(g)")
def _log_softmax(x, *, axis):
    z = x - _stable_max(x, axis)
    return z - np.log(np.add.reduce(np.exp(z), axis=axis, keepdims=True))


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
    x = _tensor(x, "softmax")
    return _softmax(x, axis=_class_axis(x, axis, "softmax"))


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along `axis`, stable for large inputs (better than log(softmax(x))).

    >>> import tapegrad as tg
    >>> tg.log_softmax(tg.tensor([0.0, 1000.0])).numpy()
    array([-1000.,     0.], dtype=float32)
    """
    x = _tensor(x, "log_softmax")
    return _log_softmax(x, axis=_class_axis(x, axis, "log_softmax"))


def _class_axis(x: Any, axis: Any, op: str) -> int:
    """The one axis softmax normalizes over (the classes); a 0-d tensor has none."""
    shape = _shape_of(x)
    if not shape:
        raise ValueError(f"{op}: needs at least one dimension (the classes), got a 0-d tensor")
    if axis is None:
        raise TypeError(f"{op}: axis must be an int (the class axis, -1 by default), got None")
    return normalize_axis(axis, len(shape), op)


_SQRT_HALF = 0.7071067811865476
_GELU_C = 0.7978845608028654  # sqrt(2 / pi)


def gelu(x: Any, approximate: bool = False) -> Tensor:
    """Gaussian error linear unit x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2))), exact by default as
    in Keras 3; `approximate=True` gives the tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715
    x^3))).

    >>> import tapegrad as tg
    >>> tg.gelu(tg.tensor([-1.0, 0.0, 1.0])).numpy().round(4)
    array([-0.1587,  0.    ,  0.8413], dtype=float32)
    """
    if not isinstance(approximate, (bool, np.bool_)):
        raise TypeError(f"gelu: approximate must be True or False, got {approximate!r}")
    x = x if isinstance(x, Tensor) else as_operand(x, "gelu")
    if x.dtype.kind != "f":  # the float-valued rule of `operands`, for this composed op
        x = x.astype(get_default_dtype())
    if approximate:
        return 0.5 * x * (1.0 + tanh(_GELU_C * (x + 0.044715 * (x * x * x))))
    return 0.5 * x * (1.0 + erf(x * _SQRT_HALF))


float_valued(_logsumexp, _softmax, _log_softmax)


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
    z, c_prev = _tensor(z, "lstm_cell"), _tensor(c_prev, "lstm_cell")
    zs, cs = _shape_of(z), _shape_of(c_prev)
    if len(zs) != 2 or len(cs) != 2 or zs[0] != cs[0] or zs[1] != 4 * cs[1]:
        raise ValueError(f"lstm_cell: z must be (batch, 4 units) and c_prev (batch, units); got "
                         f"shapes {zs} and {cs}")
    return _lstm_cell(z, c_prev)


# -- a fused LSTM over a whole sequence -------------------------------------------------------


@primitive(name="lstm_sequence",
           phrase=("d lstm_sequence/dxw: the gates' gradients at every step",
                   "d lstm_sequence/dh0 = dz_1 @ R.T", "d lstm_sequence/dc0 = dc_1 * f_1",
                   "d lstm_sequence/dR = sum_t h_(t-1).T @ dz_t"))
def _lstm_sequence(xw, h0, c0, r):
    """h, c, i, f, g, o at every step, stacked: (6, time, batch, units)."""
    t, b, _ = xw.shape
    u = h0.shape[-1]
    out = np.empty((6, t, b, u), np.result_type(xw, h0, c0, r))
    h, c = h0, c0
    for k in range(t):
        z = xw[k] + h @ r
        out[2:, k] = _sigmoid_np(z).reshape(b, 4, u).transpose(1, 0, 2)  # i, f, (g), o
        out[4, k] = np.tanh(z[:, 2 * u:3 * u])
        i, f, g, o = out[2:, k]
        c = out[1, k] = f * c + i * g
        h = out[0, k] = o * np.tanh(c)
    return out


def _lstm_sequence_vjp(g, ans, xw, h0, c0, r):
    """Backpropagation through time. What does not depend on later steps' gradients (the
    gates' derivatives) is computed for all steps at once; the loop then carries dh and dc
    backwards, one matmul per step: dz_t = [dc, dc, dc, dh]_t * p_t + e_t, where e holds the
    gradients arriving at the gates themselves. Written in tapegrad ops, so it is differentiable
    again."""
    from tapegrad.ops.indexing import _getitem
    from tapegrad.ops.linalg import matmul
    from tapegrad.ops.shape import _concatenate, reshape, transpose

    t, b, w = _shape_of(xw)
    u = w // 4
    h, c, i, f, cand, o = (_getitem(ans, n) for n in range(6))  # each (time, batch, units)
    gh, gc, gi, gf, gg, go = (_getitem(g, n) for n in range(6))
    c_prev = _concatenate(reshape(c0, (1, b, u)), _getitem(c, slice(0, t - 1)), axis=0,
                          offsets=(0, 1, t))
    tc = tanh(c)
    di, df, dg, do = i * (1 - i), f * (1 - f), 1 - cand * cand, o * (1 - o)
    gates = {"axis": 2, "offsets": (0, u, 2 * u, 3 * u, 4 * u)}
    p = _concatenate(cand * di, c_prev * df, i * dg, tc * do, **gates)
    e = _concatenate(gi * di, gf * df, gg * dg, go * do, **gates)
    a = o * (1 - tc * tc)  # dh_t/dc_t
    gc = gc + gh * a  # the gradient arriving at c_t, directly and through h_t
    rt = transpose(r, (1, 0))
    dh, dc = _getitem(gh, t - 1), _getitem(gc, t - 1)
    dzs = []  # dz of steps t-1, ..., 0
    for k in reversed(range(t)):
        if dzs:  # what comes back from step k + 1
            back = matmul(dzs[-1], rt)
            dc = _getitem(gc, k) + back * _getitem(a, k) + dc * _getitem(f, k + 1)
            dh = _getitem(gh, k) + back
        dzs.append(_concatenate(dc, dc, dc, dh, axis=1, offsets=gates["offsets"])
                   * _getitem(p, k) + _getitem(e, k))
    dz_all = _concatenate(*dzs[::-1], axis=0, offsets=tuple(k * b for k in range(t + 1)))
    h_prev = _concatenate(reshape(h0, (1, b, u)), _getitem(h, slice(0, t - 1)), axis=0,
                          offsets=(0, 1, t))
    dr = matmul(transpose(reshape(h_prev, (t * b, u)), (1, 0)), dz_all)
    return reshape(dz_all, (t, b, w)), matmul(dzs[-1], rt), dc * _getitem(f, 0), dr


_lstm_sequence.defvjp_all(_lstm_sequence_vjp)
float_valued(_lstm_sequence)


def lstm_sequence(xw: Any, h0: Any, c0: Any, recurrent_kernel: Any) -> Tensor:
    """A whole LSTM sequence in one op (as Keras's cuDNN path): from the projected inputs
    `xw = x @ kernel + bias`, time-major (time, batch, 4 units; gates i, f, g, o), the initial
    states `h0`, `c0` (batch, units) and the recurrent kernel (units, 4 units), the states and
    gates h, c, i, f, g, o at every step stacked (6, time, batch, units): what `lstm_cell` gives,
    for all steps at once. Its gradient rule is backpropagation through time.

    >>> import numpy as np, tapegrad as tg
    >>> b1 = np.zeros((1, 2))
    >>> h, c, i, f, g, o = tg.lstm_sequence(np.zeros((3, 1, 8)), b1, b1 + 1, np.zeros((2, 8)))
    >>> c.numpy()[:, 0]  # the forget gate (0.5) halves c at each step; i * g adds nothing
    array([[0.5  , 0.5  ],
           [0.25 , 0.25 ],
           [0.125, 0.125]])
    """
    xw, h0, c0 = (_tensor(a, "lstm_sequence") for a in (xw, h0, c0))
    r = _tensor(recurrent_kernel, "lstm_sequence")
    xs, hs, cs, rs = (_shape_of(a) for a in (xw, h0, c0, r))
    if (len(xs) != 3 or xs[0] == 0 or xs[2] % 4 or hs != (xs[1], xs[2] // 4) or cs != hs
            or rs != (hs[1], xs[2])):
        raise ValueError(f"lstm_sequence: xw must be (time >= 1, batch, 4 units), h0 and c0 "
                         f"(batch, units), recurrent_kernel (units, 4 units); got shapes {xs}, "
                         f"{hs}, {cs} and {rs}")
    return _lstm_sequence(xw, h0, c0, r)


# -- a fused GRU over a whole sequence --------------------------------------------------------


@primitive(name="gru_sequence",
           phrase=("d gru_sequence/dxw: the gates' gradients at every step",
                   "d gru_sequence/dh0 = dh_1 * z_1 + dhr_1 @ R.T",
                   "d gru_sequence/dR = sum_t h_(t-1).T @ dhr_t",
                   "d gru_sequence/db = sum_t dhr_t"))
def _gru_sequence(xw, h0, r, rb):
    """h, z, r, the candidate h~ and its recurrent part hn at every step: (5, time, batch,
    units)."""
    t, b, _ = xw.shape
    u = h0.shape[-1]
    out = np.empty((5, t, b, u), np.result_type(xw, h0, r, rb))
    h = h0
    for k in range(t):
        hr = h @ r + rb
        out[1:3, k] = sigmoid.fwd(xw[k, :, :2 * u] + hr[:, :2 * u]).reshape(b, 2, u) \
            .transpose(1, 0, 2)  # z, r (as tg.sigmoid, so the step loop gives the same bits)
        z, reset = out[1, k], out[2, k]
        hn = out[4, k] = hr[:, 2 * u:]
        hh = out[3, k] = np.tanh(xw[k, :, 2 * u:] + reset * hn)
        h = out[0, k] = z * h + (1 - z) * hh
    return out


def _gru_sequence_vjp(g, ans, xw, h0, r, rb):
    """Backpropagation through time, as for `lstm_sequence`: the gates' derivatives for all
    steps at once, then a loop carrying dh backwards. The gradients of the input and recurrent
    projections at step t are dx_t = [dh, dh, dh]_t * p_t + e_t and dhr_t = [dh, dh, dh]_t * q_t
    + eq_t (e, eq: from the gradients arriving at the gates themselves)."""
    from tapegrad.ops.indexing import _getitem
    from tapegrad.ops.linalg import matmul
    from tapegrad.ops.shape import _concatenate, reshape, transpose

    t, b, w = _shape_of(xw)
    u = w // 3
    h, z, reset, hh, hn = (_getitem(ans, n) for n in range(5))  # each (time, batch, units)
    gh, gz, gr, ghh, ghn = (_getitem(g, n) for n in range(5))
    h_prev = _concatenate(reshape(h0, (1, b, u)), _getitem(h, slice(0, t - 1)), axis=0,
                          offsets=(0, 1, t))
    dz, dr, dhh = z * (1 - z), reset * (1 - reset), 1 - hh * hh
    pa = (1 - z) * dhh  # d(candidate pre-activation)/dh_t
    gates = {"axis": 2, "offsets": (0, u, 2 * u, 3 * u)}
    pz, pr = (h_prev - hh) * dz, pa * hn * dr
    p, q = _concatenate(pz, pr, pa, **gates), _concatenate(pz, pr, pa * reset, **gates)
    ea = ghh * dhh
    ez, er = gz * dz, (ea * hn + gr) * dr
    e, eq = _concatenate(ez, er, ea, **gates), _concatenate(ez, er, ea * reset + ghn, **gates)
    rt = transpose(r, (1, 0))
    dh = _getitem(gh, t - 1)
    dxs, dhrs = [], []  # of steps t-1, ..., 0
    for k in reversed(range(t)):
        if dhrs:  # what comes back from step k + 1
            dh = _getitem(gh, k) + dh * _getitem(z, k + 1) + matmul(dhrs[-1], rt)
        d3 = _concatenate(dh, dh, dh, axis=1, offsets=gates["offsets"])
        dxs.append(d3 * _getitem(p, k) + _getitem(e, k))
        dhrs.append(d3 * _getitem(q, k) + _getitem(eq, k))
    rows = tuple(k * b for k in range(t + 1))
    dx_all = _concatenate(*dxs[::-1], axis=0, offsets=rows)
    dhr_all = _concatenate(*dhrs[::-1], axis=0, offsets=rows)
    dr_kernel = matmul(transpose(reshape(h_prev, (t * b, u)), (1, 0)), dhr_all)
    dh0 = dh * _getitem(z, 0) + matmul(dhrs[-1], rt)
    return reshape(dx_all, (t, b, w)), dh0, dr_kernel, _sum(dhr_all, axis=(0,), keepdims=False)


_gru_sequence.defvjp_all(_gru_sequence_vjp)
float_valued(_gru_sequence)


def gru_sequence(xw: Any, h0: Any, recurrent_kernel: Any, recurrent_bias: Any) -> Tensor:
    """A whole GRU sequence in one op (Keras's `reset_after=True` cell, as cuDNN): from the
    projected inputs `xw = x @ kernel + input bias`, time-major (time, batch, 3 units; gates z,
    r, h), the initial state `h0` (batch, units), the recurrent kernel (units, 3 units) and
    bias (3 units), with `hr = h @ recurrent_kernel + recurrent_bias`, `z, r = sigmoid(xw + hr)`
    (first two blocks), `h~ = tanh(xw_h + r * hr_h)` and `h = z * h_prev + (1 - z) * h~`: h, z,
    r, h~ and hr_h at every step stacked (5, time, batch, units). Its gradient rule is
    backpropagation through time.

    >>> import numpy as np, tapegrad as tg
    >>> xw = np.zeros((2, 1, 3))
    >>> h, z, r, hh, hn = tg.gru_sequence(xw, np.ones((1, 1)), np.zeros((1, 3)), np.zeros(3))
    >>> h.numpy()[:, 0]  # z = 0.5 keeps half of h; the candidate tanh(0) adds nothing
    array([[0.5 ],
           [0.25]])
    """
    xw, h0 = _tensor(xw, "gru_sequence"), _tensor(h0, "gru_sequence")
    r, rb = _tensor(recurrent_kernel, "gru_sequence"), _tensor(recurrent_bias, "gru_sequence")
    xs, hs, rs, bs = (_shape_of(a) for a in (xw, h0, r, rb))
    if (len(xs) != 3 or xs[0] == 0 or xs[2] % 3 or hs != (xs[1], xs[2] // 3)
            or rs != (hs[1], xs[2]) or bs != (xs[2],)):
        raise ValueError(f"gru_sequence: xw must be (time >= 1, batch, 3 units), h0 (batch, "
                         f"units), recurrent_kernel (units, 3 units), recurrent_bias (3 units,);"
                         f" got shapes {xs}, {hs}, {rs} and {bs}")
    return _gru_sequence(xw, h0, r, rb)


__all__ = [  # the public ops of this family (tapegrad.ops exports exactly these)
    "gelu", "gru_sequence", "log_softmax", "logsumexp", "lstm_cell", "lstm_sequence", "softmax"
]
