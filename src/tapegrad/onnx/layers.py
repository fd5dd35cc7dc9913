"""Layer -> ONNX converters: one function per layer class, in `LAYER_CONVERTERS`.

A converter gets the `GraphBuilder`, the layer, the name(s) of its input(s) and the `LayerCall`
seen while tracing (inputs and outputs as tensors, so static shapes are known), and returns its
output name(s). Layers are channels-last like Keras; ONNX's Conv/Pool ops are channels-first,
so those converters transpose around the op. Subclasses use their base class's converter.
Functional models and merge layers plug in by registering their classes here.

>>> import tapegrad as tg
>>> converter_for(tg.nn.Dense(3)).__name__
'_dense'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tapegrad.nn import activations as _activations
from tapegrad.nn.conv import Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D
from tapegrad.nn.embedding import Embedding
from tapegrad.nn.layers import (
    Activation,
    BatchNormalization,
    Dense,
    Dropout,
    Flatten,
    LayerNormalization,
)
from tapegrad.nn.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from tapegrad.nn.recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from tapegrad.onnx.convert import convert_callable
from tapegrad.onnx.graph import GraphBuilder
from tapegrad.onnx.ops import nhwc_call, tensor_type
from tapegrad.ops.conv import conv_output_length

__all__ = ["LAYER_CONVERTERS", "LayerCall", "converter_for", "register_layer"]


@dataclass
class LayerCall:
    """One call of a layer seen while tracing: its input and output tensors, and keywords."""

    layer: Any
    inputs: Any
    outputs: Any
    kwargs: dict[str, Any] = field(default_factory=dict)


LayerConverter = Callable[[GraphBuilder, Any, Any, LayerCall], Any]
LAYER_CONVERTERS: dict[type, LayerConverter] = {}


def register_layer(*classes: type) -> Callable[[LayerConverter], LayerConverter]:
    """Register a converter for layers of `classes` (and their subclasses)."""

    def deco(fn: LayerConverter) -> LayerConverter:
        for cls in classes:
            LAYER_CONVERTERS[cls] = fn
        return fn

    return deco


def converter_for(layer: Any) -> LayerConverter | None:
    """The converter of `layer`'s class or nearest registered base class (None if none)."""
    for cls in type(layer).__mro__:
        if cls in LAYER_CONVERTERS:
            return LAYER_CONVERTERS[cls]
    return None


def _weight(g: GraphBuilder, v: Any) -> str:
    """A variable as an initializer, once per graph (a shared layer reuses it)."""
    name = g.name_of(v)
    if name is None:
        name = g.const(v.numpy(), v.name or "weight")
        g.bind(v, name)
    return name


def _activation(g: GraphBuilder, fn: Any, x: str, like: Any) -> str:
    """Apply an activation function by tracing it on a tensor shaped like the layer output."""
    if fn is _activations.linear:
        return x
    return convert_callable(g, fn, [x], [np.zeros(like.shape, like.dtype)])


# -- dense, activations, shapes --------------------------------------------------------------


@register_layer(Dense)
def _dense(g: GraphBuilder, layer: Dense, x: str, call: LayerCall) -> str:
    if call.inputs.dtype.kind in "iub":
        x = g.node("Cast", [x], to=tensor_type(layer.kernel.dtype))
    y = g.node("MatMul", [x, _weight(g, layer.kernel)], base=layer.name)
    if layer.bias is not None:
        y = g.node("Add", [y, _weight(g, layer.bias)], base=layer.name)
    return _activation(g, layer.activation, y, call.outputs)


@register_layer(Activation)
def _activation_layer(g: GraphBuilder, layer: Activation, x: str, call: LayerCall) -> str:
    return _activation(g, layer.activation, x, call.outputs)


@register_layer(Dropout)
def _dropout(g: GraphBuilder, layer: Dropout, x: str, call: LayerCall) -> str:
    return g.node("Identity", [x], base=layer.name)  # inference: dropout does nothing


@register_layer(Flatten)
def _flatten(g: GraphBuilder, layer: Flatten, x: str, call: LayerCall) -> str:
    return g.node("Flatten", [x], axis=1, base=layer.name)  # row-major, as NumPy


