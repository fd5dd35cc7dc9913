"""compile / fit / evaluate / predict (Keras 3 style), as a mixin for models.

`Trainable` needs from the class it is mixed into: `self(x, training=bool)` (x a tensor, or a
list/dict of them for several inputs; the result a tensor, or a list/dict for several outputs),
`trainable_variables`, `losses` (regularisation terms, added to the training loss), optionally
`input_names`/`output_names` (lists of str, or None for one unnamed input/output), and for
callbacks `get_weights`/`set_weights`/`save_weights`. `fit` feeds each batch to `train_step(data)`,
which runs one `GradientTape` step and returns a dict of logs; override it (with `test_step` for
`evaluate`) for GANs and other custom steps, as in Keras 3.

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

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tapegrad import random as tg_random
from tapegrad.callbacks import Callback, CallbackList, History
from tapegrad.compile_utils import CompileLoss, CompileMetrics
from tapegrad.data._checks import check_bool, check_int, check_optional_int
from tapegrad.data.adapter import DataHandler, _is_arrays, unpack_x_y_sample_weight
from tapegrad.metrics import Mean, Metric
from tapegrad.progress import ProgressBar, format_logs
from tapegrad.tape import GradientTape
from tapegrad.tensor import Tensor, get_default_dtype
from tapegrad.threads import limit_blas_threads

__all__ = ["Trainable"]


def _batch_size(x: Any) -> int:
    """Samples in a batch: the length of its first leaf."""
    while isinstance(x, (list, tuple, dict)):
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    return int(x.shape[0]) if getattr(x, "shape", ()) else 1


def _to_float(v: Any, key: str) -> float:
    if isinstance(v, Metric):
        return float(v.result())
    if isinstance(v, Tensor):
        v = v.numpy()
    try:
        return float(v)
    except (TypeError, ValueError) as e:
        raise TypeError(f"train_step/test_step: log {key!r} must be a number, a scalar Tensor "
                        f"or a metric, got {type(v).__name__}") from e


def _check_verbose(verbose: Any, where: str, auto: int) -> int:
    if isinstance(verbose, str) and verbose == "auto":
        return auto
    if isinstance(verbose, (bool, np.bool_)) or not isinstance(verbose, (int, np.integer)) \
            or verbose not in (0, 1, 2):
        raise ValueError(f"{where}: verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)


def _check_callbacks(callbacks: Any, where: str) -> list[Callback]:
    """A list of Callbacks; a single Callback is accepted as a list of one (as Keras does)."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"{where}: callbacks must be a list of tg.callbacks.Callback objects, "
                        f"got {type(callbacks).__name__}")
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"{where}: callbacks must be tg.callbacks.Callback objects, got "
                            f"{type(cb).__name__} {cb!r}")
    return list(callbacks)


class _JitSteps:
    """A compiled model's default steps as `tg.function`s (strict). A step that cannot be
    traced, or whose Python reads of tensor values (guards) keep changing so that most calls
    run eagerly anyway, runs eagerly from then on, after a one-line notice."""

    STALE_CALLS = 3  # eager calls after failed guards before giving up on a step's trace

    def __init__(self, model: Any):
        from tapegrad.function import function

        self.model = model
        self.fns: dict[str, Callable] = {
            "train": function(model._train_step_tensors, strict=True),
            "test": function(model._test_step_tensors, strict=True),
            "predict": function(model._predict_tensors, strict=True)}
        self.calls = dict.fromkeys(self.fns, 0)

    def _eager(self, which: str, why: str) -> None:
        print(f"jit: the {which} step runs eagerly: {why}")
        self.fns[which] = getattr(self.model, "_predict_tensors" if which == "predict"
                                  else f"_{which}_step_tensors")

    def call(self, which: str, *args: Any) -> Any:
        from tapegrad.function import Function, TracingError

        fn = self.fns[which]
        try:
            out = fn(*args)
        except TracingError as e:  # this call ran eagerly (e.result); so will the next ones
            self._eager(which, str(e))
            return e.result
        if isinstance(fn, Function):
            self.calls[which] += 1
            if fn.eager_calls >= self.STALE_CALLS and 2 * fn.eager_calls > self.calls[which]:
                self._eager(which, f"{fn.eager_calls} of {self.calls[which]} calls read "
                            "tensor values in Python that differed from the trace's")
        return out


