"""Functional model vs the same model subclassed: a residual CNN with Add and BatchNorm on
digits (batch 64 of 8x8x1): Conv2D(16, 3) -> [Conv2D(16, 3) -> BatchNorm -> ReLU] + skip ->
GlobalAveragePooling -> Dense(10), one training step (tape, softmax cross-entropy, SGD).

Both models hold the same weights, so their losses agree step by step; the difference is the
cost of replaying the functional graph (a slot list and one layer call per node) against a
hand-written `call`. `python -m benchmarks.bench_functional` times them interleaved and prints
the ratio (the goal: under 1.05).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

import tapegrad as tg

BATCH, FILTERS, CLASSES = 64, 16, 10


def _layers() -> dict:
    tg.random.seed(0)
    return {"stem": tg.nn.Conv2D(FILTERS, 3, padding="same", activation="relu"),
            "conv": tg.nn.Conv2D(FILTERS, 3, padding="same"),
            "bn": tg.nn.BatchNormalization(), "relu": tg.nn.Activation("relu"),
            "add": tg.nn.Add(), "pool": tg.nn.GlobalAveragePooling2D(),
            "head": tg.nn.Dense(CLASSES)}


def functional_model() -> tg.nn.Model:
    """The residual CNN with the functional API."""
    L = _layers()
    inp = tg.nn.Input((8, 8, 1))
    x = L["stem"](inp)
    y = L["relu"](L["bn"](L["conv"](x)))
    return tg.nn.Model(inp, L["head"](L["pool"](L["add"]([x, y]))))


class Residual(tg.nn.Model):
    """The same network as a subclassed model."""

    def __init__(self) -> None:
        super().__init__()
        for name, layer in _layers().items():
            setattr(self, name, layer)

    def call(self, x, training=False):
        x = self.stem(x)
        y = self.relu(self.bn(self.conv(x), training=training))
        return self.head(self.pool(self.add([x, y])))


def _data() -> tuple[np.ndarray, np.ndarray]:
    X, y = tg.datasets.load_digits()
    return (X[:BATCH] / 16.0).astype(np.float32).reshape(BATCH, 8, 8, 1), y[:BATCH]


def step(model: tg.nn.Model) -> Callable[[], float]:
    """One SGD training step of `model` on a fixed digits batch; returns the loss."""
    x_np, labels = _data()
    x = tg.tensor(x_np)
    loss_fn = tg.losses.get("sparse_categorical_crossentropy")
    opt = tg.optimizers.SGD(0.05)
    model(x)  # build

    def run() -> float:
        with tg.GradientTape() as tape:
            loss = loss_fn(labels, tg.softmax(model(x, training=True), axis=-1))
        variables = model.trainable_variables
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return float(loss)

    return run


WORKLOADS = [
    {"name": "residual CNN step, functional Model(inputs, outputs), digits batch 64",
     "tapegrad": step(functional_model()), "numpy": None, "torch": None, "unit": "ms"},
    {"name": "residual CNN step, the same model subclassed, digits batch 64",
     "tapegrad": step(Residual()), "numpy": None, "torch": None, "unit": "ms"},
]


def main(rounds: int = 400) -> None:
    """Time both steps interleaved (so machine load hits both alike); print the ratio."""
    f, s = step(functional_model()), step(Residual())
    for _ in range(20):
        f(), s()
    tf, ts = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        f()
        t1 = time.perf_counter()
        s()
        t2 = time.perf_counter()
        tf.append(t1 - t0)
        ts.append(t2 - t1)
    mf, ms = statistics.median(tf), statistics.median(ts)
    print(f"functional {mf * 1e3:.3f} ms, subclassed {ms * 1e3:.3f} ms, "
          f"ratio {mf / ms:.3f} (median of {rounds} interleaved steps)")


if __name__ == "__main__":
    main()
