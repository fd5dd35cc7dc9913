"""Helpers the layer files share: rank and data_format checks, int-tuple arguments, running an
op so that its errors name the layer, and dropout masks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad import ops
from tapegrad import random as _random
from tapegrad.tensor import Tensor

__all__ = ["check_rank", "run_op", "check_data_format", "int_tuple", "dropout_mask"]


def check_rank(layer: Any, shape: Sequence[int | None], rank: int, layout: str) -> None:
    """Raise a ValueError naming `layer` unless inputs have `rank` dims (batch included).

    >>> import tapegrad as tg
    >>> check_rank(tg.nn.Dense(2, name="d"), (4, 3), 3, "(batch, time, features)")
    Traceback (most recent call last):
    ValueError: d: Dense expects inputs of rank 3 (batch, time, features), got shape (4, 3)
    """
    if len(shape) != rank:
        raise ValueError(f"{layer.name}: {type(layer).__name__} expects inputs of rank {rank} "
                         f"{layout}, got shape {tuple(shape)}")


def run_op(layer: Any, op: Any, *args: Any, **kwargs: Any) -> Tensor:
    """Call an op; its ValueErrors (kernel larger than the input, ...) name the layer.

    The original error stays chained (`__cause__`), so the failing line is kept.
    """
    try:
        return op(*args, **kwargs)
    except ValueError as e:
        err = ValueError(f"{layer.name} ({type(layer).__name__}): {e}")
        err._names_layer = True  # type: ignore[attr-defined]
        raise err from e


def check_data_format(data_format: Any, who: str) -> None:
    """Only channels-last layouts exist here; say so for anything else.

    >>> check_data_format("channels_first", "Conv2D")
    Traceback (most recent call last):
    ValueError: Conv2D: only data_format='channels_last' is supported, got 'channels_first'
    """
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{who}: only data_format='channels_last' is supported, "
                         f"got {data_format!r}")


def int_tuple(v: Any, n: int, who: str = "", what: str = "argument",
              minimum: int = 1) -> tuple[int, ...]:
    """An int or a sequence of `n` ints (each >= `minimum`) as a tuple of `n` ints (Keras's
    kernel_size/strides/... rule); floats, bools and strings are refused, never truncated.

    >>> int_tuple(3, 2), int_tuple([1, 2], 2)
    ((3, 3), (1, 2))
    >>> int_tuple(2.5, 2, "Conv2D", "kernel_size")
    Traceback (most recent call last):
    TypeError: Conv2D: kernel_size must be a positive int or a tuple of 2 positive ints, got 2.5
    """
    kind = "positive" if minimum == 1 else f">= {minimum}"
    message = (f"{who + ': ' if who else ''}{what} must be a {kind} int or a tuple of {n} "
               f"{kind} ints, got {v!r}")
    items = tuple(v) if isinstance(v, (list, tuple)) else (v,) * n
    if any(isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)) for a in items):
        raise TypeError(message)
    if len(items) != n or min(items) < minimum:
        raise ValueError(message)
    return tuple(int(a) for a in items)


def dropout_mask(shape: tuple, rate: float, dtype: np.dtype, rng: Any = None) -> Tensor:
    """A constant inverted-dropout mask: 0 with probability `rate`, else 1 / (1 - rate).

    Drawn from `rng`, else `tg.random.generator()` (so `tg.random.seed` makes it repeatable),
    by `tg.random.uniform`, so that `tg.function` replays draw a fresh mask on every call.

    >>> import numpy as np
    >>> sorted(set(dropout_mask((1000,), 0.5, np.dtype("float32")).numpy().tolist()))
    [0.0, 2.0]
    """
    keep = 1.0 - rate
    keep_it = _random.uniform(shape, dtype=np.float64, rng=rng) < keep
    return ops.astype(keep_it, dtype) / dtype.type(keep)
