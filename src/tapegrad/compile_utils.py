"""What `compile(loss=..., loss_weights=..., metrics=...)` becomes: one loss and metric list per
model output, and the names they log under (Keras 3's): a single-output model logs "loss" and
"accuracy"; a multi-output model also logs "<output>_loss" and "<output>_<metric>" for each
output, e.g. "dense_1_loss" and "val_dense_1_accuracy".

Outputs are named by `model.output_names` when the model has them, else by the keys of a dict
output, else "output_1", "output_2", ... for a list.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.metrics import Mean, MeanMetricWrapper, Metric
from tapegrad.tensor import Tensor

__all__ = ["CompileLoss", "CompileMetrics", "output_structure", "resolve", "weighted_loss"]


def resolve(kind: str, identifier: Any) -> tuple[str, Callable]:
    """(log name, function) for a loss or metric given by name or as a callable."""
    module = importlib.import_module(f"tapegrad.{kind}")
    if isinstance(identifier, str):
        return identifier, module.get(identifier)
    if isinstance(identifier, type):
        identifier = module.get(identifier)
    if callable(identifier):
        name = getattr(identifier, "name", None) or getattr(identifier, "__name__", None)
        if not isinstance(name, str) or name == "<lambda>":
            name = type(identifier).__name__.lower() if kind == "metrics" else "loss"
        return name, identifier
    raise TypeError(f"compile: a {kind[:-1]} must be a name or a callable, "
                    f"got {type(identifier).__name__}")


def output_structure(y_pred: Any, output_names: list[str] | None,
                     where: str) -> tuple[list[str] | None, list[Any]]:
    """(names, outputs in order): names is None for a single output."""
    if isinstance(y_pred, dict):
        names = list(output_names) if output_names and set(output_names) == set(y_pred) \
            else list(y_pred)
        return names, [y_pred[n] for n in names]
    if isinstance(y_pred, (list, tuple)):
        if len(y_pred) == 1:
            return None, [y_pred[0]]
        names = list(output_names) if output_names else \
            [f"output_{i + 1}" for i in range(len(y_pred))]
        if len(names) != len(y_pred):
            raise ValueError(f"{where}: the model returned {len(y_pred)} outputs but names "
                             f"{len(names)}: {names}")
        return names, list(y_pred)
    return None, [y_pred]


def _match_targets(y: Any, names: list[str] | None, n: int, what: str,
                   where: str) -> list[Any]:
    """y (or sample weights) per output, in output order (None where not given)."""
    if names is None:
        if isinstance(y, (list, tuple)) and len(y) == 1:
            return [y[0]]
        if isinstance(y, dict) and len(y) == 1:
            return list(y.values())
        if isinstance(y, (list, tuple, dict)):
            raise ValueError(f"{where}: the model has one output, but {what} has "
                             f"{len(y)} entries")
        return [y]
    if y is None:
        return [None] * n
    if isinstance(y, dict):
        unknown = [k for k in y if k not in names]
        if unknown:
            raise ValueError(f"{where}: {what} has keys {unknown} that name no output; the "
                             f"outputs are {names}")
        return [y.get(k) for k in names]
    if isinstance(y, (list, tuple)):
        if len(y) != n:
            raise ValueError(f"{where}: {what} has {len(y)} entries for {n} outputs {names}")
        return list(y)
    if what == "sample_weight":
        return [y] * n  # one weight per sample, for every output
    raise ValueError(f"{where}: the model has {n} outputs {names}; pass {what} as a list or a "
                     f"dict keyed by output name, not one array")


def _per_output(spec: Any, names: list[str] | None, what: str, single_ok: Callable) -> list:
    """A compile argument spread over outputs: one for all, a list by position, a dict by name."""
    n = 1 if names is None else len(names)
    if isinstance(spec, dict):
        if names is None:
            if len(spec) != 1:
                raise ValueError(f"compile: {what} is a dict {list(spec)} but the model has one "
                                 f"(unnamed) output")
            return list(spec.values())
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise ValueError(f"compile: {what} has keys {unknown} that name no output; the "
                             f"outputs are {names}")
        return [spec.get(k) for k in names]
    if isinstance(spec, (list, tuple)) and not single_ok(spec):
        if len(spec) != n:
            raise ValueError(f"compile: {what} has {len(spec)} entries for {n} outputs"
                             f"{'' if names is None else ' ' + str(names)}")
        return list(spec)
    return [spec] * n


def weighted_loss(fn: Callable, y: Any, p: Any, sample_weight: Any) -> Tensor:
    """sum_i w_i * loss_i / n (Keras's "sum_over_batch_size") for a loss that is a mean over
    samples, as every built-in loss is: samples of equal weight are scored together, so class
    weights cost one loss call per class, not per sample."""
    if sample_weight is None:
        return fn(y, p)
    w = np.asarray(sample_weight.numpy() if isinstance(sample_weight, Tensor) else sample_weight,
                   dtype=np.float64).reshape(-1)
    n = len(w)
    if n != p.shape[0]:
        raise ValueError(f"sample_weight has {n} entries for a batch of {p.shape[0]}")
    values, inverse = np.unique(w, return_inverse=True)
    if len(values) == 1:
        return fn(y, p) * float(values[0])
    total = None
    for k, value in enumerate(values):
        if value == 0.0:
            continue
        idx = np.flatnonzero(inverse == k)
        part = fn(y[idx], p[idx]) * float(value * len(idx) / n)
        total = part if total is None else total + part
    return total


class CompileLoss:
    """The losses of `compile`, built on the first batch (when the outputs are known)."""

    def __init__(self, loss: Any, loss_weights: Any = None):
        self.spec, self.weights_spec = loss, loss_weights
        self.names: list[str] | None = None
        self.losses: list[tuple[str, Callable] | None] | None = None
        self.weights: list[float] = []
        self.metrics: list[Metric] = []  # "<output>_loss" trackers of a multi-output model
        self.deferred = False  # True: keep the per-output values for `track` instead
        self._parts: list[tuple[Tensor, int]] = []
        if loss is None and loss_weights is not None:
            raise ValueError("compile: loss_weights given without a loss")
        if loss is not None:  # names and types are checked now, the per-output spread later
            for item in (loss.values() if isinstance(loss, dict) else
                         loss if isinstance(loss, (list, tuple)) else [loss]):
                if item is not None:
                    resolve("losses", item)

    def build(self, names: list[str] | None) -> None:
        specs = _per_output(self.spec, names, "loss", lambda s: False)
        losses = [None if s is None else resolve("losses", s) for s in specs]
        ws = [1.0] * len(specs) if self.weights_spec is None else \
            _per_output(self.weights_spec, names, "loss_weights", lambda s: False)
        weights = []
        for w in ws:
            w = 1.0 if w is None else w
            if isinstance(w, bool) or not isinstance(w, (int, float, np.number)) \
                    or not np.isfinite(w):
                raise TypeError(f"compile: loss_weights must be finite numbers, got {w!r}")
            weights.append(float(w))
        # assigned only when everything above was accepted, so a refused batch can be retried
        self.names, self.losses, self.weights = names, losses, weights
        self.metrics = [] if names is None else \
            [Mean(f"{n}_loss") for n, f in zip(names, losses) if f]

    def __call__(self, y: Any, y_pred: Any, sample_weight: Any,
                 output_names: list[str] | None) -> Tensor:
        names, outputs = output_structure(y_pred, output_names, "compute_loss")
        if self.losses is None:
            self.build(names)
        if (names is None) != (self.names is None) or (names and names != self.names):
            raise ValueError(f"compute_loss: the model's outputs changed from {self.names} to "
                             f"{names} since the first batch")
        if y is None:
            raise ValueError("compute_loss: the batch has no targets y, but compile(loss=...) "
                             "needs them; pass y (or yield (x, y) batches)")
        ys = _match_targets(y, names, len(outputs), "y", "compute_loss")
        sws = _match_targets(sample_weight, names, len(outputs), "sample_weight",
                             "compute_loss") if sample_weight is not None else \
            [None] * len(outputs)
        total = None
        trackers = iter(self.metrics)
        self._parts = []
        for i, (entry, p) in enumerate(zip(self.losses, outputs)):
            if entry is None:
                continue
            if ys[i] is None:
                raise ValueError(f"compute_loss: output {self.names[i]!r} has a loss but y has "
                                 f"no entry for it")
            value = weighted_loss(entry[1], ys[i], p, sws[i])
            if names is not None and self.deferred:
                self._parts.append((value, p.shape[0]))
            elif names is not None:
                next(trackers).update_state(float(value.numpy()), sample_weight=p.shape[0])
            part = value * self.weights[i] if self.weights[i] != 1.0 else value
            total = part if total is None else total + part
        return total

    def take_parts(self) -> list[tuple[Tensor, int]]:
        """(loss value, batch size) per output of the last `deferred` call: a traced step
        returns them as tensors, and `track` counts them outside the trace."""
        parts, self._parts = self._parts, []
        return parts

    def track(self, parts: list[tuple[Tensor, int]]) -> None:
        """Update the "<output>_loss" trackers with the values `take_parts` gave."""
        for tracker, (value, n) in zip(self.metrics, parts):
            tracker.update_state(float(value.numpy()), sample_weight=n)


class CompileMetrics:
    """The metrics of `compile`, one running tracker per (output, metric)."""

    def __init__(self, metrics: Any):
        if isinstance(metrics, (str, bytes)) or callable(metrics):
            metrics = [metrics]
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            raise TypeError(f"compile: metrics must be a list (or a dict by output), got "
                            f"{type(metrics).__name__}")
        self.spec = metrics
        self.metrics: list[Metric] | None = None
        self._outputs: list[list[Metric]] = []
        for items in self._items(metrics):
            for m in items:
                if not isinstance(m, Metric):
                    resolve("metrics", m)

    @staticmethod
    def _items(spec: Any) -> list[list[Any]]:
        if spec is None:
            return []
        groups = spec.values() if isinstance(spec, dict) else \
            (spec if spec and all(isinstance(s, (list, tuple)) for s in spec) else [spec])
        return [[g] if not isinstance(g, (list, tuple)) else list(g) for g in groups if g]

    def build(self, names: list[str] | None) -> None:
        n = 1 if names is None else len(names)
        if self.spec is None:
            groups: list[Any] = [[]] * n
        else:
            nested = isinstance(self.spec, dict) or (
                self.spec and all(isinstance(s, (list, tuple)) for s in self.spec))
            groups = _per_output(self.spec, names, "metrics", lambda s: not nested)
        outputs: list[list[Metric]] = []
        flat: list[Metric] = []
        for i, group in enumerate(groups):
            group = [] if group is None else [group] if not isinstance(group, (list, tuple)) \
                else group
            trackers = []
            for m in group:
                prefix = "" if names is None else f"{names[i]}_"
                if isinstance(m, Metric):
                    t = copy.deepcopy(m)
                    t.name = prefix + m.name
                else:
                    name, fn = resolve("metrics", m)
                    t = MeanMetricWrapper(fn, name=prefix + name)
                trackers.append(t)
            outputs.append(trackers)
            flat += trackers
        seen = [m.name for m in flat]
        losses = {"loss", *(f"{n}_loss" for n in names or [])}
        for name in seen:
            if seen.count(name) > 1 or name in losses:
                raise ValueError(f"compile: metric name {name!r} is used twice (or clashes "
                                 f"with a loss); give the functions distinct names")
        self._outputs, self.metrics = outputs, flat

    def update_state(self, y: Any, y_pred: Any, sample_weight: Any,
                     output_names: list[str] | None) -> None:
        names, outputs = output_structure(y_pred, output_names, "compute_metrics")
        if self.metrics is None:
            self.build(names)
        if not self.metrics:
            return
        ys = _match_targets(y, names, len(outputs), "y", "compute_metrics")
        for trackers, yt, p in zip(self._outputs, ys, outputs):
            for t in trackers:
                if yt is None:
                    raise ValueError(f"compute_metrics: metric {t.name!r} needs targets y")
                t.update_state(yt, p)

