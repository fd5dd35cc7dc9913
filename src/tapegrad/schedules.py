"""Learning-rate schedules: callables of the optimizer step (0 on the first update), Keras-style.

Any callable `schedule(step) -> float` is accepted as an optimizer's `learning_rate`.

>>> import tapegrad as tg
>>> s = tg.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> round(s(10), 6)
0.05
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tapegrad import _args

__all__ = ["LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay"]


class LearningRateSchedule:
    """Base class: subclasses implement `__call__(step) -> float`.

    >>> import tapegrad as tg
    >>> class Halving(LearningRateSchedule):
    ...     def __call__(self, step):
    ...         return 0.1 * 0.5 ** (step // 10)
    >>> opt = tg.optimizers.SGD(learning_rate=Halving())
    >>> opt.learning_rate, Halving()(25)
    (0.1, 0.025)
    """

    def __call__(self, step: int) -> float:
        raise NotImplementedError


class ExponentialDecay(LearningRateSchedule):
    """`lr(step) = initial_learning_rate * decay_rate ** (step / decay_steps)`.

    With `staircase=True` the exponent is `floor(step / decay_steps)` (the rate drops in steps).

    >>> ExponentialDecay(1.0, 2, 0.5, staircase=True)(3)
    0.5
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False):
        who = "ExponentialDecay"
        self.initial_learning_rate = _args.number(initial_learning_rate, who,
                                                  "initial_learning_rate", 0.0)
        self.decay_steps = _args.count(decay_steps, who, "decay_steps")
        self.decay_rate = _args.number(decay_rate, who, "decay_rate", 0.0, low_open=True)
        self.staircase = bool(staircase)

    def __call__(self, step: int) -> float:
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate ** p

    def __repr__(self) -> str:
        return (f"ExponentialDecay({self.initial_learning_rate}, {self.decay_steps}, "
                f"{self.decay_rate}, staircase={self.staircase})")


class PiecewiseConstantDecay(LearningRateSchedule):
    """`values[0]` while `step <= boundaries[0]`, `values[i]` while `step <= boundaries[i]`,
    `values[-1]` after the last boundary (Keras's convention; `len(values) == len(boundaries)+1`).

    >>> s = PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    >>> s(10), s(11), s(21)
    (1.0, 0.5, 0.1)
    """

    def __init__(self, boundaries: Sequence[int], values: Sequence[float]):
        who = "PiecewiseConstantDecay"
        for what, seq in (("boundaries", boundaries), ("values", values)):
            if isinstance(seq, (str, bytes)) or not isinstance(seq, Sequence):
                raise TypeError(f"{who}: {what} must be a list, got {type(seq).__name__}")
        boundaries = [_args.count(b, who, "boundaries", minimum=0) for b in boundaries]
        values = [_args.number(v, who, "values", 0.0) for v in values]
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: need len(values) == len(boundaries) + 1, "
                             f"got {len(values)} values and {len(boundaries)} boundaries")
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must be increasing, "
                             f"got {list(boundaries)}")
        self.boundaries = list(boundaries)
        self.values = values

    def __call__(self, step: int) -> float:
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]

    def __repr__(self) -> str:
        return f"PiecewiseConstantDecay({self.boundaries}, {self.values})"
