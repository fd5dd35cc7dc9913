"""Pooling layers with Keras's names and defaults, channels-last: Max/AveragePooling 1-D and
2-D (strides default to pool_size) and the global poolings."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad import _args, ops
from tapegrad.nn._utils import check_data_format, check_rank, run_op
from tapegrad.nn.masking import check_mask, get_mask, masked_mean
from tapegrad.nn.module import Module
from tapegrad.tensor import Tensor

__all__ = ["AveragePooling1D", "AveragePooling2D", "AvgPool1D", "AvgPool2D",
           "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAvgPool1D",
           "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPooling1D",
           "GlobalMaxPooling2D", "MaxPool1D", "MaxPool2D", "MaxPooling1D", "MaxPooling2D"]


class _Pool(Module):
    rank = 2
    op: Any = None

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        check_data_format(data_format, type(self).__name__)
        who = type(self).__name__
        self.pool_size = _window(pool_size, self.rank, who, "pool_size")
        self.strides = self.pool_size if strides is None else _window(strides, self.rank, who,
                                                                      "strides")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{who}: padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding.lower()

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        inputs = _args.layer_input(inputs)
        check_rank(self, inputs.shape, self.rank + 2,
                   "(batch, steps, channels)" if self.rank == 1 else "(batch, h, w, channels)")
        return run_op(self, type(self).op, inputs, self.pool_size, self.strides, self.padding)


def _window(v: Any, rank: int, who: str, what: str) -> Any:
    """A positive int, or a tuple of `rank` positive ints (an int for 1-D pooling)."""
    items = tuple(v) if isinstance(v, (list, tuple)) else (v,)
    if (len(items) != (rank if isinstance(v, (list, tuple)) else 1)
            or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in items)):
        raise TypeError(f"{who}: {what} must be a positive int or a tuple of {rank} positive "
                        f"ints, got {v!r}")
    if min(items) < 1:
        raise ValueError(f"{who}: {what} must be positive, got {v!r}")
    return int(items[0]) if len(items) == 1 and (rank == 1 or not isinstance(v, (list, tuple))) \
        else tuple(int(a) for a in items)


class MaxPooling2D(_Pool):
    """Maximum over (pool_size) windows of (batch, h, w, channels) inputs.

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.MaxPooling2D()(np.zeros((1, 5, 5, 3))).shape
    (1, 2, 2, 3)
    """

    op = staticmethod(ops.max_pool2d)


class AveragePooling2D(_Pool):
    """Mean over (pool_size) windows of (batch, h, w, channels) inputs ('same' padding cells
    are not counted, as Keras).

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.AveragePooling2D(3, strides=1, padding="same")(np.zeros((1, 5, 5, 3))).shape
    (1, 5, 5, 3)
    """

    op = staticmethod(ops.avg_pool2d)


class MaxPooling1D(_Pool):
    """Maximum over windows of (batch, steps, channels) inputs.

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.MaxPooling1D(3)(np.zeros((2, 10, 4))).shape
    (2, 3, 4)
    """

    rank = 1
    op = staticmethod(ops.max_pool1d)


class AveragePooling1D(_Pool):
    """Mean over windows of (batch, steps, channels) inputs.

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.AveragePooling1D()(np.zeros((2, 10, 4))).shape
    (2, 5, 4)
    """

    rank = 1
    op = staticmethod(ops.avg_pool1d)


class _GlobalPool(Module):
    rank = 2
    reduce: Any = None

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        check_data_format(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        inputs = _args.layer_input(inputs)
        check_rank(self, inputs.shape, self.rank + 2,
                   "(batch, steps, channels)" if self.rank == 1 else "(batch, h, w, channels)")
        axes = tuple(range(1, self.rank + 1))
        return type(self).reduce(inputs, axis=axes, keepdims=self.keepdims)


class GlobalAveragePooling2D(_GlobalPool):
    """Mean over height and width: (batch, h, w, c) -> (batch, c).

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.GlobalAveragePooling2D()(np.ones((2, 4, 4, 3))).shape
    (2, 3)
    """

    reduce = staticmethod(ops.mean)


class GlobalMaxPooling2D(_GlobalPool):
    """Maximum over height and width: (batch, h, w, c) -> (batch, c).

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.GlobalMaxPooling2D(keepdims=True)(np.ones((2, 4, 4, 3))).shape
    (2, 1, 1, 3)
    """

    reduce = staticmethod(ops.max)


class GlobalAveragePooling1D(_GlobalPool):
    """Mean over steps: (batch, steps, c) -> (batch, c). With a time-step mask (from
    `Embedding(mask_zero=True)`, `Masking` or `mask=`) only the unmasked steps are averaged.

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.GlobalAveragePooling1D()(np.ones((2, 7, 3))).shape
    (2, 3)
    """

    rank = 1
    reduce = staticmethod(ops.mean)

    def call(self, inputs: Any, training: bool = False, mask: Any = None) -> Tensor:
        inputs = _args.layer_input(inputs)  # a Tensor keeps its mask (the same object)
        mask = check_mask(get_mask(inputs) if mask is None else mask, inputs.shape, self.name)
        if mask is None or mask.all():
            return super().call(inputs, training)
        check_rank(self, inputs.shape, 3, "(batch, steps, channels)")
        out = masked_mean(inputs, mask)
        return ops.expand_dims(out, 1) if self.keepdims else out


class GlobalMaxPooling1D(_GlobalPool):
    """Maximum over steps: (batch, steps, c) -> (batch, c).

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.GlobalMaxPooling1D()(np.ones((2, 7, 3))).shape
    (2, 3)
    """

    rank = 1
    reduce = staticmethod(ops.max)


# Keras's short aliases.
MaxPool2D, AvgPool2D, MaxPool1D, AvgPool1D = (MaxPooling2D, AveragePooling2D, MaxPooling1D,
                                              AveragePooling1D)
GlobalAvgPool2D, GlobalMaxPool2D = GlobalAveragePooling2D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalMaxPool1D = GlobalAveragePooling1D, GlobalMaxPooling1D
