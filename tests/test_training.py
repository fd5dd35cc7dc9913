"""compile / fit / evaluate / predict on a minimal model implementing the Trainable contract."""

import os

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.training import Trainable


def mse(y, p):
    return tg.mean((y - p) ** 2)


def sce(y, logits):
    """Sparse softmax cross-entropy from logits (labels are constants: one-hot them in NumPy)."""
    onehot = np.eye(logits.shape[-1], dtype=logits.dtype)[y.numpy().astype(np.int64)]
    return -tg.mean(tg.sum(onehot * tg.log_softmax(logits), axis=-1))


def accuracy(y, logits):
    return float(np.mean(np.argmax(logits.numpy(), -1) == y.numpy()))


class TinyMLP(Trainable):
    """Dense layers on raw Variables: exactly the contract `Trainable` relies on."""

    def __init__(self, sizes, activation=tg.tanh, seed=0, l2=0.0, dtype=np.float32):
        rng = np.random.default_rng(seed)
        self.params = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            lim = np.sqrt(6.0 / (a + b))
            self.params.append(tg.Variable(rng.uniform(-lim, lim, (a, b)).astype(dtype),
                                           name=f"dense_{i}/kernel"))
            self.params.append(tg.Variable(np.zeros(b, dtype), name=f"dense_{i}/bias"))
        self.activation = activation
        self.l2 = l2

    def __call__(self, x, training=False):
        h = tg.as_tensor(x)
        for i in range(0, len(self.params), 2):
            h = h @ self.params[i] + self.params[i + 1]
            if i + 2 < len(self.params):
                h = self.activation(h)
        return h

    @property
    def trainable_variables(self):
        return list(self.params)

    variables = trainable_variables

    @property
    def losses(self):
        if not self.l2:
            return []
        return [self.l2 * tg.sum(w * w) for w in self.params[0::2]]

    def get_weights(self):
        return [p.numpy().copy() for p in self.params]

    def set_weights(self, weights):
        for p, w in zip(self.params, weights):
            p.assign(w)

    def save_weights(self, path):
        np.savez(path, **{p.name.replace("/", "__"): p.numpy() for p in self.params})

    def load_weights(self, path):
        with np.load(path, allow_pickle=False) as f:
            self.set_weights([f[p.name.replace("/", "__")] for p in self.params])


def _regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)).astype(np.float32)
    y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)
    return X, y


def _fit_linear_regression(seed):
    X, y = _regression()
    tg.random.seed(seed)  # batch order
    model = TinyMLP([3, 1], seed=seed)
    model.compile(tg.optimizers.SGD(0.1), loss=mse)
    return model, model.fit(X, y, batch_size=16, epochs=30, verbose=0)


def linear_regression_fit(seed):
    model, hist = _fit_linear_regression(seed)
    w = model.params[0].numpy().ravel()
    return hist.history["loss"][-1], float(np.max(np.abs(w - [1.0, -2.0, 0.5])))


@pytest.mark.training
def test_fit_learns_linear_regression_and_returns_history():
    """30 epochs of SGD(0.1) fit noise-free linear data: final loss < 1e-3 and weights within
    0.02 (over 60 runs (seeds 0-19 x 3 BLAS kernels), min/median/max: final loss
    1.9e-14 / 5.0e-14 / 6.6e-14, max |w - w_true| 1.2e-07 / 1.2e-07 / 2.4e-07)."""
    model, hist = _fit_linear_regression(0)
    assert hist is model.history
    assert list(hist.history) == ["loss"] and len(hist.history["loss"]) == 30
    assert hist.epoch == list(range(30))
    assert hist.history["loss"][-1] < 1e-3 < hist.history["loss"][0]
    np.testing.assert_allclose(model.params[0].numpy().ravel(), [1.0, -2.0, 0.5], atol=0.02)


