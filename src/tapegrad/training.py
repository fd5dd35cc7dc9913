"""compile / fit / evaluate / predict (Keras-style), as a mixin for models.

`Trainable` needs from the class it is mixed into: `self(x, training=bool)`,
`trainable_variables`, `variables`, `losses` (regularisation terms, added to the training loss),
`get_weights`/`set_weights` and `save_weights`/`load_weights` (for callbacks). `tg.nn.Module`
provides them. `fit` runs one `GradientTape` step per batch and returns a `History`.

>>> import numpy as np, tapegrad as tg
>>> class Line(Trainable):
...     def __init__(self):
...         self.w = tg.Variable([[0.0]], name="w")
...     def __call__(self, x, training=False):
...         return x @ self.w
...     trainable_variables = variables = property(lambda self: [self.w])
...     losses = property(lambda self: [])
>>> X = np.linspace(-1, 1, 64, dtype=np.float32)[:, None]
>>> model = Line()
>>> model.compile(tg.optimizers.SGD(0.3), loss=lambda y, p: tg.mean((y - p) ** 2))
>>> history = model.fit(X, 2 * X, batch_size=16, epochs=20, verbose=0)
>>> round(float(model.w.numpy()[0, 0]), 3)
2.0
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tapegrad import random as tg_random
from tapegrad.callbacks import Callback, CallbackList, History
from tapegrad.tape import GradientTape
from tapegrad.tensor import Tensor, get_default_dtype

__all__ = ["Trainable"]


def _registry(kind: str) -> Any:
    """`tapegrad.losses` / `tapegrad.metrics` (imported lazily: they live in the nn module)."""
    for mod in (f"tapegrad.{kind}", f"tapegrad.nn.{kind}"):
        try:
            return importlib.import_module(mod)
        except ModuleNotFoundError:
            continue
    raise ImportError(f"tapegrad.{kind} is not available; pass a function instead of a name")


def _resolve(kind: str, identifier: Any) -> tuple[str, Callable]:
    """(log name, function) for a loss or metric given by name or as a callable."""
    if isinstance(identifier, str):
        return identifier, _registry(kind).get(identifier)
    if callable(identifier):
        name = getattr(identifier, "name", None) or getattr(identifier, "__name__", None)
        if not isinstance(name, str) or name == "<lambda>":
            name = type(identifier).__name__.lower() if kind == "metrics" else "loss"
        return name, identifier
    raise TypeError(f"compile: a {kind[:-1]} must be a name or a callable, "
                    f"got {type(identifier).__name__}")


def _as_array(a: Any, what: str, where: str) -> np.ndarray:
    if isinstance(a, Tensor):
        return a.numpy()
    if a is None:
        raise ValueError(f"{where}: {what} is None")
    try:
        arr = np.asarray(a)
    except ValueError as e:
        raise ValueError(f"{where}: {what} is ragged (rows of different lengths): {e}") from None
    if arr.dtype == object or arr.dtype.kind not in "fiub":
        raise ValueError(f"{where}: {what} must be numeric (got dtype {arr.dtype}); ragged "
                         f"sequences need tg.data.pad_sequences first")
    if arr.ndim == 0:
        raise ValueError(f"{where}: {what} must have a batch dimension, got a scalar")
    return arr


def _scalar(t: Any) -> float:
    return float(t._value) if isinstance(t, Tensor) else float(t)


def _format_logs(logs: dict[str, float]) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class Trainable:
    """Mixin giving a model Keras's `compile`, `fit`, `evaluate` and `predict`."""

    optimizer: Any = None
    stop_training: bool = False
    history: History | None = None
    _steps: _JitSteps | None = None  # the traced steps when compiled with jit=True
    _loss_fn: Callable | None = None
    _metric_fns: list[tuple[str, Callable]] = []

    # -- setup -------------------------------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None,
                metrics: Sequence[Any] | None = None, jit: bool = False) -> None:
        """Choose the optimizer, loss and metrics, each by name or as an object/function.

        With `jit=True` (Keras' `jit_compile`) fit, evaluate and predict trace their per-batch
        step once with `tg.function` and replay it as NumPy; a step that cannot be traced
        runs eagerly after a one-line notice.

        >>> # model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        """
        from tapegrad import optimizers

        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='mean_squared_error'")
        if isinstance(metrics, (str, bytes)) or callable(metrics):
            metrics = [metrics]
        self.optimizer = optimizers.get(optimizer)
        self._steps = _JitSteps(self) if jit else None
        _, self._loss_fn = _resolve("losses", loss)
        self._metric_fns = [_resolve("metrics", m) for m in (metrics or [])]
        names = [n for n, _ in self._metric_fns]
        for n in names:
            if names.count(n) > 1 or n == "loss":
                raise ValueError(f"compile: metric name {n!r} is used twice (or clashes with "
                                 f"'loss'); give the functions distinct names")

    def _check_compiled(self, where: str) -> None:
        if self._loss_fn is None or self.optimizer is None:
            raise RuntimeError(f"{where}: the model is not compiled; call "
                               f"model.compile(optimizer, loss, metrics=[...]) first")

    def _float_dtype(self) -> np.dtype:
        for v in self.variables:
            if v.dtype.kind == "f":
                return v.dtype
        return get_default_dtype()

    def _prepare(self, x: Any, y: Any, where: str) -> tuple[np.ndarray, np.ndarray | None]:
        x = _as_array(x, "x", where)
        dt = self._float_dtype()
        if x.dtype.kind == "f" and x.dtype != dt:
            x = x.astype(dt)
        if y is None:
            return x, None
        y = _as_array(y, "y", where)
        if y.dtype.kind == "f" and y.dtype != dt:
            y = y.astype(dt)
        if len(x) != len(y):
            raise ValueError(f"{where}: x and y must have the same number of samples, got "
                             f"{len(x)} and {len(y)}")
        return x, y

    # -- steps -------------------------------------------------------------------------------
    def _total_loss(self, y: Tensor, y_pred: Tensor) -> Tensor:
        loss = self._loss_fn(y, y_pred)
        reg = self.losses
        if reg:
            for r in reg:
                loss = loss + r
        return loss

    def train_step(self, x: Tensor, y: Tensor) -> tuple[float, Tensor]:
        """One GradientTape step on a batch; returns (loss including regularisation, y_pred)."""
        if self._steps is not None:
            loss, y_pred = self._steps.call("train", x, y)
            return _scalar(loss), y_pred
        loss, y_pred = self._train_step_tensors(x, y)
        return _scalar(loss), y_pred

    def _train_step_tensors(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._total_loss(y, y_pred)
        variables = self.trainable_variables
        grads = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return loss, y_pred

    def _test_step_tensors(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        y_pred = self(x, training=False)
        return self._total_loss(y, y_pred), y_pred

    def _predict_tensors(self, x: Tensor) -> Tensor:
        return self(x, training=False)

    def _batch_logs(self, loss: float, y: Tensor, y_pred: Tensor) -> dict[str, float]:
        logs = {"loss": loss}
        for name, fn in self._metric_fns:
            logs[name] = _scalar(fn(y, y_pred))
        return logs

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, x: Any, y: Any, batch_size: int | None = 32, epochs: int = 1,
            validation_data: tuple[Any, Any] | None = None, validation_split: float = 0.0,
            callbacks: Sequence[Callback] | None = None, verbose: int = 1,
            shuffle: bool = True) -> History:
        """Train for `epochs` passes over (x, y) in mini-batches; returns a `History` whose
        `.history` maps "loss", each metric and their "val_" versions to per-epoch lists.

        `validation_split` holds out the last fraction of the samples (before shuffling, as
        Keras does). verbose: 0 silent, 1 a progress bar per epoch (tqdm), 2 one line per epoch.
        Shuffling uses `tg.random.generator()`, so `tg.random.seed(n)` makes it repeatable.
        """
        self._check_compiled("fit")
        if y is None:
            raise ValueError("fit: y (the targets) is required")
        x, y = self._prepare(x, y, "fit")
        batch_size = 32 if batch_size is None else int(batch_size)
        if batch_size < 1:
            raise ValueError(f"fit: batch_size must be >= 1, got {batch_size}")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        if validation_data is None and validation_split > 0:
            split = int(len(x) * (1.0 - validation_split))
            if split == 0 or split == len(x):
                raise ValueError(f"fit: validation_split={validation_split} of {len(x)} "
                                 f"samples leaves an empty training or validation set")
            validation_data = (x[split:], y[split:])
            x, y = x[:split], y[:split]
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val)")
            val_x, val_y = self._prepare(*validation_data, "fit (validation_data)")
        if len(x) == 0:
            raise ValueError("fit: x is empty")

        n = len(x)
        steps = math.ceil(n / batch_size)
        self.history = history = History()
        cbs = CallbackList([*(callbacks or []), history], model=self, optimizer=self.optimizer,
                           params={"epochs": epochs, "steps": steps, "verbose": verbose,
                                   "batch_size": batch_size, "samples": n})
        cbs.on_train_begin()
        for epoch in range(epochs):
            cbs.on_epoch_begin(epoch)
            start = time.perf_counter()
            if shuffle:
                perm = tg_random.generator().permutation(n)
                xs, ys = x[perm], y[perm]
            else:
                xs, ys = x, y
            bar = _progress_bar(verbose, steps, epoch, epochs)
            sums: dict[str, float] = {}
            seen = 0
            for step in range(steps):
                cbs.on_batch_begin(step)
                lo = step * batch_size
                xb, yb = Tensor._wrap(xs[lo:lo + batch_size]), Tensor._wrap(ys[lo:lo + batch_size])
                loss, y_pred = self.train_step(xb, yb)
                batch_logs = self._batch_logs(loss, yb, y_pred)
                k = len(xb._value)
                seen += k
                for key, v in batch_logs.items():
                    sums[key] = sums.get(key, 0.0) + v * k
                cbs.on_batch_end(step, batch_logs)
                if bar is not None:
                    bar.update(1)
                    if step % 8 == 0 or step == steps - 1:
                        bar.set_postfix_str(_format_logs({k_: s / seen for k_, s in
                                                          sums.items()}), refresh=False)
                if self.stop_training:
                    break
            logs = {key: s / seen for key, s in sums.items()}
            if validation_data is not None:
                val = self.evaluate(val_x, val_y, batch_size=batch_size, return_dict=True)
                logs.update({f"val_{k_}": v for k_, v in val.items()})
            cbs.on_epoch_end(epoch, logs)
            if bar is not None:
                bar.set_postfix_str(_format_logs(logs), refresh=False)
                bar.close()
            elif verbose:
                secs = time.perf_counter() - start
                print(f"Epoch {epoch + 1}/{epochs} - {secs:.2f}s - {_format_logs(logs)}")
            if self.stop_training:
                break
        cbs.on_train_end()
        return history

    # -- evaluate / predict ---------------------------------------------------------------------
    def evaluate(self, x: Any, y: Any, batch_size: int | None = 32, verbose: int = 0,
                 return_dict: bool = False) -> Any:
        """Loss (including regularisation) and metrics on (x, y), in inference mode.

        Returns the loss alone if there are no metrics, else `[loss, *metrics]` (Keras's order),
        or a dict with `return_dict=True`.
        """
        self._check_compiled("evaluate")
        x, y = self._prepare(x, y, "evaluate")
        batch_size = 32 if batch_size is None else int(batch_size)
        sums: dict[str, float] = {}
        for lo in range(0, len(x), batch_size):
            xb, yb = Tensor._wrap(x[lo:lo + batch_size]), Tensor._wrap(y[lo:lo + batch_size])
            step = self._test_step_tensors if self._steps is None else self._steps.test
            loss, y_pred = step(xb, yb)
            logs = self._batch_logs(_scalar(loss), yb, y_pred)
            for key, v in logs.items():
                sums[key] = sums.get(key, 0.0) + v * len(xb._value)
        result = {key: s / max(len(x), 1) for key, s in sums.items()}
        if verbose:
            print(_format_logs(result))
        if return_dict:
            return result
        values = list(result.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: int | None = 32, verbose: int = 0) -> np.ndarray:
        """Model outputs for `x` in inference mode (`training=False`), as a NumPy array."""
        x, _ = self._prepare(x, None, "predict")
        batch_size = 32 if batch_size is None else int(batch_size)
        step = self._predict_tensors if self._steps is None else self._steps.predict
        outs = [step(Tensor._wrap(x[lo:lo + batch_size])).numpy()
                for lo in range(0, len(x), batch_size)]
        if not outs:
            raise ValueError("predict: x is empty")
        return np.concatenate(outs, axis=0)


