"""`Module.summary()`: a Keras-style table of layers, output shapes and parameter counts; for
functional models also the "Connected to" column (`layer[node][tensor]` of every input)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_POSITIONS = (29, 55, 65)  # Keras 2's column ends for line_length=65
_GRAPH_POSITIONS = (32, 53, 65, 98)  # and for functional models (line_length=98)


def _format_shape(shape: Any) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(_format_shape(s) for s in shape) + "]"
    dims = ("None",) + tuple(str(s) for s in shape[1:]) if shape else ()
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _rows(fields: tuple[str, ...], positions: tuple[int, ...] = _POSITIONS) -> list[str]:
    """One table row; text too long for its column wraps onto further lines, as in Keras."""
    left = list(fields)
    lines = []
    while any(left):
        line, start = " ", 1
        for col, end in enumerate(positions):
            cut = end - start - (2 if col < len(positions) - 1 else 0)
            piece, left[col] = left[col][:cut], left[col][cut:]
            line += piece.ljust(end - start)
            start = end
        lines.append(line.rstrip())
    return lines


def summary(module: Any, print_fn: Callable[[str], Any] | None = None) -> None:
    """Print one row per direct sub-layer (name (Type), output shape with batch None, params)
    and the totals; the model must have been built (called once, or `build(input_shape)`).

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.reset_names()
    >>> m = tg.nn.Sequential([tg.nn.Input((4,)), tg.nn.Dense(3)])
    >>> m.summary()  # doctest: +NORMALIZE_WHITESPACE
    Model: "sequential"
    _________________________________________________________________
     Layer (type)                Output Shape              Param #
    =================================================================
     dense (Dense)               (None, 3)                 15
    =================================================================
    Total params: 15
    Trainable params: 15
    Non-trainable params: 0
    _________________________________________________________________
    """
    from tapegrad.nn.functional import Functional

    print_fn = print_fn or print
    if not module.built:
        raise ValueError(f"{module.name}: this model has not been built yet; call it on a batch "
                         f"of data or call build(input_shape) before summary()")
    total = sum(v.size for v in module.variables)
    trainable = sum(v.size for v in module.trainable_variables)
    if isinstance(module, Functional):
        width, body = 98, _graph_rows(module)
    else:
        width, body = 65, []
        for i, layer in enumerate(module.layers or [module]):
            if i:
                body.append("")
            shape = _format_shape(layer._output_shape) if layer.built else "(unbuilt)"
            body += _rows((f"{layer.name} ({type(layer).__name__})", shape,
                           f"{layer.count_params():,}"))
    rule, double = "_" * width, "=" * width
    header = (("Layer (type)", "Output Shape", "Param #", "Connected to") if width == 98
              else ("Layer (type)", "Output Shape", "Param #"))
    lines = [f'Model: "{module.name}"', rule,
             *_rows(header, _GRAPH_POSITIONS if width == 98 else _POSITIONS), double, *body,
             double, f"Total params: {total:,}", f"Trainable params: {trainable:,}",
             f"Non-trainable params: {total - trainable:,}", rule]
    for line in lines:
        print_fn(line)


def _graph_rows(model: Any) -> list[str]:
    """Rows of a functional model: one per layer, with `name[node][tensor]` of its inputs
    (node numbers count a layer's calls within this model)."""
    refs: dict[int, str] = {}
    counts: dict[int, int] = {}
    shapes: dict[int, list] = {}
    inbound: dict[int, list[str]] = {}
    for node in model.nodes:
        key = id(node.layer)
        index = counts.get(key, 0)
        counts[key] = index + 1
        inbound.setdefault(key, []).extend(refs[id(t)] for t in node.inputs if id(t) in refs)
        for t in node.flat_outputs:
            refs[id(t)] = f"{node.layer.name}[{index}][{t.index}]"
        out = node.outputs
        shapes.setdefault(key, []).append(
            [t.shape for t in node.flat_outputs] if not hasattr(out, "shape") else out.shape)
    lines: list[str] = []
    for i, layer in enumerate(model.layers):
        if i:
            lines.append("")
        seen = shapes.get(id(layer), [])
        shape = _format_shape(seen[0]) if all(s == seen[0] for s in seen) else "multiple"
        links = inbound.get(id(layer), [])
        lines += _rows((f"{layer.name} ({type(layer).__name__})", shape,
                        f"{layer.count_params():,}", links[0] if links else ""),
                       _GRAPH_POSITIONS)
        for link in links[1:]:
            lines += _rows(("", "", "", link), _GRAPH_POSITIONS)
    return lines
