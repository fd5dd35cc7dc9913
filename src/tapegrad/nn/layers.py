"""Core layers with Keras's names and defaults: Dense, Activation, Flatten, Dropout,
BatchNormalization and LayerNormalization (`Sequential` lives in `tapegrad.nn.model`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad import _args, ops
from tapegrad import random as _random
from tapegrad.nn import activations as _activations
from tapegrad.nn.module import Module
from tapegrad.state import no_grad
from tapegrad.tensor import Tensor

__all__ = ["Dense", "Activation", "Flatten", "Dropout", "BatchNormalization",
           "LayerNormalization"]


class Dense(Module):
    """`activation(inputs @ kernel + bias)` on the last axis; kernel (in, units), bias (units,).

    >>> import tapegrad as tg
    >>> layer = tg.nn.Dense(3, activation="relu")
    >>> layer(tg.tensor([[1.0, 2.0]])).shape, layer.kernel.shape
    ((1, 3), (2, 3))
    """

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 input_dim: int | None = None, **kwargs: Any):
        if input_dim is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (_args.count(input_dim, "Dense", "input_dim"),)
        super().__init__(**kwargs)
        self.units = _args.count(units, "Dense", "units")
        self.activation = _args.resolved(_activations.get, activation, "Dense", "activation")
        self.use_bias = bool(use_bias)
        _args.weight_args(self, kernel_initializer=kernel_initializer,
                          bias_initializer=bias_initializer,
                          kernel_regularizer=kernel_regularizer,
                          bias_regularizer=bias_regularizer)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self._act = None if self.activation is _activations.linear else self.activation

    def build(self, input_shape: Sequence[int | None]) -> None:
        if len(input_shape) < 2:  # as Keras (min_ndim=2): (n,) would be read as n features
            raise ValueError(f"{self.name}: Dense needs inputs of shape (batch, features), got "
                             f"shape {tuple(input_shape)}; for one feature per sample use "
                             f"x.reshape(-1, 1), for one sample x.reshape(1, -1)")
        if input_shape[-1] is None:
            raise ValueError(f"{self.name}: Dense needs inputs with a known last dimension, "
                             f"got shape {input_shape}")
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      self.kernel_initializer, self.kernel_regularizer)
        self.bias = (self.add_weight("bias", (self.units,), self.bias_initializer,
                                     self.bias_regularizer) if self.use_bias else None)

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        inputs = _args.layer_input(inputs)
        if inputs.dtype.kind in "iub":  # integer features: compute in the layer's float dtype
            inputs = ops.astype(inputs, self.kernel.dtype)
        y = ops.matmul(inputs, self.kernel)
        if self.bias is not None:
            y = y + self.bias
        return y if self._act is None else self._act(y)


class Activation(Module):
    """Apply an activation function given by name or as a callable.

    >>> import tapegrad as tg
    >>> tg.nn.Activation("relu")(tg.tensor([-1.0, 1.0])).numpy()
    array([0., 1.], dtype=float32)
    """

    def __init__(self, activation: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.activation = _args.resolved(_activations.get, activation, "Activation",
                                         "activation")

    def call(self, inputs: Any, training: bool = False) -> Any:
        return self.activation(_args.layer_input(inputs))


class Flatten(Module):
    """Reshape (batch, d1, d2, ...) to (batch, d1 * d2 * ...).

    >>> import tapegrad as tg
    >>> tg.nn.Flatten()(tg.tensor(np.zeros((2, 3, 4)))).shape
    (2, 12)
    """

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        inputs = _args.layer_input(inputs)
        shape = inputs.shape
        if len(shape) == 0:
            raise ValueError("Flatten needs a batch dimension, got a scalar")
        return ops.reshape(inputs, (shape[0], int(np.prod(shape[1:], dtype=np.int64))))


class Dropout(Module):
    """Inverted dropout: in training zero each element with probability `rate` and scale the
    rest by 1 / (1 - rate) (so the expected value is kept); the identity at inference.

    The mask comes from `tg.random.generator()` (or a private generator seeded with `seed`),
    drawn by `tg.random.uniform`, so a `tg.function` replay draws a fresh one; `noise_shape`
    (with None for "same as input") shares the mask along size-1 axes.

    >>> import tapegrad as tg
    >>> x = tg.tensor(np.ones((2, 4)))
    >>> bool((tg.nn.Dropout(0.5)(x, training=False) == x).numpy().all())
    True
    """

    def __init__(self, rate: float, noise_shape: Sequence[int | None] | None = None,
                 seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.rate = _args.probability(rate, "Dropout", "rate")
        if noise_shape is not None:
            if isinstance(noise_shape, (str, bytes)) or not isinstance(noise_shape, Sequence):
                raise TypeError(f"Dropout: noise_shape must be a tuple of ints or None, got "
                                f"{noise_shape!r}")
            noise_shape = tuple(None if n is None else _args.count(n, "Dropout", "noise_shape")
                                for n in noise_shape)
        self.noise_shape = noise_shape
        self.seed = None if seed is None else _args.count(seed, "Dropout", "seed", minimum=0)
        self._rng = None if seed is None else np.random.default_rng(self.seed)

    def call(self, inputs: Any, training: bool = False) -> Any:
        x = _args.layer_input(inputs)
        if not training or self.rate == 0.0:
            return inputs
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(s if n is None else n for s, n in zip(shape, self.noise_shape))
        keep = 1.0 - self.rate
        dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
        keep_it = _random.uniform(shape, dtype=np.float64, rng=self._rng) < keep  # traced draw
        return x * (ops.astype(keep_it, dt) * dt.type(1.0 / keep))


def _axis_arg(axis: Any, who: str) -> int | tuple[int, ...]:
    """An int axis or a non-empty tuple of int axes (bools, floats and strings refuse)."""
    axes = (axis,) if not isinstance(axis, (list, tuple)) else tuple(axis)
    if not axes or any(isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer))
                       for a in axes):
        raise TypeError(f"{who}: axis must be an int or a tuple of ints, got {axis!r}")
    return int(axis) if not isinstance(axis, (list, tuple)) else tuple(int(a) for a in axes)


def _same_rank(inputs: Tensor, built: tuple[int, ...]) -> None:
    if len(inputs.shape) != len(built):
        raise ValueError(f"the layer was built for inputs of rank {len(built)}, got shape "
                         f"{inputs.shape}")


def _axes(axis: int | Sequence[int], ndim: int, who: str) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{who}: axis {a} is out of range for inputs of rank {ndim}")
        out.append(int(a) % ndim)
    return tuple(sorted(out))


class BatchNormalization(Module):
    """Normalize each feature (along `axis`) with batch statistics in training and moving
    statistics at inference, then scale by gamma and shift by beta.

    Training: y = gamma * (x - mean_b) / sqrt(var_b + epsilon) + beta, with the biased batch
    variance, and (Keras's rule) moving = moving * momentum + batch_stat * (1 - momentum) for
    moving_mean and moving_variance (non-trainable Variables, updated with `assign`).
    Inference (or when the layer is frozen with `trainable = False`): the moving statistics.

    >>> import tapegrad as tg
    >>> bn = tg.nn.BatchNormalization()
    >>> y = bn(tg.tensor(np.arange(6.0).reshape(3, 2)), training=True)
    >>> np.round(bn.moving_mean.numpy(), 3)
    array([0.02, 0.03])
    """

    def __init__(self, axis: int | Sequence[int] = -1, momentum: float = 0.99,
                 epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 beta_initializer: Any = "zeros", gamma_initializer: Any = "ones",
                 moving_mean_initializer: Any = "zeros",
                 moving_variance_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = _axis_arg(axis, "BatchNormalization")
        self.momentum = _args.number(momentum, "BatchNormalization", "momentum", 0.0, 1.0)
        self.epsilon = _args.number(epsilon, "BatchNormalization", "epsilon", 0.0,
                                    low_open=True)
        self.center, self.scale = bool(center), bool(scale)
        _args.weight_args(self, beta_initializer=beta_initializer,
                          gamma_initializer=gamma_initializer,
                          moving_mean_initializer=moving_mean_initializer,
                          moving_variance_initializer=moving_variance_initializer,
                          beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer

    def build(self, input_shape: Sequence[int | None]) -> None:
        ndim = len(input_shape)
        feat = _axes(self.axis, ndim, self.name)
        shape = tuple(input_shape[a] for a in feat)
        if any(s is None for s in shape):
            raise ValueError(f"{self.name}: the normalized axis {self.axis} of input shape "
                             f"{tuple(input_shape)} must be known")
        self._reduce = tuple(a for a in range(ndim) if a not in feat)
        self._bshape = tuple(input_shape[a] if a in feat else 1 for a in range(ndim))
        self._trailing = feat == tuple(range(ndim - len(feat), ndim))
        self.gamma = (self.add_weight("gamma", shape, self.gamma_initializer,
                                      self.gamma_regularizer) if self.scale else None)
        self.beta = (self.add_weight("beta", shape, self.beta_initializer,
                                     self.beta_regularizer) if self.center else None)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               self.moving_variance_initializer, trainable=False)

    def _param(self, v: Any) -> Any:
        return v if self._trailing else ops.reshape(v, self._bshape)

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        inputs = _args.layer_input(inputs)
        _same_rank(inputs, self._bshape)
        axes = self._reduce
        if training and self.trainable:
            mean = ops.mean(inputs, axes, keepdims=True)
            centered = inputs - mean
            var = ops.mean(centered * centered, axes, keepdims=True)
            m = self.momentum
            with no_grad():  # tensor ops, so that tg.function traces the update
                shape = self.moving_mean.shape
                self.moving_mean.assign(self.moving_mean * m + ops.reshape(mean, shape) * (1 - m))
                self.moving_variance.assign(self.moving_variance * m
                                            + ops.reshape(var, shape) * (1 - m))
            y = centered / ops.sqrt(var + self.epsilon)
        else:
            mean = self._param(self.moving_mean)
            var = self._param(self.moving_variance)
            y = (inputs - mean) * (1.0 / ops.sqrt(var + self.epsilon))
        if self.gamma is not None:
            y = y * self._param(self.gamma)
        if self.beta is not None:
            y = y + self._param(self.beta)
        return y


class LayerNormalization(Module):
    """Normalize each sample over `axis` (the features): y = gamma * (x - mean) /
    sqrt(var + epsilon) + beta, statistics per sample, the same in training and inference.

    >>> import tapegrad as tg
    >>> y = tg.nn.LayerNormalization()(tg.tensor([[1.0, 3.0]]))
    >>> np.round(y.numpy(), 4)
    array([[-0.9995,  0.9995]], dtype=float32)
    """

    def __init__(self, axis: int | Sequence[int] = -1, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = _axis_arg(axis, "LayerNormalization")
        self.epsilon = _args.number(epsilon, "LayerNormalization", "epsilon", 0.0,
                                    low_open=True)
        self.center, self.scale = bool(center), bool(scale)
        _args.weight_args(self, beta_initializer=beta_initializer,
                          gamma_initializer=gamma_initializer,
                          beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer

    def build(self, input_shape: Sequence[int | None]) -> None:
        ndim = len(input_shape)
        self._norm_axes = _axes(self.axis, ndim, self.name)
        shape = tuple(input_shape[a] for a in self._norm_axes)
        if any(s is None for s in shape):
            raise ValueError(f"{self.name}: the normalized axis {self.axis} of input shape "
                             f"{tuple(input_shape)} must be known")
        self._bshape = tuple(input_shape[a] if a in self._norm_axes else 1 for a in range(ndim))
        self._trailing = self._norm_axes == tuple(range(ndim - len(shape), ndim))
        self.gamma = (self.add_weight("gamma", shape, self.gamma_initializer,
                                      self.gamma_regularizer) if self.scale else None)
        self.beta = (self.add_weight("beta", shape, self.beta_initializer,
                                     self.beta_regularizer) if self.center else None)

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        inputs = _args.layer_input(inputs)
        _same_rank(inputs, self._bshape)
        axes = self._norm_axes
        mean = ops.mean(inputs, axes, keepdims=True)
        centered = inputs - mean
        var = ops.mean(centered * centered, axes, keepdims=True)
        y = centered / ops.sqrt(var + self.epsilon)
        if self.gamma is not None:
            y = y * (self.gamma if self._trailing else ops.reshape(self.gamma, self._bshape))
        if self.beta is not None:
            y = y + (self.beta if self._trailing else ops.reshape(self.beta, self._bshape))
        return y
