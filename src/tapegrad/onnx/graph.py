"""The ONNX graph under construction: unique names, nodes and initializers (weights, constants).

Converters (per layer class in `tapegrad.onnx.layers`, per tape op in `tapegrad.onnx.ops`) add
nodes through a `GraphBuilder` and never touch the `onnx` protobufs themselves.

>>> import numpy as np
>>> g = GraphBuilder()
>>> y = g.node("Relu", [g.const(np.array([-1.0, 2.0], np.float32), "c")])
>>> y, [n.op_type for n in g.nodes]
('relu', ['Relu'])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["GraphBuilder", "OPSET"]

OPSET = 17  # LayerNormalization needs 17; onnxruntime 1.17 and later run every op used here


class GraphBuilder:
    """Collects ONNX nodes and initializers; maps tapegrad tensors (by identity) to names.

    Tensors are kept alive while the graph is built, so an `id` is never reused for another
    tensor.
    """

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self._helper, self._numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: dict[int, str] = {}
        self._alive: list[Any] = []
        self._used: set[str] = set()
        self._counts: dict[str, int] = {}
        # A free batch size: reshapes that keep the traced batch dimension copy it (ONNX's 0).
        self.dynamic_batch = False

    def fresh(self, base: str) -> str:
        """A name not used yet, derived from `base` ("dense/kernel" -> "dense/kernel")."""
        base = re.sub(r"[^A-Za-z0-9_/.:-]", "_", base) or "t"
        name = base
        while name in self._used:
            k = self._counts.get(base, 0)
            self._counts[base] = k + 1
            name = f"{base}_{k}"
        self._used.add(name)
        return name

    def bind(self, tensor: Any, name: str) -> None:
        """Say that the ONNX value `name` holds `tensor`."""
        self._names[id(tensor)] = name
        self._alive.append(tensor)

    def name_of(self, tensor: Any) -> str | None:
        """The ONNX name bound to `tensor`, or None if it is not a graph value."""
        return self._names.get(id(tensor))

    def const(self, value: Any, base: str = "const", dtype: Any = None) -> str:
        """Add `value` as an initializer and return its name."""
        arr = np.asarray(value if dtype is None else np.asarray(value).astype(dtype))
        if arr.dtype == np.float64 and dtype is None:
            arr = arr.astype(np.float32)
        name = self.fresh(base)
        self.initializers.append(self._numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def ints(self, values: Sequence[int], base: str = "shape") -> str:
        """An int64 1-D initializer (shapes, axes, slice bounds)."""
        return self.const(np.asarray(list(values), dtype=np.int64), base)

    def node(self, op_type: str, inputs: Sequence[str], outputs: int | Sequence[str] = 1,
             base: str | None = None, **attrs: Any) -> Any:
        """Add one node; return its output name (or the list of names when `outputs` > 1)."""
        prefix = base or op_type.lower()
        if isinstance(outputs, int):
            names = [self.fresh(prefix if outputs == 1 else f"{prefix}_out") for _ in
                     range(outputs)]
        else:
            names = list(outputs)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self._helper.make_node(op_type, list(inputs), names,
                                                 name=self.fresh(f"{prefix}_node"), **attrs))
        return names[0] if len(names) == 1 else names
