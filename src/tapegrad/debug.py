"""Gradient debugging: `detect_anomaly` (first NaN/Inf, forward or backward) and `explain` (why a
gradient is None or zero, in plain words)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from tapegrad.state import STATE
from tapegrad.tensor import Tensor

__all__ = ["detect_anomaly", "explain"]  # check_forward/check_backward are the engine's hooks

# -- detect_anomaly ----------------------------------------------------------------------------


@contextmanager
def detect_anomaly() -> Iterator[None]:
    """Raise FloatingPointError at the first NaN or Inf made by an op or a gradient rule.

    The message names the op, forward or backward, the input shapes and statistics, the file and
    line that created the op, and whether the op created the NaN/Inf or only passed it on.
    Off by default; when off it costs one flag check per op.

    >>> import tapegrad as tg
    >>> x = tg.Variable(0.0)
    >>> with tg.debug.detect_anomaly():
    ...     with tg.GradientTape() as tape:
    ...         y = tg.sqrt(x)
    ...     try:
    ...         tape.gradient(y, x)
    ...     except FloatingPointError as e:
    ...         print(str(e).splitlines()[0])
    anomaly in the backward pass of 'sqrt': its gradient rule for input 0 created Inf
    """
    st = STATE
    old = st.anomaly
    st.anomaly = True
    try:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            yield
    finally:
        st.anomaly = old


def _stats(v: Any) -> str:
    a = np.asarray(v._value if isinstance(v, Tensor) else v)
    if a.dtype.kind not in "fc":
        return f"shape {a.shape} {a.dtype}"
    finite = a[np.isfinite(a)]
    rng = f"min {finite.min():.4g}, max {finite.max():.4g}" if finite.size else "no finite values"
    return (f"shape {a.shape} {a.dtype}: {rng}, {int(np.isnan(a).sum())} NaN, "
            f"{int(np.isinf(a).sum())} Inf")


def _bad(a: Any) -> str | None:
    a = np.asarray(a._value if isinstance(a, Tensor) else a)
    if a.dtype.kind != "f" or np.isfinite(a).all():
        return None
    return "NaN" if np.isnan(a).any() else "Inf"


def _where(loc: tuple[str, int]) -> str:
    return f"{loc[0]}:{loc[1]}"


def check_forward(name: str, args: tuple, vals: list, out: Tensor) -> None:
    """Called by every op while detect_anomaly is on: raise if `out` holds a NaN or Inf.

    >>> import tapegrad as tg
    >>> x = tg.tensor([0.0])
    >>> try:
    ...     check_forward("log", (x,), [x.numpy()], tg.tensor([-float("inf")]))
    ... except FloatingPointError as e:
    ...     print(str(e).splitlines()[0])
    anomaly in the forward pass of 'log': it created Inf
    """
    kind = _bad(out)
    if kind is None:
        return
    from tapegrad.tape import caller_location

    passed = any(_bad(v) for v in vals)
    how = "passed on a NaN/Inf it received" if passed else f"created {kind}"
    ins = "\n".join(f"  input {i}: {_stats(v)}" for i, v in enumerate(vals))
    raise FloatingPointError(
        f"anomaly in the forward pass of '{name}': it {how}\n{ins}\n  output: {_stats(out)}\n"
        f"  created at {_where(caller_location())}")


def check_backward(op: Any, i: int, g: Any, gi: Any) -> None:
    """Called for every gradient a rule returns while detect_anomaly is on: raise if `gi` (the
    gradient for input i of the recorded op `op`, an OpRecord, given upstream `g`) holds a NaN
    or Inf.

    >>> import tapegrad as tg
    >>> check_backward(None, 0, tg.tensor(1.0), tg.tensor(0.5)) is None  # finite: no error
    True
    """
    kind = _bad(gi)
    if kind is None:
        return
    name, vals, loc = op.name, op.values, op.location
    if _bad(g):
        how = f"received a NaN/Inf upstream gradient and passed it on to input {i}"
    else:
        how = f"its gradient rule for input {i} created {kind}"
    ins = "\n".join(f"  input {j}: {_stats(v)}" for j, v in enumerate(vals))
    raise FloatingPointError(
        f"anomaly in the backward pass of '{name}': {how}\n{ins}\n"
        f"  upstream gradient: {_stats(g)}\n  gradient for input {i}: {_stats(gi)}\n"
        f"  op created at {_where(loc)}")


# -- explain -----------------------------------------------------------------------------------


def _place(loc: tuple[str, int]) -> str:
    return f"{os.path.basename(loc[0])}:{loc[1]}"


def explain(tape: Any, target: Any, source: Any) -> str:
    """Why is `tape.gradient(target, source)` None or zero? One paragraph in plain words.

    >>> import tapegrad as tg
    >>> c = tg.tensor(2.0)
    >>> with tg.GradientTape() as tape:
    ...     y = c * c
    >>> print(tape.explain(y, c))  # doctest: +ELLIPSIS
    The source was never watched...
    """
    if not isinstance(source, Tensor):
        return f"The source is a {type(source).__name__}, not a Tensor: gradients exist only " \
               "for tapegrad Tensors and Variables."
    if source.dtype.kind != "f":
        what = "an integer" if source.dtype.kind in "iu" else f"a {source.dtype}"
        if source._is_variable:
            return (f"The source is {what} Variable ({source.name or 'unnamed'}, dtype "
                    f"{source.dtype}): such Variables are not trainable and have no gradient. "
                    "Create it from floats: tg.Variable(3.0), not tg.Variable(3).")
        return (f"The source has dtype {source.dtype}: integer and boolean tensors are not "
                "differentiable. Create it as a float (tg.tensor(x, dtype='float32')) first.")
    if tape.freed:
        return ("This non-persistent tape already gave its gradient and freed its records. "
                "Use tg.GradientTape(persistent=True) to ask several questions of one tape.")
    if not tape.tracks(source):
        if source._is_variable and not source.trainable:
            return (f"The source is a non-trainable Variable ({source.name or 'unnamed'}): tapes "
                    "watch only trainable Variables automatically. Call tape.watch(v) to track it.")
        if source._is_variable and not tape.watches_accessed_variables:
            return ("The tape was created with watch_accessed_variables=False, and the source "
                    "Variable was never passed to tape.watch().")
        if source._is_variable:
            return ("The source Variable was never used while the tape was recording: it was "
                    "read outside the `with` block, under stop_recording(), or not at all.")
        return ("The source was never watched: only trainable Variables are tracked "
                "automatically. Call tape.watch(x) inside the `with` block before using x "
                "(a tensor created outside the tape is a constant to it).")
    if not isinstance(target, Tensor):
        return (f"The target is a {type(target).__name__}, not a Tensor: it left the tape "
                "(float(), .item() or .numpy() give plain values the tape cannot follow).")
    dep = tape.dependents([source])
    if id(target) in dep:
        zeroed: list[str] = []

        def first_zero(op: Any, g: Any, contributions: list, grads: dict) -> None:
            if not zeroed and _nonzero(g) and any(
                    id(op.inputs[i]) in dep and not _nonzero(gi) for i, gi in contributions):
                zeroed.append(f"'{op.name}' ({_place(op.location)})")

        (g,) = tape.run_backward([target], [None], [source], observer=first_zero)
        if g is not None and _nonzero(g):
            return "The target depends on the source and the gradient is not zero."
        if zeroed:
            return ("The target depends on the source, but the gradient is identically zero: "
                    f"{zeroed[0]} receives a non-zero gradient but passes zero to its input on "
                    "the path (e.g. relu of negative inputs, sign, clip outside its range, or a "
                    "max that the input did not win).")
        return ("The target depends on the source, but the gradient is identically zero (the "
                "upstream gradient is zero).")
    cut = tape.cut_before(target)
    if cut is not None:  # the target descends from an op that cut the path
        reason, op, tracked, loc = cut
        if any(t in dep for t in tracked):
            return (f"The path from the source to the target is cut at '{op}' "
                    f"({_place(loc)}): {reason}, so no gradient flows through it. "
                    + _cut_advice(op, reason))
    values = {id(op.output._value) for op in tape.ops if id(op.output) in dep}
    values.add(id(source._value))
    on_path: list = []  # the ops on a path to the target, found by a backward pass
    tape.run_backward([target], [None], list(tape.watched),
                      observer=lambda op, *_: on_path.append(op))
    for op in reversed(on_path):
        for a in op.inputs:
            if isinstance(a, Tensor) and not tape.tracks(a) and id(a._value) in values:
                return (f"A value computed from the source re-entered the tape as a constant at "
                        f"'{op.name}' ({_place(op.location)}): it went through .numpy() (or "
                        "tg.tensor of it), which copies it out of the tape. Keep it a Tensor.")
    if not tape.tracks(target):
        return ("The target was not recorded by this tape: it was computed outside the `with` "
                "block, under tg.no_grad() or stop_recording(), from NumPy values, or only from "
                "tensors the tape does not track.")
    return ("The target does not depend on the source in any recorded op: the source is not "
            "used on any path that leads to the target.")


def _nonzero(g: Any) -> bool:
    return bool(np.any(np.asarray(g._value if isinstance(g, Tensor) else g)))


def _cut_advice(op: str, reason: str) -> str:
    if "stop_recording" in reason:
        return "Compute it outside the stop_recording() block."
    if op == "astype":
        return "Casting to an integer dtype has no gradient."
    if op == "numpy":
        return "Keep the value a Tensor and use tapegrad ops instead of NumPy."
    if op.startswith("assign"):
        return "Compute with the Variable's value directly instead of assigning it inside the tape."
    if op == "stop_gradient":
        return "Remove tg.stop_gradient if the gradient is wanted."
    return "Comparisons, argmax/argmin, rounding and integer casts have no gradient."
