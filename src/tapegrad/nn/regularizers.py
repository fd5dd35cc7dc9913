"""Weight regularizers with Keras's values: `L2(c)(w) = c * sum(w**2)`, `L1(c)(w) = c * sum(|w|)`.

A regularizer given to a layer (`Dense(..., kernel_regularizer="l2")`) is applied to the current
weights every time `model.losses` is read, and `fit` adds those losses to the training loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tapegrad import _args, ops
from tapegrad.config import Configurable, lookup
from tapegrad.tensor import Tensor

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get"]


class Regularizer(Configurable):
    """Base class: `__call__(weight) -> scalar Tensor` added to the training loss.

    >>> import tapegrad as tg
    >>> class MaxNorm(Regularizer):
    ...     def __call__(self, x):
    ...         return 0.1 * tg.max(tg.abs(x))
    >>> round(float(MaxNorm()(tg.tensor([1.0, -2.0]))), 3)
    0.2
    """

    def __call__(self, x: Tensor) -> Tensor:
        raise NotImplementedError


class L1(Regularizer):
    """`l1 * sum(|x|)` (Keras default l1=0.01).

    >>> import tapegrad as tg
    >>> float(L1(0.5)(tg.tensor([1.0, -2.0])))
    1.5
    """

    def __init__(self, l1: float = 0.01):
        self.l1 = _args.number(l1, "L1", "l1", 0.0)

    def __call__(self, x):
        return self.l1 * ops.sum(ops.abs(x))


class L2(Regularizer):
    """`l2 * sum(x**2)` (Keras default l2=0.01; no 1/2 factor).

    >>> import tapegrad as tg
    >>> float(L2(0.5)(tg.tensor([1.0, -2.0])))
    2.5
    """

    def __init__(self, l2: float = 0.01):
        self.l2 = _args.number(l2, "L2", "l2", 0.0)

    def __call__(self, x):
        return self.l2 * ops.sum(x * x)


class L1L2(Regularizer):
    """`l1 * sum(|x|) + l2 * sum(x**2)` (the class defaults to 0.0 for both, as in Keras).

    >>> import tapegrad as tg
    >>> round(float(L1L2(l1=0.1, l2=0.1)(tg.tensor([1.0, -2.0]))), 3)  # 0.1 * 3 + 0.1 * 5
    0.8
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _args.number(l1, "L1L2", "l1", 0.0)
        self.l2 = _args.number(l2, "L1L2", "l2", 0.0)

    def __call__(self, x):
        total = None
        if self.l1:
            total = self.l1 * ops.sum(ops.abs(x))
        if self.l2:
            sq = self.l2 * ops.sum(x * x)
            total = sq if total is None else total + sq
        return total if total is not None else ops.sum(x * 0.0)


def l1(l1: float = 0.01) -> L1:
    """An L1 regularizer, `l1 * sum(|x|)`.

    >>> import tapegrad as tg
    >>> float(l1(0.5)(tg.tensor([1.0, -2.0])))
    1.5
    """
    return L1(l1)


def l2(l2: float = 0.01) -> L2:
    """An L2 regularizer, `l2 * sum(x**2)`.

    >>> import tapegrad as tg
    >>> float(l2(0.5)(tg.tensor([1.0, -2.0])))
    2.5
    """
    return L2(l2)


def l1_l2(l1: float = 0.0, l2: float = 0.0) -> L1L2:
    """Both penalties, `l1 * sum(|x|) + l2 * sum(x**2)`. The defaults are 0.0 each, as in
    Keras 3 (tf.keras 2 used 0.01), so give the factors you want.

    >>> import tapegrad as tg
    >>> round(float(l1_l2(0.01, 0.01)(tg.tensor([1.0, -2.0]))), 3)  # 0.01 * 3 + 0.01 * 5
    0.08
    >>> float(l1_l2()(tg.tensor([1.0, -2.0])))
    0.0
    """
    return L1L2(l1=l1, l2=l2)


_BY_NAME: dict[str, Callable[[], Regularizer]] = {
    "l1": l1, "l2": l2, "l1_l2": l1_l2, "L1": L1, "L2": L2, "L1L2": L1L2,
}


def get(identifier: Any) -> Callable[[Tensor], Tensor] | None:
    """A regularizer from a name (`"l2"` is `L2(0.01)`), an object, or any `f(w) -> scalar`.

    >>> import tapegrad as tg
    >>> round(float(get("l2")(tg.tensor([1.0, -2.0]))), 3), get(None)
    (0.05, None)
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        return lookup("regularizer", _BY_NAME, identifier)()
    if callable(identifier):
        return identifier
    raise TypeError(f"regularizer must be a name or a callable f(weight), got {identifier!r}")
