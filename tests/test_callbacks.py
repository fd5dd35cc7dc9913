"""Callbacks in fit and in a hand-written tape loop (via CallbackList)."""

import csv
import doctest

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import callbacks as cb
from tapegrad import nn


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    y = (X @ rng.standard_normal((4, 1)) + 0.1).astype(np.float32)
    return X, y


def _model(lr=0.05, seed=0):
    tg.random.seed(seed)
    nn.reset_names()  # equal layer names, so checkpoints load by name into a fresh model
    model = nn.Sequential([nn.Dense(8, activation="tanh"), nn.Dense(1)])
    model.compile(tg.optimizers.SGD(lr), loss="mse")
    return model


class Recorder(cb.Callback):
    def __init__(self):
        super().__init__()
        self.calls, self.weights = [], []

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(f"epoch_begin {epoch}")

    def on_batch_end(self, batch, logs=None):
        self.calls.append(f"batch_end {batch}")

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(f"epoch_end {epoch}")
        self.weights.append(self.model.get_weights())

    def on_train_end(self, logs=None):
        self.calls.append("train_end")


def test_fit_calls_hooks_in_order():
    X, y = _data(10)
    rec = Recorder()
    _model().fit(X, y, batch_size=5, epochs=2, callbacks=[rec], verbose=0)
    assert rec.calls == ["train_begin", "epoch_begin 0", "batch_end 0", "batch_end 1",
                         "epoch_end 0", "epoch_begin 1", "batch_end 0", "batch_end 1",
                         "epoch_end 1", "train_end"]
    assert rec.params["epochs"] == 2 and rec.params["steps"] == 2


# -- EarlyStopping ------------------------------------------------------------------------------
def _drive(callback, values, monitor="val_loss"):
    """Run a hand-written 'training' whose weight equals the epoch number; return it at the end."""
    w = tg.Variable(np.zeros(1), name="w")
    cbs = cb.CallbackList([callback], variables=[w])
    cbs.on_train_begin()
    epochs = 0
    for epoch, v in enumerate(values):
        w.assign([float(epoch)])
        cbs.on_epoch_end(epoch, {monitor: v})
        epochs += 1
        if cbs.stop_training:
            break
    cbs.on_train_end()
    return epochs, float(w.numpy()[0])


def test_early_stopping_patience_and_restore_best_weights():
    es = cb.EarlyStopping(patience=2, restore_best_weights=True)
    epochs, w = _drive(es, [1.0, 0.5, 0.7, 0.6, 0.1, 0.05])
    assert epochs == 4 and es.stopped_epoch == 3
    assert es.best_epoch == 1 and es.best == 0.5
    assert w == 1.0  # the best epoch's weights are back


def test_early_stopping_patience_zero_min_delta_and_mode():
    assert _drive(cb.EarlyStopping(), [1.0, 0.9, 0.95, 0.5])[0] == 3
    assert _drive(cb.EarlyStopping(min_delta=0.2), [1.0, 0.9])[0] == 2
    es = cb.EarlyStopping(monitor="val_accuracy", patience=1)
    assert es.mode == "max"
    assert _drive(es, [0.5, 0.7, 0.6, 0.65], monitor="val_accuracy")[0] == 3
    # without restore_best_weights the last weights stay
    assert _drive(cb.EarlyStopping(patience=2), [1.0, 2.0, 3.0])[1] == 2.0
    # restoring also happens when training ran all its epochs
    assert _drive(cb.EarlyStopping(patience=5, restore_best_weights=True),
                  [3.0, 1.0, 2.0])[1] == 1.0
    with pytest.raises(ValueError, match="mode"):
        cb.EarlyStopping(mode="up")


def test_early_stopping_warns_on_missing_metric():
    with pytest.warns(UserWarning, match="'val_loss' is not in the logs"):
        _drive(cb.EarlyStopping(), [1.0], monitor="loss")


def _early_stopping_fit(seed):
    X, y = _data()
    model = _model(lr=0.05, seed=seed)
    rec = Recorder()
    # a learning rate that becomes far too large after epoch 2 makes val_loss blow up
    sched = cb.LearningRateScheduler(lambda epoch: 0.05 if epoch < 3 else 3.0)
    es = cb.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    hist = model.fit(X[:32], y[:32], batch_size=8, epochs=30, validation_data=(X[32:], y[32:]),
                     callbacks=[sched, rec, es], verbose=0)
    return model, rec, es, hist