class _JitSteps:
    """A compiled model's steps as `tg.function`s; a step that cannot be traced runs eagerly
    from then on, after a one-line notice."""

    def __init__(self, model: Any):
        from tapegrad.function import function

        self.model = model
        self.fns: dict[str, Callable] = {
            "train": function(model._train_step_tensors, strict=True),
            "test": function(model._test_step_tensors, strict=True),
            "predict": function(model._predict_tensors, strict=True)}

    def call(self, which: str, *args: Any) -> Any:
        from tapegrad.function import TracingError

        fn = self.fns[which]
        try:
            return fn(*args)
        except TracingError as e:  # the call itself ran eagerly (e.result); so will the next
            print(f"jit: the {which} step runs eagerly: {e}")
            self.fns[which] = getattr(self.model, f"_{which}_step_tensors"
                                      if which != "predict" else "_predict_tensors")
            return e.result

    def test(self, x: Tensor, y: Tensor) -> Any:
        return self.call("test", x, y)

    def predict(self, x: Tensor) -> Any:
        return self.call("predict", x)


def _progress_bar(verbose: int, steps: int, epoch: int, epochs: int) -> Any:
    """A tqdm bar for verbose=1 (one per epoch, kept on screen), or None."""
    if verbose != 1:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is in the `examples` extra; fall back to one line per epoch
        return None
    width = len(str(epochs))
    return tqdm(total=steps, desc=f"Epoch {epoch + 1:>{width}}/{epochs}", unit="batch",
                leave=True, mininterval=0.2, dynamic_ncols=True)
