"""The main demo: train an MLP on scikit-learn's digits in a hand-written GradientTape loop, then
write the recorded graph of one training step and the learning curves.

Run it with `make demo` or `python -m tapegrad demo --help`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import tapegrad as tg


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tapegrad demo",
        description="Train an MLP on the 8x8 digits inside a GradientTape loop, print test "
                    "accuracy, and write the graph of one training step (SVG) and the learning "
                    "curves (PNG).")
    p.add_argument("--epochs", type=int, default=30, help="passes over the training set (30)")
    p.add_argument("--batch-size", type=int, default=32, help="examples per step (32)")
    p.add_argument("--hidden", type=int, default=128, help="hidden units (128)")
    p.add_argument("--learning-rate", type=float, default=0.002, help="Adam step size (0.002)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--out", type=Path, default=Path("demo_output"),
                   help="folder for graph.svg and curves.png (demo_output)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--jit", action="store_true",
                   help="trace the training step once with tg.function and replay it")
    return p


def run(args: argparse.Namespace) -> dict:
    from tqdm.auto import tqdm

    tg.random.seed(args.seed)
    tg.nn.reset_names()
    X, y = tg.datasets.load_digits()
    X_train, X_test, y_train, y_test = tg.data.train_test_split(
        X, y, test_size=0.25, random_state=args.seed)
    scaler = tg.data.Standardizer().fit(X_train)  # training statistics only
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    model = tg.nn.Sequential([
        tg.nn.Dense(args.hidden, activation="relu", kernel_initializer="he_normal"),
        tg.nn.Dropout(0.2),
        tg.nn.Dense(10),
    ])
    optimizer = tg.optimizers.Adam(learning_rate=args.learning_rate)
    loss_fn = tg.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step(xb: np.ndarray, yb: np.ndarray) -> tuple[tg.GradientTape, tg.Tensor]:
        with tg.GradientTape() as tape:
            logits = model(tg.tensor(xb), training=True)
            loss = loss_fn(yb, logits)
        return tape, loss

    def train_step(xb: np.ndarray, yb: np.ndarray) -> tg.Tensor:
        tape, loss = step(xb, yb)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    if args.jit:  # the same step, traced on its first call and replayed as NumPy after
        train_step = tg.function(train_step)

    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_accuracy": []}
    start = time.perf_counter()
    epochs = range(args.epochs)
    bar = tqdm(epochs, desc="training", unit="epoch", disable=args.no_progress)
    for _ in bar:
        losses = []
        for xb, yb in tg.data.batches(X_train, y_train, batch_size=args.batch_size,
                                      shuffle=True):
            losses.append(float(train_step(xb, yb)))
        history["loss"].append(float(np.mean(losses)))
        history["accuracy"].append(_accuracy(model, X_train, y_train))
        history["val_accuracy"].append(_accuracy(model, X_test, y_test))
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}",
                        test_acc=f"{history['val_accuracy'][-1]:.4f}")
    seconds = time.perf_counter() - start
    test_acc = history["val_accuracy"][-1]
    print(f"test accuracy: {test_acc:.4f} ({len(y_test)} digits, {args.epochs} epochs, "
          f"{seconds:.1f} s of training{', traced' if args.jit else ''})")

    args.out.mkdir(parents=True, exist_ok=True)
    # One more training step, kept for the picture: retain its intermediate gradients.
    tape, loss = step(X_train[:args.batch_size], y_train[:args.batch_size])
    tape.retain_gradients()
    tape.gradient(loss, model.trainable_variables)
    graph_path = args.out / "graph.svg"
    tg.viz.plot(tape, to_file=graph_path, group_by_layer=True, show_grads=True,
                title="One training step of the digits MLP, grouped by layer, with gradients")
    curves_path = args.out / "curves.png"
    _plot_curves(history, curves_path)
    print(f"graph of one training step: {graph_path}")
    print(f"loss and accuracy curves:   {curves_path}")
    return {"test_accuracy": test_acc, "history": history, "graph": graph_path,
            "curves": curves_path, "seconds": seconds}


def _accuracy(model: tg.nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    logits = model(tg.tensor(X), training=False).numpy()
    return float(np.mean(np.argmax(logits, axis=1) == y))


def _plot_curves(history: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history["loss"]) + 1)
    ax1.plot(epochs, history["loss"], marker="o")
    ax1.set(title="training loss", xlabel="epoch", ylabel="cross-entropy")
    ax2.plot(epochs, history["accuracy"], marker="o", label="train")
    ax2.plot(epochs, history["val_accuracy"], marker="s", label="test")
    ax2.set(title="accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0.8, 1.0))
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    return run(build_parser().parse_args(argv))
