"""Convolution layers with Keras's names and defaults, channels-last: Conv2D, Conv1D,
DepthwiseConv2D and SeparableConv2D (kernels HWIO, cross-correlation, as in Keras)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tapegrad import _args, ops
from tapegrad.nn import activations as _activations
from tapegrad.nn._utils import check_data_format, check_rank, int_tuple, run_op
from tapegrad.nn.module import Module
from tapegrad.tensor import Tensor

__all__ = ["Conv1D", "Conv2D", "DepthwiseConv2D", "SeparableConv2D"]


class _Conv(Module):
    rank = 2
    op: Any = staticmethod(ops.conv2d)
    paddings: tuple[str, ...] = ("valid", "same")

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate: Any = 1, activation: Any = None,
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None,
                 bias_regularizer: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        who = type(self).__name__
        check_data_format(data_format, who)
        self.filters = _args.count(filters, who, "filters")
        self.padding = _padding(padding, self.paddings, who)
        self.kernel_size = int_tuple(kernel_size, self.rank, who, "kernel_size")
        self.strides = int_tuple(strides, self.rank, who, "strides")
        self.dilation_rate = int_tuple(dilation_rate, self.rank, who, "dilation_rate")
        self.activation = _args.resolved(_activations.get, activation, who, "activation")
        self.use_bias = bool(use_bias)
        _args.weight_args(self, kernel_initializer=kernel_initializer,
                          bias_initializer=bias_initializer,
                          kernel_regularizer=kernel_regularizer,
                          bias_regularizer=bias_regularizer)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer

    def build(self, input_shape: Sequence[int | None]) -> None:
        check_rank(self, input_shape, self.rank + 2,
                   "(batch, steps, channels)" if self.rank == 1 else "(batch, h, w, channels)")
        self.kernel = self.add_weight("kernel", (*self.kernel_size, input_shape[-1], self.filters),
                                      self.kernel_initializer, self.kernel_regularizer)
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer,
                                     self.bias_regularizer) if self.use_bias else None)

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        inputs = _args.layer_input(inputs)
        check_rank(self, inputs.shape, self.rank + 2, "(batch, ..., channels)")
        s = self.strides if self.rank == 2 else self.strides[0]
        d = self.dilation_rate if self.rank == 2 else self.dilation_rate[0]
        y = run_op(self, self.op, inputs, self.kernel, s, self.padding, d)
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)


def _padding(padding: Any, allowed: tuple[str, ...], who: str) -> str:
    if not isinstance(padding, str) or padding.lower() not in allowed:
        raise ValueError(f"{who}: padding must be one of {allowed}, got {padding!r}")
    return padding.lower()


class Conv2D(_Conv):
    """2-D convolution on (batch, height, width, channels) with a (kh, kw, in, filters) kernel.

    Output size per axis: ceil((size - dilation * (k - 1)) / stride) for padding="valid",
    ceil(size / stride) for "same" (as Keras).

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.Conv2D(8, 3, strides=2, padding="same")(np.zeros((2, 9, 9, 3))).shape
    (2, 5, 5, 8)
    """


class Conv1D(_Conv):
    """1-D convolution on (batch, steps, channels) with a (k, in, filters) kernel; padding may
    also be "causal" (output t sees inputs up to t only).

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.Conv1D(4, 3, padding="causal")(np.zeros((2, 10, 3))).shape
    (2, 10, 4)
    """

    rank = 1
    op = staticmethod(ops.conv1d)
    paddings = ("valid", "same", "causal")


def _depthwise_args(layer: Module, data_format: Any, kernel_size: Any, strides: Any,
                    dilation_rate: Any, padding: str, depth_multiplier: int, activation: Any,
                    use_bias: bool) -> None:
    """The arguments DepthwiseConv2D and SeparableConv2D share, checked and stored."""
    who = type(layer).__name__
    check_data_format(data_format, who)
    layer.kernel_size = int_tuple(kernel_size, 2, who, "kernel_size")
    layer.strides = int_tuple(strides, 2, who, "strides")
    layer.dilation_rate = int_tuple(dilation_rate, 2, who, "dilation_rate")
    layer.padding = _padding(padding, ("valid", "same"), who)
    layer.depth_multiplier = _args.count(depth_multiplier, who, "depth_multiplier")
    layer.activation = _args.resolved(_activations.get, activation, who, "activation")
    layer.use_bias = bool(use_bias)


class DepthwiseConv2D(Module):
    """One (kh, kw) filter per input channel (times `depth_multiplier`); output channel
    c * depth_multiplier + m. Kernel (kh, kw, channels, depth_multiplier), as Keras.

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.DepthwiseConv2D(3, depth_multiplier=2)(np.zeros((1, 5, 5, 4))).shape
    (1, 3, 3, 8)
    """

    def __init__(self, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 depth_multiplier: int = 1, data_format: str | None = None,
                 dilation_rate: Any = 1, activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 depthwise_regularizer: Any = None, bias_regularizer: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        _depthwise_args(self, data_format, kernel_size, strides, dilation_rate, padding,
                        depth_multiplier, activation, use_bias)
        _args.weight_args(self, depthwise_initializer=depthwise_initializer,
                          bias_initializer=bias_initializer,
                          depthwise_regularizer=depthwise_regularizer,
                          bias_regularizer=bias_regularizer)
        self.depthwise_initializer, self.bias_initializer = depthwise_initializer, bias_initializer
        self.depthwise_regularizer, self.bias_regularizer = depthwise_regularizer, bias_regularizer

    def build(self, input_shape: Sequence[int | None]) -> None:
        check_rank(self, input_shape, 4, "(batch, h, w, channels)")
        c = input_shape[-1]
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", (*self.kernel_size, c, self.depth_multiplier),
            self.depthwise_initializer, self.depthwise_regularizer)
        self.bias = (self.add_weight("bias", (c * self.depth_multiplier,), self.bias_initializer,
                                     self.bias_regularizer) if self.use_bias else None)

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        inputs = _args.layer_input(inputs)
        check_rank(self, inputs.shape, 4, "(batch, h, w, channels)")
        y = run_op(self, ops.depthwise_conv2d, inputs, self.depthwise_kernel, self.strides,
                   self.padding, self.dilation_rate)
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)


class SeparableConv2D(Module):
    """A depthwise convolution followed by a 1x1 (pointwise) convolution to `filters` channels.

    Weights: depthwise_kernel (kh, kw, in, depth_multiplier), pointwise_kernel
    (1, 1, in * depth_multiplier, filters) and bias (filters,), as Keras.

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.SeparableConv2D(6, 3, padding="same")(np.zeros((1, 5, 5, 4))).shape
    (1, 5, 5, 6)
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate: Any = 1,
                 depth_multiplier: int = 1, activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform",
                 pointwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 **kwargs: Any):
        super().__init__(**kwargs)
        _depthwise_args(self, data_format, kernel_size, strides, dilation_rate, padding,
                        depth_multiplier, activation, use_bias)
        self.filters = _args.count(filters, "SeparableConv2D", "filters")
        _args.weight_args(self, depthwise_initializer=depthwise_initializer,
                          pointwise_initializer=pointwise_initializer,
                          bias_initializer=bias_initializer)
        self.depthwise_initializer = depthwise_initializer
        self.pointwise_initializer = pointwise_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape: Sequence[int | None]) -> None:
        check_rank(self, input_shape, 4, "(batch, h, w, channels)")
        c, m = input_shape[-1], self.depth_multiplier
        self.depthwise_kernel = self.add_weight("depthwise_kernel", (*self.kernel_size, c, m),
                                                self.depthwise_initializer)
        self.pointwise_kernel = self.add_weight("pointwise_kernel", (1, 1, c * m, self.filters),
                                                self.pointwise_initializer)
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer)
                     if self.use_bias else None)

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        inputs = _args.layer_input(inputs)
        check_rank(self, inputs.shape, 4, "(batch, h, w, channels)")
        y = run_op(self, ops.depthwise_conv2d, inputs, self.depthwise_kernel, self.strides,
                   self.padding, self.dilation_rate)
        y = ops.conv2d(y, self.pointwise_kernel)
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)
