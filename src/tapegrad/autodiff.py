"""Derivatives beyond one gradient: functional transforms (grad, value_and_grad, jacobian,
hessian, hvp), custom gradients and gradient checkpointing (recompute_grad). They all drive the
tape's one chain rule (`GradientTape.gradient` / `jacobian`)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tapegrad.ops.primitive import Primitive
from tapegrad.state import STATE, Recorder, recorders
from tapegrad.tape import GradientTape
from tapegrad.tensor import Tensor, _to_array

# -- functional transforms -----------------------------------------------------------------


def _as_source(a: Any, where: str, i: int) -> Tensor:
    t = a if isinstance(a, Tensor) else Tensor._wrap(_to_array(a, where=where))
    if t.dtype.kind != "f":
        raise TypeError(f"{where}: argument {i} has dtype {t.dtype}, and only floating-point "
                        f"inputs have gradients; pass floats (3.0, not 3) or convert with "
                        f"tg.tensor(x, dtype='float32')")
    return t


def _sources(where: str, f: Callable, argnums: int | Sequence[int], args: list) -> tuple:
    """Check `argnums` against the call and make those arguments float Tensors (in place)."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not isinstance(i, int) or not -len(args) <= i < len(args):
            name = getattr(f, "__name__", "f")
            raise ValueError(f"{where}: argnums={argnums!r}, but {name} was called with "
                             f"{len(args)} positional argument{'s' * (len(args) != 1)}; "
                             "argnums must index those")
        args[i] = _as_source(args[i], where, i)
    return nums


def _value_and_grad(f: Callable, argnums: int | Sequence[int], has_aux: bool, args: tuple,
                    kwargs: dict) -> tuple[Any, Any]:
    args = list(args)
    nums = _sources("grad", f, argnums, args)
    srcs = [args[i] for i in nums]
    with GradientTape() as tape:
        tape.watch(srcs)
        out = f(*args, **kwargs)
    value, aux = out if has_aux else (out, None)
    if not isinstance(value, Tensor):
        raise TypeError(f"grad: f must return a Tensor{' (and aux)' if has_aux else ''}, got "
                        f"{type(value).__name__}")
    grads = tape.gradient(value, srcs, unconnected_gradients="zero")
    grads = grads[0] if isinstance(argnums, int) else tuple(grads)
    return ((value, aux) if has_aux else value), grads


