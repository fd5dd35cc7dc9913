"""Callbacks for `fit` and for hand-written training loops (Keras names and arguments).

A callback sees `self.model` (anything with `get_weights`/`set_weights`/`save_weights` and a
`stop_training` attribute) and `self.optimizer`. `fit` drives them itself. In a hand-written
`tg.GradientTape` loop, drive them with a `CallbackList` and stop when it says so; pass
`variables=[...]` instead of a model when there is none:

>>> import numpy as np, tapegrad as tg
>>> X = np.linspace(-1, 1, 32, dtype=np.float32)[:, None]; Y = 3 * X
>>> w = tg.Variable([[0.0]], name="w")
>>> opt = tg.optimizers.SGD(1.0)
>>> cbs = tg.callbacks.CallbackList(
...     [tg.callbacks.EarlyStopping(monitor="loss", patience=2, restore_best_weights=True)],
...     variables=[w], optimizer=opt)
>>> cbs.on_train_begin()
>>> for epoch in range(100):
...     cbs.on_epoch_begin(epoch)
...     with tg.GradientTape() as tape:
...         loss = tg.mean((tg.tensor(X) @ w - Y) ** 2)
...     opt.apply_gradients(zip(tape.gradient(loss, [w]), [w]))
...     cbs.on_epoch_end(epoch, {"loss": float(loss)})
...     if cbs.stop_training:
...         break
>>> cbs.on_train_end()
>>> round(float(w.numpy()[0, 0]), 3)
3.0
"""

from __future__ import annotations

import csv
import math
import os
import re
import string
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tapegrad import _args

__all__ = [
    "Callback", "CallbackList", "History", "EarlyStopping", "ModelCheckpoint",
    "LearningRateScheduler", "TerminateOnNaN", "CSVLogger", "GradientNormLogger",
]

Logs = dict[str, float]


class Callback:
    """Base class: override any of the `on_*` hooks; `self.model`, `self.optimizer` and
    `self.params` (epochs, steps, verbose) are set by the driver.

    >>> import tapegrad as tg
    >>> class Printer(Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(epoch, logs)
    >>> CallbackList([Printer()], variables=[tg.Variable(1.0)]).on_epoch_end(0, {"loss": 0.5})
    0 {'loss': 0.5}
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.optimizer: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None: ...
    def on_train_end(self, logs: Logs | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...


class _VariablesModel:
    """Stands in for a model in hand-written loops: weights are the given Variables."""

    def __init__(self, variables: Sequence[Any]):
        self.variables = list(variables)
        self.stop_training = False

    def get_weights(self) -> list[np.ndarray]:
        return [np.array(v.numpy(), copy=True) for v in self.variables]

    def set_weights(self, weights: Sequence[Any]) -> None:
        if len(weights) != len(self.variables):
            raise ValueError(f"set_weights: got {len(weights)} arrays for "
                             f"{len(self.variables)} variables")
        for v, w in zip(self.variables, weights):
            v.assign(w)

    def save_weights(self, path: str) -> None:
        from tapegrad.nn.weights import save_variables

        save_variables(self.variables, path)  # every variable, even two of the same name


class CallbackList(Callback):
    """Drives several callbacks at once; use it from a hand-written loop (see the module doc).

    Give the `model` (or, without one, the trained `variables`) and the `optimizer` (taken from
    `model.optimizer` if not given). `stop_training` is True once a callback asked to stop.

    >>> import tapegrad as tg
    >>> cbs = CallbackList([History(), TerminateOnNaN()], variables=[tg.Variable(1.0)])
    >>> cbs.on_train_begin(); cbs.on_epoch_end(0, {"loss": 0.5}); cbs.stop_training
    False
    """

    def __init__(self, callbacks: Sequence[Callback] | None = None, model: Any = None,
                 optimizer: Any = None, variables: Sequence[Any] | None = None,
                 params: dict[str, Any] | None = None):
        super().__init__()
        if model is None and variables is not None:
            model = _VariablesModel(_variable_list(variables, "CallbackList"))
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        elif callbacks is not None and (isinstance(callbacks, (str, bytes)) or not isinstance(
                callbacks, Sequence)):
            raise TypeError(f"CallbackList: callbacks must be a list of Callback objects, got "
                            f"{type(callbacks).__name__}")
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"CallbackList: expected Callback objects, got "
                                f"{type(cb).__name__}")
        self.model = model
        self.optimizer = optimizer if optimizer is not None else getattr(model, "optimizer", None)
        if model is not None:
            model.stop_training = False
        for cb in self.callbacks:
            cb.set_model(model)
            cb.optimizer = self.optimizer
        self.set_params(params or {})

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    @property
    def stop_training(self) -> bool:
        return bool(getattr(self.model, "stop_training", False))

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self.model is not None:
            self.model.stop_training = False
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        for cb in self.callbacks:
            cb.on_batch_begin(batch, logs)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for cb in self.callbacks:
            cb.on_batch_end(batch, logs)


class History(Callback):
    """Records each epoch's logs: `history.history["loss"]` is the list of epoch losses.

    >>> h = History()
    >>> h.on_train_begin(); h.on_epoch_end(0, {"loss": 0.5}); h.on_epoch_end(1, {"loss": 0.25})
    >>> h.history, h.epoch
    ({'loss': [0.5, 0.25]}, [0, 1])
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self) -> str:
        return f"<tg.callbacks.History epochs={len(self.epoch)} keys={list(self.history)}>"


