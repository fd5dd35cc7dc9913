"""Two more Keras callbacks: `ReduceLROnPlateau` and `LambdaCallback` (exported from
`tg.callbacks`)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

from tapegrad._args import count, number
from tapegrad.callbacks import Callback

__all__ = ["LambdaCallback", "ReduceLROnPlateau"]

Logs = dict[str, float]


class ReduceLROnPlateau(Callback):
    """Multiply the optimizer's learning rate by `factor` when `monitor` has not improved by
    more than `min_delta` for `patience` epochs, then wait `cooldown` epochs; never below
    `min_lr`. The rate is logged as "learning_rate" (Keras 3's arguments and behaviour).

    >>> import tapegrad as tg
    >>> opt = tg.optimizers.SGD(0.1)
    >>> cb = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
    >>> cbs = tg.callbacks.CallbackList([cb], variables=[tg.Variable(1.0)], optimizer=opt)
    >>> cbs.on_train_begin()
    >>> for epoch, loss in enumerate([1.0, 1.0, 1.0]):
    ...     cbs.on_epoch_end(epoch, {"loss": loss})
    >>> opt.learning_rate
    0.025
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0):
        super().__init__()
        who = "ReduceLROnPlateau"
        if not isinstance(monitor, str):
            raise TypeError(f"{who}: monitor must be a log name (str), got {monitor!r}")
        # Keras refuses factor >= 1 (it would never reduce); 0 or less would zero the rate.
        self.factor = number(factor, who, "factor", 0.0, 1.0, low_open=True, high_open=True)
        patience = count(patience, who, "patience", minimum=0)
        cooldown = count(cooldown, who, "cooldown", minimum=0)
        # verbose=True is common Keras usage; other values must be a count (0, 1, ...)
        verbose = int(verbose) if isinstance(verbose, bool) else count(verbose, who, "verbose",
                                                                       minimum=0)
        if not isinstance(mode, str) or mode not in ("auto", "min", "max"):
            raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.patience, self.cooldown, self.verbose = monitor, patience, cooldown, \
            verbose
        self.min_delta = abs(number(min_delta, who, "min_delta"))
        self.min_lr = number(min_lr, who, "min_lr", 0.0)
        self.mode = ("max" if "acc" in monitor or monitor.endswith("auc") else "min") \
            if mode == "auto" else mode
        self.on_train_begin()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.cooldown_counter = 0
        self.best = math.inf if self.mode == "min" else -math.inf

    def _optimizer(self) -> Any:
        opt = self.optimizer if self.optimizer is not None else \
            getattr(self.model, "optimizer", None)
        if opt is None:
            raise ValueError("ReduceLROnPlateau: no optimizer; compile the model or pass "
                             "optimizer= to CallbackList")
        if getattr(opt, "schedule", None) is not None:
            raise TypeError("ReduceLROnPlateau: the optimizer's learning rate is a schedule; "
                            "give the optimizer a float learning rate to use this callback")
        return opt

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        opt = self._optimizer()
        logs["learning_rate"] = float(opt.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"ReduceLROnPlateau: metric {self.monitor!r} is not in the logs "
                          f"(available: {sorted(logs)})", stacklevel=2)
            return
        current = float(current)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        better = current < self.best - self.min_delta if self.mode == "min" else \
            current > self.best + self.min_delta
        if better:
            self.best, self.wait = current, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            old = float(opt.learning_rate)
            if old > self.min_lr:
                new = max(old * self.factor, self.min_lr)
                opt.learning_rate = new
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                          f"{new:.6g}.")
            self.cooldown_counter = self.cooldown
            self.wait = 0


class LambdaCallback(Callback):
    """A callback from plain functions, as Keras: `on_epoch_begin(epoch, logs)`,
    `on_epoch_end(epoch, logs)`, `on_batch_begin(batch, logs)`, `on_batch_end(batch, logs)`,
    `on_train_begin(logs)`, `on_train_end(logs)` (Keras 3's `on_train_batch_begin/end` are
    the same as the batch ones).

    >>> import tapegrad as tg
    >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    >>> tg.callbacks.CallbackList([cb], variables=[tg.Variable(1.0)]).on_epoch_end(0, {"loss": 1})
    0 1
    """

    _HOOKS = ("on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end",
              "on_train_begin", "on_train_end")

    def __init__(self, on_epoch_begin: Callable | None = None,
                 on_epoch_end: Callable | None = None, on_batch_begin: Callable | None = None,
                 on_batch_end: Callable | None = None, on_train_begin: Callable | None = None,
                 on_train_end: Callable | None = None,
                 on_train_batch_begin: Callable | None = None,
                 on_train_batch_end: Callable | None = None):
        super().__init__()
        given = dict(zip(self._HOOKS, (on_epoch_begin, on_epoch_end, on_batch_begin,
                                       on_batch_end, on_train_begin, on_train_end)))
        for alias, name in (("on_train_batch_begin", "on_batch_begin"),
                            ("on_train_batch_end", "on_batch_end")):
            fn = on_train_batch_begin if alias == "on_train_batch_begin" else on_train_batch_end
            if fn is not None:
                if given[name] is not None:
                    raise ValueError(f"LambdaCallback: give {name} or {alias}, not both")
                given[name] = fn
        for name, fn in given.items():
            if fn is not None and not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be callable, got "
                                f"{type(fn).__name__}")
        self._fns = given

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self._fns["on_epoch_begin"]:
            self._fns["on_epoch_begin"](epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self._fns["on_epoch_end"]:
            self._fns["on_epoch_end"](epoch, logs)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        if self._fns["on_batch_begin"]:
            self._fns["on_batch_begin"](batch, logs)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._fns["on_batch_end"]:
            self._fns["on_batch_end"](batch, logs)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self._fns["on_train_begin"]:
            self._fns["on_train_begin"](logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._fns["on_train_end"]:
            self._fns["on_train_end"](logs)
