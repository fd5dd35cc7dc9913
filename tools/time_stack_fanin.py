"""Time the backward pass through one `stack` (and one `concatenate`) of n inputs.

    python tools/time_stack_fanin.py 1000 2000 4000 8000 16000

Prints seconds per n; the rule should be linear in n (offsets computed once per record).
"""

from __future__ import annotations

import sys
import time

import numpy as np

import tapegrad as tg


def fan_in(op: str, n: int) -> float:
    x = tg.Variable(np.ones(3))
    t0 = time.perf_counter()
    with tg.GradientTape() as tape:
        parts = [x * float(i) for i in range(n)]
        y = tg.sum(getattr(tg, op)(parts))
    g = tape.gradient(y, x)
    assert np.allclose(g.numpy(), n * (n - 1) / 2)
    return time.perf_counter() - t0


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 2000, 4000, 8000, 16000]
    for op in ("stack", "concatenate"):
        for n in sizes:
            print(f"{op:12s} n={n:6d}  {fan_in(op, n):7.2f} s", flush=True)
