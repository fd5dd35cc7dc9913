"""Merge layers (Keras's names): they take a list of tensors and return one. Add, Subtract,
Multiply, Average, Maximum and Minimum work elementwise (equal shapes, or 1 where a tensor
broadcasts); Concatenate joins along `axis`; Dot takes batched dot products.

>>> import numpy as np, tapegrad as tg
>>> a, b = tg.tensor([[1.0, 2.0]]), tg.tensor([[3.0, 5.0]])
>>> tg.nn.Add()([a, b]).numpy(), tg.nn.Concatenate()([a, b]).shape
(array([[4., 7.]], dtype=float32), (1, 4))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad import _args, ops
from tapegrad.nn.module import Module
from tapegrad.tensor import Tensor

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"]


class _Merge(Module):
    """Checks that the input is a list of at least two tensors of compatible shapes."""

    exactly: int | None = None

    def _check(self, inputs: Any) -> list[Any]:
        who = type(self).__name__
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(f"{who} takes a list of tensors, e.g. {who}()([a, b]); got "
                            f"{type(inputs).__name__}")
        if self.exactly is not None and len(inputs) != self.exactly:
            raise ValueError(f"{who} takes exactly {self.exactly} inputs, got {len(inputs)}")
        if len(inputs) < 2:
            raise ValueError(f"{who} takes at least 2 inputs, got {len(inputs)}")
        return [_args.layer_input(x) for x in inputs]

    def _check_elementwise(self, inputs: Any) -> list[Any]:
        xs = self._check(inputs)
        shapes = [tuple(x.shape) for x in xs]
        rank = len(shapes[0])
        for s in shapes:
            if len(s) != rank or any(a != b and 1 not in (a, b) for a, b in zip(s, shapes[0])):
                raise ValueError(f"{type(self).__name__} needs inputs of the same shape (or 1 "
                                 f"where one broadcasts), got shapes {shapes}")
        return xs


class Add(_Merge):
    """The elementwise sum of the inputs (the join of a residual connection).

    >>> import tapegrad as tg
    >>> tg.nn.Add()([tg.tensor([1.0]), tg.tensor([2.0]), tg.tensor([3.0])]).numpy()
    array([6.], dtype=float32)
    """

    def call(self, inputs: Any) -> Tensor:
        xs = self._check_elementwise(inputs)
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y


class Subtract(_Merge):
    """`inputs[0] - inputs[1]` (exactly two inputs).

    >>> import tapegrad as tg
    >>> tg.nn.Subtract()([tg.tensor([5.0]), tg.tensor([2.0])]).numpy()
    array([3.], dtype=float32)
    """

    exactly = 2

    def call(self, inputs: Any) -> Tensor:
        a, b = self._check_elementwise(inputs)
        return a - b


class Multiply(_Merge):
    """The elementwise product of the inputs.

    >>> import tapegrad as tg
    >>> tg.nn.Multiply()([tg.tensor([2.0]), tg.tensor([3.0])]).numpy()
    array([6.], dtype=float32)
    """

    def call(self, inputs: Any) -> Tensor:
        xs = self._check_elementwise(inputs)
        y = xs[0]
        for x in xs[1:]:
            y = y * x
        return y


class Average(_Merge):
    """The elementwise mean of the inputs.

    >>> import tapegrad as tg
    >>> tg.nn.Average()([tg.tensor([2.0]), tg.tensor([4.0])]).numpy()
    array([3.], dtype=float32)
    """

    def call(self, inputs: Any) -> Tensor:
        xs = self._check_elementwise(inputs)
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y / float(len(xs))


class Maximum(_Merge):
    """The elementwise maximum of the inputs.

    >>> import tapegrad as tg
    >>> tg.nn.Maximum()([tg.tensor([2.0, 5.0]), tg.tensor([4.0, 1.0])]).numpy()
    array([4., 5.], dtype=float32)
    """

    def call(self, inputs: Any) -> Tensor:
        xs = self._check_elementwise(inputs)
        y = xs[0]
        for x in xs[1:]:
            y = ops.maximum(y, x)
        return y


class Minimum(_Merge):
    """The elementwise minimum of the inputs.

    >>> import tapegrad as tg
    >>> tg.nn.Minimum()([tg.tensor([2.0, 5.0]), tg.tensor([4.0, 1.0])]).numpy()
    array([2., 1.], dtype=float32)
    """

    def call(self, inputs: Any) -> Tensor:
        xs = self._check_elementwise(inputs)
        y = xs[0]
        for x in xs[1:]:
            y = ops.minimum(y, x)
        return y


class Concatenate(_Merge):
    """Join the inputs along `axis` (default the last); all other dimensions must match.

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.Concatenate(axis=1)([np.zeros((2, 3, 4)), np.zeros((2, 5, 4))]).shape
    (2, 8, 4)
    """

    def __init__(self, axis: int = -1, **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = _axis(axis, "Concatenate", "axis")

    def call(self, inputs: Any) -> Tensor:
        xs = self._check(inputs)
        shapes = [tuple(x.shape) for x in xs]
        rank = len(shapes[0])
        if not -rank <= self.axis < rank or any(len(s) != rank for s in shapes):
            raise ValueError(f"Concatenate(axis={self.axis}) needs inputs of one rank with "
                             f"that axis, got shapes {shapes}")
        ax = self.axis % rank
        rest = {s[:ax] + s[ax + 1:] for s in shapes}
        if len(rest) > 1:
            raise ValueError(f"Concatenate(axis={self.axis}) needs inputs whose shapes match "
                             f"except on that axis, got shapes {shapes}")
        return ops.concatenate(xs, axis=ax)


class Dot(_Merge):
    """Batched dot product of two inputs over `axes` (an int, or one axis per input; batch
    axis 0 excluded), optionally of L2-normalized inputs (cosine similarity). A result of
    rank 1 becomes (batch, 1), as in Keras.

    >>> import tapegrad as tg
    >>> a, b = tg.tensor([[1.0, 0.0]]), tg.tensor([[3.0, 4.0]])
    >>> tg.nn.Dot(axes=1)([a, b]).numpy(), tg.nn.Dot(axes=1, normalize=True)([a, b]).numpy()
    (array([[3.]], dtype=float32), array([[0.6]], dtype=float32))
    """

    exactly = 2

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2:
                raise ValueError(f"Dot: axes must be an int or a pair of ints, got {axes!r}")
            self.axes = tuple(_axis(a, "Dot", "axes") for a in axes)
        else:
            self.axes = _axis(axes, "Dot", "axes")
        self.normalize = bool(normalize)

    def call(self, inputs: Any) -> Tensor:
        x, y = self._check(inputs)
        if x.shape[:1] != y.shape[:1]:
            raise ValueError(f"Dot needs inputs with the same batch size, got shapes "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
        axes = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        ax = []
        for t, a in zip((x, y), axes):
            r = len(t.shape)
            if not -r <= a < r or a % r == 0:
                raise ValueError(f"Dot(axes={self.axes}): axis {a} is not a non-batch axis of "
                                 f"an input of shape {tuple(t.shape)}")
            ax.append(a % r)
        if x.shape[ax[0]] != y.shape[ax[1]]:
            raise ValueError(f"Dot(axes={self.axes}): the summed axes have sizes "
                             f"{x.shape[ax[0]]} and {y.shape[ax[1]]} (shapes "
                             f"{tuple(x.shape)}, {tuple(y.shape)})")
        if self.normalize:
            x, y = _l2_normalize(x, ax[0]), _l2_normalize(y, ax[1])
        letters = "bcdefghijklmnopqrstuvwxyz"
        xs = ["a"] + [letters[i] for i in range(len(x.shape) - 1)]
        ys = ["a"] + [letters[len(x.shape) - 1 + i] for i in range(len(y.shape) - 1)]
        ys[ax[1]] = xs[ax[0]]
        out = [c for c in xs if c != xs[ax[0]]] + [c for c in ys[1:] if c != xs[ax[0]]]
        z = ops.einsum(f"{''.join(xs)},{''.join(ys)}->{''.join(out)}", x, y)
        return ops.reshape(z, (z.shape[0], 1)) if len(z.shape) == 1 else z


def _axis(value: Any, who: str, what: str) -> int:
    """An int axis; bools, floats (even 1.0), strings and None refuse."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{who}: {what} must be an int axis, got {value!r}")
    return int(value)


def _l2_normalize(x: Any, axis: int) -> Tensor:
    """x / max(||x||, 1e-6) along `axis` (Keras's l2_normalize with epsilon 1e-12 on the
    squared norm)."""
    sq = ops.sum(x * x, axis=axis, keepdims=True)
    return x / ops.sqrt(ops.maximum(sq, 1e-12))