@register_layer(Embedding)
def _embedding(g: GraphBuilder, layer: Embedding, x: str, call: LayerCall) -> str:
    ids = g.node("Cast", [x], to=tensor_type(np.int64))
    return g.node("Gather", [_weight(g, layer.embeddings), ids], axis=0, base=layer.name)


# -- normalization ---------------------------------------------------------------------------


def _norm_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    return tuple(int(a) % ndim for a in (axis if isinstance(axis, (list, tuple)) else (axis,)))


@register_layer(BatchNormalization)
def _batch_norm(g: GraphBuilder, layer: BatchNormalization, x: str, call: LayerCall) -> str:
    """Inference: (x - moving_mean) / sqrt(moving_variance + eps) * gamma + beta, in the
    layer's order of operations (so the float32 rounding matches)."""
    ndim = len(call.inputs.shape)
    axes = _norm_axes(layer.axis, ndim)
    bshape = [call.inputs.shape[a] if a in axes else 1 for a in range(ndim)]

    def param(value: np.ndarray, base: str) -> str:
        return g.const(value.reshape(bshape), f"{layer.name}/{base}")

    var = layer.moving_variance.numpy()
    inv = (1.0 / np.sqrt(var + layer.epsilon)).astype(var.dtype)
    y = g.node("Sub", [x, param(layer.moving_mean.numpy(), "moving_mean")], base=layer.name)
    y = g.node("Mul", [y, param(inv, "inverse_std")], base=layer.name)
    if layer.gamma is not None:
        y = g.node("Mul", [y, param(layer.gamma.numpy(), "gamma")], base=layer.name)
    if layer.beta is not None:
        y = g.node("Add", [y, param(layer.beta.numpy(), "beta")], base=layer.name)
    return y


@register_layer(LayerNormalization)
def _layer_norm(g: GraphBuilder, layer: LayerNormalization, x: str, call: LayerCall) -> str:
    """ONNX's LayerNormalization (opset 17) over trailing axes; other axes are traced."""
    ndim = len(call.inputs.shape)
    axes = _norm_axes(layer.axis, ndim)
    trailing = axes == tuple(range(ndim - len(axes), ndim))
    if not trailing or layer.gamma is None:
        return convert_callable(g, lambda t: layer(t, training=False), [x],
                                [np.zeros(call.inputs.shape, call.inputs.dtype)])
    inputs = [x, _weight(g, layer.gamma)]
    if layer.beta is not None:
        inputs.append(_weight(g, layer.beta))
    return g.node("LayerNormalization", inputs, axis=axes[0] - ndim, epsilon=layer.epsilon,
                  base=layer.name)


# -- convolution and pooling -----------------------------------------------------------------


def _pads(sizes: tuple, kernel: tuple, strides: tuple, dilation: tuple,
          padding: str) -> list[int]:
    """ONNX pads [begin..., end...] for Keras's 'valid', 'same' (extra cell at the end) and
    'causal' (all at the start)."""
    begin, end = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        eff = d * (k - 1) + 1
        if padding == "valid":
            total, first = 0, 0
        elif padding == "causal":
            total, first = eff - 1, eff - 1
        else:
            out = conv_output_length(n, k, s, padding, d)
            total = max((out - 1) * s + eff - n, 0)
            first = total // 2
        begin.append(first)
        end.append(total - first)
    return begin + end


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    return tuple(int(a) for a in ((v,) * n if isinstance(v, (int, np.integer)) else v))


def _conv(g: GraphBuilder, x: str, call: LayerCall, kernel: np.ndarray, rank: int,
          strides: tuple, dilation: tuple, padding: str, group: int = 1) -> str:
    """Conv on channels-last `x` with a channels-last (k..., in/group, out) kernel."""
    spatial = call.inputs.shape[1:1 + rank]
    ksize = kernel.shape[:rank]
    w = np.transpose(kernel, (rank + 1, rank, *range(rank)))  # -> (out, in/group, k...)
    return nhwc_call(g, "Conv", x, [g.const(w, f"{call.layer.name}/kernel")], rank,
                     kernel_shape=list(ksize), strides=list(strides), dilations=list(dilation),
                     pads=_pads(spatial, ksize, strides, dilation, padding), group=group)


def _bias_act(g: GraphBuilder, layer: Any, y: str, call: LayerCall) -> str:
    if layer.bias is not None:
        y = g.node("Add", [y, _weight(g, layer.bias)], base=layer.name)
    return _activation(g, layer.activation, y, call.outputs)


