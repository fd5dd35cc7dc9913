"""`plot_model`: a layer-level picture of a model, like Keras's.

A functional or built Sequential model is drawn from its graph of layer calls: one box per
layer (Dropout and other layers that record no op included; a shared layer once), an arrow
per connection, input and output shapes with the batch dimension as `None`. A subclassed
model has no such graph; it is traced instead: it runs once on zeros inside a tape, its
layers run inside `tg.name_scope(layer.name)`, and each layer's recorded ops collapse into one
node showing its type, ops, shapes and parameter count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tapegrad.tape import GradientTape
from tapegrad.tensor import Tensor, get_default_dtype
from tapegrad.viz.dot import document, edge_line
from tapegrad.viz.style import FONT, html_escape


def _layer_types(model: Any, paths: tuple[str, ...]) -> dict[str, str]:
    by_name = {getattr(layer, "name", None): type(layer).__name__
               for layer in getattr(model, "layers", [])}
    return {p: by_name[p.rsplit("/", 1)[-1]] for p in paths if p.rsplit("/", 1)[-1] in by_name}


def _shape_text(shapes: list[Any]) -> str:
    def one(s: Any) -> str:
        if isinstance(s, list):
            return "[" + ", ".join(one(x) for x in s) + "]"
        return "(" + ", ".join("None" if d is None else str(d) for d in s) + \
            ("," if len(s) == 1 else "") + ")"
    texts = [one(s) for s in shapes]
    if not texts:
        return "-"
    return texts[0] if all(t == texts[0] for t in texts) else "multiple"


def model_dot(model: Any, show_shapes: bool = True, show_dtype: bool = False,
              show_layer_names: bool = True, rankdir: str = "TB",
              show_trainable: bool = False) -> str:
    """DOT text of a functional (or built Sequential) model's layer graph (pure text).

    >>> import tapegrad as tg
    >>> x = tg.nn.Input((3,), name="x")
    >>> m = tg.nn.Model(x, tg.nn.Dense(2, name="out")(tg.nn.Dropout(0.5, name="drop")(x)))
    >>> text = model_dot(m)
    >>> "drop (Dropout)" in text and "(None, 2)" in text and "l1 -> l2" in text
    True
    """
    from tapegrad.nn.functional import Functional
    from tapegrad.nn.model import Model

    graph = model if isinstance(model, Functional) else Model(model.input, model.output,
                                                              name=model.name)
    ids = {id(layer): f"l{i}" for i, layer in enumerate(graph.layers)}
    ins: dict[int, list] = {}
    outs: dict[int, list] = {}
    dtypes: dict[int, str] = {}
    edges: list[tuple[str, str]] = []
    for node in graph.nodes:
        key = id(node.layer)
        sources = node.inputs or [node.outputs]
        ins.setdefault(key, []).append([t.shape for t in sources] if len(sources) > 1
                                       else sources[0].shape)
        flat = node.flat_outputs
        outs.setdefault(key, []).append(flat[0].shape if len(flat) == 1
                                        else [t.shape for t in flat])
        dtypes[key] = flat[0].dtype.name
        edges += [(ids[id(t.node.layer)], ids[key]) for t in node.inputs]  # one per use
    body = []
    for layer in graph.layers:
        key = id(layer)
        title = (f"{layer.name} ({type(layer).__name__})" if show_layer_names
                 else type(layer).__name__)
        rows = [f'<TR><TD COLSPAN="2"><B>{html_escape(title)}</B></TD></TR>']
        if show_shapes:
            rows.append(f"<TR><TD>input</TD><TD>{html_escape(_shape_text(ins[key]))}</TD></TR>")
            rows.append(f"<TR><TD>output</TD><TD>{html_escape(_shape_text(outs[key]))}"
                        "</TD></TR>")
        if show_dtype:
            rows.append(f"<TR><TD>dtype</TD><TD>{dtypes[key]}</TD></TR>")
        if show_trainable:
            rows.append(f"<TR><TD>trainable</TD><TD>{'yes' if layer.trainable else 'no'}"
                        "</TD></TR>")
        fill = "#e8f0e0" if type(layer).__name__ == "InputLayer" else "#cfe0f3"
        label = (f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4" '
                 f'BGCOLOR="{fill}">{"".join(rows)}</TABLE>>')
        body.append(f"{ids[key]} [label={label}]")
    body += [edge_line(a, b, {}) for a, b in edges]
    header = [f'graph [rankdir="{rankdir}" fontname="{FONT}" '
              f'label="{html_escape(model.name)} ({type(model).__name__})" labelloc="t"]',
              f'node [shape="plaintext" fontname="{FONT}" fontsize="11" margin="0.05"]',
              'edge [arrowsize="0.7"]']
    return document("model", header, body)


def plot_model(model: Any, to_file: Any = None, show_shapes: bool = False,
               show_dtype: bool = False, show_layer_names: bool = True, rankdir: str = "TB",
               show_trainable: bool = False, *, input_shape: Any = None,
               **options: Any) -> Any:
    """Draw `model` layer by layer, as Keras's `plot_model(model, to_file, show_shapes=...)`