def grad(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The function computing the gradient of `f` (summed if not scalar) w.r.t. `argnums`.

    Composes: `tg.grad(tg.grad(f))` is the second derivative.

    >>> import tapegrad as tg
    >>> float(tg.grad(tg.grad(lambda x: x ** 3))(tg.tensor(2.0)))
    12.0
    """
    @functools.wraps(f)
    def grad_f(*args: Any, **kwargs: Any) -> Any:
        return _value_and_grad(f, argnums, False, args, kwargs)[1]

    return grad_f


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable:
    """The function returning `(f(x), grad)`, or `((f(x), aux), grad)` with `has_aux`.

    >>> import tapegrad as tg
    >>> v, g = tg.value_and_grad(lambda x: (x * x).sum())(tg.tensor([1.0, 2.0]))
    >>> float(v), g.numpy().tolist()
    (5.0, [2.0, 4.0])
    """
    @functools.wraps(f)
    def vg(*args: Any, **kwargs: Any) -> Any:
        return _value_and_grad(f, argnums, has_aux, args, kwargs)

    return vg


def jacobian(f: Callable, argnums: int = 0) -> Callable:
    """The function computing the Jacobian of `f` w.r.t. argument `argnums`.

    >>> import tapegrad as tg
    >>> tg.jacobian(lambda x: x * x)(tg.tensor([1.0, 3.0])).numpy().tolist()
    [[2.0, 0.0], [0.0, 6.0]]
    """
    @functools.wraps(f)
    def jac(*args: Any, **kwargs: Any) -> Tensor:
        args = list(args)
        _sources("jacobian", f, argnums, args)
        x = args[argnums]
        with GradientTape() as tape:
            tape.watch(x)
            y = f(*args, **kwargs)
        return tape.jacobian(y, x, unconnected_gradients="zero")

    return jac


def hessian(f: Callable, argnums: int = 0) -> Callable:
    """The function computing the Hessian of scalar `f`: the Jacobian of its gradient.

    >>> import tapegrad as tg
    >>> tg.hessian(lambda x: (x ** 3).sum())(tg.tensor([1.0, 2.0])).numpy().tolist()
    [[6.0, 0.0], [0.0, 12.0]]
    """
    return jacobian(grad(f, argnums), argnums)


def hvp(f: Callable, x: Any, v: Any) -> Tensor:
    """Hessian-vector product H(x) v of scalar `f`, without building the Hessian
    (the gradient of <grad f(x), v>).

    >>> import tapegrad as tg
    >>> tg.hvp(lambda x: (x ** 3).sum(), tg.tensor([1.0, 2.0]), tg.tensor([1.0, 1.0])).numpy()
    array([ 6., 12.], dtype=float32)
    """
    x = _as_source(x, "hvp", 0)
    v = v if isinstance(v, Tensor) else Tensor._wrap(_to_array(v, x.dtype))
    with GradientTape() as outer:
        outer.watch(x)
        with GradientTape() as inner:
            inner.watch(x)
            y = f(x)
        g = inner.gradient(y, x, unconnected_gradients="zero")
        s = (g * v).sum()
    return outer.gradient(s, x, unconnected_gradients="zero")


# -- custom gradients and checkpointing -----------------------------------------------------


class _VariableSpy(Recorder):
    """A recorder that only notes which trainable Variables an inner function reads."""

    _recording = True

    def __init__(self) -> None:
        self.variables: list = []

    def _record(self, prim: Any, args: tuple, vals: list, params: dict, out: Tensor) -> None:
        for a in args:
            if isinstance(a, Tensor) and a._trainable and all(a is not v for v in self.variables):
                self.variables.append(a)


def custom_gradient(f: Callable) -> Callable:
    """Decorator (TensorFlow's form): `f(*x)` returns `(y, grad_fn)`, and `grad_fn(upstream)`
    returns the gradients of the Tensor inputs (one, or a list with one per input); if `f` reads
    trainable Variables, `grad_fn(upstream, variables=...)` returns `(input_grads,
    variable_grads)`. `y` must be one Tensor.

    The ops inside `f` are recorded on the active tapes (as in TF), so `grad_fn` may use tensors
    computed in `f` and still be differentiated again (second order) when it is written in
    tapegrad ops. The gradient through `y` itself comes only from `grad_fn`.

    >>> import tapegrad as tg
    >>> @tg.custom_gradient
    ... def log1pexp(x):
    ...     e = tg.exp(x)
    ...     return tg.log(1 + e), lambda upstream: upstream * (1 - 1 / (1 + e))
    >>> x = tg.Variable(0.0, dtype="float64")
    >>> with tg.GradientTape() as outer:
    ...     with tg.GradientTape() as inner:
    ...         y = log1pexp(x)
    ...     dy = inner.gradient(y, x)
    >>> float(dy), float(outer.gradient(dy, x))  # sigmoid(0), sigmoid'(0)
    (0.5, 0.25)
    """
    return _with_gradient(f, record_forward=True)


def _with_gradient(f: Callable, record_forward: bool) -> Callable:
    """`custom_gradient`; without `record_forward`, `f`'s ops are hidden from the tapes (for
    checkpointing, whose grad_fn recomputes them)."""
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        active = STATE.recorders
        if not active:
            return f(*args, **kwargs)[0]
        spy = _VariableSpy()
        with recorders((list(active) if record_forward else []) + [spy]):
            y, grad_fn = f(*args, **kwargs)
        if not isinstance(y, Tensor):
            raise TypeError(f"custom_gradient {f.__name__}: f must return (Tensor, grad_fn); "
                            f"got a {type(y).__name__} as output (several outputs are not "
                            "supported: concatenate them into one tensor)")
        inputs = [a for a in args if isinstance(a, Tensor)]
        variables = [v for v in spy.variables if all(v is not a for a in inputs)]

        def joint_rule(g: Any, ans: Any, *xs: Any) -> list:
            return _call_grad_fn(grad_fn, g, inputs, variables, f)

        prim = Primitive(lambda *vals: y._value, name=f"custom_gradient:{f.__name__}",
                         register=False)
        prim.defvjp_all(joint_rule)
        return prim(*inputs, *variables)

    return wrapper


def _call_grad_fn(grad_fn: Callable, g: Any, inputs: list, variables: list, f: Callable) -> list:
    st = STATE
    raw = st.raw
    st.raw = False
    try:
        upstream = Tensor._wrap(g) if raw else g
        if variables:
            res = grad_fn(upstream, variables=variables)
            if not (isinstance(res, (tuple, list)) and len(res) == 2):
                raise TypeError(f"custom_gradient {f.__name__}: f reads Variables, so grad_fn "
                                "must return (input_grads, variable_grads)")
            in_grads, var_grads = res
        else:
            in_grads, var_grads = grad_fn(upstream), []
        if isinstance(in_grads, Tensor) or not isinstance(in_grads, (list, tuple)):
            in_grads = [in_grads]
        grads = list(in_grads) + list(var_grads)
        if len(grads) != len(inputs) + len(variables):
            raise ValueError(f"custom_gradient {f.__name__}: grad_fn returned {len(grads)} "
                             f"gradients for {len(inputs)} inputs and {len(variables)} variables")
        out = []
        for gr in grads:
            if gr is None:
                out.append(None)
            elif raw:
                out.append(np.asarray(gr._value if isinstance(gr, Tensor) else gr))
            else:
                out.append(gr if isinstance(gr, Tensor) else Tensor._wrap(np.asarray(gr)))
        return out
    finally:
        st.raw = raw


def recompute_grad(f: Callable) -> Callable:
    """Gradient checkpointing: keep only `f`'s inputs and output on the tape and re-run `f`
    during the backward pass (memory for compute). `f` must be deterministic (re-seed dropout).

    >>> import tapegrad as tg
    >>> block = tg.recompute_grad(lambda x: tg.tanh(tg.tanh(x) * 2))
    >>> x = tg.Variable([0.5])
    >>> with tg.GradientTape() as tape:
    ...     y = block(x)
    >>> tape.gradient(y, x).shape
    (1,)
    """
    @functools.wraps(f)
    def wrapper(*args: Any) -> Any:
        def checkpointed(*xs: Tensor) -> Any:
            y = f(*xs)

            def grad_fn(upstream: Tensor, variables: list | None = None) -> Any:
                fresh = list(xs)  # the real inputs, so an outer tape sees the recomputation
                with GradientTape() as tape:
                    tape.watch(fresh)
                    y2 = f(*fresh)
                srcs = fresh + list(variables or [])
                gs = tape.gradient(y2, srcs, output_gradients=upstream,
                                   unconnected_gradients="zero")
                if variables:
                    return gs[:len(fresh)], gs[len(fresh):]
                return gs

            return y, grad_fn

        return _with_gradient(checkpointed, record_forward=False)(*args)

    return wrapper
