"""Tape op -> ONNX converters: one short function per recorded op name, in `OP_CONVERTERS`.

A converter gets the `GraphBuilder`, the `OpRecord` and an `arg(i)` function that names input i
(a graph value, or a constant made an initializer in the op's float dtype) and returns the
output's name. Ops without an entry raise a `NotImplementedError` naming the op.

>>> sorted(OP_CONVERTERS)[:4]
['abs', 'add', 'astype', 'avg_pool2d']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.onnx.graph import GraphBuilder

__all__ = ["OP_CONVERTERS", "register_op", "nhwc_call", "tensor_type"]

Arg = Callable[..., str]
OpConverter = Callable[[GraphBuilder, Any, Arg], str]
OP_CONVERTERS: dict[str, OpConverter] = {}


def register_op(*names: str) -> Callable[[OpConverter], OpConverter]:
    """Register a converter for the tape ops called `names`.

    >>> @register_op("my_identity_demo")
    ... def _identity(g, op, arg):
    ...     return g.node("Identity", [arg(0)])
    >>> "my_identity_demo" in OP_CONVERTERS
    True
    >>> del OP_CONVERTERS["my_identity_demo"]
    """

    def deco(fn: OpConverter) -> OpConverter:
        for name in names:
            OP_CONVERTERS[name] = fn
        return fn

    return deco


def tensor_type(dtype: Any) -> int:
    """The ONNX element type of a NumPy dtype."""
    from onnx import helper

    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _unary(onnx_op: str) -> OpConverter:
    return lambda g, op, arg: g.node(onnx_op, [arg(0)], base=op.name)


def _binary(onnx_op: str) -> OpConverter:
    return lambda g, op, arg: g.node(onnx_op, [arg(0), arg(1)], base=op.name)


for _name, _onnx in [("negative", "Neg"), ("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt"),
                     ("sin", "Sin"), ("cos", "Cos"), ("tan", "Tan"), ("tanh", "Tanh"),
                     ("abs", "Abs"), ("sign", "Sign"), ("sigmoid", "Sigmoid"),
                     ("relu", "Relu"), ("softplus", "Softplus"), ("erf", "Erf")]:
    register_op(_name)(_unary(_onnx))
for _name, _onnx in [("add", "Add"), ("subtract", "Sub"), ("multiply", "Mul"),
                     ("divide", "Div"), ("power", "Pow"), ("maximum", "Max"),
                     ("minimum", "Min"), ("matmul", "MatMul")]:
    register_op(_name)(_binary(_onnx))


@register_op("square")
def _square(g: GraphBuilder, op: Any, arg: Arg) -> str:
    return g.node("Mul", [arg(0), arg(0)], base="square")


@register_op("log1p")
def _log1p(g: GraphBuilder, op: Any, arg: Arg) -> str:
    one = g.const(np.ones((), op.output.dtype), "one")
    return g.node("Log", [g.node("Add", [arg(0), one])], base="log1p")


@register_op("expm1")
def _expm1(g: GraphBuilder, op: Any, arg: Arg) -> str:
    one = g.const(np.ones((), op.output.dtype), "one")
    return g.node("Sub", [g.node("Exp", [arg(0)]), one], base="expm1")


@register_op("leaky_relu")
def _leaky_relu(g: GraphBuilder, op: Any, arg: Arg) -> str:
    return g.node("LeakyRelu", [arg(0)], alpha=float(op.params.get("alpha", 0.2)))


@register_op("elu")
def _elu(g: GraphBuilder, op: Any, arg: Arg) -> str:
    return g.node("Elu", [arg(0)], alpha=float(op.params.get("alpha", 1.0)))


@register_op("softmax", "log_softmax")
def _softmax(g: GraphBuilder, op: Any, arg: Arg) -> str:
    onnx_op = "Softmax" if op.name == "softmax" else "LogSoftmax"
    return g.node(onnx_op, [arg(0)], axis=int(op.params.get("axis", -1)))


def _axes(op: Any) -> list[int] | None:
    axis = op.params.get("axis")
    if axis is None:
        return None
    return [int(a) for a in (axis if isinstance(axis, (tuple, list)) else (axis,))]


@register_op("sum", "mean", "max", "min", "prod", "logsumexp")
def _reduce(g: GraphBuilder, op: Any, arg: Arg) -> str:
    onnx_op = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax",
               "min": "ReduceMin", "prod": "ReduceProd", "logsumexp": "ReduceLogSumExp"}[op.name]
    axes = _axes(op)
    if axes is None:
        axes = list(range(len(op.inputs[0].shape)))
    keep = int(bool(op.params.get("keepdims", False)))
    if onnx_op == "ReduceSum":  # an input since opset 13, an attribute for the others at 17
        return g.node(onnx_op, [arg(0), g.ints(axes, "axes")], keepdims=keep)
    return g.node(onnx_op, [arg(0)], axes=axes, keepdims=keep)


@register_op("reshape")
def _reshape(g: GraphBuilder, op: Any, arg: Arg) -> str:
    shape = list(op.params["shape"])
    x_shape = op.inputs[0].shape
    if shape and x_shape and shape[0] == x_shape[0] and g.dynamic_batch:
        shape[0] = 0  # ONNX: copy the (dynamic) batch size from the input
    return g.node("Reshape", [arg(0), g.ints(shape)])


@register_op("transpose")
def _transpose(g: GraphBuilder, op: Any, arg: Arg) -> str:
    axes = op.params.get("axes")
    ndim = len(op.inputs[0].shape)
    perm = list(reversed(range(ndim))) if axes is None else [int(a) % ndim for a in axes]
    return g.node("Transpose", [arg(0)], perm=perm)


@register_op("concatenate")
def _concatenate(g: GraphBuilder, op: Any, arg: Arg) -> str:
    return g.node("Concat", [arg(i) for i in range(len(op.inputs))],
                  axis=int(op.params.get("axis", 0)))


@register_op("broadcast_to")
def _broadcast_to(g: GraphBuilder, op: Any, arg: Arg) -> str:
    return g.node("Expand", [arg(0), g.ints(op.params["shape"])])


@register_op("astype")
def _astype(g: GraphBuilder, op: Any, arg: Arg) -> str:
    return g.node("Cast", [arg(0)], to=tensor_type(op.output.dtype))


@register_op("where")
def _where(g: GraphBuilder, op: Any, arg: Arg) -> str:
    cond = g.node("Cast", [arg(0, np.bool_)], to=tensor_type(np.bool_))
    return g.node("Where", [cond, arg(1), arg(2)])


@register_op("clip")
def _clip(g: GraphBuilder, op: Any, arg: Arg) -> str:
    bounds = ["" if op.inputs[i] is None else arg(i) for i in (1, 2)]
    return g.node("Clip", [arg(0), *bounds])


@register_op("flip")
def _flip(g: GraphBuilder, op: Any, arg: Arg) -> str:
    axes = _axes(op) or list(range(len(op.inputs[0].shape)))
    n = len(axes)
    big = np.iinfo(np.int64).max
    return g.node("Slice", [arg(0), g.ints([-1] * n), g.ints([-big] * n), g.ints(axes),
                            g.ints([-1] * n)], base="flip")


@register_op("pad")
def _pad(g: GraphBuilder, op: Any, arg: Arg) -> str:
    widths = np.asarray(op.params["pad_width"], dtype=np.int64).reshape(-1, 2)
    value = g.const(np.asarray(op.params.get("constant_values", 0), op.output.dtype), "value")
    return g.node("Pad", [arg(0), g.ints([*widths[:, 0], *widths[:, 1]], "pads"), value])


@register_op("einsum")
def _einsum(g: GraphBuilder, op: Any, arg: Arg) -> str:
    return g.node("Einsum", [arg(i) for i in range(len(op.inputs))],
                  equation=op.params["subscripts"].replace(" ", ""))


@register_op("take")
def _take(g: GraphBuilder, op: Any, arg: Arg) -> str:
    return g.node("Gather", [arg(0), arg(1, np.int64)], axis=int(op.params.get("axis", 0)))


@register_op("getitem")
def _getitem(g: GraphBuilder, op: Any, arg: Arg) -> str:
    """Basic indexing (ints, slices, None, ...) and one integer-array index; else an error."""
    key = op.params["key"]
    key = key if isinstance(key, tuple) else (key,)
    ndim = len(op.inputs[0].shape)
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if any(k is Ellipsis for k in key):
        i = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:i] + (slice(None),) * (ndim - n_real) + key[i + 1:]
    x = arg(0)
    starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
    axis = out_axis = 0
    gathers = []
    big = np.iinfo(np.int64).max
    for k in key:
        if k is None:
            unsqueeze.append(out_axis)
            out_axis += 1
            continue
        if isinstance(k, (int, np.integer)):
            bounds = (int(k), int(k) + 1 if k != -1 else big, 1)
            squeeze.append(axis)
        elif isinstance(k, slice):
            step = 1 if k.step is None else int(k.step)
            default = (0, big) if step > 0 else (-1, -big)
            bounds = (default[0] if k.start is None else int(k.start),
                      default[1] if k.stop is None else int(k.stop), step)
            out_axis += 1
        elif isinstance(k, np.ndarray) and k.ndim == 1 and k.dtype.kind in "iu":
            gathers.append((axis, k))
            bounds = None
            out_axis += 1
        else:
            raise NotImplementedError(f"tapegrad.onnx: getitem with the index {k!r} has no ONNX "
                                      "converter (basic indexing and one 1-D integer array "
                                      "are supported)")
        if bounds is not None:
            for lst, v in zip((starts, ends, steps), bounds):
                lst.append(v)
            axes.append(axis)
        axis += 1
    if len(gathers) > 1:
        raise NotImplementedError("tapegrad.onnx: getitem with several integer-array indices "
                                  "has no ONNX converter")
    if axes:
        x = g.node("Slice", [x, g.ints(starts), g.ints(ends), g.ints(axes), g.ints(steps)])
    for ax, idx in gathers:
        x = g.node("Gather", [x, g.const(idx.astype(np.int64), "index")], axis=ax)
    if squeeze:
        x = g.node("Squeeze", [x, g.ints(squeeze, "axes")])
    if unsqueeze:
        x = g.node("Unsqueeze", [x, g.ints(unsqueeze, "axes")])
    return x


def nhwc_call(g: GraphBuilder, onnx_op: str, x: str, inputs: list[str], rank: int,
              **attrs: Any) -> str:
    """Run a channels-first ONNX op (Conv, MaxPool, ...) on a channels-last value."""
    to_first = [0, rank + 1, *range(1, rank + 1)]
    to_last = [0, *range(2, rank + 2), 1]
    xt = g.node("Transpose", [x], perm=to_first)
    y = g.node(onnx_op, [xt, *inputs], **attrs)
    return g.node("Transpose", [y], perm=to_last)


def _flat_pads(pads: Any) -> list[int]:
    pads = [tuple(int(v) for v in p) for p in pads]
    return [p[0] for p in pads] + [p[1] for p in pads]


@register_op("conv2d", "depthwise_conv2d")
def _conv2d(g: GraphBuilder, op: Any, arg: Arg) -> str:
    kernel = op.inputs[1]
    kshape = kernel.shape
    w = g.node("Transpose", [arg(1)], perm=[3, 2, 0, 1])  # HWIO -> OIHW
    group = 1
    if op.name == "depthwise_conv2d":  # (kh, kw, c, m) -> (c * m, 1, kh, kw)
        kh, kw, c, m = kshape
        w = g.node("Reshape", [g.node("Transpose", [arg(1)], perm=[2, 3, 0, 1]),
                               g.ints([c * m, 1, kh, kw])])
        group = c
    return nhwc_call(g, "Conv", arg(0), [w], 2, kernel_shape=list(kshape[:2]),
                     strides=list(op.params["strides"]), dilations=list(op.params["dilation"]),
                     pads=_flat_pads(op.params["pads"]), group=group)


@register_op("max_pool2d", "avg_pool2d")
def _pool2d(g: GraphBuilder, op: Any, arg: Arg) -> str:
    onnx_op = "MaxPool" if op.name == "max_pool2d" else "AveragePool"
    return nhwc_call(g, onnx_op, arg(0), [], 2, kernel_shape=list(op.params["ksize"]),
                     strides=list(op.params["strides"]), pads=_flat_pads(op.params["pads"]))