def test_one_fit_step_equals_a_hand_written_tape_step():
    X, y = _regression(8)
    a, b = TinyMLP([3, 4, 1], seed=1), TinyMLP([3, 4, 1], seed=1)
    a.compile(tg.optimizers.SGD(0.05), loss=mse)
    a.fit(X, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    with tg.GradientTape() as tape:
        loss = mse(tg.tensor(y), b(tg.tensor(X), training=True))
    grads = tape.gradient(loss, b.trainable_variables)
    for w, g in zip(b.trainable_variables, grads):
        w.assign(w.numpy() - 0.05 * g.numpy())
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6)


def test_epoch_loss_is_sample_weighted_mean_of_batches():
    X, y = _regression(10)
    model = TinyMLP([3, 1])
    model.compile(tg.optimizers.SGD(0.0), loss=mse)  # lr 0: weights never change
    hist = model.fit(X, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert hist.history["loss"][0] == pytest.approx(model.evaluate(X, y), rel=1e-6)


def test_metrics_and_validation_data():
    X, y = tg.datasets.spiral(n_per_class=30, n_classes=3, seed=0)
    model = TinyMLP([2, 32, 3])
    model.compile("adam", loss=sce, metrics=[accuracy])
    hist = model.fit(X, y, batch_size=32, epochs=3, validation_data=(X[:20], y[:20]),
                     verbose=0)
    assert list(hist.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(v) == 3 for v in hist.history.values())
    loss, acc = model.evaluate(X[:20], y[:20])
    assert hist.history["val_loss"][-1] == pytest.approx(loss, rel=1e-6)
    assert hist.history["val_accuracy"][-1] == pytest.approx(acc)
    assert model.evaluate(X, y, return_dict=True).keys() == {"loss", "accuracy"}


def test_validation_split_holds_out_the_last_fraction():
    X, y = _regression(40)
    model = TinyMLP([3, 1])
    model.compile(tg.optimizers.SGD(0.0), loss=mse)
    hist = model.fit(X, y, epochs=1, validation_split=0.25, verbose=0)
    assert hist.history["val_loss"][0] == pytest.approx(model.evaluate(X[30:], y[30:]), rel=1e-6)
    assert hist.history["loss"][0] == pytest.approx(model.evaluate(X[:30], y[:30]), rel=1e-6)


def test_regularization_losses_are_added():
    X, y = _regression(16)
    model = TinyMLP([3, 1], l2=0.1)
    model.compile(tg.optimizers.SGD(0.0), loss=mse)
    hist = model.fit(X, y, batch_size=16, epochs=1, verbose=0)
    data_loss = float(mse(tg.tensor(y), model(tg.tensor(X))))
    reg = 0.1 * float(np.sum(model.params[0].numpy() ** 2))
    assert hist.history["loss"][0] == pytest.approx(data_loss + reg, rel=1e-5)


def test_shuffling_is_repeatable_with_tg_random_seed():
    X, y = _regression(50)
    weights = []
    for _ in range(2):
        tg.random.seed(7)
        model = TinyMLP([3, 5, 1])
        model.compile(tg.optimizers.SGD(0.05), loss=mse)
        model.fit(X, y, batch_size=8, epochs=2, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_predict_and_evaluate_shapes():
    X, y = _regression(37)
    model = TinyMLP([3, 4, 1])
    model.compile("sgd", loss=mse)
    pred = model.predict(X, batch_size=10)
    assert isinstance(pred, np.ndarray) and pred.shape == (37, 1)
    np.testing.assert_allclose(pred, model(tg.tensor(X)).numpy(), rtol=1e-6)
    assert isinstance(model.evaluate(X, y), float)
    assert model.predict(X.astype(np.float64)).dtype == np.float32  # inputs cast to model dtype


def _fit_xor(seed):
    X, y = tg.datasets.xor()
    tg.random.seed(seed)
    model = TinyMLP([2, 8, 1], seed=seed + 3)

    def bce_logits(t, z):
        return tg.mean(tg.softplus(z) - t * z)

    model.compile(tg.optimizers.Adam(0.05), loss=bce_logits)
    model.fit(X, y, batch_size=4, epochs=300, verbose=0)
    return (model.predict(X) > 0).astype(np.float32), y


def xor_errors(seed):
    pred, y = _fit_xor(seed)
    return float(np.sum(pred != y))


@pytest.mark.training
def test_xor_learned_by_two_layer_mlp():
    """2-8-1 tanh MLP, 300 full-batch Adam(0.05) steps: all four XOR points right
    (misclassified points over 60 runs (seeds 0-19 x 3 BLAS kernels), min/median/max: 0 / 0 / 0)."""
    pred, y = _fit_xor(0)
    np.testing.assert_array_equal(pred, y)


def test_verbose_modes(capsys):
    X, y = _regression(20)
    model = TinyMLP([3, 1])
    model.compile("sgd", loss=mse)
    model.fit(X, y, epochs=2, verbose=0)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    model.fit(X, y, epochs=3, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("Epoch 1/3") and "loss:" in lines[0]
    model.fit(X, y, epochs=2, batch_size=5, verbose=1)
    err = capsys.readouterr().err
    assert "Epoch 1/2" in err and "Epoch 2/2" in err and "loss" in err


def test_input_errors():
    X, y = _regression(10)
    model = TinyMLP([3, 1])
    with pytest.raises(RuntimeError, match="not compiled"):
        model.fit(X, y)
    with pytest.raises(RuntimeError, match="not compiled"):
        model.evaluate(X, y)
    model.compile("sgd", loss=mse)
    with pytest.raises(ValueError, match=r"same number of samples \(x has 10, y has 9\)"):
        model.fit(X, y[:9])
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(X, y, validation_split=1.0)
    with pytest.raises(ValueError, match="validation_data"):
        model.fit(X, y, validation_data=(X, y, y, y))
    with pytest.raises(ValueError, match="ragged"):
        model.fit([[1.0, 2.0, 3.0], [1.0]], [1.0, 2.0])
    with pytest.raises(ValueError, match="y .* is required"):
        model.fit(X, None)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(X, y, batch_size=0)
    model.compile("sgd")  # Keras 3: a loss may be left out (for a custom train_step) ...
    with pytest.raises(ValueError, match="compiled without a loss"):
        model.fit(X, y)  # ... but the default train_step then says what is missing
    with pytest.raises(ValueError, match="unknown optimizer"):
        model.compile("nadamx", loss=mse)


def _fit_spiral(seed):
    Xs, ys = tg.datasets.spiral(n_per_class=20, n_classes=3, seed=1)
    tg.random.seed(seed)
    clf = TinyMLP([2, 16, 3], seed=seed)
    clf.compile(tg.optimizers.Adam(0.01),
                loss=tg.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    return clf.fit(Xs, ys, epochs=3, verbose=0)


def spiral_loss_ratio(seed):
    loss = _fit_spiral(seed).history["loss"]
    return loss[-1] / loss[0]


@pytest.mark.training
def test_losses_and_metrics_by_name_and_object():
    X, y = _regression(32)
    model = TinyMLP([3, 1])
    model.compile("sgd", loss="mean_squared_error", metrics=["mae"])
    hist = model.fit(X, y, epochs=2, verbose=0)
    assert list(hist.history) == ["loss", "mae"]
    hist = _fit_spiral(0)
    assert list(hist.history) == ["loss", "accuracy"]
    # 3 epochs of Adam(0.01) lower the loss by more than 3% (last / first loss over seeds 0-19 x
    # OPENBLAS_CORETYPE Haswell/SkylakeX/Prescott, min / median / max: 0.914 / 0.924 / 0.937)
    assert hist.history["loss"][-1] < 0.97 * hist.history["loss"][0]
    with pytest.raises(TypeError, match="name or a callable"):
        model.compile("adam", loss=3)


def test_float64_model_trains_in_float64(tmp_path):
    X, y = _regression(16)
    model = TinyMLP([3, 1], dtype=np.float64)
    model.compile("sgd", loss=mse)
    model.fit(X, y, epochs=1, verbose=0)
    assert model.params[0].dtype == np.float64
    model.save_weights(os.path.join(tmp_path, "w.npz"))
