"""Activation functions by name or callable, built from tapegrad ops (so they differentiate).

`gelu` is exact, x Phi(x) with `tg.erf`, as Keras 3's default (`approximate=True` gives the tanh
form). `step` is the Heaviside function of the perceptron (1.0 where x >= 0, else 0.0): its
result is cut from the tape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad import ops
from tapegrad.config import lookup
from tapegrad.state import STATE, note_cut
from tapegrad.tensor import Tensor, as_tensor

__all__ = [
    "relu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu", "elu", "selu", "gelu",
    "softplus", "softsign", "swish", "silu", "exponential", "linear", "step", "get", "serialize",
]


def relu(x: Any) -> Tensor:
    """max(x, 0).

    >>> import tapegrad as tg
    >>> relu(tg.tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
    """
    return ops.relu(x)


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + exp(-x)), without overflow."""
    return ops.sigmoid(x)


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent."""
    return ops.tanh(x)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis` (stable)."""
    return ops.softmax(x, axis=axis)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along `axis` (stable)."""
    return ops.log_softmax(x, axis=axis)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> Tensor:
    """x for x > 0, negative_slope * x otherwise (Keras default 0.2)."""
    return ops.leaky_relu(x, alpha=negative_slope)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return ops.elu(x, alpha=alpha)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x: Any) -> Tensor:
    """scale * elu(x, alpha) with the self-normalizing constants."""
    return _SELU_SCALE * ops.elu(x, alpha=_SELU_ALPHA)


def gelu(x: Any, approximate: bool = False) -> Tensor:
    """x Phi(x) = 0.5 x (1 + erf(x / sqrt(2))), exact by default as in Keras 3; with
    `approximate=True` the tanh form 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    >>> import tapegrad as tg
    >>> gelu(tg.tensor([1.0])).numpy().round(4), gelu(tg.tensor([1.0]), True).numpy().round(4)
    (array([0.8413], dtype=float32), array([0.8412], dtype=float32))
    """
    return ops.gelu(x, approximate=approximate)


def softplus(x: Any) -> Tensor:
    """log(1 + exp(x)), stable."""
    return ops.softplus(x)


def softsign(x: Any) -> Tensor:
    """x / (1 + |x|)."""
    x = as_tensor(x)
    return x / (1.0 + ops.abs(x))


def swish(x: Any) -> Tensor:
    """x * sigmoid(x) (also called silu)."""
    x = as_tensor(x)
    return x * ops.sigmoid(x)


silu = swish


def exponential(x: Any) -> Tensor:
    """exp(x)."""
    return ops.exp(x)


def linear(x: Any) -> Any:
    """The identity (no activation)."""
    return x


def step(x: Any) -> Tensor:
    """Heaviside step 1.0 where x >= 0, else 0.0; not differentiable, so cut from the tape.

    >>> import tapegrad as tg
    >>> step(tg.tensor([-0.5, 0.0, 2.0])).numpy()
    array([0., 1., 1.], dtype=float32)
    """
    x = as_tensor(x)
    v = x.numpy()
    dtype = v.dtype if v.dtype.kind == "f" else np.dtype(np.float32)
    out = Tensor._wrap((v >= 0).astype(dtype))
    if STATE.recorders:
        note_cut("the step activation is not differentiable", "step", (x,), out)
    return out


heaviside = step

_BY_NAME: dict[str, Callable] = {
    "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax,
    "log_softmax": log_softmax, "leaky_relu": leaky_relu, "elu": elu, "selu": selu,
    "gelu": gelu, "softplus": softplus, "softsign": softsign, "swish": swish, "silu": silu,
    "exponential": exponential, "linear": linear, "step": step, "heaviside": heaviside,
}


def get(identifier: Any) -> Callable[[Any], Any]:
    """An activation function from a name, a callable, or None (linear).

    >>> get("relu") is relu, get(None) is linear
    (True, True)
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        return lookup("activation", _BY_NAME, identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be a name, a callable or None, got {identifier!r}")


def serialize(fn: Callable) -> str:
    """The registered name of an activation function (its `__name__` otherwise)."""
    for name, f in _BY_NAME.items():
        if f is fn:
            return name
    return getattr(fn, "__name__", repr(fn))