def _variable_list(variables: Any, who: str) -> list[Any]:
    from tapegrad.tensor import Variable

    if isinstance(variables, Variable):
        return [variables]
    if isinstance(variables, (str, bytes)) or not isinstance(variables, Sequence) or not all(
            isinstance(v, Variable) for v in variables):
        raise TypeError(f"{who}: variables must be a list of tg.Variable, got "
                        f"{type(variables).__name__}")
    return list(variables)


def _monitor(monitor: Any, who: str) -> str:
    if not isinstance(monitor, str):
        raise TypeError(f"{who}: monitor must be the name of a logged value such as "
                        f"'val_loss', got {monitor!r}")
    return monitor


def _resolve_mode(mode: str, monitor: str, who: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{who}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        return "max" if monitor.endswith(("acc", "accuracy", "auc")) else "min"
    return mode


class EarlyStopping(Callback):
    """Stop training when `monitor` has not improved by more than `min_delta` for `patience`
    epochs. With `restore_best_weights=True` the weights of the best epoch are put back when
    training ends (also when it ran all its epochs, unlike Keras, which restores only on an
    early stop). `mode="auto"` maximises names ending in acc/accuracy/auc, else minimises.

    >>> EarlyStopping(patience=3).monitor
    'val_loss'
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", restore_best_weights: bool = False):
        super().__init__()
        self.monitor = _monitor(monitor, "EarlyStopping")
        self.min_delta = abs(_args.number(min_delta, "EarlyStopping", "min_delta"))
        self.patience = _args.count(patience, "EarlyStopping", "patience", minimum=0)
        self.verbose = verbose
        self.mode = _resolve_mode(mode, monitor, "EarlyStopping")
        self.restore_best_weights = restore_best_weights
        self.on_train_begin()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0
        self.best_weights: list[np.ndarray] | None = None

    def _improved(self, current: float) -> bool:
        if self.mode == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"EarlyStopping: metric {self.monitor!r} is not in the logs "
                          f"(available: {sorted(logs or {})})", stacklevel=2)
            return
        current = float(current)
        if self._improved(current):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            if self.verbose:
                print(f"EarlyStopping: restored the weights of epoch {self.best_epoch + 1}")
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")


class ModelCheckpoint(Callback):
    """Save the weights (`model.save_weights`) after every epoch, or only when `monitor`
    improved with `save_best_only=True`. `filepath` may contain `{epoch}` and log keys,
    e.g. "ckpt_{epoch:02d}_{val_loss:.3f}.npz" (epochs counted from 1); missing folders are
    created. Positional braces such as a folder named "run{1}/" are kept as written. A key that
    is not logged raises ValueError naming it: at the start of training for `val_*` keys when
    the driver's params say there is no validation data (`params["do_validation"]`), else at
    the first epoch end.

    >>> ModelCheckpoint("best.npz", save_best_only=True).monitor
    'val_loss'
    >>> ModelCheckpoint("run{1}/w.{epoch:02d}.npz").path_for(0, {})
    'run{1}/w.01.npz'
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, mode: str = "auto"):
        super().__init__()
        if not isinstance(filepath, (str, os.PathLike)):
            raise TypeError(f"ModelCheckpoint: filepath must be a path (str or os.PathLike), "
                            f"got {filepath!r}")
        self.filepath = os.fspath(filepath)
        self._fields = _template_fields(self.filepath, "ModelCheckpoint")
        self.monitor = _monitor(monitor, "ModelCheckpoint")
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.mode = _resolve_mode(mode, monitor, "ModelCheckpoint")
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self.params.get("do_validation") is False:
            needs = [f for f in self._fields if f.startswith("val_")]
            if needs:
                raise ValueError(f"ModelCheckpoint: filepath {self.filepath!r} uses {needs}, "
                                 f"but training has no validation data; pass validation_data "
                                 f"or validation_split to fit, or drop those fields")

    def path_for(self, epoch: int, logs: Logs) -> str:
        """The file name for `epoch` (counted from 0) and these logs."""
        return _format_path(self.filepath, {**logs, "epoch": epoch + 1}, "ModelCheckpoint")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        path = self.path_for(epoch, logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint: metric {self.monitor!r} is not in the logs "
                              f"(available: {sorted(logs)}); not saving", stacklevel=2)
                return
            better = current < self.best if self.mode == "min" else current > self.best
            if not better:
                return
            self.best = float(current)
        self.model.save_weights(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved weights to {path}")


_FORMATTER = string.Formatter()


def _template_fields(template: str, who: str) -> list[str]:
    """The names a path template uses ({epoch}, {val_loss:.3f}); positional fields ({}, {1})
    are not names: they stay as written."""
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError as e:
        raise ValueError(f"{who}: filepath {template!r} is not a valid template ({e}); write a "
                         f"literal brace as {{{{ or }}}}") from e
    return [re.split(r"[.\[]", f, maxsplit=1)[0] for _, f, _, _ in parsed
            if f and not f.isdigit()]


def _format_path(template: str, values: dict[str, Any], who: str) -> str:
    out = []
    for literal, field, spec, conversion in _FORMATTER.parse(template):
        out.append(literal)
        if field is None:
            continue
        if field == "" or field.isdigit():  # e.g. a folder named run{1}/: kept literally
            out.append("{" + field + (f"!{conversion}" if conversion else "")
                       + (f":{spec}" if spec else "") + "}")
            continue
        root = re.split(r"[.\[]", field, maxsplit=1)[0]
        if root not in values:
            hint = " (val_* keys need validation data in fit)" if root.startswith("val_") else ""
            raise ValueError(f"{who}: filepath {template!r} needs {root!r}, which is not in the "
                             f"logs (available: {sorted(values)}){hint}")
        try:
            obj, _ = _FORMATTER.get_field(field, (), values)
            out.append(_FORMATTER.format_field(_FORMATTER.convert_field(obj, conversion),
                                               spec or ""))
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as e:
            raise ValueError(f"{who}: cannot format {{{field}:{spec}}} of filepath {template!r} "
                             f"with {values[root]!r}: {e}") from e
    return "".join(out)


class LearningRateScheduler(Callback):
    """At each epoch start set `optimizer.learning_rate = schedule(epoch, lr)` (or
    `schedule(epoch)` for a one-argument function); the rate is logged as "learning_rate".
    This replaces a per-step schedule given to the optimizer (epochs count from 0).

    >>> LearningRateScheduler(lambda epoch, lr: lr * 0.9).verbose
    0
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be a function "
                            f"schedule(epoch, lr) -> lr, got {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def _optimizer(self) -> Any:
        opt = self.optimizer if self.optimizer is not None else \
            getattr(self.model, "optimizer", None)
        if opt is None:
            raise ValueError("LearningRateScheduler: no optimizer; pass optimizer= to "
                             "CallbackList or compile the model")
        return opt

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        opt = self._optimizer()
        try:
            lr = self.schedule(epoch, opt.learning_rate)
        except TypeError:
            lr = self.schedule(epoch)
        lr = _args.number(lr, "LearningRateScheduler", f"the schedule's rate for epoch {epoch}",
                          0.0)
        opt.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: learning rate {float(lr):.6g}")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self._optimizer().learning_rate)


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite.

    >>> import tapegrad as tg
    >>> cbs = CallbackList([TerminateOnNaN()], variables=[tg.Variable(1.0)])
    >>> cbs.on_batch_end(0, {"loss": float("nan")}); cbs.stop_training
    Batch 0: invalid loss nan, terminating training
    True
    """

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"Batch {batch}: invalid loss {loss}, terminating training")
            self.model.stop_training = True

    on_epoch_end = on_batch_end


