"""Symbolic tensors and the layer-call graph of the functional API (Keras's `KerasTensor`/`Node`).

A `KerasTensor` holds a shape (batch dimension `None`), a dtype and the `Node` that made it: one
call of a layer on symbolic inputs. Calling a layer on symbolic tensors runs it on small zero
batches to learn its output shapes (see `Module.__call__`) and records a `Node`; a functional
`Model` replays the nodes in order on real tensors. Nothing here records on tapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["KerasTensor", "Node", "flatten", "map_structure", "is_symbolic"]


class KerasTensor:
    """A symbolic tensor: `shape` (None where unknown, the batch first), `dtype`, `name`, and
    the layer call that produced it (`node`, output `index`).

    >>> import tapegrad as tg
    >>> x = tg.nn.Input(shape=(3,), name="features")
    >>> x, tg.nn.Dense(2)(x).shape
    (<KerasTensor shape=(None, 3), dtype=float32, name='features'>, (None, 2))
    """

    __slots__ = ("shape", "dtype", "name", "node", "index")
    __array_priority__ = 1000  # so that `np.ndarray + KerasTensor` reaches the error below

    def __init__(self, shape: tuple, dtype: Any, name: str | None = None,
                 node: Node | None = None, index: int = 0):
        self.shape = tuple(None if s is None else int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.name = name
        self.node = node
        self.index = index

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def zeros(self, fill: int) -> np.ndarray:
        """A zero array of this shape with every None dimension set to `fill`."""
        return np.zeros(tuple(fill if s is None else s for s in self.shape), self.dtype)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name!r}>"

    def _no_ops(self, *args: Any) -> Any:
        raise TypeError(
            f"KerasTensor {self.name!r} is symbolic (a placeholder of shape {self.shape}): "
            "it has no values, and tapegrad functions cannot run on it. Python operators "
            "(+, -, *, /, **, @, unary -, [i]) are recorded as layers; for anything else wrap "
            "the computation in a layer, e.g. tg.nn.Lambda(lambda t: tg.exp(t))(x)")

    __array__ = __float__ = __bool__ = __len__ = __iter__ = _no_ops
    __array_ufunc__ = None  # NumPy defers `ndarray + KerasTensor` to __radd__

    def _op(op: str, reverse: bool = False) -> Any:  # noqa: N805 (builds the methods below)
        def method(self: KerasTensor, other: Any = None) -> Any:
            from tapegrad.nn.functional import symbolic_op

            return symbolic_op(op, self, other, reverse)
        method.__name__ = f"__{'r' if reverse else ''}{op}__"
        return method

    __add__, __radd__ = _op("add"), _op("add", True)
    __sub__, __rsub__ = _op("subtract"), _op("subtract", True)
    __mul__, __rmul__ = _op("multiply"), _op("multiply", True)
    __truediv__, __rtruediv__ = _op("divide"), _op("divide", True)
    __pow__, __rpow__ = _op("power"), _op("power", True)
    __matmul__, __rmatmul__ = _op("matmul"), _op("matmul", True)
    __neg__ = _op("negative")
    __getitem__ = _op("getitem")
    del _op


class Node:
    """One call of `layer` on symbolic `args`/`kwargs` (structures that may hold KerasTensors),
    giving `outputs` (a structure of KerasTensors). `training` is the value passed explicitly
    at graph-building time (None: use the model's)."""

    __slots__ = ("layer", "args", "kwargs", "outputs", "training", "inputs", "flat_outputs")

    def __init__(self, layer: Any, args: Any, kwargs: dict, outputs: Any,
                 training: bool | None):
        self.layer = layer
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs
        self.training = training
        self.inputs = [t for t in flatten((args, kwargs)) if isinstance(t, KerasTensor)]
        self.flat_outputs = list(flatten(outputs))


def flatten(structure: Any) -> Iterator[Any]:
    """The leaves of nested lists, tuples and dicts (dicts in key order), depth first."""
    if isinstance(structure, (list, tuple)):
        for x in structure:
            yield from flatten(x)
    elif isinstance(structure, dict):
        for x in structure.values():
            yield from flatten(x)
    else:
        yield structure


def map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    """`structure` with every leaf replaced by `fn(leaf)` (lists, tuples and dicts kept)."""
    if isinstance(structure, list):
        return [map_structure(fn, x) for x in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, x) for x in structure)
    if isinstance(structure, dict):
        return {k: map_structure(fn, x) for k, x in structure.items()}
    return fn(structure)


def is_symbolic(structure: Any) -> bool:
    """True if a KerasTensor is anywhere in `structure`."""
    if isinstance(structure, KerasTensor):
        return True
    if isinstance(structure, (list, tuple)):
        return any(is_symbolic(x) for x in structure)
    if isinstance(structure, dict):
        return any(is_symbolic(x) for x in structure.values())
    return False