@register_layer(Conv2D, Conv1D)
def _conv_layer(g: GraphBuilder, layer: Any, x: str, call: LayerCall) -> str:
    y = _conv(g, x, call, layer.kernel.numpy(), layer.rank, layer.strides, layer.dilation_rate,
              layer.padding)
    return _bias_act(g, layer, y, call)


def _depthwise(g: GraphBuilder, layer: Any, x: str, call: LayerCall) -> str:
    k = layer.depthwise_kernel.numpy()  # (kh, kw, c, m): output channel c * m + j
    kh, kw, c, m = k.shape
    grouped = k.reshape(kh, kw, 1, c * m)  # group c sees input c and makes outputs c*m..c*m+m-1
    return _conv(g, x, call, grouped, 2, layer.strides, layer.dilation_rate,
                 layer.padding.lower(), group=c)


@register_layer(DepthwiseConv2D)
def _depthwise_layer(g: GraphBuilder, layer: DepthwiseConv2D, x: str, call: LayerCall) -> str:
    return _bias_act(g, layer, _depthwise(g, layer, x, call), call)


@register_layer(SeparableConv2D)
def _separable(g: GraphBuilder, layer: SeparableConv2D, x: str, call: LayerCall) -> str:
    y = _depthwise(g, layer, x, call)
    pw = layer.pointwise_kernel.numpy()[0, 0]  # (c * m, filters)
    y = g.node("MatMul", [y, g.const(pw, f"{layer.name}/pointwise_kernel")], base=layer.name)
    return _bias_act(g, layer, y, call)


@register_layer(MaxPooling2D, AveragePooling2D, MaxPooling1D, AveragePooling1D)
def _pool(g: GraphBuilder, layer: Any, x: str, call: LayerCall) -> str:
    rank = layer.rank
    k = _tuple(layer.pool_size, rank)
    s = k if layer.strides is None else _tuple(layer.strides, rank)
    onnx_op = "MaxPool" if isinstance(layer, (MaxPooling2D, MaxPooling1D)) else "AveragePool"
    pads = _pads(call.inputs.shape[1:1 + rank], k, s, (1,) * rank, layer.padding.lower())
    return nhwc_call(g, onnx_op, x, [], rank, kernel_shape=list(k), strides=list(s), pads=pads)


@register_layer(GlobalAveragePooling2D, GlobalMaxPooling2D, GlobalAveragePooling1D,
                GlobalMaxPooling1D)
def _global_pool(g: GraphBuilder, layer: Any, x: str, call: LayerCall) -> str:
    onnx_op = "ReduceMax" if isinstance(layer, (GlobalMaxPooling2D, GlobalMaxPooling1D)) \
        else "ReduceMean"
    axes = list(range(1, len(call.inputs.shape) - 1))
    return g.node(onnx_op, [x], axes=axes, keepdims=int(layer.keepdims), base=layer.name)


# -- recurrent -------------------------------------------------------------------------------

_RNN_ACTIVATIONS = {_activations.tanh: "Tanh", _activations.sigmoid: "Sigmoid",
                    _activations.relu: "Relu"}


def _rnn_activation(layer: Any, fn: Any) -> str:
    try:
        return _RNN_ACTIVATIONS[fn]
    except KeyError:
        raise NotImplementedError(
            f"tapegrad.onnx: {layer.name} ({type(layer).__name__}) uses the activation "
            f"{_activations.serialize(fn)!r}; ONNX recurrent ops take tanh, sigmoid or relu"
        ) from None


def _gate_rows(w: np.ndarray, units: int, order: tuple[int, ...]) -> np.ndarray:
    """(in, gates * units) Keras kernel -> (1, gates * units, in) ONNX weight, gates reordered."""
    blocks = [w[..., i * units:(i + 1) * units] for i in order]
    return np.concatenate(blocks, axis=-1).T[None]