def _structure_outputs(batches: list[Any]) -> Any:
    first = batches[0]
    if isinstance(first, dict):
        return {k: np.concatenate([b[k].numpy() for b in batches]) for k in first}
    if isinstance(first, (list, tuple)):
        return [np.concatenate([b[i].numpy() for b in batches]) for i in range(len(first))]
    return np.concatenate([b.numpy() for b in batches], axis=0)


class Trainable:
    """Mixin giving a model Keras's `compile`, `fit`, `evaluate`, `predict` and the
    overridable steps `train_step`, `test_step`, `predict_step`."""

    optimizer: Any = None
    stop_training: bool = False
    history: History | None = None
    _compile_loss: CompileLoss | None = None
    _compile_metrics: CompileMetrics | None = None
    _loss_tracker: Mean | None = None
    _compiled: bool = False
    _steps: _JitSteps | None = None  # the traced default steps when compiled with jit=True

    # -- setup -------------------------------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, loss_weights: Any = None,
                metrics: Any = None, jit: bool = True) -> None:
        """Choose the optimizer, the loss (one, or a list/dict per output), `loss_weights` (a
        list/dict per output) and metrics (a list for every output, or a list of lists/dict per
        output), each by name or as an object/function. A loss may be left out when
        `train_step` is overridden.

        With `jit=True`, the default (Keras' `jit_compile`; Keras also runs `fit` as a
        `tf.function` unless `run_eagerly`), the default `train_step`, `test_step` and
        `predict_step` trace their tensor work (forward, loss, `tape.gradient`, the optimizer
        update) once per batch signature with `tg.function` and replay it as NumPy; metrics
        are updated outside the trace from the returned tensors, so the numbers are eager's.
        A step that cannot be traced, or whose Python reads of tensor values (a mask computed
        from the inputs, say) differ from the trace's on most calls, prints a one-line notice
        and runs eagerly from then on. An overridden `train_step`/`test_step`/`predict_step`
        always runs eagerly (wrap its tensor work in `tg.function` yourself). `jit=False`
        runs every step eagerly, as written (to step through it in a debugger).

        >>> # model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        >>> # model.compile("rmsprop", loss={"priority": "mse", "department": "categorical_"
        >>> #               "crossentropy"}, loss_weights={"priority": 1.0, "department": 0.2})
        """
        from tapegrad import optimizers

        jit = check_bool(jit, "jit", "compile")
        opt = optimizers.get(optimizer)
        compile_loss = CompileLoss(loss, loss_weights)
        compile_metrics = CompileMetrics(metrics)
        self.optimizer = opt  # assigned only once every argument was accepted
        self._compile_loss = compile_loss if loss is not None else None
        self._compile_metrics = compile_metrics
        self._loss_tracker = Mean("loss")
        self._steps = _JitSteps(self) if jit else None
        self._compiled = True

    def _check_compiled(self, where: str) -> None:
        if not self._compiled:
            raise RuntimeError(f"{where}: the model is not compiled; call "
                               f"model.compile(optimizer, loss, metrics=[...]) first")

    def _float_dtype(self) -> np.dtype:
        variables = getattr(self, "variables", None) or self.trainable_variables
        for v in variables:
            if v.dtype.kind == "f":
                return v.dtype
        return get_default_dtype()

    def _names(self, which: str) -> list[str] | None:
        names = getattr(self, which, None)
        return list(names) if names else None

    # -- metrics ------------------------------------------------------------------------------
    @property
    def metrics(self) -> list[Metric]:
        """The running metrics `fit` resets at each epoch start and logs: the loss, each
        output's loss (several outputs) and the compiled metrics. A custom `train_step`
        overrides this property to list its own `tg.metrics.Mean` trackers."""
        out: list[Metric] = []
        if self._loss_tracker is not None:
            out.append(self._loss_tracker)
        if self._compile_loss is not None:
            out += self._compile_loss.metrics
        if self._compile_metrics is not None and self._compile_metrics.metrics:
            out += self._compile_metrics.metrics
        return out

    @property
    def metrics_names(self) -> list[str]:
        """Names of `metrics`, in the order `evaluate` returns their values."""
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        """Reset every running metric (`fit` does it at each epoch start)."""
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self) -> dict[str, float]:
        """`{name: result}` of every metric in `metrics`."""
        return {m.name: float(m.result()) for m in self.metrics}

    # -- steps (override these, as in Keras 3) ------------------------------------------------
    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None,
                     sample_weight: Any = None, training: bool = True) -> Tensor:
        """The compiled loss(es), weighted per output, plus the regularisation `losses`."""
        total = None
        if self._compile_loss is not None:
            total = self._compile_loss(y, y_pred, sample_weight, self._names("output_names"))
        for r in self.losses:
            total = r if total is None else total + r
        if total is None:
            raise ValueError("compute_loss: there is no loss to compute; pass loss= to "
                             "compile, or override train_step")
        return total

    def compute_metrics(self, x: Any, y: Any, y_pred: Any,
                        sample_weight: Any = None) -> dict[str, float]:
        """Update the compiled metrics with a batch; returns `get_metrics_result()`."""
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, y_pred, sample_weight,
                                               self._names("output_names"))
        return self.get_metrics_result()

    def train_step(self, data: Any) -> dict[str, Any]:
        """One training step on a batch `data` (`x`, `(x, y)` or `(x, y, sample_weight)`):
        forward under a tape, `compute_loss`, gradients, optimizer update; returns the logs.
        With `compile(jit=True)` this default step replays a `tg.function` trace of that tensor
        work; an overriding `train_step` runs eagerly, as written.

        Override it for a custom step (keep your own `tg.metrics.Mean` trackers and list them
        in a `metrics` property so that `fit` resets them each epoch)::

            def train_step(self, data):
                x, y, _ = tg.data.unpack_x_y_sample_weight(data)
                with tg.GradientTape() as tape:
                    loss = my_loss(y, self(x, training=True))
                grads = tape.gradient(loss, self.trainable_variables)
                self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
                self.loss_tracker.update_state(loss)
                return {"loss": self.loss_tracker.result()}
        """
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        loss, y_pred = self._run_step("train", x, y, sample_weight)
        self._loss_tracker.update_state(float(loss.numpy()), sample_weight=_batch_size(x))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data: Any) -> dict[str, Any]:
        """One evaluation step (inference mode, no update); returns the logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        loss, y_pred = self._run_step("test", x, y, sample_weight)
        self._loss_tracker.update_state(float(loss.numpy()), sample_weight=_batch_size(x))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data: Any) -> Any:
        """The model's outputs for a batch (targets in `data`, if any, are ignored)."""
        x, _, _ = unpack_x_y_sample_weight(data)
        if self._steps is None:
            return self._predict_tensors(x)
        return self._steps.call("predict", x)

    # -- the tensor work of the default steps (what compile(jit=True) traces) ------------------
    def _run_step(self, which: str, x: Any, y: Any, sample_weight: Any) -> tuple[Any, Any]:
        """(loss, y_pred) of the train or test step, traced when jit; updates the per-output
        loss trackers of a multi-output model from the returned loss tensors."""
        args = (x, y) if sample_weight is None else (x, y, sample_weight)
        if self._steps is None:
            loss, y_pred, parts = getattr(self, f"_{which}_step_tensors")(*args)
        else:
            loss, y_pred, parts = self._steps.call(which, *args)
        if self._compile_loss is not None:
            self._compile_loss.track(parts)
        return loss, y_pred

    def _train_step_tensors(self, x: Any, y: Any, sample_weight: Any = None) -> tuple:
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._compute_loss_deferred(x, y, y_pred, sample_weight, True)
        variables = self.trainable_variables
        grads = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return loss, y_pred, self._loss_parts()

    def _test_step_tensors(self, x: Any, y: Any, sample_weight: Any = None) -> tuple:
        y_pred = self(x, training=False)
        loss = self._compute_loss_deferred(x, y, y_pred, sample_weight, False)
        return loss, y_pred, self._loss_parts()

    def _predict_tensors(self, x: Any) -> Any:
        return self(x, training=False)

    def _loss_parts(self) -> list:
        return [] if self._compile_loss is None else self._compile_loss.take_parts()

    def _compute_loss_deferred(self, x: Any, y: Any, y_pred: Any, sample_weight: Any,
                               training: bool) -> Any:
        """`compute_loss`, with the per-output loss trackers left to `_run_step` (they are
        Python state, which a replayed trace would not update)."""
        cl = self._compile_loss
        if cl is not None:
            cl.deferred = True
        try:
            return self.compute_loss(x, y, y_pred, sample_weight, training=training)
        finally:
            if cl is not None:
                cl.deferred = False

    def _default_step(self, name: str) -> bool:
        return getattr(type(self), name) is getattr(Trainable, name)

    def _logs(self, logs: Any, where: str) -> dict[str, float]:
        if not isinstance(logs, dict):
            raise TypeError(f"{where} must return a dict of logs ({{'loss': ...}}), got "
                            f"{type(logs).__name__}")
        return {k: _to_float(v, k) for k, v in logs.items()}

    # -- fit ---------------------------------------------------------------------------------
    @limit_blas_threads  # one BLAS thread for small matrices (tapegrad.threads)
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: int | str = "auto", callbacks: Sequence[Callback] | None = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: bool = True,
            class_weight: dict | None = None, sample_weight: Any = None, initial_epoch: int = 0,
            steps_per_epoch: int | None = None, validation_steps: int | None = None,
            validation_batch_size: int | None = None, validation_freq: int = 1) -> History:
        """Train for `epochs` passes (Keras 3's arguments, in Keras's order); returns a `History`
        whose `.history` maps "loss", each metric and their "val_" versions to per-epoch lists.

        `x` is an array, a list/dict of arrays (several inputs, by position or input name), a
        `tg.data.Dataset` of batches, or a generator/iterable yielding `(x, y)` or
        `(x, y, sample_weight)` batches (a generator is read once: give `steps_per_epoch` to
        spread it over several epochs). `validation_split` holds out the last fraction of
        array samples (before shuffling, as Keras). verbose: "auto"/1 a progress bar per epoch
        (tqdm), 2 one line per epoch, 0 silent. Shuffling uses `tg.random.generator()`, so
        `tg.random.seed(n)` makes it repeatable. `class_weight` ({class: weight}) and
        `sample_weight` weight each sample's loss (the loss must be a mean over samples, as
        every built-in loss is).
        """
        where = "fit"
        self._check_compiled(where)
        default_step = self._default_step("train_step")
        if default_step and self._compile_loss is None and not self.losses:
            raise ValueError("fit: the model was compiled without a loss; pass loss= to "
                             "compile, or override train_step")
        batch_size = check_optional_int(batch_size, "batch_size", where)
        epochs = check_int(epochs, "epochs", where, minimum=0)
        initial_epoch = check_int(initial_epoch, "initial_epoch", where, minimum=0)
        verbose = _check_verbose(verbose, where, auto=1)
        callbacks = _check_callbacks(callbacks, where)
        shuffle = check_bool(shuffle, "shuffle", where)
        steps_per_epoch = check_optional_int(steps_per_epoch, "steps_per_epoch", where)
        validation_steps = check_optional_int(validation_steps, "validation_steps", where)
        validation_batch_size = check_optional_int(validation_batch_size,
                                                   "validation_batch_size", where)
        validation_freq = check_int(validation_freq, "validation_freq", where)
        if isinstance(validation_split, bool) or not isinstance(validation_split,
                                                                (int, float, np.floating)):
            raise TypeError(f"fit: validation_split must be a float in [0, 1), got "
                            f"{validation_split!r}")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"fit: validation_split must be in [0, 1), got {validation_split}")
        if x is None:
            raise ValueError("fit: x is None; pass the training inputs")
        dtype = self._float_dtype()
        names = {"input_names": self._names("input_names"),
                 "output_names": self._names("output_names")}
        arrays = _is_arrays(x)
        train = DataHandler(x, y, sample_weight, batch_size=(batch_size or 32) if arrays
                            else batch_size, steps=steps_per_epoch, shuffle=shuffle,
                            where=where, dtype=dtype,
                            need_y=default_step and self._compile_loss is not None, **names)
        val = None
        if validation_data is not None:
            vbs = validation_batch_size or batch_size or 32
            if _is_arrays(validation_data):
                if not isinstance(validation_data, (tuple, list)) or \
                        len(validation_data) not in (2, 3):
                    raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or "
                                     "(x_val, y_val, sample_weight_val), a Dataset or a "
                                     "generator")
                val = DataHandler(*validation_data, batch_size=vbs, steps=validation_steps,
                                  where="fit (validation_data)", dtype=dtype,
                                  need_y=self._default_step("test_step"), **names)
            else:
                val = DataHandler(validation_data, steps=validation_steps,
                                  where="fit (validation_data)", dtype=dtype, **names)
        elif validation_split:
            held = train.split(float(validation_split))
            val = DataHandler(*held, batch_size=validation_batch_size or train.batch_size,
                              steps=validation_steps, where="fit (validation_split)",
                              dtype=dtype, need_y=self._default_step("test_step"), **names)
        if class_weight is not None:
            train.set_class_weight(class_weight)

        previous, steps_before = self.history, getattr(self.optimizer, "iterations", None)
        rng_state = tg_random.generator().bit_generator.state
        self.history = history = History()
        try:
            self._fit_loop(train, val, history, callbacks, epochs, initial_epoch, verbose,
                           validation_freq)
        except BaseException:
            if getattr(self.optimizer, "iterations", None) == steps_before:
                # refused at the first batch (data the model cannot take): as if never called
                self.history = previous
                tg_random.generator().bit_generator.state = rng_state
            raise
        return history

    def _fit_loop(self, train: DataHandler, val: DataHandler | None, history: History,
                  callbacks: list[Callback], epochs: int, initial_epoch: int, verbose: int,
                  validation_freq: int) -> None:
        cbs = CallbackList([*callbacks, history], model=self, optimizer=self.optimizer,
                           params={"epochs": epochs, "steps": train.steps, "verbose": verbose,
                                   "batch_size": train.batch_size,
                                   "samples": train.num_samples})
        cbs.on_train_begin()
        steps_seen: int | None = train.steps
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            bar = ProgressBar(verbose, steps_seen, f"Epoch {epoch + 1}/{epochs}")
            logs: dict[str, float] | None = None
            step = -1
            for step, data in enumerate(train.epoch()):
                cbs.on_batch_begin(step)
                logs = self._logs(self.train_step(data), "train_step")
                cbs.on_batch_end(step, logs)
                bar.update(step, logs)
                if self.stop_training:
                    break
            if logs is None:
                if epoch == initial_epoch:
                    raise ValueError("fit: x yielded no batches")
                warnings.warn(f"fit: the input ran out of data at epoch {epoch + 1}; a "
                              f"generator is read only once: give steps_per_epoch and make it "
                              f"yield steps_per_epoch * epochs batches, or use a "
                              f"tg.data.Dataset", stacklevel=3)
                bar.close({})
                break
            steps_seen = steps_seen or step + 1
            epoch_logs = dict(logs)
            if val is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._run_test(val, "fit (validation)")
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            bar.close(epoch_logs)
            if train.ran_out:
                warnings.warn(f"fit: the input ran out of data after {step + 1} batches of "
                              f"epoch {epoch + 1} (steps_per_epoch={train.steps}); stopping",
                              stacklevel=3)
                break
            if self.stop_training:
                break
        cbs.on_train_end()

    # -- evaluate / predict ---------------------------------------------------------------------
    def _run_test(self, handler: DataHandler, where: str) -> dict[str, float]:
        self.reset_metrics()
        logs = None
        for data in handler.epoch():
            logs = self._logs(self.test_step(data), "test_step")
        if logs is None:
            hint = (": a generator is read only once; give validation_steps (the generator then "
                    "continues across epochs) or use a tg.data.Dataset") \
                if where.startswith("fit") else ""
            raise ValueError(f"{where}: the data yielded no batches{hint}")
        return logs

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: int | str = "auto", sample_weight: Any = None,
                 steps: int | None = None, callbacks: Sequence[Callback] | None = None,
                 return_dict: bool = False) -> Any:
        """Loss (including regularisation) and metrics on the data, in inference mode (Keras
        3's arguments; `x` as for `fit`). Returns the loss alone if there are no metrics, else
        `[loss, *metrics]` in `metrics_names` order, or a dict with `return_dict=True`.
        verbose "auto" is 0 (silent); 1 or 2 print the result."""
        where = "evaluate"
        self._check_compiled(where)
        batch_size = check_optional_int(batch_size, "batch_size", where)
        verbose = _check_verbose(verbose, where, auto=0)
        steps = check_optional_int(steps, "steps", where)
        cbs = _check_callbacks(callbacks, where)
        return_dict = check_bool(return_dict, "return_dict", where)
        if x is None:
            raise ValueError("evaluate: x is None; pass the inputs to evaluate on")
        default_step = self._default_step("test_step")
        if default_step and self._compile_loss is None and not self.losses:
            raise ValueError("evaluate: the model was compiled without a loss; pass loss= to "
                             "compile, or override test_step")
        arrays = _is_arrays(x)
        handler = DataHandler(x, y, sample_weight,
                              batch_size=(batch_size or 32) if arrays else batch_size,
                              steps=steps, where=where, dtype=self._float_dtype(),
                              need_y=default_step, input_names=self._names("input_names"),
                              output_names=self._names("output_names"))
        for cb in cbs:
            cb.set_model(self)
            getattr(cb, "on_test_begin", lambda logs=None: None)()
        result = self._run_test(handler, where)
        for cb in cbs:
            getattr(cb, "on_test_end", lambda logs=None: None)(result)
        if verbose:
            print(format_logs(result))
        if return_dict:
            return result
        values = list(result.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: int | None = None, verbose: int | str = "auto",
                steps: int | None = None, callbacks: Sequence[Callback] | None = None) -> Any:
        """Model outputs in inference mode (`training=False`), as NumPy arrays (a list or dict
        of them for several outputs); `x` as for `fit` (targets in batches are ignored)."""
        where = "predict"
        batch_size = check_optional_int(batch_size, "batch_size", where)
        _check_verbose(verbose, where, auto=0)
        steps = check_optional_int(steps, "steps", where)
        cbs = _check_callbacks(callbacks, where)
        arrays = _is_arrays(x)
        handler = DataHandler(x, batch_size=(batch_size or 32) if arrays else batch_size,
                              steps=steps, where=where, dtype=self._float_dtype(),
                              need_y=False, input_names=self._names("input_names"))
        for cb in cbs:
            cb.set_model(self)
            getattr(cb, "on_predict_begin", lambda logs=None: None)()
        outs = [self.predict_step(data) for data in handler.epoch()]
        if not outs:
            raise ValueError("predict: x yielded no batches")
        for cb in cbs:
            getattr(cb, "on_predict_end", lambda logs=None: None)()
        return _structure_outputs(outs)
