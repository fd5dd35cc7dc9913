"""Time small-model training with 1, 2 and OpenBLAS' default number of BLAS threads.

    .venv/bin/python tools/thread_timing.py        # mlp, cnn, lstm, wide epochs and the demo
    .venv/bin/python tools/thread_timing.py cnn --repeat 5

Each workload runs in a fresh process per setting (OPENBLAS_NUM_THREADS is read when NumPy loads
OpenBLAS; "default" leaves it unset, so OpenBLAS uses one thread per core). A `fit` epoch is
timed after one warm-up epoch (digits, batch 32; "wide": 2048 x 784 inputs, 1024-1024-10, batch
256); the figure is the median of --repeat epochs. The demo is timed
whole (`python -m tapegrad demo --epochs 5`). Small matrices gain nothing from threads and lose
to their hand-offs, more so when other processes share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

SETTINGS = ("1", "2", "default")


def _model(kind: str):
    import tapegrad as tg

    tg.random.seed(0)
    X, y = tg.datasets.load_digits()
    X = (X / 16.0).astype(np.float32)
    if kind == "mlp":
        layers = [tg.nn.Dense(128, activation="relu"), tg.nn.Dense(10)]
    elif kind == "cnn":
        X = X.reshape(-1, 8, 8, 1)
        layers = [tg.nn.Conv2D(8, 3, padding="same", activation="relu"), tg.nn.MaxPooling2D(),
                  tg.nn.Flatten(), tg.nn.Dense(10)]
    elif kind == "lstm":  # each digit's 8 rows as a sequence of 8 steps
        X = X.reshape(-1, 8, 8)
        layers = [tg.nn.LSTM(32), tg.nn.Dense(10)]
    else:  # wide: MNIST-sized inputs through two 1024-unit layers
        X = np.random.default_rng(0).standard_normal((2048, 784)).astype(np.float32)
        y = np.arange(2048) % 10
        layers = [tg.nn.Dense(1024, activation="relu"), tg.nn.Dense(1024, activation="relu"),
                  tg.nn.Dense(10)]
    model = tg.nn.Sequential(layers)
    model.compile(tg.optimizers.Adam(0.01),
                  loss=tg.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, X, y, (256 if kind == "wide" else 32)


def epoch_seconds(kind: str, repeat: int) -> list[float]:
    model, X, y, batch = _model(kind)
    model.fit(X, y, batch_size=batch, epochs=1, verbose=0)  # warm-up (and build)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        model.fit(X, y, batch_size=batch, epochs=1, verbose=0)
        times.append(time.perf_counter() - t)
    return times


def demo_seconds(repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "tapegrad", "demo", "--epochs", "5",
                            "--no-progress", "--out", out], check=True, capture_output=True)
            times.append(time.perf_counter() - t)
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workloads", nargs="*", default=["mlp", "cnn", "lstm", "wide", "demo"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        if args.worker == "demo":
            times = demo_seconds(args.repeat)
        else:
            times = epoch_seconds(args.worker, args.repeat)
        print(json.dumps(times))
        return 0
    print(f"{'workload':9} " + " ".join(f"{'threads ' + s:>16}" for s in SETTINGS)
          + "   (median seconds; ratio to 1 thread)")
    for work in args.workloads:
        medians = []
        for setting in SETTINGS:
            env = {k: v for k, v in os.environ.items()
                   if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
            if setting != "default":
                env["OPENBLAS_NUM_THREADS"] = setting
            env["TAPEGRAD_BLAS_THREADS"] = "none"  # measure OpenBLAS itself, not fit's limit
            out = subprocess.run([sys.executable, __file__, "--worker", work, "--repeat",
                                  str(args.repeat)], env=env, capture_output=True, text=True,
                                 check=True).stdout
            medians.append(statistics.median(json.loads(out.strip().splitlines()[-1])))
        print(f"{work:9} " + " ".join(f"{m:9.2f} ({m / medians[0]:4.2f}x)" for m in medians),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
