"""The backward pass one node at a time, for learners: `backward_steps(tape, target)`.

The steps are the engine's own backward pass (`GradientTape.run_backward`, the one chain rule,
on plain ndarrays), watched op by op: what a learner sees is exactly what `tape.gradient` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from tapegrad.state import recorders
from tapegrad.tape import GradientTape, OpRecord
from tapegrad.tensor import Tensor
from tapegrad.viz.rules import input_name
from tapegrad.viz.style import num, shape_text, values


def records_of(tape: GradientTape) -> list[OpRecord]:
    """The tape's recorded ops, with a clear error when a non-persistent tape freed them."""
    ops = list(tape.ops)
    if not ops:
        raise ValueError(
            "the tape has no recorded ops: a non-persistent tape frees them in gradient(). "
            "Call tape.retain_gradients() before tape.gradient(...), or use "
            "GradientTape(persistent=True), or record some ops first.")
    return ops


def walk(tape: GradientTape, target: Tensor) -> list[tuple[OpRecord, Any, list, dict]]:
    """The backward pass from `target` to every watched tensor, op by op: a list of
    `(op, upstream gradient, [(input index, gradient)], gradients so far)`, the last a snapshot
    (tensor id -> ndarray) taken after the op passed its gradients on."""
    steps: list = []
    seen: dict[int, Any] = {}  # every gradient so far (the engine pops those passed on)

    def observe(op: OpRecord, g: Any, parts: list, grads: dict) -> None:
        seen[id(op.output)] = g
        seen.update(grads)
        steps.append((op, np.asarray(g), list(parts), dict(seen)))

    with recorders([]):  # first order on ndarrays: nothing is recorded anywhere
        tape.run_backward([target], [None], list(tape.watched), observer=observe)
    return steps


def leads_to(tape: GradientTape, target: Tensor) -> list[bool]:
    """For each recorded op: does its output lead to `target` (does a gradient reach it)?"""
    keep = [False] * len(tape.ops)
    for op, *_ in walk(tape, target):
        keep[op.index] = True
    return keep


def all_gradients(tape: GradientTape, target: Tensor) -> dict[int, Any]:
    """Every gradient of the backward pass from `target`: tensor id -> ndarray."""
    steps = walk(tape, target)
    if steps:
        return steps[-1][3]
    return {id(target): np.ones(target.shape, target.dtype)} if tape.tracks(target) else {}


def _describe(arr: np.ndarray) -> str:
    shown = values(arr, 6)
    if shown is not None:
        return shown
    a = np.asarray(arr, dtype=np.float64)
    return f"{shape_text(a.shape)} array, norm {num(np.sqrt(np.sum(a * a)))}"


class LocalRule:
    """One input's share of a backward step: its rule in words and the gradient it received.

    >>> import tapegrad as tg
    >>> x = tg.Variable(3.0, name="x")
    >>> with tg.GradientTape(persistent=True) as tape:
    ...     y = x * x
    >>> next(iter(backward_steps(tape, y))).rules[0]
    LocalRule('d(x*y)/dx = y', gradient=3)
    """

    __slots__ = ("input_index", "input", "phrase", "gradient")

    def __init__(self, input_index: int, input: Tensor, phrase: str, gradient: Tensor):
        self.input_index = input_index
        self.input = input
        self.phrase = phrase
        self.gradient = gradient

    def __repr__(self) -> str:
        return f"LocalRule({self.phrase!r}, gradient={_describe(self.gradient._value)})"


class BackwardStep:
    """One node of the backward pass: the op, its upstream gradient, the local rules and the
    gradients accumulated so far. `step.graph()` draws the tape with this node highlighted.

    >>> import tapegrad as tg
    >>> x = tg.Variable(3.0, name="x")
    >>> with tg.GradientTape(persistent=True) as tape:
    ...     y = x * x
    >>> step = next(iter(backward_steps(tape, y)))
    >>> step.op, float(step.upstream), float(step.gradient_of(x))  # both uses of x: 3 + 3
    ('multiply', 1.0, 6.0)
    """

    def __init__(self, tape: GradientTape, record: OpRecord, number: int, total: int,
                 upstream: np.ndarray, rules: list[LocalRule], grads: dict[int, Any],
                 target: Tensor):
        self.tape = tape
        self.number = number
        self.total = total
        self.index = record.index
        self.record = record
        self.upstream = Tensor._wrap(np.asarray(upstream))
        self.rules = rules
        self._grads = grads
        self.target = target

    @property
    def op(self) -> str:
        """The op's name."""
        return self.record.name

    @property
    def accumulated(self) -> list[tuple[Tensor, Tensor]]:
        """(tensor, gradient so far) pairs, in the order the gradients first arrived."""
        by_id = {}
        for rec in self.tape.ops:
            for a in (*rec.inputs, rec.output):
                if isinstance(a, Tensor):
                    by_id.setdefault(id(a), a)
        return [(by_id[k], Tensor._wrap(v)) for k, v in self._grads.items() if k in by_id]

    def gradient_of(self, tensor: Tensor) -> Tensor | None:
        """The gradient accumulated into `tensor` up to and including this step (or None)."""
        g = self._grads.get(id(tensor))
        return None if g is None else Tensor._wrap(g)

    def to_dot(self, **options: Any) -> str:
        """DOT text of the tape with this step's node highlighted and the gradients so far."""
        from tapegrad.viz.build import build_dot

        options.setdefault("view", "backward")
        return build_dot(self.tape, highlight=self.index, grads=self._grads,
                         target=self.target, **options)

    def graph(self, **options: Any) -> Any:
        """This step drawn as a `graphviz.Digraph` (the current node highlighted)."""
        from tapegrad.viz.render import make_digraph

        return make_digraph(self.to_dot(**options))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict:
        return self.graph()._repr_mimebundle_(include, exclude)

    def __str__(self) -> str:
        file, line = self.record.location
        where = f"{file.rsplit('/', 1)[-1]}:{line}"
        scope = f" in {self.record.scope}" if self.record.scope else ""
        lines = [f"step {self.number}/{self.total}: {self.op}{scope}  [{where}]",
                 f"  upstream gradient (of the output): {_describe(self.upstream._value)}"]
        for r in self.rules:
            name = input_name(self.op, r.input_index)
            lines.append(f"  {r.phrase}  ->  grad of {name}: {_describe(r.gradient._value)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<BackwardStep {self.number}/{self.total} {self.op}>"


def backward_steps(tape: GradientTape, target: Tensor) -> Iterator[BackwardStep]:
    """Iterate the backward pass from `target` one op at a time (for learning and debugging).

    >>> import tapegrad as tg
    >>> x = tg.Variable(3.0, name="x")
    >>> with tg.GradientTape(persistent=True) as tape:
    ...     y = x * x + 1.0
    >>> [step.op for step in tape.backward_steps(y)]
    ['add', 'multiply']
    >>> print(list(tape.backward_steps(y))[1].rules[0].phrase)
    d(x*y)/dx = y
    """
    if not isinstance(target, Tensor):
        raise TypeError(f"backward_steps: target must be a Tensor, got {type(target).__name__}")
    records_of(tape)
    steps = walk(tape, target)
    if not steps and id(target) not in tape.dependents(tape.watched):
        raise ValueError("backward_steps: the target does not depend on any watched tensor or "
                         "trainable Variable of this tape, so no gradient flows")
    return iter([BackwardStep(tape, op, n, len(steps), g,
                              [LocalRule(i, op.inputs[i], op.op.phrase(i), Tensor._wrap(gi))
                               for i, gi in parts], grads, target)
                 for n, (op, g, parts, grads) in enumerate(steps, 1)])
