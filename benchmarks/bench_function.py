"""`tg.function` against eager tapegrad, hand-written NumPy and PyTorch, on the workloads of
bench_mlp, bench_rnn and bench_conv (their weights, batches and NumPy/PyTorch references).

`python -m benchmarks --filter "tg.function"` times the traced steps in the common table (the
"tapegrad" column is the traced step). `python -m benchmarks.bench_function` times eager,
traced, NumPy and PyTorch *interleaved* (one call of each in turn, so that a loaded machine
slows all of them alike) and prints the ratios, the trace time and how many steps repay it,
the peak memory of one wide-MLP step, and the training time of `tapegrad demo` eager and
with `--jit`.
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

import tapegrad as tg
from benchmarks import bench_conv, bench_mlp, bench_rnn


def _lstm_body() -> Callable[[], tg.Tensor]:
    """bench_rnn's tapegrad step (tg.nn.LSTM + Dense), returning the loss tensor."""
    arrays, x_np, _, onehot_np = bench_rnn.init()
    lstm, dense = tg.nn.LSTM(bench_rnn.UNITS), tg.nn.Dense(bench_rnn.CLASSES)
    lstm.build((None, bench_rnn.STEPS, bench_rnn.FEATURES))
    dense.build((None, bench_rnn.UNITS))
    lstm.set_weights(arrays[:3])
    dense.set_weights(arrays[3:])
    params = lstm.trainable_variables + dense.trainable_variables
    x, onehot = tg.tensor(x_np), tg.tensor(onehot_np)

    def body() -> tg.Tensor:
        with tg.GradientTape() as tape:
            logits = dense(lstm(x))
            loss = -tg.sum(onehot * tg.log_softmax(logits, axis=-1)) / bench_rnn.BATCH
        for v, g in zip(params, tape.gradient(loss, params), strict=True):
            v.assign_sub(bench_rnn.LR * g)
        return loss

    return body


def _conv_body() -> Callable[[], tg.Tensor]:
    """bench_conv's tapegrad step (conv2d, relu, max_pool2d, dense), returning the loss."""
    arrays, x_np, _, onehot_np = bench_conv.init()
    params = [tg.Variable(a) for a in arrays]
    w1, b1, w2, b2 = params
    x, onehot = tg.tensor(x_np), tg.tensor(onehot_np)

    def body() -> tg.Tensor:
        with tg.GradientTape() as tape:
            h = tg.max_pool2d(tg.relu(tg.conv2d(x, w1) + b1), 2)
            logits = tg.reshape(h, (bench_conv.BATCH, -1)) @ w2 + b2
            loss = -tg.sum(onehot * tg.log_softmax(logits, axis=-1)) / bench_conv.BATCH
        for v, g in zip(params, tape.gradient(loss, params), strict=True):
            v.assign_sub(bench_conv.LR * g)
        return loss

    return body


def _chain_body(n: int = 66) -> Callable[[tg.Tensor], tg.Tensor]:
    """bench_core's chain: tanh(y * 0.9 + 0.1) x 66 on shape (4,), forward and backward."""
    def body(x: tg.Tensor) -> tg.Tensor:
        with tg.GradientTape() as tape:
            tape.watch(x)
            y = x
            for _ in range(n):
                y = tg.tanh(y * 0.9 + 0.1)
        return tape.gradient(y, x)

    return body


def _runner(body: Callable, *args: object) -> Callable[[], float]:
    """The step as the benchmarks call it: no arguments, a float back (as the NumPy steps)."""
    def run() -> float:
        out = body(*args)
        return float(out) if out.size == 1 else float(out.numpy().sum())

    return run


def _traced(body: Callable, *args: object) -> Callable[[], float]:
    """The traced step (its first call traces: the warm-up's, outside the timing)."""
    return _runner(tg.function(body), *args)


CHAIN_X = tg.tensor(np.linspace(-1, 1, 4).astype(np.float32))


def cases() -> list[dict]:
    """Each workload's eager, traced, NumPy and PyTorch step (fresh, identical weights)."""
    mlp = ([64, 128, 10], 64, "tanh")
    wide = ([784, 1024, 1024, 10], 256, "relu")
    return [
        {"name": "MLP step 64-128-10, batch 64, tanh",
         "eager": _runner(bench_mlp.tapegrad_body(*mlp)),
         "traced": _traced(bench_mlp.tapegrad_body(*mlp)),
         "numpy": bench_mlp.numpy_step(*mlp), "torch": bench_mlp.torch_step(*mlp),
         "target": 1.3, "body": lambda: bench_mlp.tapegrad_body(*mlp), "args": ()},
        {"name": "LSTM(64) step, 50 steps, batch 32",
         "eager": _runner(_lstm_body()), "traced": _traced(_lstm_body()),
         "numpy": bench_rnn.numpy_step(), "torch": bench_rnn.torch_step(),
         "target": 1.3, "body": _lstm_body, "args": ()},
        {"name": "conv step Conv2D(16, 3), pool, Dense 10, batch 32",
         "eager": _runner(_conv_body()), "traced": _traced(_conv_body()),
         "numpy": bench_conv.numpy_step(), "torch": bench_conv.torch_step(),
         "target": 1.1, "body": _conv_body, "args": ()},
        {"name": "MLP step 784-1024-1024-10, batch 256, relu",
         "eager": _runner(bench_mlp.tapegrad_body(*wide)),
         "traced": _traced(bench_mlp.tapegrad_body(*wide)),
         "numpy": bench_mlp.numpy_step(*wide), "torch": bench_mlp.torch_step(*wide),
         "target": 1.05, "body": lambda: bench_mlp.tapegrad_body(*wide), "args": ()},
        {"name": "200-op chain, shape (4,) (per op)", "ops": 200,
         "eager": _runner(_chain_body(), CHAIN_X), "traced": _traced(_chain_body(), CHAIN_X),
         "numpy": None, "torch": None, "target": None, "body": _chain_body, "args": (CHAIN_X,)},
    ]