class CSVLogger(Callback):
    """Write one CSV row per epoch: "epoch" then the log keys in sorted order (a header first,
    unless appending to a non-empty file). Each row is flushed as it is written, but the file is
    an append-only log, not written atomically: a process killed mid-write may leave a torn last
    line (the rows before it are intact).

    >>> CSVLogger("training.csv").separator
    ','
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False):
        super().__init__()
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"CSVLogger: filename must be a path (str or os.PathLike), got "
                            f"{filename!r}")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: separator must be a single character, got "
                             f"{separator!r}")
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = bool(append)
        self._file: Any = None
        self._writer: Any = None
        self._keys: list[str] | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        has_rows = self.append and os.path.exists(self.filename) and \
            os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self._writer = None
        self._keys = None
        self._header_written = has_rows

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self._file is None:
            self.on_train_begin()
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.separator)
            if not self._header_written:
                self._writer.writerow(["epoch", *self._keys])
        self._writer.writerow([epoch, *(logs.get(k, "NA") for k in self._keys)])
        self._file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class GradientNormLogger(Callback):
    """Add `grad_norm/<variable>` (the mean over the epoch's batches of each trainable
    variable's gradient norm) to the epoch logs, so vanishing or exploding layers show in the
    history. It observes gradients through hooks (`Variable.register_hook`): the training loop
    needs no change, in `fit` or by hand. (A model built lazily by its first batch is watched
    from its second batch on.)

    >>> import numpy as np, tapegrad as tg
    >>> w = tg.Variable([1.0, 2.0], name="w")
    >>> cbs = tg.callbacks.CallbackList([tg.callbacks.GradientNormLogger()], variables=[w])
    >>> cbs.on_train_begin()
    >>> with tg.GradientTape() as tape:
    ...     loss = tg.sum(w * w)
    >>> _ = tape.gradient(loss, [w])
    >>> logs = {}
    >>> cbs.on_epoch_end(0, logs); cbs.on_train_end()
    >>> round(logs["grad_norm/w"], 4)  # |(2, 4)|
    4.4721
    """

    def __init__(self, variables: Sequence[Any] | None = None):
        super().__init__()
        self.variables = (None if variables is None
                          else _variable_list(variables, "GradientNormLogger"))
        self._handles: list[Any] = []
        self._totals: dict[str, list[float]] = {}

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._watch()

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        if not self._handles:  # the model may have been built by the previous batch
            self._watch()

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_begin(batch, logs)

    def _watch(self) -> None:
        variables = self.variables
        if variables is None:
            model = self.model
            variables = getattr(model, "trainable_variables", None) or model.variables
        for i, v in enumerate(variables):
            name = getattr(v, "name", None) or f"variable_{i}"
            self._handles.append(v.register_hook(self._observer(name)))

    def _observer(self, name: str) -> Callable[[Any], None]:
        def hook(g: Any) -> None:
            norm = float(np.sqrt(np.sum(np.square(g.numpy(), dtype=np.float64))))
            total = self._totals.setdefault(name, [0.0, 0])
            total[0] += norm
            total[1] += 1

        return hook

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            for name, (total, count) in self._totals.items():
                logs[f"grad_norm/{name}"] = total / count
        self._totals = {}

    def on_train_end(self, logs: Logs | None = None) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

from tapegrad.callbacks_extra import LambdaCallback, ReduceLROnPlateau  # noqa: E402
from tapegrad.integrations import OptunaPruning, TensorBoard  # noqa: E402,F401
from tapegrad.pruning import PruneLowMagnitude  # noqa: E402,F401

__all__ += ["LambdaCallback", "ReduceLROnPlateau"]
