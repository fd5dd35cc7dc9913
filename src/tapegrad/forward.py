"""Forward-mode differentiation: `ForwardAccumulator` (TensorFlow's name) pushes tangents
through every op as it runs.

The tangent is derived generically from the ops' VJP rules: a VJP rule is linear in its upstream
gradient u, so J v = d/du <vjp(u), v>, which one small reverse pass gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.state import STATE, Recorder
from tapegrad.tape import GradientTape, _flatten
from tapegrad.tensor import Tensor, _to_array


class ForwardAccumulator(Recorder):
    """Compute Jacobian-vector products alongside the forward pass.

    >>> import tapegrad as tg
    >>> x = tg.tensor([1.0, 2.0])
    >>> with tg.ForwardAccumulator(x, tg.tensor([1.0, 0.0])) as acc:
    ...     y = x * x
    >>> acc.jvp(y).numpy()
    array([2., 0.], dtype=float32)
    """

    def __init__(self, primals: Any, tangents: Any):
        ps, _ = _flatten(primals, "ForwardAccumulator primals")
        ts, _ = _flatten(tangents, "ForwardAccumulator tangents")
        if len(ps) != len(ts):
            raise ValueError(f"ForwardAccumulator: {len(ps)} primals but {len(ts)} tangents")
        self._tangents: dict[int, Tensor] = {}
        self._keep: list[Tensor] = []
        for p, t in zip(ps, ts):
            if not isinstance(p, Tensor):
                raise TypeError("ForwardAccumulator: primals must be Tensors")
            t = t if isinstance(t, Tensor) else Tensor._wrap(_to_array(t, p.dtype))
            if t.shape != p.shape:
                raise ValueError(f"ForwardAccumulator: tangent of shape {t.shape} for a primal "
                                 f"of shape {p.shape}")
            self._tangents[id(p)] = t
            self._keep.append(p)
        self._recording = False

    def __enter__(self) -> ForwardAccumulator:
        STATE.recorders.append(self)
        self._recording = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self._recording = False
        if self in STATE.recorders:
            STATE.recorders.remove(self)

    def _record(self, prim: Any, args: tuple, vals: list, params: dict, out: Tensor) -> None:
        if not self._recording or out._value.dtype.kind != "f":
            return
        tans = self._tangents
        inputs = [tans.get(id(a)) if isinstance(a, Tensor) else None for a in args]
        if all(t is None for t in inputs):
            return
        self._recording = False
        try:
            t = _jvp_from_vjp(prim, inputs, args, params, out)
        finally:
            self._recording = True
        if t is not None:
            tans[id(out)] = t if isinstance(t, Tensor) else Tensor._wrap(np.asarray(t))
            self._keep.append(out)

    def jvp(self, target: Any, unconnected_gradients: str = "none") -> Any:
        """The tangent of `target` (J v); None (or zeros) if it does not depend on the primals."""
        ts, rebuild = _flatten(target, "ForwardAccumulator.jvp")
        out = []
        for t in ts:
            tan = self._tangents.get(id(t))
            if tan is None and unconnected_gradients == "zero":
                tan = Tensor._wrap(np.zeros(t.shape, t.dtype))
            out.append(tan)
        return rebuild(out)


def _jvp_from_vjp(prim: Any, tangents: list, args: tuple, params: dict, out: Tensor) -> Any:
    u = Tensor._wrap(np.zeros(out.shape, out.dtype))
    with GradientTape() as tape:
        tape.watch(u)
        total = None
        ws = prim.vjp(u, out, args, params, [t is not None for t in tangents])
        for w, t in zip(ws, tangents):
            if w is None or t is None:
                continue
            term = (w * t).sum()  # (w may be broadcast to the output's shape: same product)
            total = term if total is None else total + term
    if total is None:
        return None
    return tape.gradient(total, u, unconnected_gradients="zero")
