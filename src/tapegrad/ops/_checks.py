"""Argument checks shared by the op families: axes, shapes and counts are validated once, on the
static parameters (never per element), and errors name the public function the user called."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import numpy as np

_PREFIX = re.compile(r"^[A-Za-z_][\w.]*: ")


def as_int(v: Any, op: str, what: str) -> int:
    """`v` as an int; floats, strings and booleans are refused (never truncated)."""
    if v.__class__ is int:
        return v
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{op}: {what} must be an int, got {v!r} ({type(v).__name__})")
    return int(v)


def as_ints(v: Any, op: str, what: str) -> tuple[int, ...]:
    """An int or a tuple/list of ints as a tuple of ints."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return (int(v),)
    if not isinstance(v, (tuple, list)) and not (isinstance(v, np.ndarray) and v.ndim == 1):
        raise TypeError(f"{op}: {what} must be an int or a tuple of ints, got {v!r} "
                        f"({type(v).__name__})")
    return tuple(as_int(a, op, what) for a in v)


def as_shape(v: Any, op: str) -> tuple[int, ...]:
    """A shape (an int or a sequence of ints), sizes non-negative except one -1 placeholder."""
    shape = as_ints(v, op, "shape")
    bad = [s for s in shape if s < -1]
    if bad or shape.count(-1) > 1:
        raise ValueError(f"{op}: invalid shape {v!r}: sizes must be >= 0 (one may be -1)")
    return shape


def reports_as(name: str) -> Callable:
    """Errors raised inside a composed public function name it, not the op that failed inside
    (`tile` says `tile`, not `broadcast_to`); the inner error stays chained as the cause."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def public(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except (TypeError, ValueError, IndexError) as e:
                msg = str(e)
                if msg.startswith(f"{name}:"):
                    raise
                cls = next(c for c in (TypeError, IndexError, ValueError) if isinstance(e, c))
                raise cls(f"{name}: {_PREFIX.sub('', msg)}") from e

        return public

    return wrap
