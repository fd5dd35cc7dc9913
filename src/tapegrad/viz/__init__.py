"""Draw what a tape recorded: forward and backward graphs, layer clusters, gradients on them.

`to_dot` builds DOT text (pure, no graphviz import); `graph` wraps it in a `graphviz.Digraph`
that renders with a `dot` on PATH or the bundled `graphviz-pure`; `plot` writes a file.

>>> import tapegrad as tg
>>> x = tg.Variable(2.0, name="x")
>>> with tg.GradientTape(persistent=True) as tape:
...     y = x * x
>>> "multiply" in tg.viz.to_dot(tape)
True

Options (all keyword): `target` (draw only the ops leading to it), `view` ("forward",
"backward", "both"), `show_values` (True, or the largest size shown), `show_grads`,
`group_by_layer` (a cluster per name scope), `max_depth` (scope levels drawn open; deeper
scopes become one node), `collapse` (True: every layer one node; or a list of scope names),
`rankdir` ("TB", "LR", ...), `max_nodes` (past it, collapse automatically), `title`, `dpi`.

Picture sizes (tools/picture_sizes.py: a chain of layers of 10 ops each, SVG, wall seconds on a
busy shared 2-core machine; graphviz-pure 0.2.2 / Graphviz dot 2.43):

    ops     drawn as                    nodes   to_dot   graphviz-pure   dot
    100     every op                      251   0.005    0.4             0.3
    1,000   collapsed (the default)       200   0.1      0.3             0.3
    1,000   every op (max_nodes=10**4)  2,501   0.4      5               7.5
    5,000   collapsed                      48   0.3      0.1             0.1
    5,000   every op                   12,501   2        57              > 300
    10,000  collapsed                      48   0.5      0.1             0.2
    10,000  every op                   25,001   6        281             > 300

Past `max_nodes=300` drawn nodes a tape is collapsed by layer, then into 24 blocks, so the
default picture of any tape renders in well under a second. Layout time grows faster than the
node count; a layout that takes longer than 120 s stops with an error that says how to draw less.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tapegrad._files import atomic_write
from tapegrad.viz.backward import BackwardStep, LocalRule
from tapegrad.viz.backward import backward_steps as _backward_steps
from tapegrad.viz.build import build_dot, resolve
from tapegrad.viz.inspect import activations, filter_patterns, grad_cam, overlay_heatmap, saliency
from tapegrad.viz.render import find_renderer, make_digraph, run_dot
from tapegrad.viz.rules import rule_phrase

__all__ = ["BackwardStep", "LocalRule", "backward_steps", "find_renderer", "graph", "plot",
           "plot_model", "rule_phrase", "to_dot"]
__all__ += ["activations", "filter_patterns", "grad_cam", "overlay_heatmap", "saliency"]  # issue 14

TEXT_FORMATS = ("dot", "gv")


def to_dot(tape_or_tensor: Any, **options: Any) -> str:
    """The graph as DOT text: deterministic (ids by first appearance), no graphviz needed.

    >>> import tapegrad as tg
    >>> w = tg.Variable([[1.0, 2.0]], name="w")
    >>> with tg.GradientTape(persistent=True) as tape:
    ...     y = tg.tanh(w)
    >>> "(1, 2) float32" in to_dot(tape)
    True
    """
    tape, target = resolve(tape_or_tensor, options.pop("target", None))
    return build_dot(tape, target=target, **options)


def graph(tape_or_tensor: Any, **options: Any) -> Any:
    """The graph as a `graphviz.Digraph` (shown inline in Jupyter); `tape.graph` calls this.

    >>> import tapegrad as tg
    >>> x = tg.Variable(3.0, name="x")
    >>> with tg.GradientTape(persistent=True) as tape:
    ...     y = tg.exp(x)
    >>> "exp" in tg.viz.graph(tape).source
    True
    """
    return make_digraph(to_dot(tape_or_tensor, **options))


def plot(tape_or_tensor: Any, to_file: str | Path = "graph.svg", **options: Any) -> Any:
    """Draw the graph into `to_file` (.svg, .png, .jpg; .pdf needs Graphviz's dot; .dot/.gv
    writes the DOT text) and return the Digraph.

    >>> import tapegrad as tg, tempfile, os
    >>> x = tg.Variable(3.0, name="x")
    >>> with tg.GradientTape(persistent=True) as tape:
    ...     y = x * 2.0
    >>> path = os.path.join(tempfile.mkdtemp(), "g.dot")
    >>> _ = tg.viz.plot(tape, to_file=path)
    >>> open(path).read().startswith("digraph")
    True
    """
    path = Path(to_file)
    fmt = path.suffix.lower().lstrip(".")
    if not fmt:
        raise ValueError(f"plot: to_file needs a suffix (.svg, .png, .pdf or .dot), got {path}")
    text = to_dot(tape_or_tensor, **options)
    data = text.encode("utf-8") if fmt in TEXT_FORMATS else \
        run_dot(text, "jpeg" if fmt == "jpg" else fmt)
    atomic_write(path, lambda f: f.write(data), kind="plot")  # folder created, never torn
    return make_digraph(text)


def backward_steps(tape: Any, target: Any) -> Any:
    """Iterate the backward pass one op at a time (see `tapegrad.viz.backward.backward_steps`).

    >>> import tapegrad as tg
    >>> x = tg.Variable(2.0, name="x")
    >>> with tg.GradientTape(persistent=True) as tape:
    ...     y = tg.sin(x)
    >>> [s.rules[0].phrase for s in backward_steps(tape, y)]
    ['d sin(x)/dx = cos(x)']
    """
    return _backward_steps(tape, target)


def plot_model(model: Any, to_file: Any = None, show_shapes: bool = False,
               **options: Any) -> Any:
    """A layer-level picture of `model` like Keras's plot_model (see `tapegrad.viz.model`).

    >>> import tapegrad as tg
    >>> model = tg.nn.Sequential([tg.nn.Dense(4, activation="relu"), tg.nn.Dense(1)])
    >>> "Dense" in tg.viz.plot_model(model, (None, 3)).source
    True
    """
    from tapegrad.viz.model import plot_model as _plot_model

    return _plot_model(model, to_file, show_shapes, **options)
