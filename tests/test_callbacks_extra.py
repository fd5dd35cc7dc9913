"""ReduceLROnPlateau and LambdaCallback (Keras 3's arguments), in fit and by hand."""

import numpy as np
import pytest

import tapegrad as tg


def run(cb, losses, lr=0.1):
    opt = tg.optimizers.SGD(lr)
    cbs = tg.callbacks.CallbackList([cb], variables=[tg.Variable(1.0)], optimizer=opt)
    cbs.on_train_begin()
    rates = []
    for epoch, loss in enumerate(losses):
        logs = {"val_loss": loss}
        cbs.on_epoch_end(epoch, logs)
        rates.append(opt.learning_rate)
        assert logs["learning_rate"] == pytest.approx(rates[-1] if epoch == 0 else rates[-2])
    return rates


def test_reduce_lr_on_plateau_patience_factor_and_min_lr():
    rates = run(tg.callbacks.ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.02),
                [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02])


def test_reduce_lr_on_plateau_min_delta_cooldown_and_max_mode():
    # improvements smaller than min_delta count as no improvement
    rates = run(tg.callbacks.ReduceLROnPlateau(factor=0.1, patience=1, min_delta=0.1),
                [1.0, 0.95, 0.92])
    assert rates == pytest.approx([0.1, 0.01, 0.001])
    # after a reduction the counting waits `cooldown` epochs (Keras's trace: the epoch that
    # ends the cooldown already counts)
    rates = run(tg.callbacks.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2),
                [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert rates == pytest.approx([0.1, 0.05, 0.05, 0.025, 0.025, 0.0125])
    cb = tg.callbacks.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1)
    assert cb.mode == "max"


def test_reduce_lr_on_plateau_in_fit_logs_the_rate_and_warns_on_a_missing_metric():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 2)).astype(np.float32)
    model = tg.nn.Sequential([tg.nn.Dense(1)])
    model.compile(tg.optimizers.SGD(0.0), loss="mse")  # lr 0: the loss never improves
    hist = model.fit(X, X[:, :1], epochs=4, verbose=0, callbacks=[
        tg.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)])
    assert hist.history["learning_rate"] == [0.0] * 4  # logged; 0 stays 0 (min_lr 0)
    model.compile(tg.optimizers.SGD(0.1), loss="mse")
    with pytest.warns(UserWarning, match="'val_loss' is not in the logs"):
        model.fit(X, X[:, :1], epochs=1, verbose=0,
                  callbacks=[tg.callbacks.ReduceLROnPlateau()])


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"factor": 1.0}, ValueError, r"factor must be in \(0, 1\)"),
    ({"factor": "a"}, TypeError, r"factor must be in \(0, 1\), got 'a' \(str\)"),
    ({"patience": -1}, ValueError, "patience must be an integer >= 0"),
    ({"mode": "up"}, ValueError, "mode must be"),
    ({"min_lr": -1.0}, ValueError, "min_lr must be a finite number >= 0"),
    ({"monitor": 3}, TypeError, "monitor must be"),
])
def test_reduce_lr_on_plateau_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match="ReduceLROnPlateau: " + match):
        tg.callbacks.ReduceLROnPlateau(**kwargs)


def test_reduce_lr_on_plateau_refuses_a_schedule():
    opt = tg.optimizers.SGD(lambda step: 0.1)
    cbs = tg.callbacks.CallbackList([tg.callbacks.ReduceLROnPlateau(monitor="loss")],
                                    variables=[tg.Variable(1.0)], optimizer=opt)
    with pytest.raises(TypeError, match="learning rate is a schedule"):
        cbs.on_epoch_end(0, {"loss": 1.0})


def test_lambda_callback_calls_each_hook_in_fit():
    events = []
    cb = tg.callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: events.append(f"epoch_begin {epoch}"),
        on_train_batch_end=lambda batch, logs: events.append(f"batch_end {batch}"),
        on_epoch_end=lambda epoch, logs: events.append(f"epoch_end {epoch} {sorted(logs)}"),
        on_train_end=lambda logs: events.append("train_end"))
    X = np.zeros((8, 2), np.float32)
    model = tg.nn.Sequential([tg.nn.Dense(1)])
    model.compile("sgd", loss="mse")
    model.fit(X, X[:, :1], batch_size=4, epochs=2, verbose=0, callbacks=[cb])
    assert events == ["train_begin", "epoch_begin 0", "batch_end 0", "batch_end 1",
                      "epoch_end 0 ['loss']", "epoch_begin 1", "batch_end 0", "batch_end 1",
                      "epoch_end 1 ['loss']", "train_end"]


def test_lambda_callback_bad_arguments():
    with pytest.raises(TypeError, match="LambdaCallback: on_epoch_end must be callable"):
        tg.callbacks.LambdaCallback(on_epoch_end=3)
    with pytest.raises(ValueError, match="on_batch_end or on_train_batch_end, not both"):
        tg.callbacks.LambdaCallback(on_batch_end=print, on_train_batch_end=print)
