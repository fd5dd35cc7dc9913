"""Make the graph gallery in docs/gallery/: SVG pictures of three tapes, and PNG screenshots of
them from headless Chromium (graphviz' own PNG where Chromium is not installed).

    .venv/bin/python tools/make_gallery.py
    .venv/bin/python tools/svg_in_browser.py docs/gallery/*.svg --font "DejaVu Sans"  # check

1. apple: the apple-shopping graph from "Deep Learning from Scratch" (2 apples at 100 each,
   tax 1.1) with values and gradients on it, forward and backward arrows.
2. mlp_step: one training step of a small MLP (tg.nn), grouped by layer, with gradients.
3. backward: the backward view of a deep tanh network whose first layers' gradients vanish.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

import tapegrad as tg

# GALLERY_OUT=folder writes the pictures elsewhere (to compare before and after a change)
OUT = Path(os.environ.get("GALLERY_OUT")
           or Path(__file__).resolve().parent.parent / "docs" / "gallery")


def apple() -> tg.GradientTape:
    apple = tg.Variable(np.float64(100.0), name="apple")
    apple_num = tg.Variable(np.float64(2.0), name="apple_num")
    tax = tg.Variable(np.float64(1.1), name="tax")
    with tg.GradientTape() as tape:
        apple_price = apple * apple_num
        price = apple_price * tax
    tape.retain_gradients()
    tape.gradient(price, [apple, apple_num, tax])
    return tape


def mlp_step() -> tg.GradientTape:
    tg.nn.reset_names()
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.normal(size=(64, 4)).astype(np.float32))
    y = tg.tensor(rng.integers(0, 3, size=64))
    model = tg.nn.Sequential([tg.nn.Dense(16, activation="relu"), tg.nn.Dense(3)])
    with tg.GradientTape() as tape:
        logits = model(x, training=True)
        logp = tg.log_softmax(logits, axis=-1)
        loss = -tg.mean(logp[np.arange(64), y.numpy()])
    tape.retain_gradients()
    tape.gradient(loss, model.trainable_variables)
    return tape


def vanishing() -> tg.GradientTape:
    rng = np.random.default_rng(1)
    h = tg.tensor(rng.normal(size=(8, 4)))
    ws = [tg.Variable(rng.normal(scale=s, size=(4, 4)), name=f"w{i}")
          for i, s in enumerate([0.1, 0.1, 0.1, 0.1])]
    with tg.GradientTape() as tape:
        for i, w in enumerate(ws):
            with tg.name_scope(f"layer{i}"):
                h = tg.tanh(h @ w) if i < len(ws) - 1 else h @ w
        loss = tg.sum(h * h)
    tape.retain_gradients()
    tape.gradient(loss, ws)
    return tape


PICTURES = {
    "apple": (apple, dict(show_values=True, view="both", rankdir="LR",
                          title="Apple shopping (Deep Learning from Scratch): "
                                "2 apples at 100 each, tax 1.1")),
    "mlp_step": (mlp_step, dict(show_grads=True, group_by_layer=True,
                                title="One training step of a 2-layer MLP (tg.nn), grouped by "
                                      "layer, with gradient statistics")),
    "backward": (vanishing, dict(view="backward",
                                 title="Backward view of a 4-layer tanh net with small weights: "
                                       "gradients vanish towards the first layers")),
}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    # graphviz-pure gives the same pictures on every machine; TAPEGRAD_DOT picks another renderer
    from tapegrad.viz.render import _pure_candidates

    pure = [p for p in _pure_candidates() if p.is_file()]
    if pure and not os.environ.get("TAPEGRAD_DOT"):
        os.environ["TAPEGRAD_DOT"] = str(pure[0])
    print("renderer:", tg.viz.find_renderer())
    browser = _browser_tool()
    for name, (make, options) in PICTURES.items():
        tape = make()
        svg = OUT / f"{name}.svg"
        tg.viz.plot(tape, to_file=svg, **options)
        png = OUT / f"{name}.png"
        if browser is not None:  # the SVG as a browser draws it (DejaVu Sans on Linux)
            browser.screenshot(svg.read_text(encoding="utf-8"), png)
        else:  # graphviz' own raster
            tg.viz.plot(tape, to_file=png, dpi=110, **options)
        for path in (svg, png):
            print("wrote", path)
    return 0


def _browser_tool():
    """tools/svg_in_browser.py if Chromium is installed, else None."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("svg_in_browser",
                                                  Path(__file__).with_name("svg_in_browser.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module if module.find_chromium() else None


if __name__ == "__main__":
    sys.exit(main())
