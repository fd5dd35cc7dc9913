"""Convolution and pooling on channels-last (NHWC) tensors, as one big matrix product.

`im2col` copies every receptive field into a (N, OH, OW, KH, KW, C) array and `col2im` adds such an
array back onto the image; they are linear and each other's gradient. Their loops run over the
KH * KW kernel offsets only, never over pixels. Convolution is `im2col` followed by one matmul
with the kernel reshaped to (KH * KW * C, O), and its gradient rules are `col2im`/`im2col` and
matmuls again, so every rule is itself differentiable (second order works). Kernels are HWIO and
the op is cross-correlation, as in Keras. Max-pool shares the gradient equally between tied
maxima (as `tg.max` does); average pooling with "same" padding does not count padded cells.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tapegrad.ops.linalg import einsum, matmul
from tapegrad.ops.primitive import primitive
from tapegrad.ops.shape import _shape_of, broadcast_to, expand_dims, reshape
from tapegrad.tensor import Tensor

Pads = tuple[tuple[int, int], tuple[int, int]]
IntOrPair = int | tuple[int, int]
_PADDINGS = ("valid", "same")


# -- shapes (the Keras formulas) ------------------------------------------------------------


def conv_output_length(size: int, kernel: int, stride: int = 1, padding: str = "valid",
                       dilation: int = 1) -> int:
    """Output length along one axis, as Keras computes it ('valid', 'same' or 'causal').

    >>> conv_output_length(28, 3), conv_output_length(28, 3, 2, "same")
    (26, 14)
    """
    eff = dilation * (kernel - 1) + 1
    n = size - eff + 1 if padding == "valid" else size
    return (n + stride - 1) // stride


def _axis_pads(size: int, kernel: int, stride: int, dilation: int, padding: str,
               op: str, what: str) -> tuple[int, int]:
    eff = dilation * (kernel - 1) + 1
    if padding == "valid":
        if eff > size:
            raise ValueError(f"{op}: the {what} window of size {eff} (kernel {kernel}, dilation "
                             f"{dilation}) is larger than the input size {size} with padding "
                             f"'valid'; use a smaller kernel or padding='same'")
        return (0, 0)
    if padding == "causal":
        return (eff - 1, 0)
    out = conv_output_length(size, kernel, stride, padding, dilation)
    total = max((out - 1) * stride + eff - size, 0)
    return (total // 2, total - total // 2)


def _pair(v: Any, op: str, what: str, n: int = 2) -> tuple[int, ...]:
    t = (v,) * n if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != n or not all(isinstance(a, (int, np.integer)) and a >= 1 for a in t):
        raise ValueError(f"{op}: {what} must be a positive int or a tuple of {n} positive ints, "
                         f"got {v!r}")
    return tuple(int(a) for a in t)


def _padding(padding: Any, op: str, allowed: tuple[str, ...] = _PADDINGS) -> str:
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in allowed:
        raise ValueError(f"{op}: padding must be one of {', '.join(map(repr, allowed))}, "
                         f"got {padding!r}")
    return p


def _check_rank(x: Any, rank: int, op: str, layout: str) -> tuple[int, ...]:
    shape = _shape_of(x)
    if len(shape) != rank:
        raise ValueError(f"{op}: expected a rank-{rank} input {layout}, got shape {shape}")
    return shape


def _geometry(shape: tuple, ksize: tuple, strides: tuple, dilation: tuple, padding: str,
              op: str) -> Pads:
    return tuple(_axis_pads(shape[1 + a], ksize[a], strides[a], dilation[a], padding, op,
                            "kernel" if op.startswith(("conv", "depthwise")) else "pooling")
                 for a in range(2))


# -- im2col / col2im: the primitive pair ----------------------------------------------------


def _out_hw(hp: int, wp: int, ksize: tuple, strides: tuple, dilation: tuple) -> tuple[int, int]:
    return ((hp - dilation[0] * (ksize[0] - 1) - 1) // strides[0] + 1,
            (wp - dilation[1] * (ksize[1] - 1) - 1) // strides[1] + 1)


def _offset(i: int, j: int, oh: int, ow: int, strides: tuple, dilation: tuple) -> tuple:
    """The slice of the padded image that kernel offset (i, j) sees for every output pixel."""
    r, c = i * dilation[0], j * dilation[1]
    return (slice(None), slice(r, r + strides[0] * (oh - 1) + 1, strides[0]),
            slice(c, c + strides[1] * (ow - 1) + 1, strides[1]), slice(None))


@primitive(name="im2col")
def _im2col(x, *, ksize, strides, dilation, pads, pad_value):
    (pt, pb), (pl, pr) = pads
    if pt or pb or pl or pr:
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=pad_value)
    n, hp, wp, c = x.shape
    kh, kw = ksize
    oh, ow = _out_hw(hp, wp, ksize, strides, dilation)
    if c >= 8:  # one strided copy is faster when channels are contiguous runs
        eff = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
        v = sliding_window_view(x, eff, axis=(1, 2))
        v = v[:, ::strides[0], ::strides[1], :, ::dilation[0], ::dilation[1]][:, :oh, :ow]
        return np.ascontiguousarray(v.transpose(0, 1, 2, 4, 5, 3))
    cols = np.empty((n, oh, ow, kh, kw, c), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, :, i, j, :] = x[_offset(i, j, oh, ow, strides, dilation)]
    return cols


@primitive(name="col2im")
def _col2im(cols, *, ksize, strides, dilation, pads, shape):
    (pt, pb), (pl, pr) = pads
    n, h, w, c = shape
    oh, ow = cols.shape[1:3]
    out = np.zeros((n, h + pt + pb, w + pl + pr, c), dtype=cols.dtype)
    for i in range(ksize[0]):
        for j in range(ksize[1]):
            out[_offset(i, j, oh, ow, strides, dilation)] += cols[:, :, :, i, j, :]
    return out[:, pt:pt + h, pl:pl + w, :] if pt or pb or pl or pr else out


_im2col.defvjp(lambda g, ans, x, *, pad_value, **p: _col2im(g, shape=_shape_of(x), **p))
_col2im.defvjp(lambda g, ans, cols, *, shape, **p: _im2col(g, pad_value=0.0, **p))


def im2col(x: Any, kernel_size: IntOrPair, strides: IntOrPair = 1, padding: str = "valid",
           dilation_rate: IntOrPair = 1) -> Tensor:
    """Every receptive field of an NHWC image as an (N, OH, OW, KH, KW, C) tensor.

    >>> import tapegrad as tg, numpy as np
    >>> tg.im2col(np.zeros((2, 5, 5, 3)), 3).shape
    (2, 3, 3, 3, 3, 3)
    """
    shape = _check_rank(x, 4, "im2col", "(batch, height, width, channels)")
    k, s = _pair(kernel_size, "im2col", "kernel_size"), _pair(strides, "im2col", "strides")
    d = _pair(dilation_rate, "im2col", "dilation_rate")
    pads = _geometry(shape, k, s, d, _padding(padding, "im2col"), "im2col")
    return _im2col(x, ksize=k, strides=s, dilation=d, pads=pads, pad_value=0.0)


def col2im(cols: Any, input_shape: tuple[int, ...], strides: IntOrPair = 1,
           padding: str = "valid", dilation_rate: IntOrPair = 1) -> Tensor:
    """Add (N, OH, OW, KH, KW, C) patches back onto an image of `input_shape` (im2col's adjoint).

    >>> import tapegrad as tg, numpy as np
    >>> tg.col2im(np.ones((1, 2, 2, 2, 2, 1)), (1, 3, 3, 1)).numpy()[0, :, :, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    cs = _check_rank(cols, 6, "col2im", "(batch, out_h, out_w, kh, kw, channels)")
    shape = tuple(int(v) for v in input_shape)
    s, d = _pair(strides, "col2im", "strides"), _pair(dilation_rate, "col2im", "dilation_rate")
    k = cs[3:5]
    pads = _geometry(shape, k, s, d, _padding(padding, "col2im"), "col2im")
    want = (shape[0], *_out_hw(shape[1] + sum(pads[0]), shape[2] + sum(pads[1]), k, s, d),
            *k, shape[3])
    if len(shape) != 4 or cs != want:
        raise ValueError(f"col2im: patches of shape {cs} do not fit input_shape {shape} "
                         f"(expected patches of shape {want})")
    return _col2im(cols, ksize=k, strides=s, dilation=d, pads=pads, shape=shape)


# -- convolutions ---------------------------------------------------------------------------


@primitive(name="conv2d")
def _conv2d(x, w, *, strides, dilation, pads):
    kh, kw, ci, co = w.shape
    cols = _im2col.fwd(x, ksize=(kh, kw), strides=strides, dilation=dilation, pads=pads,
                       pad_value=0)
    out = cols.reshape(-1, kh * kw * ci) @ w.reshape(-1, co)
    return out.reshape(*cols.shape[:3], co)


def _conv2d_vjp_x(g, ans, x, w, *, strides, dilation, pads):
    kh, kw, ci, co = _shape_of(w)
    n, oh, ow, _ = _shape_of(g)
    dcols = matmul(reshape(g, (-1, co)), reshape(w, (-1, co)).T)
    return _col2im(reshape(dcols, (n, oh, ow, kh, kw, ci)), ksize=(kh, kw), strides=strides,
                   dilation=dilation, pads=pads, shape=_shape_of(x))


def _conv2d_vjp_w(g, ans, x, w, *, strides, dilation, pads):
    wshape = _shape_of(w)
    cols = _im2col(x, ksize=wshape[:2], strides=strides, dilation=dilation, pads=pads,
                   pad_value=0.0)
    k = wshape[0] * wshape[1] * wshape[2]
    return reshape(matmul(reshape(cols, (-1, k)).T, reshape(g, (-1, wshape[3]))), wshape)


_conv2d.defvjp(_conv2d_vjp_x, _conv2d_vjp_w)


def _conv_args(x: Any, kernel: Any, strides: Any, padding: Any, dilation_rate: Any, op: str,
               depthwise: bool = False) -> dict:
    shape = _check_rank(x, 4, op, "(batch, height, width, channels)")
    ks = _shape_of(kernel)
    if len(ks) != 4 or ks[2] != shape[3]:
        want = "(kh, kw, channels, depth_multiplier)" if depthwise else "(kh, kw, in, out)"
        raise ValueError(f"{op}: kernel of shape {ks} does not fit an input of shape {shape}: "
                         f"expected {want} with {shape[3]} input channels")
    s, d = _pair(strides, op, "strides"), _pair(dilation_rate, op, "dilation_rate")
    if s != (1, 1) and d != (1, 1):
        raise ValueError(f"{op}: strides {s} > 1 together with dilation_rate {d} > 1 is not "
                         "supported (as in Keras)")
    pads = _geometry(shape, ks[:2], s, d, _padding(padding, op), op)
    return {"strides": s, "dilation": d, "pads": pads}


def conv2d(x: Any, kernel: Any, strides: IntOrPair = 1, padding: str = "valid",
           dilation_rate: IntOrPair = 1) -> Tensor:
    """2-D cross-correlation of NHWC `x` with an HWIO `kernel` (kh, kw, in, out), as Keras.

    >>> import tapegrad as tg, numpy as np
    >>> tg.conv2d(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2))).numpy()[0, :, :, 0]
    array([[9., 9.],
           [9., 9.]])
    """
    return _conv2d(x, kernel, **_conv_args(x, kernel, strides, padding, dilation_rate, "conv2d"))


def conv1d(x: Any, kernel: Any, strides: int = 1, padding: str = "valid",
           dilation_rate: int = 1) -> Tensor:
    """1-D cross-correlation of (batch, steps, channels) `x` with a (k, in, out) kernel.

    `padding` may also be "causal" (left padding only, as Keras). Built on `conv2d`.

    >>> import tapegrad as tg, numpy as np
    >>> tg.conv1d(np.ones((2, 10, 3)), np.ones((4, 3, 5)), padding="causal").shape
    (2, 10, 5)
    """
    shape = _check_rank(x, 3, "conv1d", "(batch, steps, channels)")
    ks = _shape_of(kernel)
    if len(ks) != 3 or ks[1] != shape[2]:
        raise ValueError(f"conv1d: kernel of shape {ks} does not fit an input of shape {shape}: "
                         f"expected (kernel_size, {shape[2]}, filters)")
    (s,), (d,) = _pair(strides, "conv1d", "strides", 1), _pair(dilation_rate, "conv1d",
                                                              "dilation_rate", 1)
    p = _padding(padding, "conv1d", ("valid", "same", "causal"))
    pads = ((0, 0), _axis_pads(shape[1], ks[0], s, d, p, "conv1d", "kernel"))
    y = _conv2d(expand_dims(x, 1), expand_dims(kernel, 0), strides=(1, s), dilation=(1, d),
                pads=pads)
    return reshape(y, (shape[0], _shape_of(y)[2], ks[2]))


@primitive(name="depthwise_conv2d")
def _depthwise_conv2d(x, w, *, strides, dilation, pads):
    kh, kw, c, m = w.shape
    cols = _im2col.fwd(x, ksize=(kh, kw), strides=strides, dilation=dilation, pads=pads,
                       pad_value=0)
    out = np.einsum("nhwijc,ijcm->nhwcm", cols, w, optimize=True)
    return out.reshape(*out.shape[:3], c * m)


def _depthwise_vjp_x(g, ans, x, w, *, strides, dilation, pads):
    kh, kw, c, m = _shape_of(w)
    g5 = reshape(g, (*_shape_of(g)[:3], c, m))
    dcols = einsum("nhwcm,ijcm->nhwijc", g5, w)
    return _col2im(dcols, ksize=(kh, kw), strides=strides, dilation=dilation, pads=pads,
                   shape=_shape_of(x))


def _depthwise_vjp_w(g, ans, x, w, *, strides, dilation, pads):
    kh, kw, c, m = _shape_of(w)
    cols = _im2col(x, ksize=(kh, kw), strides=strides, dilation=dilation, pads=pads,
                   pad_value=0.0)
    return einsum("nhwijc,nhwcm->ijcm", cols, reshape(g, (*_shape_of(g)[:3], c, m)))


_depthwise_conv2d.defvjp(_depthwise_vjp_x, _depthwise_vjp_w)


def depthwise_conv2d(x: Any, kernel: Any, strides: IntOrPair = 1, padding: str = "valid",
                     dilation_rate: IntOrPair = 1) -> Tensor:
    """Per-channel 2-D convolution; kernel (kh, kw, channels, multiplier), output channel
    c * multiplier + m, as Keras's DepthwiseConv2D.

    >>> import tapegrad as tg, numpy as np
    >>> tg.depthwise_conv2d(np.ones((1, 5, 5, 3)), np.ones((3, 3, 3, 2))).shape
    (1, 3, 3, 6)
    """
    args = _conv_args(x, kernel, strides, padding, dilation_rate, "depthwise_conv2d", True)
    return _depthwise_conv2d(x, kernel, **args)


# -- pooling --------------------------------------------------------------------------------
# Pools reduce the KH * KW strided views of the padded image (one per kernel offset) with
# np.maximum / np.add: no patch copy, and much faster than a reduction over small axes.


def _padded_views(x: np.ndarray, ksize: tuple, strides: tuple, pads: Pads, fill: float,
                  out_hw: tuple | None = None) -> tuple[tuple[int, int], list[np.ndarray]]:
    (pt, pb), (pl, pr) = pads
    if pt or pb or pl or pr:
        x = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=fill)
    oh, ow = out_hw or _out_hw(x.shape[1], x.shape[2], ksize, strides, (1, 1))
    return (oh, ow), [x[_offset(i, j, oh, ow, strides, (1, 1))]
                      for i in range(ksize[0]) for j in range(ksize[1])]


@functools.lru_cache(maxsize=64)
def _window_counts(h: int, w: int, ksize: tuple, strides: tuple, pads: Pads) -> np.ndarray:
    """How many real (unpadded) cells each window covers: shape (1, OH, OW, 1)."""
    _, views = _padded_views(np.ones((1, h, w, 1)), ksize, strides, pads, 0.0)
    return np.sum(views, axis=0)


@primitive(name="max_pool2d")
def _max_pool2d(x, *, ksize, strides, pads):
    _, views = _padded_views(x, ksize, strides, pads, -np.inf)
    out = views[0].copy()
    for v in views[1:]:
        np.maximum(out, v, out=out)
    return out


def _max_masks(x: np.ndarray, ans: np.ndarray, ksize: tuple, strides: tuple,
               pads: Pads) -> tuple[list[np.ndarray], np.ndarray]:
    """Per kernel offset, where each window's maximum sits; and how many tied maxima each
    window has (the gradient is split equally between them)."""
    _, views = _padded_views(x, ksize, strides, pads, -np.inf, ans.shape[1:3])
    masks = [v == ans for v in views]
    count = masks[0].astype(ans.dtype)
    for m in masks[1:]:
        count += m
    return masks, count


@primitive(name="max_unpool2d")
def _max_unpool2d(g, x, ans, *, ksize, strides, pads):
    """Max-pool's gradient: each window's g sent to its maximum (linear in g)."""
    n, oh, ow, c = g.shape
    masks, count = _max_masks(x, ans, ksize, strides, pads)
    gs = g / count
    (pt, pb), (pl, pr) = pads
    out = np.zeros((n, x.shape[1] + pt + pb, x.shape[2] + pl + pr, c), dtype=g.dtype)
    disjoint = strides[0] >= ksize[0] and strides[1] >= ksize[1]
    k = 0
    for i in range(ksize[0]):
        for j in range(ksize[1]):
            view = out[_offset(i, j, oh, ow, strides, (1, 1))]
            if disjoint:  # each cell belongs to one window at most: write in place
                np.multiply(masks[k], gs, out=view)
            else:
                view += masks[k] * gs
            k += 1
    return out[:, pt:pt + x.shape[1], pl:pl + x.shape[2]] if pt or pb or pl or pr else out


@primitive(name="max_select2d")
def _max_select2d(gx, x, ans, *, ksize, strides, pads):
    """The adjoint of `max_unpool2d` in g: each window's share-weighted sum of `gx`."""
    masks, count = _max_masks(x, ans, ksize, strides, pads)
    _, views = _padded_views(gx, ksize, strides, pads, 0.0, ans.shape[1:3])
    return sum(m * v for m, v in zip(masks, views, strict=True)) / count


# The shares are locally constant in x, so x and ans get no gradient (max-pool is piecewise
# linear: its second derivative is 0 almost everywhere).
_max_unpool2d.defvjp(lambda g, ans, gy, x, y, **p: _max_select2d(g, x, y, **p), None, None)
_max_select2d.defvjp(lambda g, ans, gx, x, y, **p: _max_unpool2d(g, x, y, **p), None, None)
_max_pool2d.defvjp(lambda g, ans, x, **p: _max_unpool2d(g, x, ans, **p))


@primitive(name="avg_pool2d")
def _avg_pool2d(x, *, ksize, strides, pads):
    _, views = _padded_views(x, ksize, strides, pads, 0.0)
    out = views[0].copy()
    for v in views[1:]:
        out += v
    counts = _window_counts(x.shape[1], x.shape[2], ksize, strides, pads)
    return out / counts.astype(out.dtype)


def _avg_pool2d_vjp(g, ans, x, *, ksize, strides, pads):
    n, oh, ow, c = _shape_of(g)
    h, w = _shape_of(x)[1:3]
    counts = _window_counts(h, w, ksize, strides, pads).astype(g.dtype)
    gc = broadcast_to(reshape(g / counts, (n, oh, ow, 1, 1, c)), (n, oh, ow, *ksize, c))
    return _col2im(gc, ksize=ksize, strides=strides, dilation=(1, 1), pads=pads,
                   shape=_shape_of(x))


_avg_pool2d.defvjp(_avg_pool2d_vjp)


def _pool_args(x: Any, pool_size: Any, strides: Any, padding: Any, op: str) -> dict:
    shape = _check_rank(x, 4, op, "(batch, height, width, channels)")
    k = _pair(pool_size, op, "pool_size")
    s = k if strides is None else _pair(strides, op, "strides")
    return {"ksize": k, "strides": s,
            "pads": _geometry(shape, k, s, (1, 1), _padding(padding, op), op)}


def max_pool2d(x: Any, pool_size: IntOrPair = 2, strides: IntOrPair | None = None,
               padding: str = "valid") -> Tensor:
    """Maximum over each pooling window of an NHWC tensor (strides default to pool_size).

    >>> import tapegrad as tg, numpy as np
    >>> tg.max_pool2d(np.arange(16.).reshape(1, 4, 4, 1)).numpy()[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    return _max_pool2d(x, **_pool_args(x, pool_size, strides, padding, "max_pool2d"))


def avg_pool2d(x: Any, pool_size: IntOrPair = 2, strides: IntOrPair | None = None,
               padding: str = "valid") -> Tensor:
    """Mean over each pooling window of an NHWC tensor; 'same' padding cells are not counted.

    >>> import tapegrad as tg, numpy as np
    >>> tg.avg_pool2d(np.arange(16.).reshape(1, 4, 4, 1)).numpy()[0, :, :, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    return _avg_pool2d(x, **_pool_args(x, pool_size, strides, padding, "avg_pool2d"))


def _pool1d(pool2d: Any, op: str, x: Any, pool_size: int, strides: int | None,
            padding: str) -> Tensor:
    shape = _check_rank(x, 3, op, "(batch, steps, channels)")
    (k,) = _pair(pool_size, op, "pool_size", 1)
    (s,) = (k,) if strides is None else _pair(strides, op, "strides", 1)
    pads = ((0, 0), _axis_pads(shape[1], k, s, 1, _padding(padding, op), op, "pooling"))
    y = pool2d(expand_dims(x, 1), ksize=(1, k), strides=(1, s), pads=pads)
    return reshape(y, (shape[0], _shape_of(y)[2], shape[2]))


def max_pool1d(x: Any, pool_size: int = 2, strides: int | None = None,
               padding: str = "valid") -> Tensor:
    """Maximum over windows of a (batch, steps, channels) tensor (built on `max_pool2d`).

    >>> import tapegrad as tg, numpy as np
    >>> tg.max_pool1d(np.arange(6.).reshape(1, 6, 1)).numpy().ravel()
    array([1., 3., 5.])
    """
    return _pool1d(_max_pool2d, "max_pool1d", x, pool_size, strides, padding)


def avg_pool1d(x: Any, pool_size: int = 2, strides: int | None = None,
               padding: str = "valid") -> Tensor:
    """Mean over windows of a (batch, steps, channels) tensor (built on `avg_pool2d`).

    >>> import tapegrad as tg, numpy as np
    >>> tg.avg_pool1d(np.arange(6.).reshape(1, 6, 1)).numpy().ravel()
    array([0.5, 2.5, 4.5])
    """
    return _pool1d(_avg_pool2d, "avg_pool1d", x, pool_size, strides, padding)


__all__ = [  # the public ops of this family (tapegrad.ops exports exactly these)
           "avg_pool1d", "avg_pool2d", "col2im", "conv1d", "conv2d", "conv_output_length",
           "depthwise_conv2d", "im2col", "max_pool1d", "max_pool2d"]
