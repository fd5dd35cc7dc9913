"""`OptunaPruning`: report a monitored value to an Optuna trial after each epoch and stop
unpromising trials (raises `optuna.TrialPruned`, which `study.optimize` records as pruned).

>>> import optuna, numpy as np, tapegrad as tg
>>> def objective(trial):
...     model = tg.nn.Sequential([tg.nn.Dense(1)])
...     model.compile(optimizer=tg.optimizers.SGD(trial.suggest_float("lr", 1e-3, 1e-1)),
...                   loss="mse")
...     X = np.ones((8, 2), np.float32)
...     h = model.fit(X, X[:, :1], epochs=3, verbose=0, validation_data=(X, X[:, :1]),
...                   callbacks=[tg.callbacks.OptunaPruning(trial, monitor="val_loss")])
...     return h.history["val_loss"][-1]
>>> optuna.logging.set_verbosity(optuna.logging.WARNING)
>>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
>>> study.optimize(objective, n_trials=2)
>>> len(study.trials)
2
"""

from __future__ import annotations

from typing import Any

from tapegrad.callbacks import Callback, Logs

__all__ = ["OptunaPruning"]


class OptunaPruning(Callback):
    """After each epoch, `trial.report(logs[monitor], epoch)`; if the study's pruner says so,
    stop training by raising `optuna.TrialPruned` (as Optuna's own Keras callback does).

    >>> import optuna, tapegrad as tg
    >>> study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=1.0))
    >>> cb = tg.callbacks.OptunaPruning(study.ask(), monitor="val_loss")
    >>> cb.on_epoch_end(0, {"val_loss": 0.5})           # reported, kept
    >>> try:
    ...     cb.on_epoch_end(1, {"val_loss": 2.0})       # above the threshold: pruned
    ... except optuna.TrialPruned as e:
    ...     print(e)
    pruned at epoch 1 (val_loss=2)
    """

    def __init__(self, trial: Any, monitor: str = "val_loss"):
        super().__init__()
        self.trial = trial
        self.monitor = monitor

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        import optuna

        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"OptunaPruning: the logs have no {self.monitor!r} (they have "
                           f"{sorted(logs)}); pass validation data to fit or another monitor=")
        self.trial.report(float(logs[self.monitor]), step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch} ({self.monitor}="
                                     f"{logs[self.monitor]:.4g})")
