"""Graph rendering: DOT content, determinism, SVG/PNG output, renderer choice, large tapes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import viz


def apple_tape(retain: bool = True):
    apple = tg.Variable(np.float64(100.0), name="apple")
    num = tg.Variable(np.float64(2.0), name="apple_num")
    tax = tg.Variable(np.float64(1.1), name="tax")
    with tg.GradientTape() as tape:
        price = apple * num * tax
    if retain:
        tape.retain_gradients()
        tape.gradient(price, [apple, num, tax])
    return tape, price


def mlp_tape(scale: float = 0.5):
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.normal(size=(64, 3)).astype(np.float32))
    w1 = tg.Variable(rng.normal(scale=scale, size=(3, 10)).astype(np.float32), name="w1")
    b1 = tg.Variable(np.zeros(10, np.float32), name="b1")
    w2 = tg.Variable(rng.normal(scale=scale, size=(10, 1)).astype(np.float32), name="w2")
    with tg.GradientTape(persistent=True) as tape:
        with tg.name_scope("dense_1"):
            h = tg.tanh(x @ w1 + b1)
        with tg.name_scope("dense_2"):
            y = h @ w2
        loss = tg.mean(y * y)
    return tape, loss


def test_dot_has_ops_shapes_names_and_styles():
    tape, _ = mlp_tape()
    dot = viz.to_dot(tape)
    for op in ("matmul", "add", "tanh", "mean"):
        assert f'label="{op}' in dot
    assert "(64, 10) float32" in dot and "(3, 10) float32" in dot
    assert 'label="w1\\n(3, 10) float32"' in dot  # Variable named
    assert 'label="constant\\n(64, 3) float32"' in dot  # unwatched input is a constant
    assert "filled,bold" in dot and "filled,dashed" in dot  # distinct styles
    assert dot.count("subgraph cluster_") == 2
    assert 'label="dense_1"' in dot and 'label="dense_2"' in dot


def test_watched_tensor_and_scalar_constant_are_distinct():
    x = tg.tensor([1.0, 2.0])
    with tg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = x * 3.0
    dot = viz.to_dot(tape, target=y)
    assert "watched input" in dot and 'label="3"' in dot and "dashed" in dot


def test_deterministic_dot():
    a = viz.to_dot(mlp_tape()[0], show_grads=True)
    b = viz.to_dot(mlp_tape()[0], show_grads=True)
    assert a == b
    assert "op0 " in a and "t0 " in a  # ids by first appearance, not id()


def test_show_values_micrograd_style_and_rule_labels():
    tape, _ = apple_tape()
    dot = viz.to_dot(tape, show_values=True, view="both", rankdir="LR")
    assert "data 100" in dot and "grad 2.2" in dot and "grad 110" in dot and "grad 200" in dot
    assert 'label="d(x*y)/dx = y"' in dot and 'dir="back"' in dot
    assert 'rankdir="LR"' in dot


def test_show_grads_stats_colours_and_unconnected():
    tape, loss = mlp_tape()
    unused = tg.Variable(np.ones(3, np.float32), name="unused")
    with tape:
        tape.watch(unused)
        _ = unused * 2.0  # recorded, but does not lead to the loss
    dot = viz.to_dot(tape, show_grads=True, target=None)
    assert "grad |g|" in dot and "zeros" in dot and "mean" in dot
    assert "gradient RMS" in dot  # legend
    assert "grad None (unconnected)" in dot
    dot_loss = viz.to_dot(tape, show_grads=True, target=loss)
    assert "unused" not in dot_loss


def test_vanishing_and_nonfinite_colours():
    w = tg.Variable(np.array([1e-9, 2e-9]), name="w")
    v = tg.Variable(np.array([np.inf, 1.0]), name="v")
    with tg.GradientTape(persistent=True) as tape:
        y = tg.sum(w * 1e-9) + tg.sum(v * v)
    dot = viz.to_dot(tape, show_grads=True, target=y)
    line_w = next(line for line in dot.splitlines() if "<B>w</B>" in line)
    line_v = next(line for line in dot.splitlines() if "<B>v</B>" in line)
    assert 'BGCOLOR="#2166ac"' in line_w  # vanishing: dark blue
    assert "NaN 0  Inf 1" in line_v and 'BGCOLOR="#762a83"' in line_v


def test_retained_gradients_used_and_match_engine():
    tape, price = apple_tape()
    dot = viz.to_dot(tape, show_grads=True)
    assert "grad 2.2" in dot and "grad 110" in dot


def test_collapse_and_max_depth_show_layers_as_nodes():
    tape, _ = mlp_tape()
    dot = viz.to_dot(tape, collapse=True)
    assert "dense_1\\n" in dot and "in (64, 3) -> out (64, 10)" in dot
    assert "params 40" in dot  # w1 (30) + b1 (10)
    assert 'label="tanh"' not in dot
    only = viz.to_dot(tape, collapse=["dense_2"])
    assert 'label="tanh"' in only and "dense_2\\n" in only
    assert viz.to_dot(tape, max_depth=0) == dot


def test_backward_view_edges_reversed_and_coloured():
    tape, loss = mlp_tape()
    dot = viz.to_dot(tape, view="backward", target=loss)
    assert 'dir="back"' in dot and "d tanh(x)/dx = 1 - tanh(x)^2" in dot
    assert "backward view" in dot


def test_large_graph_is_collapsed_quickly():
    x = tg.Variable(np.ones(3), name="x")
    start = time.perf_counter()
    with tg.GradientTape(persistent=True) as tape:
        y = x
        for _ in range(5000):
            y = y * 1.0001 + 0.0
    assert len(tape.ops) == 10000
    dot = viz.to_dot(tape, show_grads=True)
    elapsed = time.perf_counter() - start
    assert "collapsed into" in dot and "10000 ops" in dot
    assert dot.count("->") < 200
    assert elapsed < 10, elapsed
    svg = viz.graph(tape).pipe(format="svg", encoding="utf-8")
    ET.fromstring(svg.encode())
    assert time.perf_counter() - start < 30


def test_large_scoped_graph_collapses_by_layer():
    x = tg.Variable(np.ones(2), name="x")
    with tg.GradientTape(persistent=True) as tape:
        y = x
        for i in range(100):
            with tg.name_scope(f"block{i}"):
                y = tg.tanh(y * 0.5 + 0.1)
    dot = viz.to_dot(tape, max_nodes=150)
    assert "each layer is collapsed" in dot and "block99" in dot


def test_svg_is_valid_xml_and_png_has_magic(tmp_path):
    tape, _ = apple_tape()
    svg_path, png_path, dot_path = tmp_path / "a.svg", tmp_path / "a.png", tmp_path / "a.dot"
    g = viz.plot(tape, to_file=svg_path, show_values=True)
    root = ET.parse(svg_path).getroot()
    assert root.tag.endswith("svg")
    texts = "".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    assert "multiply" in texts and "apple" in texts
    viz.plot(tape, to_file=png_path)
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    g2 = viz.plot(tape, to_file=dot_path)
    assert dot_path.read_text() == g2.source == viz.to_dot(tape)
    assert g.source == viz.to_dot(tape, show_values=True)


def test_digraph_jupyter_display_and_render(tmp_path):
    tape, _ = apple_tape()
    g = tape.graph(show_grads=True)
    bundle = g._repr_mimebundle_()
    assert "image/svg+xml" in bundle and "<svg" in bundle["image/svg+xml"]
    out = g.render(outfile=tmp_path / "x.png")
    assert open(out, "rb").read(4) == b"\x89PNG"


def test_renderer_without_dot_on_path(tmp_path):
    code = textwrap.dedent(f"""
        import shutil, numpy as np, tapegrad as tg
        assert shutil.which("dot") is None
        x = tg.Variable(2.0, name="x")
        with tg.GradientTape(persistent=True) as tape:
            y = tg.exp(x) * x
        tg.viz.plot(tape, to_file={str(tmp_path / "g.svg")!r})
        print(tg.viz.find_renderer())
    """)
    env = {k: v for k, v in os.environ.items() if k != "TAPEGRAD_DOT"}
    env["PATH"] = str(tmp_path)  # no dot here
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "graphviz-pure" in proc.stdout
    ET.parse(tmp_path / "g.svg")


def test_missing_renderer_error_says_how_to_install(monkeypatch, tmp_path):
    from tapegrad.viz import render

    monkeypatch.delenv("TAPEGRAD_DOT", raising=False)
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    monkeypatch.setattr(render, "_pure_candidates", lambda: [tmp_path / "nope"])
    with pytest.raises(RuntimeError, match="pip install graphviz-pure"):
        render.find_renderer()


def test_tensor_argument_and_errors():
    x = tg.Variable(2.0, name="x")
    with tg.GradientTape() as tape:
        y = x * x
        assert "multiply" in viz.to_dot(y)
    assert "multiply" in viz.to_dot(y)  # after the block too, while the tape holds the records
    with pytest.raises(TypeError, match="unknown option"):
        viz.to_dot(tape, colour=True)
    with pytest.raises(ValueError, match="view must be"):
        viz.to_dot(tape, view="sideways")
    tape.gradient(y, x)
    with pytest.raises(ValueError, match="retain_gradients"):
        viz.to_dot(tape)
    with pytest.raises(ValueError, match="no live tape"):
        viz.to_dot(y)


def test_backward_steps_apple():
    x = tg.Variable(1.0)
    with tg.GradientTape() as used:
        y = x * x
    used.gradient(y, x)
    with pytest.raises(ValueError, match="persistent"):  # records were freed
        used.backward_steps(y)
    apple = tg.Variable(np.float64(100.0), name="apple")
    num = tg.Variable(np.float64(2.0), name="apple_num")
    tax = tg.Variable(np.float64(1.1), name="tax")
    with tg.GradientTape(persistent=True) as tape:
        price = apple * num * tax
    steps = list(tape.backward_steps(price))
    assert [s.op for s in steps] == ["multiply", "multiply"]
    first, last = steps
    assert float(first.upstream) == 1.0 and first.total == 2
    assert [r.phrase for r in first.rules] == ["d(x*y)/dx = y", "d(x*y)/dy = x"]
    assert float(first.gradient_of(tax)) == pytest.approx(200.0)
    assert first.gradient_of(apple) is None
    assert float(last.upstream) == pytest.approx(1.1)
    assert float(last.gradient_of(apple)) == pytest.approx(2.2)
    assert float(last.gradient_of(num)) == pytest.approx(110.0)
    assert len(last.accumulated) == 5
    assert "step 2/2: multiply" in str(last) and "d(x*y)/dy = x" in str(last)
    dot = first.to_dot()
    assert "#ffd54f" in dot  # the current node is highlighted
    assert "grad 200" in dot and "grad 2.2" not in dot  # only gradients so far
    assert "<svg" in first.graph().pipe(format="svg", encoding="utf-8")


def test_backward_steps_match_tape_gradient_and_do_not_record():
    tape, loss = mlp_tape()
    variables = list(tape.watched_variables())
    want = tape.gradient(loss, variables)
    with tg.GradientTape() as outer:
        steps = list(tape.backward_steps(loss))
    assert len(outer.ops) == 0
    last = steps[-1]
    for v, g in zip(variables, want):
        np.testing.assert_allclose(last.gradient_of(v).numpy(), g.numpy(), rtol=1e-5)
    assert {s.op for s in steps} >= {"matmul", "add", "tanh", "mean"}


def test_plot_model_with_fake_and_real_model(tmp_path):
    class Layer:
        def __init__(self, name, units):
            self.name, self.w = name, tg.Variable(np.ones((2, units), np.float32), name=name)

        def __call__(self, x):
            with tg.name_scope(self.name):
                return tg.relu(x @ self.w)

    class Model:
        name = "toy"

        def __init__(self):
            self.layers = [Layer("first", 2), Layer("second", 2)]

        def __call__(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    g = viz.plot_model(Model(), to_file=tmp_path / "m.svg", input_shape=(None, 2))
    assert "first (Layer)" in g.source and "second (Layer)" in g.source
    assert "in (1, 2) -> out (1, 2)" in g.source and "params 4" in g.source
    ET.parse(tmp_path / "m.svg")
    if hasattr(tg, "nn") and hasattr(tg.nn, "Sequential"):
        model = tg.nn.Sequential([tg.nn.Dense(4, activation="relu"), tg.nn.Dense(2)])
        src = viz.plot_model(model, (1, 3)).source
        assert "(Dense)" in src and "params 16" in src and "params 10" in src


def test_import_tapegrad_does_not_import_graphviz():
    code = "import sys, tapegrad; print('graphviz' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