def early_stopping_epochs(seed):
    return float(len(_early_stopping_fit(seed)[3].history["val_loss"]))


@pytest.mark.training
def test_early_stopping_in_fit_restores_best_epoch():
    """A learning rate of 3.0 from epoch 3 makes val_loss blow up: EarlyStopping(patience=2)
    stops the run and restores the best epoch's weights (epochs run, 60 runs (seeds 0-19 x 3
    BLAS kernels), min/median/max: 5 / 5 / 5 of 30)."""
    model, rec, es, hist = _early_stopping_fit(0)
    val = hist.history["val_loss"]
    assert len(val) < 30, "training should have stopped early"
    best = int(np.nanargmin(val))
    assert es.best_epoch == best
    for got, want in zip(model.get_weights(), rec.weights[best]):
        np.testing.assert_array_equal(got, want)
    assert hist.history["learning_rate"][:4] == [0.05, 0.05, 0.05, 3.0]


# -- ModelCheckpoint ----------------------------------------------------------------------------
def test_model_checkpoint_writes_every_epoch(tmp_path):
    X, y = _data()
    model = _model()
    path = str(tmp_path / "ckpt_{epoch:02d}.npz")
    model.fit(X, y, epochs=3, verbose=0, callbacks=[cb.ModelCheckpoint(path)])
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["ckpt_01.npz", "ckpt_02.npz", "ckpt_03.npz"]
    fresh = _model()
    fresh(tg.tensor(X[:1]))  # build
    fresh.load_weights(str(tmp_path / "ckpt_03.npz"))
    np.testing.assert_array_equal(fresh.predict(X), model.predict(X))


def test_model_checkpoint_save_best_only(tmp_path):
    saved = []

    class Spy:
        stop_training = False

        def save_weights(self, path):
            saved.append(path)

    mc = cb.ModelCheckpoint(str(tmp_path / "best_{epoch}_{val_loss:.1f}.npz"),
                            save_best_only=True)
    mc.set_model(Spy())
    for epoch, v in enumerate([1.0, 0.5, 0.7, 0.2, 0.3]):
        mc.on_epoch_end(epoch, {"val_loss": v})
    assert [p.split("/")[-1] for p in saved] == ["best_1_1.0.npz", "best_2_0.5.npz",
                                                 "best_4_0.2.npz"]
    X, y = _data()
    model = _model()
    target = tmp_path / "best.npz"
    model.fit(X, y, epochs=2, validation_split=0.25, verbose=0,
              callbacks=[cb.ModelCheckpoint(str(target), save_best_only=True)])
    assert target.exists()


