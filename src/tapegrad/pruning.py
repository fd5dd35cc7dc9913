"""Magnitude weight pruning: zero the smallest weights, once (`prune`) or during training on a
sparsity schedule (the `PruneLowMagnitude` callback), as TensorFlow Model Optimization does.

Prunable weights are the trainable variables with two or more dimensions (kernels, recurrent
kernels, embeddings); biases and normalization parameters are kept. Each weight is pruned on its
own: a sparsity of 0.8 zeros the 80% smallest |w| of every kernel.

>>> import numpy as np, tapegrad as tg
>>> model = tg.nn.Sequential([tg.nn.Dense(10), tg.nn.Dense(2)])
>>> _ = model(np.zeros((1, 5), np.float32))
>>> masks = tg.nn.prune(model, 0.8)
>>> round(tg.pruning.sparsity(model), 2)
0.8
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad.callbacks import Callback, Logs

__all__ = ["ConstantSparsity", "PolynomialDecay", "PruneLowMagnitude", "magnitude_mask",
           "prunable_weights", "prune", "sparsity"]


def prunable_weights(model: Any) -> list[Any]:
    """The model's trainable variables with at least two dimensions, in model order.

    >>> import numpy as np, tapegrad as tg
    >>> layer = tg.nn.Dense(3)
    >>> _ = layer(np.ones((1, 2), np.float32))
    >>> [v.name.split("/")[-1] for v in prunable_weights(layer)]
    ['kernel']
    """
    variables = model if isinstance(model, (list, tuple)) else model.trainable_variables
    return [v for v in variables if len(v.shape) >= 2]


def magnitude_mask(w: Any, sparsity: float) -> np.ndarray:
    """A 0/1 mask of `w`'s shape keeping all but the round(sparsity * size) smallest |w|.

    >>> magnitude_mask(np.array([[0.1, -3.0], [2.0, -0.5]]), 0.5)
    array([[0., 1.],
           [1., 0.]])
    """
    if not 0.0 <= float(sparsity) <= 1.0:
        raise ValueError(f"magnitude_mask: sparsity must be in [0, 1], got {sparsity!r}")
    w = np.asarray(w)
    k = int(round(float(sparsity) * w.size))
    mask = np.ones(w.size, dtype=w.dtype if w.dtype.kind == "f" else np.float32)
    if k:
        mask[np.argsort(np.abs(w), axis=None, kind="stable")[:k]] = 0
    return mask.reshape(w.shape)


def prune(model: Any, sparsity: float, variables: Sequence[Any] | None = None) -> list[np.ndarray]:
    """Zero the smallest-magnitude fraction `sparsity` of each prunable weight, in place;
    returns the masks (one per weight, in `prunable_weights` order).

    >>> import numpy as np, tapegrad as tg
    >>> layer = tg.nn.Dense(4)
    >>> _ = layer(np.ones((1, 5), np.float32))
    >>> [int(m.sum()) for m in tg.nn.prune(layer, 0.5)]  # 10 of the 20 kernel weights kept
    [10]
    """
    targets = prunable_weights(model) if variables is None else list(variables)
    if not targets:
        raise ValueError("prune: the model has no prunable weights (build it first by calling "
                         "it on a batch)")
    masks = []
    for v in targets:
        mask = magnitude_mask(v.numpy(), sparsity)
        v.assign(v.numpy() * mask)
        masks.append(mask)
    return masks


def sparsity(model: Any) -> float:
    """The fraction of exact zeros over all prunable weights.

    >>> import numpy as np, tapegrad as tg
    >>> sparsity([tg.Variable(np.array([[0.0, 1.0], [0.0, 2.0]]))])
    0.5
    """
    targets = prunable_weights(model)
    total = sum(v.numpy().size for v in targets)
    zeros = sum(int(np.count_nonzero(v.numpy() == 0)) for v in targets)
    return zeros / total if total else 0.0


class ConstantSparsity:
    """Prune to `target_sparsity` at `begin_step` and every `frequency` steps until `end_step`
    (-1: the end of training). Calling it with a step gives (prune now?, sparsity).

    >>> ConstantSparsity(0.5, begin_step=10, frequency=5)(15)
    (True, 0.5)
    """

    def __init__(self, target_sparsity: float, begin_step: int = 0, end_step: int = -1,
                 frequency: int = 100):
        _check_schedule(target_sparsity, begin_step, end_step, frequency, "ConstantSparsity")
        self.target_sparsity = float(target_sparsity)
        self.begin_step, self.end_step, self.frequency = begin_step, end_step, frequency

    def __call__(self, step: int) -> tuple[bool, float]:
        return _due(step, self.begin_step, self.end_step, self.frequency), self.target_sparsity


class PolynomialDecay:
    """Sparsity rising from `initial_sparsity` to `final_sparsity` between `begin_step` and
    `end_step` as s_f + (s_i - s_f) (1 - (t - t0) / (t1 - t0))^power, pruning every `frequency`
    steps (TF Model Optimization's schedule).

    >>> PolynomialDecay(0.0, 0.8, begin_step=0, end_step=100, frequency=10)(100)
    (True, 0.8)
    """

    def __init__(self, initial_sparsity: float, final_sparsity: float, begin_step: int,
                 end_step: int, power: float = 3, frequency: int = 100):
        _check_schedule(final_sparsity, begin_step, end_step, frequency, "PolynomialDecay")
        if end_step <= begin_step:
            raise ValueError(f"PolynomialDecay: end_step ({end_step}) must be after begin_step "
                             f"({begin_step})")
        self.initial_sparsity, self.final_sparsity = float(initial_sparsity), float(final_sparsity)
        self.begin_step, self.end_step = begin_step, end_step
        self.power, self.frequency = float(power), frequency

    def __call__(self, step: int) -> tuple[bool, float]:
        t = min(max(step - self.begin_step, 0), self.end_step - self.begin_step)
        frac = 1.0 - t / (self.end_step - self.begin_step)
        s = self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * frac ** self.power
        return _due(step, self.begin_step, self.end_step, self.frequency), s


def _check_schedule(target: float, begin: int, end: int, frequency: int, who: str) -> None:
    if not 0.0 <= float(target) < 1.0:
        raise ValueError(f"{who}: sparsity must be in [0, 1), got {target!r}")
    if begin < 0 or frequency < 1 or (end != -1 and end < begin):
        raise ValueError(f"{who}: need 0 <= begin_step <= end_step (or -1) and frequency >= 1, "
                         f"got begin_step={begin}, end_step={end}, frequency={frequency}")


def _due(step: int, begin: int, end: int, frequency: int) -> bool:
    return step >= begin and (end == -1 or step <= end) and (step - begin) % frequency == 0


class PruneLowMagnitude(Callback):
    """Magnitude pruning during training: after each batch, prune to the schedule's sparsity
    when it says so, and re-apply the masks so the optimizer cannot revive pruned weights.
    Logs the achieved "sparsity" per epoch. Works in `fit` and with a `CallbackList`.

    >>> import numpy as np, tapegrad as tg
    >>> X = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32); Y = X[:, :1]
    >>> model = tg.nn.Sequential([tg.nn.Dense(16, activation="relu"), tg.nn.Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> schedule = tg.pruning.PolynomialDecay(0.0, 0.75, begin_step=0, end_step=8, frequency=2)
    >>> cb = tg.callbacks.PruneLowMagnitude(schedule)
    >>> h = model.fit(X, Y, epochs=5, batch_size=16, verbose=0, callbacks=[cb])
    >>> h.history["sparsity"][-1]
    0.75
    """

    def __init__(self, schedule: Any, variables: Sequence[Any] | None = None):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"PruneLowMagnitude: schedule must be a ConstantSparsity, "
                            f"PolynomialDecay or a callable step -> (bool, sparsity), got "
                            f"{schedule!r}")
        self.schedule = schedule
        self.variables = variables
        self.step = 0
        self.masks: list[np.ndarray] | None = None

    def _targets(self) -> list[Any]:
        if self.variables is not None:
            return list(self.variables)
        return prunable_weights(self.model.trainable_variables
                                if hasattr(self.model, "trainable_variables")
                                else self.model.variables)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.step = 0

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.step += 1
        targets = self._targets()
        due, target = self.schedule(self.step)
        if due:
            self.masks = [magnitude_mask(v.numpy(), target) for v in targets]
        if self.masks is not None:
            for v, mask in zip(targets, self.masks, strict=True):
                v.assign(v.numpy() * mask)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            targets = self._targets()
            total = sum(v.numpy().size for v in targets)
            zeros = sum(int(np.count_nonzero(v.numpy() == 0)) for v in targets)
            logs["sparsity"] = zeros / total if total else 0.0
