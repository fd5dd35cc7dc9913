"""Conv2DTranspose: the adjoint of a 2-D convolution (upsampling in decoders and GAN
generators), built from tapegrad ops: each input pixel is multiplied by the kernel and the
resulting patches are added onto the output image with `col2im` (so gradients of every order
come from the ops' own rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tapegrad import _args, ops
from tapegrad.nn import activations as _activations
from tapegrad.nn._utils import check_data_format, check_rank, int_tuple, run_op
from tapegrad.nn.module import Module
from tapegrad.tensor import Tensor

__all__ = ["Conv2DTranspose"]


def _output_length(size: int, kernel: int, stride: int, padding: str,
                   output_padding: int | None) -> int:
    """Keras's deconv_output_length (dilation 1)."""
    if output_padding is None:
        return size * stride if padding == "same" else size * stride + max(kernel - stride, 0)
    pad = kernel // 2 if padding == "same" else 0
    return (size - 1) * stride + kernel - 2 * pad + output_padding


class Conv2DTranspose(Module):
    """Transposed 2-D convolution on (batch, h, w, channels), kernel (kh, kw, filters, in)
    as in Keras; output size per axis h * stride ("same") or h * stride + max(k - stride, 0)
    ("valid"). It is the gradient of `conv2d` with respect to its input.

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.Conv2DTranspose(8, 3, strides=2, padding="same")(np.zeros((2, 7, 7, 4))).shape
    (2, 14, 14, 8)
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 output_padding: Any = None, data_format: str | None = None,
                 dilation_rate: Any = 1, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        who = "Conv2DTranspose"
        check_data_format(data_format, who)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{who}: padding must be 'valid' or 'same', got {padding!r}")
        if int_tuple(dilation_rate, 2, who, "dilation_rate") != (1, 1):
            raise ValueError(f"{who}: only dilation_rate=1 is supported, got {dilation_rate!r}")
        self.filters = _args.count(filters, who, "filters")
        self.kernel_size = int_tuple(kernel_size, 2, who, "kernel_size")
        self.strides = int_tuple(strides, 2, who, "strides")
        self.padding = padding.lower()
        self.output_padding = (None if output_padding is None else
                               int_tuple(output_padding, 2, who, "output_padding", minimum=0))
        if self.output_padding is not None and any(
                p >= s for p, s in zip(self.output_padding, self.strides)):
            raise ValueError(f"{who}: output_padding {self.output_padding} must be smaller "
                             f"than strides {self.strides}")
        self.activation = _args.resolved(_activations.get, activation, who, "activation")
        self.use_bias = bool(use_bias)
        _args.weight_args(self, kernel_initializer=kernel_initializer,
                          bias_initializer=bias_initializer,
                          kernel_regularizer=kernel_regularizer,
                          bias_regularizer=bias_regularizer)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer

    def build(self, input_shape: Sequence[int | None]) -> None:
        check_rank(self, input_shape, 4, "(batch, h, w, channels)")
        self.kernel = self.add_weight("kernel", (*self.kernel_size, self.filters, input_shape[-1]),
                                      self.kernel_initializer, self.kernel_regularizer)
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer,
                                     self.bias_regularizer) if self.use_bias else None)

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        inputs = _args.layer_input(inputs)
        check_rank(self, inputs.shape, 4, "(batch, h, w, channels)")
        n, h, w, c = inputs.shape
        kh, kw = self.kernel_size
        op = self.output_padding or (None, None)
        oh = _output_length(h, kh, self.strides[0], self.padding, op[0])
        ow = _output_length(w, kw, self.strides[1], self.padding, op[1])
        # each input pixel times the kernel: (n, h, w, kh, kw, filters) patches
        k = ops.reshape(ops.transpose(self.kernel, (3, 0, 1, 2)), (c, kh * kw * self.filters))
        patches = ops.reshape(ops.matmul(ops.reshape(inputs, (n * h * w, c)), k),
                              (n, h, w, kh, kw, self.filters))
        y = run_op(self, ops.col2im, patches, (n, oh, ow, self.filters), self.strides,
                   self.padding)
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)