# -- CSVLogger, LearningRateScheduler, TerminateOnNaN --------------------------------------------
def test_csv_logger_rows(tmp_path):
    X, y = _data()
    path = tmp_path / "log.csv"
    hist = _model().fit(X, y, epochs=3, validation_split=0.25, verbose=0,
                        callbacks=[cb.CSVLogger(str(path))])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    np.testing.assert_allclose([float(r[1]) for r in rows[1:]], hist.history["loss"])
    np.testing.assert_allclose([float(r[2]) for r in rows[1:]], hist.history["val_loss"])
    _model().fit(X, y, epochs=2, verbose=0, callbacks=[cb.CSVLogger(str(path), append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 6 and rows[0][0] == "epoch" and rows[4][0] == "0"


def test_learning_rate_scheduler_two_and_one_argument():
    model = _model(lr=0.1)
    X, y = _data(8)
    hist = model.fit(X, y, epochs=3, verbose=0,
                     callbacks=[cb.LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    assert hist.history["learning_rate"] == pytest.approx([0.05, 0.025, 0.0125])
    opt = tg.optimizers.Adam()
    cbs = cb.CallbackList([cb.LearningRateScheduler(lambda e: 0.1 * (e + 1))], optimizer=opt)
    cbs.on_epoch_begin(2)
    assert opt.learning_rate == pytest.approx(0.3)
    with pytest.raises(ValueError, match="no optimizer"):
        cb.CallbackList([cb.LearningRateScheduler(lambda e: 0.1)]).on_epoch_begin(0)


def test_terminate_on_nan_stops_within_the_epoch(capsys):
    """The 4th batch holds a NaN input, so its loss is NaN: training stops right there."""
    X, y = _data(40)
    X[12] = np.nan
    model = _model()
    batches = []
    hist = model.fit(X, y, batch_size=4, epochs=5, verbose=0, shuffle=False,
                     callbacks=[cb.TerminateOnNaN(), cb.LambdaCallback(
                         on_batch_end=lambda batch, logs: batches.append(batch))])
    assert batches == [0, 1, 2, 3], "training must stop at the first NaN batch"
    assert len(hist.history["loss"]) == 1
    assert "invalid loss" in capsys.readouterr().out


# -- hand-written loops -------------------------------------------------------------------------
def _hand_loop(log, seed):
    X, y = _data()
    model = _model(seed=seed)
    opt = tg.optimizers.Adam(0.01)
    # min_delta: the loss of a converging run always stops improving by 1e-3 per epoch (without
    # it, some seeds kept improving by tiny amounts for all 200 epochs)
    stop = cb.EarlyStopping(monitor="loss", patience=0, min_delta=1e-3)
    cbs = cb.CallbackList([stop, cb.CSVLogger(str(log))], model=model, optimizer=opt)
    cbs.on_train_begin()
    ran = 0
    for epoch in range(200):
        cbs.on_epoch_begin(epoch)
        for step, (xb, yb) in enumerate(tg.data.batches(X, y, batch_size=16, seed=epoch)):
            with tg.GradientTape() as tape:
                loss = tg.losses.mean_squared_error(tg.tensor(yb), model(tg.tensor(xb),
                                                                         training=True))
            opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                    model.trainable_variables))
            cbs.on_batch_end(step, {"loss": float(loss)})
        cbs.on_epoch_end(epoch, {"loss": model.evaluate(X, y)})
        ran += 1
        if cbs.stop_training:
            break
    cbs.on_train_end()
    return ran, cbs


def hand_loop_epochs(seed):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return float(_hand_loop(f"{tmp}/loop.csv", seed)[0])


@pytest.mark.training
def test_callback_list_drives_a_hand_written_loop_with_a_model(tmp_path):
    """CallbackList in a hand-written loop: EarlyStopping(patience=0, min_delta=1e-3) on the loss
    stops it, CSVLogger writes one row per epoch (epochs run, 60 runs (seeds 0-19 x 3 BLAS
    kernels), min/median/max: 11 / 23 / 70 of 200; without min_delta some seeds ran all 200)."""
    log = tmp_path / "loop.csv"
    ran, cbs = _hand_loop(log, 0)
    assert ran < 200 and cbs.stop_training
    assert len(log.read_text().strip().splitlines()) == ran + 1


def test_module_docstring_example_runs():
    result = doctest.testmod(cb, verbose=False)
    assert result.attempted > 5 and result.failed == 0


def test_callback_list_rejects_non_callbacks():
    with pytest.raises(TypeError, match="Callback objects"):
        cb.CallbackList([print])


def test_gradient_norm_logger_records_per_layer_norms_in_fit_history():
    import tapegrad as tg

    tg.random.seed(0)
    tg.nn.reset_names()
    x = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32)
    y = (x.sum(axis=1) > 0).astype(np.int64)
    model = tg.nn.Sequential([tg.nn.Dense(8, activation="tanh"), tg.nn.Dense(2)])
    model.compile(optimizer="adam", loss=tg.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0,
                        callbacks=[tg.callbacks.GradientNormLogger()])
    keys = [k for k in history.history if k.startswith("grad_norm/")]
    assert keys == ["grad_norm/dense/kernel", "grad_norm/dense/bias",
                    "grad_norm/dense_1/kernel", "grad_norm/dense_1/bias"]
    assert all(len(history.history[k]) == 2 and history.history[k][0] > 0 for k in keys)
    from tapegrad.state import HOOKS

    assert not any(id(v) in HOOKS for v in model.trainable_variables)  # hooks removed