WORKLOADS = [
    {"name": f"tg.function: {c['name']}", "tapegrad": c["traced"], "numpy": c["numpy"],
     "torch": c["torch"], "unit": "us/op" if c.get("ops") else "ms", "ops": c.get("ops")}
    for c in cases()
]


def interleaved(fns: dict[str, Callable | None], rounds: int, budget: float) -> dict:
    """Median seconds of each callable, timed one call of each in turn."""
    live = {k: f for k, f in fns.items() if f is not None}
    for f in live.values():  # warm-up
        f()
    times: dict[str, list[float]] = {k: [] for k in live}
    start = time.perf_counter()
    for r in range(rounds):
        for k, f in live.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
        if r >= 4 and time.perf_counter() - start > budget:
            break
    return {k: statistics.median(v) for k, v in times.items()}


def trace_seconds(case: dict) -> float:
    """Wall time of the first (tracing) call of a fresh tg.function of the step."""
    fn = tg.function(case["body"]())
    t0 = time.perf_counter()
    fn(*case["args"])
    return time.perf_counter() - t0


def peak_bytes(fn: Callable) -> int:
    """Peak memory NumPy allocates during one call (tracemalloc sees NumPy's buffers)."""
    fn()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def demo_seconds(jit: bool, epochs: int) -> float:
    """Training seconds of `tapegrad demo` (its hand-written tape loop), traced or eager."""
    import contextlib
    import io
    import tempfile

    from tapegrad.demo import main

    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        args = ["--out", tmp, "--no-progress", "--epochs", str(epochs)]
        return main(args + ["--jit"] if jit else args)["seconds"]


def _fmt(r: float | None) -> str:
    return f"{r:8.2f}" if r is not None else f"{'-':>8}"


def main(argv: list[str]) -> None:
    rounds = 5 if "--quick" in argv else 40
    budget = 2.0 if "--quick" in argv else 20.0
    print("interleaved medians (ms; us per op for the chain); ratios to hand-written NumPy")
    print(f"{'workload':<48} {'eager':>8} {'traced':>8} {'numpy':>8} {'torch':>8} "
          f"{'eager/np':>8} {'traced/np':>9} {'target':>6} {'met':>4} {'trace s':>8} "
          f"{'repaid':>7}")
    for c in cases():
        med = interleaved({k: c[k] for k in ("eager", "traced", "numpy", "torch")}, rounds,
                          budget)
        scale = 1e6 / c["ops"] if c.get("ops") else 1e3
        cell = {k: f"{med[k] * scale:8.3g}" if k in med else f"{'-':>8}"
                for k in ("eager", "traced", "numpy", "torch")}
        ratio = {k: med[k] / med["numpy"] if "numpy" in med else None for k in ("eager", "traced")}
        trace = trace_seconds(c)
        saved = med["eager"] - med["traced"]
        repaid = f"{trace / saved:7.0f}" if saved > 0 else f"{'never':>7}"
        target = c["target"]
        met = "-" if target is None or ratio["traced"] is None else (
            "yes" if ratio["traced"] <= target else "no")
        print(f"{c['name']:<48} {cell['eager']} {cell['traced']} {cell['numpy']} "
              f"{cell['torch']} {_fmt(ratio['eager'])} {_fmt(ratio['traced'])} "
              f"{target if target else '-':>6} {met:>4} {trace:8.3f} {repaid}")
    wide = cases()[3]
    peaks = {k: peak_bytes(wide[k]) for k in ("eager", "traced", "numpy")}
    print("\npeak memory of one wide-MLP step (MB): " + ", ".join(
        f"{k} {v / 2 ** 20:.1f}" for k, v in peaks.items())
        + f"; traced/numpy {peaks['traced'] / peaks['numpy']:.2f} (target 1.2)")
    epochs = 3 if "--quick" in argv else 30
    eager, traced = demo_seconds(False, epochs), demo_seconds(True, epochs)
    print(f"tapegrad demo, {epochs} epochs of training: eager {eager:.2f} s, --jit {traced:.2f} s "
          f"({eager / traced:.1f}x faster)")


if __name__ == "__main__":
    main(sys.argv[1:])
