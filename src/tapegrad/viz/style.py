"""Colours, number formatting and gradient statistics for graph pictures (pure, NumPy only).

Gradient colours are an absolute scale over the gradient's RMS, so a vanishing (blue) or
exploding (red) layer stands out the same way in every picture.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Verdana has the widest metrics of the sans fonts that both renderers know (graphviz-pure's
# tables, and fontconfig, which maps it to DejaVu Sans on Linux), so a viewer that draws the text
# in DejaVu Sans, Verdana, Helvetica, Arial or Liberation Sans finds it inside its box.
FONT = "Verdana"
# Where Verdana is missing, browsers do not ask fontconfig for a look-alike: name the fallbacks.
SVG_FONT_FAMILY = "Verdana,DejaVu Sans,Bitstream Vera Sans,sans-serif"


def svg_font_fallbacks(svg: bytes) -> bytes:
    """Give the SVG's texts fallback fonts no wider than the layout font (Verdana).

    >>> svg_font_fallbacks(b'<text font-family="Verdana">x</text>')
    b'<text font-family="Verdana,DejaVu Sans,Bitstream Vera Sans,sans-serif">x</text>'
    """
    return svg.replace(f'font-family="{FONT}"'.encode(),
                       f'font-family="{SVG_FONT_FAMILY}"'.encode())

# node fill colours by tensor kind, and the op/group colours
KIND_FILL = {
    "variable": "#fde2b8",   # orange: trainable state, named
    "watched": "#cde8c4",    # green: inputs you asked the tape to watch
    "constant": "#eeeeee",   # grey, dashed: data the tape does not differentiate
    "intermediate": "#ffffff",
}
OP_FILL = "#cfe0f3"
GROUP_FILL = "#e4d7ee"
BLOCK_FILL = "#f3e3c3"
HIGHLIGHT_FILL = "#ffd54f"
CLUSTER_FILL = "#f7f7f7"

# (upper bound of log10(rms), fill, edge colour, words); the last bin has no upper bound
GRAD_BINS: tuple[tuple[float, str, str, str], ...] = (
    (-6.0, "#2166ac", "#2166ac", "< 1e-6 vanishing"),
    (-4.0, "#67a9cf", "#4393c3", "1e-6 .. 1e-4"),
    (-2.0, "#d1e5f0", "#6baed6", "1e-4 .. 0.01"),
    (1.0, "#d9f0d3", "#4d9221", "0.01 .. 10"),
    (3.0, "#fddbc7", "#e08214", "10 .. 1e3"),
    (5.0, "#ef8a62", "#d6604d", "1e3 .. 1e5"),
    (math.inf, "#b2182b", "#b2182b", "> 1e5 exploding"),
)
ZERO_COLOURS = ("#bdbdbd", "#969696", "all zero")
NONFINITE_COLOURS = ("#762a83", "#762a83", "NaN / Inf")
DARK_FILLS = ("#2166ac", "#b2182b", "#762a83")


def num(x: float) -> str:
    """A short, deterministic text for one number: 4 significant digits or scientific form."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.4g}"
    return f"{x:.2e}"


def values(arr: np.ndarray, limit: int) -> str | None:
    """The values of a small array as text (`[1, 2]`), or None if it has more than `limit`."""
    arr = np.asarray(arr)
    if arr.size > limit or arr.dtype.kind not in "fiub":
        return None
    if arr.ndim == 0:
        return num(arr)
    if arr.ndim == 2:
        return "[" + ", ".join("[" + ", ".join(num(v) for v in row) + "]" for row in arr) + "]"
    return "[" + ", ".join(num(v) for v in arr.ravel()) + "]"


def shape_text(shape: tuple) -> str:
    """A shape written like Python: `(64, 10)`, `(3,)`, `()`."""
    return str(tuple(int(s) for s in shape))


class GradStats:
    """Summary of one gradient: L2 norm, mean, RMS, share of zeros and NaN/Inf counts."""

    __slots__ = ("size", "norm", "mean", "rms", "zeros", "nan", "inf", "value")

    def __init__(self, g: Any):
        g = np.asarray(g)
        self.size = int(g.size)
        self.value = g
        if g.dtype.kind not in "fc":
            g = g.astype(np.float64)
        finite = np.isfinite(g)
        self.nan = int(np.isnan(g).sum())
        self.inf = int(np.isinf(g).sum())
        ok = g[finite].astype(np.float64)
        self.norm = float(np.sqrt(np.sum(ok * ok))) if ok.size else math.nan
        self.mean = float(ok.mean()) if ok.size else math.nan
        self.rms = self.norm / math.sqrt(ok.size) if ok.size else math.nan
        self.zeros = float(np.mean(g == 0)) if g.size else 0.0

    def colours(self) -> tuple[str, str, str]:
        """(fill, edge colour, words) on the gradient colour scale."""
        if self.nan or self.inf:
            return NONFINITE_COLOURS
        if self.size == 0 or self.zeros == 1.0:
            return ZERO_COLOURS
        level = math.log10(self.rms) if self.rms > 0 else -math.inf
        for upper, fill, edge, words in GRAD_BINS:
            if level < upper:
                return fill, edge, words
        return GRAD_BINS[-1][1:]

    def lines(self, limit: int) -> list[str]:
        """The statistics as short text lines (the values themselves for small gradients)."""
        shown = values(self.value, limit)
        if shown is not None and self.size <= max(limit, 1):
            out = [f"grad {shown}"]
        else:
            out = [f"grad |g| {num(self.norm)}  mean {num(self.mean)}",
                   f"zeros {self.zeros:.0%}"]
        if self.nan or self.inf:
            out.append(f"NaN {self.nan}  Inf {self.inf}")
        return out


def html_escape(text: str) -> str:
    """Escape text for a Graphviz HTML-like label."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def legend_label() -> str:
    """An HTML-like label explaining the gradient colours (RMS of each tensor's gradient)."""
    cells = []
    for fill, _, words in [b[1:] for b in GRAD_BINS] + [ZERO_COLOURS, NONFINITE_COLOURS]:
        colour = "white" if fill in DARK_FILLS else "black"
        cells.append(f'<TD BGCOLOR="{fill}"><FONT COLOR="{colour}" POINT-SIZE="9">'
                     f"{html_escape(words)}</FONT></TD>")
    return ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">'
            f'<TR><TD COLSPAN="{len(cells)}"><B>gradient RMS</B></TD></TR>'
            f'<TR>{"".join(cells)}</TR></TABLE>>')
