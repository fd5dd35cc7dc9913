"""Picture layout: clusters keep a block's own ops, options are checked, and every text fits its
box when a real browser (headless Chromium) draws the SVG in fonts other than the layout's."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import viz

ROOT = Path(__file__).resolve().parent.parent


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Residual(tg.nn.Layer):
    """x + dense_b(dense_a(x)): the add belongs to the block, outside both inner layers."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.inner = tg.nn.Dense(units, activation="relu")
        self.outer = tg.nn.Dense(units)

    def call(self, x):
        return x + self.outer(self.inner(x))


def residual_tape():
    tg.nn.reset_names()
    tg.random.seed(0)
    model = tg.nn.Sequential([tg.nn.Dense(4), Residual(4, name="res"), tg.nn.Dense(2)])
    with tg.GradientTape(persistent=True) as tape:
        y = model(np.ones((3, 4), np.float32))
    return tape, y, model


def clusters_of(dot: str) -> dict[str, list[str]]:
    """node id -> the labels of the clusters it is drawn in, outermost first."""
    stack: list[str] = []
    where: dict[str, list[str]] = {}
    for line in dot.splitlines():
        line = line.strip()
        if line.startswith("subgraph cluster_"):
            stack.append("?")
        elif line.startswith("graph [label=") and stack:
            stack[-1] = re.match(r'graph \[label="([^"]*)"', line).group(1)
        elif line == "}" and stack:
            stack.pop()
        elif (m := re.match(r"(\w+) \[", line)) and m.group(1) not in ("graph", "node", "edge"):
            where[m.group(1)] = list(stack)
    return where


def node_ids(dot: str, label_start: str) -> list[str]:
    return re.findall(rf'^\s*(\w+) \[label="{re.escape(label_start)}', dot, re.M)


@pytest.mark.parametrize("options", [dict(collapse=True), dict(max_nodes=8)],
                         ids=["collapse", "auto-collapse"])
def test_collapsed_residual_block_keeps_its_add_inside_its_cluster(options):
    tape, y, _ = residual_tape()
    dot = viz.to_dot(tape, **options)
    where = clusters_of(dot)
    inner = node_ids(dot, "dense_1\\n") + node_ids(dot, "dense_2\\n")
    assert len(inner) == 2, dot  # the block's layers are one node each...
    assert all(where[n][-1] == "res" for n in inner)  # ...inside the block's cluster
    adds = [n for n in node_ids(dot, "add") if where[n][-1:] == ["res"]]
    assert len(adds) == 1, dot  # and so is the block's own add, drawn as an op
    assert not node_ids(dot, "res\\n"), "the add must not become a node named after the block"


def test_plot_model_draws_a_residual_block_as_one_node():
    _, _, model = residual_tape()
    dot = viz.plot_model(model, (None, 4)).source
    (block,) = node_ids(dot, "res (Residual)\\n")
    assert "ops: matmul" in dot and not node_ids(dot, "add")  # the inner layers and the add


@pytest.mark.parametrize("options, error, match", [
    (dict(show_values="a"), TypeError, "show_values must be True, False or the largest"),
    (dict(show_values=-1), ValueError, r"show_values .*\(an int >= 0\), got -1"),
    (dict(show_grads="yes"), TypeError, "show_grads must be True or False"),
    (dict(group_by_layer=None), TypeError, "group_by_layer must be True or False"),
    (dict(title=3), TypeError, "title must be a str or None"),
    (dict(dpi=0), ValueError, "dpi must be a positive number"),
])
def test_bad_drawing_options_are_clear_errors(options, error, match):
    tape, y, _ = residual_tape()
    with pytest.raises(error, match=match):
        viz.to_dot(tape, **options)


def test_show_values_accepts_bools_and_sizes():
    tape, y, _ = residual_tape()
    assert "data [" not in viz.to_dot(tape, show_values=0)
    assert "data [1, 1, 1, 1]" not in viz.to_dot(tape, show_values=True)  # (3, 4) > 6 values
    assert "data [" in viz.to_dot(tape, show_values=np.int64(12))


