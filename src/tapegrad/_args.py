"""Checks of hyper-parameter arguments shared by layers, optimizers and callbacks.

Each check returns the value in its canonical Python type or raises a TypeError (wrong kind of
value: a string, None, a float where a count is needed) or a ValueError (right kind, out of
range: 0 units, NaN, a rate of 1) whose message names the class or function, the argument, what
it got and what is expected. `who` is the name the user typed (`Dense`, `Adam`, ...).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = ["count", "number", "probability", "float_dtype", "resolved", "weight_args",
           "layer_input"]


def _got(value: Any) -> str:
    return f"{value!r:.60} ({type(value).__name__})"


def count(value: Any, who: str, what: str, minimum: int = 1) -> int:
    """`value` as an int >= `minimum`; floats (2.5, even 2.0), bools, strings and None refuse.

    >>> count(3, "Dense", "units")
    3
    >>> count(2.5, "Dense", "units")
    Traceback (most recent call last):
    TypeError: Dense: units must be an integer >= 1, got 2.5 (float)
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{who}: {what} must be an integer >= {minimum}, got {_got(value)}")
    if value < minimum:
        raise ValueError(f"{who}: {what} must be an integer >= {minimum}, got {value}")
    return int(value)


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return "a finite number"
    if high is None and low == 0 and low_open:
        return "a positive finite number"
    if high is None:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def number(value: Any, who: str, what: str, low: float | None = None,
           high: float | None = None, *, low_open: bool = False, high_open: bool = False) -> float:
    """`value` as a finite float within the bounds (open or closed); bools and strings refuse.

    >>> number(0.9, "Adam", "beta_1", 0.0, 1.0, high_open=True)
    0.9
    >>> number(float("nan"), "SGD", "learning_rate", 0.0)
    Traceback (most recent call last):
    ValueError: SGD: learning_rate must be a finite number >= 0, got nan
    """
    expected = _interval(low, high, low_open, high_open)
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{who}: {what} must be {expected}, got {_got(value)}")
    v = float(value)
    ok = math.isfinite(v)
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        raise ValueError(f"{who}: {what} must be {expected}, got {value!r}")
    return v


def _scalar(value: Any) -> Any:
    """A 0-d real ndarray or Tensor as its NumPy scalar (so `np.array(0.1)` is a number)."""
    from tapegrad.tensor import Tensor

    if isinstance(value, Tensor):
        value = value.numpy()
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu":
        return value[()]
    return value


def probability(value: Any, who: str, what: str) -> float:
    """A rate in [0, 1) (dropout rates: 1 would drop everything and divide by zero).

    >>> probability(0.5, "Dropout", "rate")
    0.5
    """
    return number(value, who, what, 0.0, 1.0, high_open=True)


def float_dtype(dtype: Any, who: str) -> np.dtype:
    """A floating dtype for a layer's weights; integer, bool, complex and object dtypes refuse
    (an int kernel cannot be trained, so it would silently stay at its initial value).

    >>> float_dtype("float64", "Dense")
    dtype('float64')
    """
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{who}: dtype must be a floating dtype such as 'float32', got "
                        f"{_got(dtype)} ({e})") from None
    if dt.kind != "f":
        raise TypeError(f"{who}: dtype must be a floating dtype (float16, float32 or float64), "
                        f"got {dt}; a layer's weights are trained, so they are floats")
    return dt


def resolved(get: Any, value: Any, who: str, what: str) -> Any:
    """`get(value)` (an activation, initializer or regularizer looked up by name), its error
    prefixed with the class and the argument so the user sees which argument was wrong.

    >>> from tapegrad.nn import activations
    >>> resolved(activations.get, "nope", "Dense", "activation")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: Dense: activation: unknown activation 'nope'; known: [...]
    """
    try:
        return get(value)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{who}: {what}: {e}") from e


def weight_args(layer: Any, **named: Any) -> None:
    """Look up every `*_initializer` / `*_regularizer` argument of `layer` now, so that a bad
    name fails at construction naming the layer class and the argument (as in Keras).

    >>> import tapegrad as tg
    >>> weight_args(tg.nn.Dense(1), kernel_initializer="nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: Dense: kernel_initializer: unknown initializer 'nope'; known: [...]
    """
    from tapegrad.nn import initializers, regularizers

    who = type(layer).__name__
    for what, value in named.items():
        get = initializers.get if what.endswith("initializer") else regularizers.get
        resolved(get, value, who, what)


def layer_input(inputs: Any) -> Any:
    """`inputs` as a Tensor, or a TypeError if it is not numeric array data (called inside a
    layer's `call`, whose errors the layer prefixes with its name and class).

    >>> layer_input("abc")
    Traceback (most recent call last):
    TypeError: inputs must be a tensor or array of numbers, got 'abc' (str)
    """
    from tapegrad.tensor import Tensor, as_tensor

    if inputs is None or isinstance(inputs, (str, bytes, dict, set)):
        raise TypeError(f"inputs must be a tensor or array of numbers, got {_got(inputs)}")
    if not isinstance(inputs, Tensor):
        try:
            inputs = as_tensor(inputs)
        except (TypeError, ValueError) as e:
            raise type(e)(f"inputs must be a tensor or array of numbers: {e}") from e
    if inputs.dtype.kind not in "fiub":
        raise TypeError(f"inputs must be real numbers, got dtype {inputs.dtype}")
    return inputs
