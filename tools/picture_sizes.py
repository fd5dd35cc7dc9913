"""Time how long pictures of tapes of various sizes take: DOT text, then SVG layout per renderer.

    .venv/bin/python tools/picture_sizes.py                      # 100, 1000, 5000, 10000 ops
    .venv/bin/python tools/picture_sizes.py --ops 100 1000 --full-max 1000

Each tape is a chain of layers (a name scope per 10 ops) on a (4, 4) tensor. "collapsed" is what
`tg.viz.plot(tape)` draws by default (past max_nodes=300 each layer becomes one node, then runs
of layers become blocks); "full" draws every op (`max_nodes` above the op count). Times are wall
seconds of one run each; the numbers in tapegrad.viz's docstring come from this script.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

import numpy as np

import tapegrad as tg
from tapegrad.viz.render import _pure_candidates, run_dot


def chain_tape(n_ops: int) -> tg.GradientTape:
    x = tg.Variable(np.ones((4, 4)), name="x")
    with tg.GradientTape(persistent=True) as tape:
        h = x
        for i in range(n_ops // 10):
            with tg.name_scope(f"layer{i}"):
                for _ in range(5):
                    h = tg.tanh(h * 0.5)
    return tape


def renderers() -> dict[str, str]:
    found = {}
    pure = [str(p) for p in _pure_candidates() if p.is_file()] or [shutil.which("graphviz-pure")]
    if pure[0]:
        found["graphviz-pure"] = pure[0]
    if shutil.which("dot"):
        found["dot"] = shutil.which("dot")
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, nargs="+", default=[100, 1000, 5000, 10000])
    ap.add_argument("--full-max", type=int, default=10000, help="largest tape drawn in full")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args(argv)
    print(f"{'ops':>6} {'picture':9} {'nodes':>6} {'to_dot s':>8}  " +
          "  ".join(f"{name + ' s':>14}" for name in renderers()))
    for n in args.ops:
        tape = chain_tape(n)
        for kind in ("collapsed", "full"):
            if kind == "full" and n > args.full_max:
                continue
            options = {} if kind == "collapsed" else {"max_nodes": 10 * n}
            t = time.perf_counter()
            dot = tg.viz.to_dot(tape, **options)
            t_dot = time.perf_counter() - t
            nodes = sum(1 for line in dot.splitlines() if line.lstrip("\t").split(" [")[0]
                        .isidentifier() and " [" in line and not line.lstrip().startswith(
                            ("graph", "node", "edge")))
            cells = []
            for binary in renderers().values():
                os.environ["TAPEGRAD_DOT"] = binary
                t = time.perf_counter()
                try:
                    run_dot(dot, "svg", timeout=args.timeout)
                    cells.append(f"{time.perf_counter() - t:14.2f}")
                except RuntimeError as e:
                    cells.append(f"{'failed':>14}")
                    print("   ", str(e)[:200], file=sys.stderr)
            print(f"{n:6d} {kind:9} {nodes:6d} {t_dot:8.3f}  " + "  ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