def test_titles_are_left_aligned_lines():
    tape, y, _ = residual_tape()
    dot = viz.to_dot(tape, title="a long title", max_nodes=5)
    assert re.search(r'label="a long title\\l[^"]*\\l" labelloc="t" labeljust="l"', dot)


# -- in a real browser --------------------------------------------------------------------------

def _pictures() -> dict[str, str]:
    """DOT text of the gallery, a demo-like training step, plot_model and a residual model."""
    gallery = _tool("make_gallery")
    dots = {name: viz.to_dot(make(), **opts) for name, (make, opts) in gallery.PICTURES.items()}
    tg.nn.reset_names()
    tg.random.seed(0)
    model = tg.nn.Sequential([tg.nn.Dense(128, activation="relu"), tg.nn.Dropout(0.2),
                              tg.nn.Dense(10)])
    x = np.random.default_rng(0).normal(size=(32, 64)).astype(np.float32)
    with tg.GradientTape() as tape:
        loss = tg.losses.sparse_categorical_crossentropy(
            np.arange(32) % 10, model(x, training=True), from_logits=True)
    tape.retain_gradients()
    tape.gradient(loss, model.trainable_variables)
    dots["demo"] = viz.to_dot(tape, group_by_layer=True, show_grads=True, title=(
        "One training step of the digits MLP, grouped by layer, with gradients"))
    cnn = tg.nn.Sequential([tg.nn.Conv2D(8, 3, padding="same", activation="relu"),
                            tg.nn.MaxPooling2D(), tg.nn.Flatten(), tg.nn.Dense(10)])
    dots["plot_model"] = viz.plot_model(cnn, (None, 8, 8, 1)).source
    tape, y, _ = residual_tape()
    dots["residual"] = viz.to_dot(tape, collapse=True, title="A residual block, collapsed")
    return dots


def _renderers() -> list[str]:
    from tapegrad.viz.render import _pure_candidates

    found = [str(p) for p in _pure_candidates() if p.is_file()][:1]
    if shutil.which("dot"):
        found.append(shutil.which("dot"))
    return found


@pytest.fixture(scope="module")
def browser():
    svg_tool = _tool("svg_in_browser")
    if svg_tool.find_chromium() is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); .ci/run installs it")
    return svg_tool


def test_every_text_fits_its_box_in_chromium_whatever_the_font(browser, monkeypatch):
    """Each picture, laid out by each renderer (graphviz-pure, and Graphviz's dot if present),
    drawn by Chromium as is and with every text forced to DejaVu Sans (Linux browsers' default)
    and Liberation Sans (Helvetica's stand-in): no text sticks out of its node, cell or cluster."""
    dots = _pictures()
    svgs, names = [], []
    for renderer in _renderers():
        monkeypatch.setenv("TAPEGRAD_DOT", renderer)
        for name, dot in dots.items():
            svgs.append(viz.render.run_dot(dot, "svg").decode("utf-8"))
            names.append(f"{name} by {Path(renderer).name}")
    assert len(svgs) >= len(dots)
    report = []
    for font in (None, "DejaVu Sans", "Liberation Sans"):
        for name, found in zip(names, browser.problems(svgs, font), strict=True):
            report += [f"{name}, font {font or 'as laid out'}: {line}" for line in found]
    assert report == [], "\n".join(report)


def test_the_browser_check_catches_overflowing_text(browser):
    """The check itself: a box laid out for a narrow font overflows once drawn in a wide one."""
    svg = viz.render.run_dot('digraph { node [fontname="Times" shape=box margin=0] '
                             'a [label="a fairly long label in a box"] }', "svg").decode()
    (found,) = browser.problems([svg], font="DejaVu Sans Mono")
    assert len(found) == 1 and "sticks out of its box" in found[0]
