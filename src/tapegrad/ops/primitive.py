"""The op registry: a primitive is a NumPy forward plus one gradient rule per input.

Gradient rules are written in tapegrad's own ops, so an outer tape records them and higher-order
derivatives come for free. When no outer tape needs them, the backward pass runs the same rules on
plain ndarrays ("raw mode"): the ops then dispatch straight to NumPy, which keeps first-order
gradients close to hand-written NumPy speed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.state import STATE, note_cut
from tapegrad.tensor import Tensor, Variable, operands

REGISTRY: dict[str, Primitive] = {}
_new = object.__new__


class Primitive:
    """A differentiable op: `fwd` computes on ndarrays, `vjps[i]` gives the gradient of input i.

    A rule has the signature `rule(g, ans, *inputs, **params) -> gradient of that input`, where
    `g` is the gradient of the output `ans`. Inputs are positional; static parameters keyword-only.

    >>> import tapegrad as tg
    >>> cube = Primitive(lambda x: x ** 3, name="cube", register=False)
    >>> _ = cube.defvjp(lambda g, ans, x: g * 3 * x * x)
    >>> cube(tg.tensor([1.0, 2.0])).numpy()
    array([1., 8.], dtype=float32)
    """

    float_valued = False  # set by `float_valued(...)`: integer input is promoted to floats

    def __init__(self, fwd: Callable, name: str | None = None, differentiable: bool = True,
                 register: bool = True, *, doc: str | None = None):
        self.name = name or fwd.__name__
        self.fwd = fwd
        self.vjps: tuple[Callable | None, ...] = ()
        self.vjp_argnum: Callable | None = None
        self.jvp: Callable | None = None
        self.differentiable = differentiable
        self.__doc__ = fwd.__doc__ if doc is None else doc
        self.__wrapped__ = fwd
        if register:
            if self.name in REGISTRY:
                raise ValueError(f"op {self.name!r} is registered twice")
            REGISTRY[self.name] = self

    def defvjp(self, *rules: Callable | None) -> Primitive:
        """Declare one gradient rule per positional input (None: not differentiable there)."""
        self.vjps = rules
        return self

    def defvjp_argnum(self, rule: Callable) -> Primitive:
        """Declare one rule `rule(i, g, ans, *inputs, **params)` for all inputs (variadic ops)."""
        self.vjp_argnum = rule
        return self

    def defjvp(self, rule: Callable) -> Primitive:
        """Declare the forward-mode rule `rule(tangents, ans, *inputs, **params) -> tangent`."""
        self.jvp = rule
        return self

    def __call__(self, *args: Any, **params: Any) -> Any:
        st = STATE
        if st.raw:  # inside a first-order backward pass: plain NumPy
            return self.fwd(*args, **params)
        vals = []
        convert = False
        tensors = 0
        for a in args:
            c = a.__class__
            if c is Tensor or c is Variable or isinstance(a, Tensor):
                v = a._value
                vals.append(v)
                tensors += 1
                if v.dtype.kind != "f" and self.float_valued:
                    convert = True
            elif c is float or (c is int and -9223372036854775808 <= a < 2 ** 64):
                vals.append(a)
            else:  # lists, arrays, other scalars: see `operands`
                vals.append(a)
                convert = True
        if convert or not tensors:
            args, vals = operands(self.name, args, vals, self.float_valued)
        try:
            out = self.fwd(*vals, **params)
        except (ValueError, IndexError, TypeError, OverflowError) as e:
            raise _op_error(self.name, args, vals, e) from e
        t = _new(Tensor)
        t._value = out if out.__class__ is np.ndarray else np.asarray(out)
        if st.anomaly:
            from tapegrad.debug import check_forward

            check_forward(self.name, args, vals, t)
        if st.recorders:
            for rec in st.recorders:
                rec._record(self, args, vals, params, t)
        return t

    def __repr__(self) -> str:
        return f"<tapegrad op {self.name}>"


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of a Tensor, an ndarray (in raw mode) or a Python scalar."""
    try:
        return x.shape
    except AttributeError:
        return np.shape(x)


def _op_error(name: str, args: tuple, vals: list, e: Exception) -> Exception:
    shapes = ", ".join(
        str(np.shape(v)) + (f" {v.dtype}" if isinstance(v, np.ndarray) else "") for v in vals
    )
    cls = IndexError if isinstance(e, IndexError) else ValueError
    if isinstance(e, TypeError):
        cls = TypeError
    return cls(f"{name}: cannot apply to inputs of shapes {shapes}: {e}")


def float_valued(*ops: Primitive) -> None:
    """Mark ops whose result is a float whatever the input (exp, sigmoid, mean, ...): their
    integer and boolean inputs become the default float dtype first (see `operands`)."""
    for op in ops:
        op.float_valued = True


def primitive(fwd: Callable | None = None, *, name: str | None = None,
              doc: str | None = None) -> Any:
    """Register `fwd` (ndarrays in, ndarray out) as a differentiable op.

    `doc` replaces the docstring taken from `fwd` (for ops built straight from NumPy functions).

    >>> import numpy as np
    >>> @primitive(name="cube_demo")
    ... def cube(x):
    ...     return x ** 3
    >>> _ = cube.defvjp(lambda g, ans, x: g * 3 * x * x)
    >>> del REGISTRY["cube_demo"]
    """
    if fwd is None:
        return lambda f: Primitive(f, name, doc=doc)
    return Primitive(fwd, name, doc=doc)


def nondifferentiable(fn: Callable, name: str, *, doc: str | None = None) -> Callable:
    """Wrap a NumPy function whose result is never differentiable (comparisons, argmax).

    >>> import tapegrad as tg
    >>> is_odd = nondifferentiable(lambda x: x % 2 == 1, "is_odd")
    >>> is_odd(tg.tensor([1, 2, 3])).numpy()
    array([ True, False,  True])
    """

    def op(*args: Any, **params: Any) -> Any:
        if STATE.raw:
            return fn(*args, **params)
        vals = [a._value if isinstance(a, Tensor) else a for a in args]
        if not all(isinstance(a, Tensor) for a in args):
            args, vals = operands(name, args, vals, False)
        try:
            out = fn(*vals, **params)
        except (ValueError, IndexError, TypeError, OverflowError) as e:
            raise _op_error(name, args, vals, e) from e
        t = Tensor._wrap(np.asarray(out))
        if STATE.recorders:
            note_cut("not differentiable", name, args, t)
        return t

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc or f"`{name}` (not differentiable: its result is never recorded on a tape)."
    return op