def _rnn(g: GraphBuilder, layer: Any, x: str, call: LayerCall) -> Any:
    """SimpleRNN/LSTM/GRU as ONNX's RNN/LSTM/GRU ops on (time, batch, features)."""
    if call.kwargs.get("initial_state") is not None:
        raise NotImplementedError(f"tapegrad.onnx: {layer.name}: exporting a call with "
                                  "initial_state is not supported")
    u = layer.units
    if isinstance(layer, LSTM):
        onnx_op, order = "LSTM", (0, 3, 1, 2)  # Keras i, f, c, o -> ONNX i, o, f, c
        acts = [layer.recurrent_activation, layer.activation, layer.activation]
    elif isinstance(layer, GRU):
        onnx_op, order = "GRU", (0, 1, 2)  # z, r, h in both
        acts = [layer.recurrent_activation, layer.activation]
    else:
        onnx_op, order, acts = "RNN", (0,), [layer.activation]
    gates = len(order)
    kernel, rec = layer.kernel.numpy(), layer.recurrent_kernel.numpy()
    w, r = _gate_rows(kernel, u, order), _gate_rows(rec, u, order)
    if layer.bias is None:
        wb = rb = np.zeros(gates * u, kernel.dtype)
    elif isinstance(layer, GRU) and layer.reset_after:
        wb, rb = layer.bias.numpy()
    else:
        wb, rb = layer.bias.numpy(), np.zeros(gates * u, kernel.dtype)
    b = np.concatenate([_gate_rows(wb[None], u, order)[0, :, 0],
                        _gate_rows(rb[None], u, order)[0, :, 0]])[None]
    attrs: dict[str, Any] = {"hidden_size": u,
                             "activations": [_rnn_activation(layer, f) for f in acts]}
    if isinstance(layer, GRU):
        attrs["linear_before_reset"] = int(layer.reset_after)
    xt = g.node("Transpose", [x], perm=[1, 0, 2])  # (time, batch, features)
    if layer.go_backwards:  # Keras feeds the steps in reverse and keeps that order
        big = np.iinfo(np.int64).max
        xt = g.node("Slice", [xt, g.ints([-1]), g.ints([-big]), g.ints([0]), g.ints([-1])])
    name = layer.name
    n_out = 3 if isinstance(layer, LSTM) else 2
    outs = g.node(onnx_op, [xt, g.const(w, f"{name}/W"), g.const(r, f"{name}/R"),
                            g.const(b, f"{name}/B")], outputs=n_out, base=name, **attrs)
    h = g.node("Squeeze", [outs[1], g.ints([0], "axes")], base=name)
    if layer.return_sequences:
        y = g.node("Squeeze", [outs[0], g.ints([1], "axes")], base=name)
        y = g.node("Transpose", [y], perm=[1, 0, 2], base=name)
    else:
        y = h
    if not layer.return_state:
        return y
    states = [h]
    if isinstance(layer, LSTM):
        states.append(g.node("Squeeze", [outs[2], g.ints([0], "axes")], base=name))
    return [y, *states]


register_layer(SimpleRNN, LSTM, GRU)(_rnn)


@register_layer(Bidirectional)
def _bidirectional(g: GraphBuilder, layer: Bidirectional, x: str, call: LayerCall) -> Any:
    fwd_call = LayerCall(layer.forward_layer, call.inputs, None, call.kwargs)
    bwd_call = LayerCall(layer.backward_layer, call.inputs, None, call.kwargs)
    fwd = _rnn(g, layer.forward_layer, x, fwd_call)
    bwd = _rnn(g, layer.backward_layer, x, bwd_call)
    states: list[str] = []
    if layer.return_state:
        (fwd, *f_states), (bwd, *b_states) = fwd, bwd
        states = [*f_states, *b_states]
    if layer.return_sequences:  # back in input order
        big = np.iinfo(np.int64).max
        bwd = g.node("Slice", [bwd, g.ints([-1]), g.ints([-big]), g.ints([1]), g.ints([-1])])
    mode = layer.merge_mode
    if mode is None:
        return [fwd, bwd, *states]
    if mode == "concat":
        out = g.node("Concat", [fwd, bwd], axis=-1, base=layer.name)
    elif mode == "ave":
        half = g.const(np.asarray(0.5, call.inputs.dtype), "half")
        out = g.node("Mul", [g.node("Add", [fwd, bwd]), half], base=layer.name)
    else:
        out = g.node({"sum": "Add", "mul": "Mul"}[mode], [fwd, bwd], base=layer.name)
    return [out, *states] if states else out
