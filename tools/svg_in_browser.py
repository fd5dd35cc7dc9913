"""Render SVG pictures in headless Chromium: screenshots, and a check that every text fits its box.

    .venv/bin/python tools/svg_in_browser.py docs/gallery/*.svg            # check, default fonts
    .venv/bin/python tools/svg_in_browser.py --font "DejaVu Sans" a.svg    # as a DejaVu viewer
    .venv/bin/python tools/svg_in_browser.py --png out/ docs/gallery/*.svg # and screenshots

The check inlines the SVG in a small HTML page whose script measures each `<text>` with
`getBBox()` (the browser's own font metrics) and compares it with the smallest box of the same
node, cluster or table cell that contains the text's centre; `--dump-dom` prints the verdicts.
`--font` forces a font family on every text (a viewer whose fonts differ from the layout's).
Needs Debian's `chromium` (`apt-get install -y chromium`); `find_chromium()` returns None without.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
TOLERANCE = 1.0  # px (= pt in graphviz's viewBox): anti-aliasing and rounding slack

# For each text: of the shapes (polygon, path, ellipse) of its node or cluster (for the title: the
# page's background), the smallest one containing the text's centre is its box. Edge labels
# have no box and are skipped.
SCRIPT = r"""
const tol = %(tol)s;
const pictures = [];
for (const pic of document.querySelectorAll('div.pic')) {
const out = [];
pictures.push(out);
for (const t of pic.querySelectorAll('svg text')) {
  const g = t.closest('g.node, g.cluster, g.edge, g.graph');
  const kind = g ? g.getAttribute('class') : '';
  if (!g || kind === 'edge' || !t.textContent.trim()) continue;
  const b = t.getBBox();
  const cx = b.x + b.width / 2, cy = b.y + b.height / 2;
  let best = null;
  const sel = kind === 'graph' ? ':scope > polygon' : 'polygon, path, ellipse';
  for (const s of g.querySelectorAll(sel)) {
    const r = s.getBBox();
    if (r.width * r.height === 0) continue;
    if (cx < r.x || cx > r.x + r.width || cy < r.y || cy > r.y + r.height) continue;
    if (!best || r.width * r.height < best.width * best.height) best = r;
  }
  const title = g.querySelector(':scope > title');
  const item = {kind: kind, node: title ? title.textContent : '', text: t.textContent,
                text_box: [b.x, b.y, b.width, b.height].map(v => +v.toFixed(2))};
  if (!best) { item.problem = 'no box contains the text'; out.push(item); continue; }
  item.box = [best.x, best.y, best.width, best.height].map(v => +v.toFixed(2));
  const over = Math.max(best.x - b.x, b.x + b.width - best.x - best.width, 0);
  if (over > tol) item.problem = 'sticks out of its box by ' + over.toFixed(1) + ' px';
  out.push(item);
}
}
document.getElementById('result').textContent = JSON.stringify(pictures);
"""


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _inline(svg: str) -> str:
    svg = re.sub(r"^\s*<\?xml[^>]*>\s*", "", svg)
    return re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)


def _page(svgs: list[str], font: str | None, script: bool) -> str:
    style = f"svg text {{ font-family: '{font}' !important; }}" if font else ""
    body = "".join(f'<div class="pic">{_inline(svg)}</div>' for svg in svgs)
    body += '<pre id="result"></pre>'
    js = f"<script>{SCRIPT % {'tol': TOLERANCE}}</script>" if script else ""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>body {{ margin: 0; }} "
            f"{style}</style></head><body>{body}{js}</body></html>")


def _run(chromium: str, page: str, extra: list[str], timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="svgcheck-") as tmp:
        src = Path(tmp) / "page.html"
        src.write_text(page, encoding="utf-8")
        profile = Path(tmp) / "profile"
        profile.mkdir()
        cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", *extra, src.as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=tmp, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"chromium failed (exit {proc.returncode}): {proc.stderr[-800:]}")
        return proc.stdout


def measure(svgs: list[str], font: str | None = None, chromium: str | None = None,
            timeout: float = 60.0) -> list[list[dict]]:
    """For each SVG (all in one page, one browser start), one record per text as the browser
    lays it out: the text, its box, and the problem if it does not fit."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise RuntimeError("no chromium found: apt-get install -y chromium")
    dom = _run(chromium, _page(svgs, font, script=True), ["--dump-dom"], timeout)
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    if not found or not found.group(1).strip():
        raise RuntimeError("the measuring script printed nothing; DOM was:\n" + dom[-800:])
    return json.loads(html.unescape(found.group(1)))


def problems(svgs: list[str], font: str | None = None, chromium: str | None = None
             ) -> list[list[str]]:
    """For each SVG, the texts that do not fit their box as readable lines (empty: all fit)."""
    return [[f"{r['kind']} {r['node']!r}: {r['text']!r} {r['problem']} "
             f"(text {r['text_box']}, box {r.get('box')})" for r in records if "problem" in r]
            for records in measure(svgs, font, chromium)]


def svg_size(svg: str) -> tuple[int, int]:
    """The picture's width and height in CSS px (graphviz writes pt: 1pt = 4/3 px)."""
    m = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    if not m:
        return 1200, 900
    return int(float(m.group(1)) * 4 / 3) + 16, int(float(m.group(2)) * 4 / 3) + 16


def screenshot(svg: str, png: str | Path, font: str | None = None,
               chromium: str | None = None, timeout: float = 60.0) -> Path:
    """Write a PNG of `svg` as Chromium draws it (optionally with every text in `font`)."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise RuntimeError("no chromium found: apt-get install -y chromium")
    w, h = svg_size(svg)
    png = Path(png).resolve()
    _run(chromium, _page([svg], font, script=False),
         [f"--screenshot={png}", f"--window-size={min(w, 4000)},{min(h, 4000)}"], timeout)
    return png


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("svgs", nargs="+", type=Path)
    ap.add_argument("--font", help="force this font family on every text")
    ap.add_argument("--png", type=Path, help="folder for screenshots")
    args = ap.parse_args(argv)
    bad = 0
    svgs = [path.read_text(encoding="utf-8") for path in args.svgs]
    for path, svg, found in zip(args.svgs, svgs, problems(svgs, args.font), strict=True):
        print(f"{path}: {len(found)} text(s) out of their box" + (":" if found else ""))
        for line in found:
            print("   ", line)
        bad += len(found)
        if args.png:
            args.png.mkdir(parents=True, exist_ok=True)
            suffix = "" if not args.font else "-" + args.font.replace(" ", "_")
            print("   wrote", screenshot(svg, args.png / f"{path.stem}{suffix}.png", args.font))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
