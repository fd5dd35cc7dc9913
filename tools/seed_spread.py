"""Measure the spread of the training tests' scores over seeds and OpenBLAS kernels.

    .venv/bin/python tools/seed_spread.py                       # every experiment, 20 seeds
    .venv/bin/python tools/seed_spread.py rnn.gru20 --seeds 30  # one experiment
    .venv/bin/python tools/seed_spread.py --list

Each experiment is a function `seed -> score` (or `(score, extra, ...)`) defined next to the test
that asserts it. For each OPENBLAS_CORETYPE the seeds run one after another in a fresh worker
process with OPENBLAS_NUM_THREADS=1 (the variable is read when NumPy loads OpenBLAS); the worker
reports the kernel OpenBLAS actually chose (threadpoolctl), so a kernel the CPU cannot run shows up
instead of silently falling back. Prints min / median / max per kernel and over all runs, the lines
that go into the tests' docstrings.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORETYPES = ("Haswell", "SkylakeX", "Prescott")
MARK = "seed_spread: "  # prefix of the worker's result lines (experiments may print too)

# name: (test file, function, what the score is)
EXPERIMENTS: dict[str, tuple[str, str, str]] = {
    "rnn.lstm20": ("tests/test_rnn.py", "lstm_remembers_20", "test accuracy, epochs"),
    "rnn.gru20": ("tests/test_rnn.py", "gru_remembers_20", "test accuracy, epochs"),
    "rnn.simple20": ("tests/test_rnn.py", "simple_rnn_remembers_20", "test accuracy, epochs"),
    "digits.tape_loop": ("tests/test_digits.py", "tape_loop_accuracy", "test accuracy"),
    "digits.fit": ("tests/test_digits.py", "fit_accuracy", "test accuracy, loss ratio"),
    "conv.cnn_digits": ("tests/test_conv_layers.py", "cnn_digits_accuracy", "test accuracy"),
    "training.linreg": ("tests/test_training.py", "linear_regression_fit",
                        "final loss, max |w - w_true|"),
    "training.xor": ("tests/test_training.py", "xor_errors", "misclassified points"),
    "training.spiral": ("tests/test_training.py", "spiral_loss_ratio", "last / first loss"),
    "nn.xor_gd": ("tests/test_nn_layers.py", "xor_gd_loss", "final loss, accuracy"),
    "embedding.fit": ("tests/test_embedding.py", "embedding_loss", "final loss"),
    "callbacks.early_stop": ("tests/test_callbacks.py", "early_stopping_epochs", "epochs run"),
    "callbacks.loop": ("tests/test_callbacks.py", "hand_loop_epochs", "epochs run"),
    "demo": ("tests/test_readme_and_demo.py", "demo_accuracy", "test accuracy"),
}


def _load(path: str, func: str):
    sys.path.insert(0, str(ROOT / Path(path).parent))
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, func)


def _kernel() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "?"
    return ",".join(str(i.get("architecture")) for i in threadpool_info()
                    if i.get("internal_api") == "openblas") or "no OpenBLAS"


def worker(names: list[str], seeds: list[int]) -> None:
    """Run every (experiment, seed) here, printing one JSON line each."""
    import numpy  # noqa: F401  (loads OpenBLAS so that the kernel can be reported)

    kernel = _kernel()
    for name in names:
        fn = _load(*EXPERIMENTS[name][:2])
        for seed in seeds:
            t = time.perf_counter()
            value = fn(seed)
            values = list(value) if isinstance(value, tuple) else [value]
            print(MARK + json.dumps({"name": name, "seed": seed, "kernel": kernel,
                              "values": [float(v) for v in values],
                              "seconds": round(time.perf_counter() - t, 2)}), flush=True)


def summary(rows: list[dict]) -> list[str]:
    """`name kernel: min / median / max` per value, per kernel and over all rows."""
    out = []
    for name in dict.fromkeys(r["name"] for r in rows):
        mine = [r for r in rows if r["name"] == name]
        groups = {k: [r for r in mine if r["kernel_asked"] == k]
                  for k in dict.fromkeys(r["kernel_asked"] for r in mine)}
        groups["all"] = mine
        what = EXPERIMENTS[name][2].split(", ")
        for kernel, rs in groups.items():
            parts = []
            for j, label in enumerate(what):
                vals = sorted(r["values"][j] for r in rs)
                parts.append(f"{label} {vals[0]:.4g} / {statistics.median(vals):.4g} / "
                             f"{vals[-1]:.4g}")
            got = ",".join(dict.fromkeys(r["kernel"] for r in rs))
            secs = statistics.median(r["seconds"] for r in rs)
            out.append(f"{name:22s} {kernel:9s} ({got}; {len(rs)} runs, {secs:.1f} s each): "
                       + "; ".join(parts) + "  [min / median / max]")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="experiments (default: all)")
    ap.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 (default 20)")
    ap.add_argument("--coretypes", default=",".join(CORETYPES))
    ap.add_argument("--out", type=Path, help="append the JSON rows to this file")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.list:
        for name, (path, func, what) in EXPERIMENTS.items():
            print(f"{name:22s} {path}::{func}  ({what})")
        return 0
    names = args.names or list(EXPERIMENTS)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        ap.error(f"unknown experiment(s) {unknown}; --list shows them")
    if args.worker:
        worker(names, list(range(args.seeds)))
        return 0
    rows: list[dict] = []
    for core in args.coretypes.split(","):
        env = {**os.environ, "OPENBLAS_CORETYPE": core, "OPENBLAS_NUM_THREADS": "1",
               "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
        cmd = [sys.executable, __file__, "--worker", "--seeds", str(args.seeds), *names]
        with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) as proc:
            for line in proc.stdout:
                if not line.startswith(MARK):
                    continue  # the experiment's own printing
                row = {**json.loads(line[len(MARK):]), "kernel_asked": core}
                rows.append(row)
                print(f"  {core:9s} {row['name']} seed {row['seed']}: {row['values']} "
                      f"({row['seconds']} s)", flush=True)
                if args.out:
                    with open(args.out, "a", encoding="utf-8") as f:
                        f.write(json.dumps(row) + "\n")
        if proc.returncode:
            print(f"worker for {core} failed (exit {proc.returncode})", file=sys.stderr)
            return proc.returncode
    print("\n".join(summary(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