(with Keras's defaults: names and types only unless `show_shapes=True`).

    Functional and built Sequential models are drawn from their layer graph. Subclassed
    models (and any model when `input_shape` is given, batch first, None allowed) are traced
    on zeros: each layer becomes one node with its ops. A tuple in place of `to_file` is
    taken as `input_shape` (tapegrad's older call). Writes `to_file` (.png, .svg, .pdf, .dot)
    when given; returns the Digraph.

    >>> import tapegrad as tg
    >>> model = tg.nn.Sequential([tg.nn.Input((3,)), tg.nn.Dense(4), tg.nn.Dense(2)])
    >>> "(None, 4)" in tg.viz.plot_model(model, show_shapes=True).source
    True
    """
    from tapegrad.viz import TEXT_FORMATS, graph, plot
    from tapegrad.viz.build import layer_collapse
    from tapegrad.viz.render import make_digraph, run_dot

    if isinstance(to_file, (tuple, list, int)):
        to_file, input_shape = None, to_file
    if input_shape is None and _has_graph(model):
        text = model_dot(model, show_shapes, show_dtype, show_layer_names, rankdir,
                         show_trainable)
        if to_file is not None:
            path = Path(to_file)
            fmt = path.suffix.lower().lstrip(".")
            if not fmt:
                raise ValueError(f"plot_model: to_file needs a suffix (.png, .svg, .pdf or "
                                 f".dot), got {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
            if fmt in TEXT_FORMATS:
                path.write_text(text, encoding="utf-8")
            else:
                path.write_bytes(run_dot(text, "jpeg" if fmt == "jpg" else fmt))
        return make_digraph(text)
    if input_shape is None:
        input_shape = getattr(model, "_build_input_shape", None)
        if input_shape is None or not isinstance(input_shape, tuple):
            raise ValueError(f"plot_model: {getattr(model, 'name', model)!r} has not been "
                             f"built; call it on a batch first or pass input_shape=(None, ...)")
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    shape = tuple(1 if s is None else int(s) for s in input_shape)
    x = Tensor._wrap(np.zeros(shape, dtype=getattr(model, "dtype", None) or get_default_dtype()))
    with GradientTape(persistent=True) as tape:
        tape.watch(x)
        out = model(x)
    if not isinstance(out, Tensor):
        raise TypeError(f"plot_model: the model returned {type(out).__name__}, expected a "
                        "Tensor")
    names = [layer.name for layer in getattr(model, "layers", []) if getattr(layer, "name", None)]
    collapse = layer_collapse(tape, names)
    opts: dict[str, Any] = {
        "collapse": collapse or False, "layer_types": _layer_types(model, collapse),
        "title": f"{getattr(model, 'name', None) or type(model).__name__} "
                 f"({type(model).__name__}), input {shape}",
        **options,
    }
    if to_file is not None:
        Path(to_file).parent.mkdir(parents=True, exist_ok=True)
        return plot(tape, to_file=to_file, target=out, **opts)
    return graph(tape, target=out, **opts)


def _has_graph(model: Any) -> bool:
    from tapegrad.nn.functional import Functional
    from tapegrad.nn.model import Sequential

    if isinstance(model, Functional):
        return True
    return isinstance(model, Sequential) and model.built and hasattr(model, "output")
