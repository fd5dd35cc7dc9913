"""Recorded tape ops -> ONNX nodes, and tracing a function on a tape to convert it.

An op input is a graph value when an earlier op (or the graph input) produced it; any other
tensor is a constant of the exported graph (a weight, or a value computed without the tape).

>>> import numpy as np, tapegrad as tg
>>> from tapegrad.onnx.graph import GraphBuilder
>>> g = GraphBuilder()
>>> y = convert_callable(g, lambda x: tg.tanh(x) * 2.0, [g.fresh("x")],
...                      [np.zeros((2, 3), np.float32)])
>>> [n.op_type for n in g.nodes]
['Tanh', 'Mul']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tapegrad.onnx.graph import GraphBuilder
from tapegrad.onnx.ops import OP_CONVERTERS
from tapegrad.tensor import Tensor

__all__ = ["convert_op", "convert_callable", "flatten"]


def flatten(structure: Any) -> list[Any]:
    """The tensors of a tensor or a (nested) list/tuple of them, in order."""
    if isinstance(structure, (list, tuple)):
        return [t for s in structure for t in flatten(s)]
    return [structure]


def _where(op: Any) -> str:
    file, line = op.location
    scope = f" in {op.scope}" if op.scope else ""
    return f"{op.name}{scope} (recorded at {file}:{line})"


def convert_op(g: GraphBuilder, op: Any) -> None:
    """Add the ONNX nodes of one recorded op and bind its output."""
    fn = OP_CONVERTERS.get(op.name)
    if fn is None:
        raise NotImplementedError(
            f"tapegrad.onnx: the op {_where(op)} has no ONNX converter; supported ops: "
            f"{', '.join(sorted(OP_CONVERTERS))}. Register one with "
            f"tapegrad.onnx.register_op({op.name!r})")
    out_dtype = op.output.dtype

    def arg(i: int, dtype: Any = None) -> str:
        a = op.inputs[i]
        if isinstance(a, Tensor):
            name = g.name_of(a)
            if name is not None:
                return name
            base = getattr(a, "name", None) or "const"
            value = a.numpy()
            g.bind(a, g.const(value if dtype is None else value.astype(dtype), base))
            return g.name_of(a)  # type: ignore[return-value]
        value = np.asarray(a)
        if dtype is not None:
            value = value.astype(dtype)
        elif value.dtype.kind in "fiub" and out_dtype.kind == "f" and value.dtype.kind != "b":
            value = value.astype(out_dtype)
        return g.const(value, "const")

    try:
        g.bind(op.output, fn(g, op, arg))
    except NotImplementedError:
        raise
    except Exception as e:
        raise ValueError(f"tapegrad.onnx: converting the op {_where(op)} failed: {e}") from e


def convert_callable(g: GraphBuilder, fn: Callable[..., Any], input_names: Sequence[str],
                     examples: Sequence[np.ndarray]) -> Any:
    """Trace `fn(*tensors)` on a tape with `examples` and add its ops; return the output
    name(s) (a list when `fn` returns several tensors)."""
    from tapegrad.tape import GradientTape

    xs = [Tensor._wrap(np.asarray(e)) for e in examples]
    with GradientTape() as tape:
        for x in xs:
            if x.dtype.kind == "f":
                tape.watch(x)
        out = fn(*xs)
    for x, name in zip(xs, input_names):
        g.bind(x, name)
    for op in tape.ops:
        convert_op(g, op)
    names = []
    for t in flatten(out):
        name = g.name_of(t)
        if name is None:  # computed without the graph inputs: a constant
            name = g.const(t.numpy() if isinstance(t, Tensor) else np.asarray(t), "const")
        names.append(name)
    return names if isinstance(out, (list, tuple)) else names[0]
