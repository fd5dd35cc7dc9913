"""The op registry: a primitive is a NumPy forward plus its gradient rules and what it is.

Gradient rules are written in tapegrad's own ops, so an outer tape records them and higher-order
derivatives come for free. When no outer tape needs them, the backward pass runs the same rules on
plain ndarrays ("raw mode"): the ops then dispatch straight to NumPy, which keeps first-order
gradients close to hand-written NumPy speed.

What an op is, is declared on the op (never in side tables keyed by name): `elementwise=True`
(its gradients may come out broadcast; the engine sums them back to each input's shape, and a
batch of upstream gradients broadcasts through its rules), a `phrase` per input for learners, a
batched rule for Jacobians (`defbatched`) and a joint rule for inputs that share work
(`defvjp_all`). Defaults of keyword-only parameters are bound from the forward's signature when
the op runs, so a rule never repeats them.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.state import STATE, note_cut
from tapegrad.tensor import Tensor, Variable, operands

REGISTRY: dict[str, Primitive] = {}  # name -> op; re-defining an op (a re-run cell) replaces it
_new = object.__new__
_ndarray = np.ndarray  # (`np.ndarray` is a slow lookup: NumPy's module has a __getattr__)


def _keyword_defaults(fwd: Callable) -> dict[str, Any]:
    """Defaults of `fwd`'s keyword-only parameters (for Python functions: a NumPy function's
    own keywords, `out=` and the like, are not the op's parameters)."""
    if not inspect.isfunction(fwd):
        return {}
    sig = inspect.signature(fwd)
    return {p.name: p.default for p in sig.parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.default is not p.empty}


