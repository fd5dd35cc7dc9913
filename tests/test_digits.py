"""scikit-learn digits: a 64 -> 128 (ReLU) -> 10 MLP reaches >= 97% test accuracy on a fixed
75/25 split, both in a hand-written GradientTape loop with Adam and through compile/fit.

The seed sets the initial weights and the batch order; the split is random_state=0. (Over split
seeds 0-7 this recipe gave 96.4% - 98.9%, so the bar holds for this split, not every split.)
Spreads are measured by tools/seed_spread.py.
"""

import functools

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn

pytestmark = pytest.mark.training

EPOCHS = 20
LR = 0.003


def sce(y, logits):
    onehot = np.eye(logits.shape[-1], dtype=logits.dtype)[y.numpy().astype(np.int64)]
    return -tg.mean(tg.sum(onehot * tg.log_softmax(logits), axis=-1))


def accuracy(y, logits):
    return float(np.mean(np.argmax(np.asarray(logits), -1) == np.asarray(y)))


@functools.cache
def _digits():
    X, y = tg.datasets.load_digits()
    X_train, X_test, y_train, y_test = tg.data.train_test_split(X, y, test_size=0.25,
                                                                random_state=0)
    scaler = tg.data.Standardizer().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def _mlp():
    return nn.Sequential([nn.Dense(128, activation="relu"), nn.Dense(10)])


def tape_loop_accuracy(seed):
    X_train, X_test, y_train, y_test = _digits()
    tg.random.seed(seed)
    model = _mlp()
    opt = tg.optimizers.Adam(LR)
    for epoch in range(EPOCHS):
        for xb, yb in tg.data.batches(X_train, y_train, batch_size=32, seed=1000 * seed + epoch):
            with tg.GradientTape() as tape:
                loss = sce(tg.tensor(yb), model(tg.tensor(xb), training=True))
            variables = model.trainable_variables
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return accuracy(y_test, model(tg.tensor(X_test)).numpy())


def _fit(seed):
    X_train, X_test, y_train, y_test = _digits()
    tg.random.seed(seed)
    model = _mlp()
    loss = tg.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(tg.optimizers.Adam(LR), loss=loss, metrics=["accuracy"])
    hist = model.fit(X_train, y_train, batch_size=32, epochs=EPOCHS, verbose=0,
                     validation_data=(X_test, y_test))
    return accuracy(y_test, model.predict(X_test)), hist


def fit_accuracy(seed):
    acc, hist = _fit(seed)
    return acc, hist.history["loss"][-1] / hist.history["loss"][0]


def test_hand_written_tape_loop_with_adam():
    """Test accuracy over 60 runs (seeds 0-19 x 3 BLAS kernels), min/median/max:
    0.973 / 0.980 / 0.984 (seed 0: 0.982 on every kernel)."""
    acc = tape_loop_accuracy(0)
    assert acc >= 0.97, f"test accuracy {acc:.4f}"


def test_compile_fit():
    """Test accuracy over 60 runs (seeds 0-19 x 3 BLAS kernels), min/median/max:
    0.976 / 0.980 / 0.987 (seed 0: 0.980); last / first epoch loss 0.0027 / 0.0030 / 0.0033."""
    acc, hist = _fit(0)
    assert acc >= 0.97, f"test accuracy {acc:.4f}"
    assert hist.history["loss"][-1] < hist.history["loss"][0] / 5
    assert hist.history["val_accuracy"][-1] == pytest.approx(acc)
