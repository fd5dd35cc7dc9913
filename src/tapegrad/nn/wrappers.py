"""`TimeDistributed`: apply one layer (one set of weights) to every time step."""

from __future__ import annotations

from typing import Any

from tapegrad import _args, ops
from tapegrad.nn.masking import get_mask, set_mask
from tapegrad.nn.module import Module
from tapegrad.tensor import Tensor

__all__ = ["TimeDistributed"]


class TimeDistributed(Module):
    """Apply `layer` to each slice `x[:, t]` of (batch, time, ...) inputs, as Keras: the steps
    are folded into the batch (one call on (batch * time, ...)), so every step shares the
    layer's weights. A time-step mask passes through.

    >>> import numpy as np, tapegrad as tg
    >>> layer = tg.nn.TimeDistributed(tg.nn.Dense(4))
    >>> layer(np.zeros((2, 5, 3))).shape, layer.layer.kernel.shape
    ((2, 5, 4), (3, 4))
    """

    def __init__(self, layer: Module, **kwargs: Any):
        super().__init__(**kwargs)
        if not isinstance(layer, Module):
            raise TypeError(f"{self.name}: TimeDistributed wraps a layer (tg.nn.Module), got "
                            f"{type(layer).__name__}")
        self.layer = layer

    def call(self, inputs: Any, training: bool = False, mask: Any = None) -> Tensor:
        mask = get_mask(inputs) if mask is None else mask
        x = _args.layer_input(inputs)
        if x.ndim < 3:
            raise ValueError(f"{self.name}: TimeDistributed needs inputs of shape (batch, time, "
                             f"...), got {x.shape}")
        b, t = x.shape[:2]
        y = self.layer(ops.reshape(x, (b * t, *x.shape[2:])), training=training)
        if not isinstance(y, Tensor):
            raise TypeError(f"{self.name}: the wrapped layer must return one tensor, got "
                            f"{type(y).__name__}")
        out = ops.reshape(y, (b, t, *y.shape[1:]))
        return out if mask is None else set_mask(out, mask)