class Primitive:
    """A differentiable op: `fwd` computes on ndarrays; rules give the gradients of its inputs.

    A rule has the signature `rule(g, ans, *inputs, **params) -> gradient of that input`, where
    `g` is the gradient of the output `ans`. Inputs are positional; static parameters keyword-only.

    >>> import tapegrad as tg
    >>> cube = Primitive(lambda x: x ** 3, name="cube", register=False, phrase="3 x^2")
    >>> _ = cube.defvjp(lambda g, ans, x: g * 3 * x * x)
    >>> cube(tg.tensor([1.0, 2.0])).numpy()
    array([1., 8.], dtype=float32)
    """

    def __init__(self, fwd: Callable, name: str | None = None, register: bool = True, *,
                 doc: str | None = None, elementwise: bool = False,
                 phrase: str | tuple[str, ...] | None = None, module: str | None = None):
        self.name = name or fwd.__name__
        self.fwd = fwd
        self.vjps: tuple[Callable | None, ...] = ()  # one rule per input, or
        self.vjp_all: Callable | None = None  # one rule giving every input's gradient, or
        self.vjp_argnum: Callable | None = None  # rule(i, g, ans, ...) for variadic inputs
        self.batched: Callable | None = None  # rule(i, g, ...) with a leading batch axis on g
        self.elementwise = elementwise
        self.float_valued = False  # set by `float_valued(...)`: integer input becomes floats
        self.phrases: tuple[str, ...] = (phrase,) if isinstance(phrase, str) else tuple(
            phrase or ())
        self.defaults = _keyword_defaults(fwd)
        self.__doc__ = fwd.__doc__ if doc is None else doc
        self.__wrapped__ = fwd
        self.__module__ = module or getattr(fwd, "__module__", None) or __name__
        if register:
            old = REGISTRY.get(self.name)
            if old is not None and old.__module__ != self.__module__:
                warnings.warn(f"op {self.name!r} of {old.__module__} is replaced by the one "
                              f"defined in {self.__module__}", stacklevel=3)
            REGISTRY[self.name] = self

    # -- declaring rules ----------------------------------------------------------------------
    def defvjp(self, *rules: Callable | None) -> Primitive:
        """Declare one gradient rule per positional input (None: not differentiable there)."""
        self.vjps = rules
        return self

    def defvjp_all(self, rule: Callable) -> Primitive:
        """Declare one joint rule `rule(g, ans, *inputs, **params) -> (grad of each input)`, for
        ops whose input gradients share work (computed once per backward step)."""
        self.vjp_all = rule
        return self

    def defvjp_argnum(self, rule: Callable) -> Primitive:
        """Declare one rule `rule(i, g, ans, *inputs, **params)` for all inputs (variadic ops)."""
        self.vjp_argnum = rule
        return self

    def defbatched(self, rule: Callable) -> Primitive:
        """Declare the Jacobian form `rule(i, g, ans, *inputs, **params)`: `g` has a leading
        batch axis (one upstream gradient per row); return None to fall back to row by row."""
        self.batched = rule
        return self

    # -- using rules (the one place that finds "the rule for input i") ------------------------
    def vjp(self, g: Any, out: Tensor, args: tuple, vals: list, params: dict,
            needed: Any, fit: bool = True) -> list[tuple[int, Any]]:
        """`(i, gradient)` for each input i whose id is in `needed`, given the upstream gradient
        `g` of the recorded output `out` (inputs whose rule gives None are left out).

        With an ndarray `g` (raw mode, a first-order backward pass) the rules run on the
        recorded ndarrays, with a Tensor `g` on Tensors, so that an outer tape records them.
        Each gradient is `fitted` to its input (unless `fit` is False: Jacobians give `g` a
        leading batch axis).
        """
        if type(g) is not Tensor:
            return self._vjp(g, out._value, vals, args, params, needed, fit)
        st = STATE  # a tracer (tg.function) names the rule that makes each op it records
        st.rule, outer = (self, args, vals, params, out), st.rule
        try:
            return self._vjp(g, out, _recorded_inputs(args, vals), args, params, needed, fit)
        finally:
            st.rule = outer

    def _vjp(self, g: Any, ans: Any, inputs: Any, args: tuple, params: dict, needed: Any,
             fit: bool) -> list[tuple[int, Any]]:
        if self.vjp_all is not None or self.vjp_argnum is not None:
            pairs = self._joint_vjp(g, ans, inputs, params, args, needed)
            return [(i, fitted(gi, inputs[i], self, i)) for i, gi in pairs] if fit else pairs
        pairs = []
        rules = self.vjps
        n = len(rules)
        i = -1
        for a in args:  # (a manual index: enumerate costs ~5% of a backward step)
            i += 1
            if id(a) not in needed or i >= n:
                continue
            rule = rules[i]
            if rule is None:
                continue
            gi = rule(g, ans, *inputs, **params) if params else rule(g, ans, *inputs)
            if gi is None:
                continue
            x = inputs[i]
            if fit:
                if type(gi) is not type(x) and type(x) is _ndarray:
                    gi = np.asarray(gi)  # (NumPy returns scalars for 0-d results)
                if type(gi) is not type(x) or gi.shape != x.shape or (
                        gi.dtype is not x.dtype and gi.dtype != x.dtype):  # (`is` first: fast)
                    gi = fitted(gi, x, self, i)
            pairs.append((i, gi))
        return pairs

    def _joint_vjp(self, g: Any, ans: Any, inputs: Any, params: dict, args: tuple,
                   needed: Any) -> list[tuple[int, Any]]:
        if self.vjp_all is not None:  # one call gives every input's gradient
            grads = self.vjp_all(g, ans, *inputs, **params)
            return [(i, gi) for i, gi in enumerate(grads)
                    if gi is not None and id(args[i]) in needed]
        pairs = []
        for i, a in enumerate(args):
            if id(a) in needed:
                gi = self.vjp_argnum(i, g, ans, *inputs, **params)
                if gi is not None:
                    pairs.append((i, gi))
        return pairs

    def phrase(self, i: int) -> str:
        """The rule for input `i` in words (a generic phrase when the op declares none).

        >>> import tapegrad as tg
        >>> tg.ops.REGISTRY["multiply"].phrase(1)
        'd(x*y)/dy = x'
        """
        if i < len(self.phrases):
            return self.phrases[i]
        if len(self.phrases) == 1 and self.vjp_argnum is not None:  # variadic: one phrase
            return self.phrases[0]
        return f"{self.name}'s gradient rule for input {i}"

    # -- running ------------------------------------------------------------------------------
    def __call__(self, *args: Any, **params: Any) -> Any:
        st = STATE
        if st.raw:  # inside a first-order backward pass: plain NumPy
            return self.fwd(*args, **params)
        vals = []
        convert = False
        tensors = 0
        for a in args:
            c = type(a)
            if c is Tensor or c is Variable or isinstance(a, Tensor):
                v = a._value
                vals.append(v)
                tensors += 1
                if self.float_valued and v.dtype.kind != "f":
                    convert = True
            elif c is float or (c is int and -9223372036854775808 <= a < 2 ** 64):
                vals.append(a)
            else:  # lists, arrays, other scalars: see `operands`
                vals.append(a)
                convert = True
        if convert or not tensors:
            args, vals = operands(self.name, args, vals, self.float_valued)
        if self.defaults:  # bind the forward's defaults, so rules see every parameter
            params = {**self.defaults, **params}
        try:  # (a call without ** when there are no params is measurably cheaper)
            out = self.fwd(*vals, **params) if params else self.fwd(*vals)
        except (ValueError, IndexError, TypeError, OverflowError) as e:
            raise _op_error(self.name, args, vals, e) from e
        t = _new(Tensor)
        t._value = out if type(out) is _ndarray else np.asarray(out)
        if st.anomaly:
            from tapegrad.debug import check_forward

            check_forward(self.name, args, vals, t)
        recorders = st.recorders
        if recorders:
            for rec in recorders:
                rec._record(self, args, vals, params, t)
        return t

    def __repr__(self) -> str:
        return f"<tapegrad op {self.name}>"


def _recorded_inputs(args: tuple, vals: list) -> tuple:
    """The op's inputs for Tensor-mode rules: a Variable re-assigned since the op was recorded
    is replaced by its recorded value (as a constant), so rules never see newer values."""
    if not any(isinstance(a, Variable) and a._value is not v for a, v in zip(args, vals)):
        return args
    return tuple(Tensor._wrap(v) if isinstance(a, Variable) and a._value is not v else a
                 for a, v in zip(args, vals))


def fitted(gi: Any, x: Any, prim: Primitive, i: int) -> Any:
    """Input i's gradient `gi` as an array (raw mode) or Tensor of the input `x`'s shape and
    dtype. Elementwise ops' gradients may come in the broadcast shape of their output: they
    are summed back here, the one place that undoes broadcasting. Any other shape is a bug in
    the rule."""
    raw = not isinstance(x, Tensor)
    if raw:
        gi = np.asarray(gi)  # (NumPy returns scalars for 0-d results)
    elif not isinstance(gi, Tensor):
        gi = Tensor._wrap(np.asarray(gi))
    if gi.shape != x.shape and prim.elementwise and gi.ndim >= x.ndim:
        from tapegrad.ops.shape import sum_to

        gi = sum_to(gi, x.shape)
    if gi.shape != x.shape:
        raise ValueError(f"gradient rule of op '{prim.name}' returned shape {gi.shape} for "
                         f"input {i} of shape {x.shape}: this is a bug in the rule")
    if gi.dtype == x.dtype:
        return gi
    if raw:
        return gi.astype(x.dtype)
    from tapegrad.ops.shape import astype

    return astype(gi, x.dtype)


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


def _caller_module() -> str:
    return sys._getframe(2).f_globals.get("__name__", "__main__")


def float_valued(*ops: Primitive) -> None:
    """Mark ops whose result is a float whatever the input (exp, sigmoid, mean, ...): their
    integer and boolean inputs become the default float dtype first (see `operands`)."""
    for op in ops:
        op.float_valued = True


def primitive(fwd: Callable | None = None, *, name: str | None = None, doc: str | None = None,
              elementwise: bool = False, phrase: str | tuple[str, ...] | None = None) -> Any:
    """Register `fwd` (ndarrays in, ndarray out) as a differentiable op.

    `doc` replaces the docstring taken from `fwd` (for ops built straight from NumPy functions);
    `elementwise` and `phrase` say what the op is (see `Primitive`). Defining an op again under
    the same name (re-running a notebook cell) replaces it.

    >>> import numpy as np
    >>> @primitive(name="cube_demo", phrase="d(x^3)/dx = 3x^2")
    ... def cube(x):
    ...     return x ** 3
    >>> _ = cube.defvjp(lambda g, ans, x: g * 3 * x * x)
    >>> del REGISTRY["cube_demo"]
    """
    module = _caller_module()

    def make(f: Callable) -> Primitive:
        return Primitive(f, name, doc=doc, elementwise=elementwise, phrase=phrase, module=module)

    return make if fwd is None else make(fwd)


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
            for r in STATE.recorders:
                r._record_constant(fn, name, args, params, t)
        return t

    op.__name__ = op.__qualname__ = name
    op.__module__ = _caller_module()
    op.__doc__ = doc or f"`{name}` (not differentiable: its result is never recorded on a tape)."
    return op
