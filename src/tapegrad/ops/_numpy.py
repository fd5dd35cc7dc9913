"""NumPy functions on Tensors: `np.exp(t)`, `np.sum(t)`, `np.concatenate([t, u])` run as the
tapegrad op of the same meaning, so they are recorded like `tg.exp(t)`.

A NumPy function without a tapegrad op raises a TypeError saying what to use instead, unless its
result is not floating point (`np.allclose`, `np.argsort`, `np.shape`): no gradient could flow
through such a result anyway, so NumPy computes it on the values.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

import tapegrad.ops as ops
from tapegrad.tensor import Tensor

_UFUNCS = {
    np.add: "add", np.subtract: "subtract", np.multiply: "multiply", np.divide: "divide",
    np.power: "power", np.negative: "negative", np.exp: "exp", np.log: "log",
    np.log1p: "log1p", np.expm1: "expm1", np.sqrt: "sqrt", np.square: "square", np.sin: "sin",
    np.cos: "cos", np.tan: "tan", np.tanh: "tanh", np.absolute: "abs", np.sign: "sign",
    np.maximum: "maximum", np.minimum: "minimum", np.equal: "equal", np.not_equal: "not_equal",
    np.less: "less", np.less_equal: "less_equal", np.greater: "greater",
    np.greater_equal: "greater_equal", np.logical_and: "logical_and",
    np.logical_or: "logical_or", np.logical_xor: "logical_xor", np.logical_not: "logical_not",
    np.isfinite: "isfinite", np.isnan: "isnan", np.floor: "floor", np.ceil: "ceil",
    np.floor_divide: "floor_divide", np.remainder: "mod", np.matmul: "matmul",
}
_REDUCERS = {np.add: "sum", np.multiply: "prod", np.maximum: "max", np.minimum: "min"}

# NumPy function -> (tapegrad function name, NumPy argument name -> tapegrad argument name)
_FUNCTIONS: dict[Any, tuple[str, dict[str, str]]] = {
    np.sum: ("sum", {"a": "x"}), np.mean: ("mean", {"a": "x"}), np.max: ("max", {"a": "x"}),
    np.amax: ("max", {"a": "x"}), np.min: ("min", {"a": "x"}), np.amin: ("min", {"a": "x"}),
    np.prod: ("prod", {"a": "x"}), np.var: ("var", {"a": "x"}), np.std: ("std", {"a": "x"}),
    np.argmax: ("argmax", {"a": "x"}), np.argmin: ("argmin", {"a": "x"}),
    np.cumsum: ("cumsum", {"a": "x"}), np.concatenate: ("concatenate", {"arrays": "xs"}),
    np.stack: ("stack", {"arrays": "xs"}), np.reshape: ("reshape", {"a": "x"}),
    np.transpose: ("transpose", {"a": "x"}), np.squeeze: ("squeeze", {"a": "x"}),
    np.expand_dims: ("expand_dims", {"a": "x"}),
    np.clip: ("clip", {"a": "x", "a_min": "lo", "a_max": "hi", "min": "lo", "max": "hi"}),
    np.where: ("where", {}), np.dot: ("dot", {"a": "x", "b": "y"}),
    np.tile: ("tile", {"A": "x"}), np.repeat: ("repeat", {"a": "x"}),
    np.split: ("split", {"ary": "x"}), np.pad: ("pad", {"array": "x"}),
    np.flip: ("flip", {"m": "x"}), np.moveaxis: ("moveaxis", {"a": "x"}),
    np.swapaxes: ("swapaxes", {"a": "x"}), np.broadcast_to: ("broadcast_to", {"array": "x"}),
    np.take: ("take", {"a": "x"}), np.round: ("round", {"a": "x"}),
    np.linalg.norm: ("norm", {}), np.einsum: ("einsum", {}),
}
_DEFAULTS: dict[str, Any] = {"mode": "constant", "order": "C", "dtype": None, "out": None,
                             "copy": None}


def ufunc_call(ufunc: Any, method: str, inputs: tuple, kwargs: dict) -> Any:
    """`Tensor.__array_ufunc__`: the tapegrad op for `ufunc(*inputs)` (or its `.reduce`)."""
    uname = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if "out" in kwargs:
        raise TypeError(f"{uname}(..., out=...): Tensors are immutable and NumPy cannot write "
                        f"into them or record the result; use tapegrad ops (e.g. "
                        f"`a = a + t`), or NumPy on t.numpy()")
    if method == "__call__" and ufunc in _UFUNCS:
        name = _UFUNCS[ufunc]
        _no_extras(uname, name, kwargs)
        return getattr(ops, name)(*inputs)
    if method == "reduce" and ufunc in _REDUCERS:
        name = _REDUCERS[ufunc]
        axis, keepdims = kwargs.pop("axis", 0), kwargs.pop("keepdims", False)
        _no_extras(uname, name, kwargs)
        return getattr(ops, name)(*inputs, axis=axis, keepdims=keepdims)
    if method == "accumulate" and ufunc is np.add:
        axis = kwargs.pop("axis", 0)
        _no_extras(uname, "cumsum", kwargs)
        return ops.cumsum(*inputs, axis=axis)
    return _on_values(uname, getattr(ufunc, method), inputs, kwargs)


def function_call(func: Any, args: tuple, kwargs: dict) -> Any:
    """`Tensor.__array_function__`: the tapegrad function for a NumPy function call."""
    fname = f"np.{getattr(func, '__name__', func)}"
    if func is np.shape or func is np.ndim or func is np.size:  # metadata: no value is read
        return func(*(np.broadcast_to(np.zeros((), a.dtype), a.shape) if isinstance(a, Tensor)
                      else a for a in args), **kwargs)
    if func not in _FUNCTIONS:
        return _on_values(fname, func, args, kwargs)
    name, renames = _FUNCTIONS[func]
    target = getattr(ops, name)
    if func is np.einsum or func is np.where:
        _no_extras(fname, name, kwargs)
        return target(*args)
    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{fname}: {e}") from e
    accepted = inspect.signature(target).parameters
    call = {}
    for k, v in bound.arguments.items():
        key = renames.get(k, k)
        if key in accepted:
            call[key] = v
        elif not (k in _DEFAULTS and v is _DEFAULTS[k]):
            raise TypeError(f"{fname}(..., {k}=...) has no equivalent in tg.{name}, which "
                            f"records the call on Tensors; call tg.{name} without it, or NumPy "
                            f"on t.numpy() for a constant")
    return target(**call)


def _no_extras(uname: str, name: str, kwargs: dict) -> None:
    if kwargs:
        raise TypeError(f"{uname}: the keyword arguments {sorted(kwargs)} have no equivalent in "
                        f"tg.{name}, which records the call on Tensors")


def _values(obj: Any) -> Any:
    if isinstance(obj, Tensor):
        return obj.numpy()
    if isinstance(obj, (list, tuple)):
        return type(obj)(_values(o) for o in obj)
    return obj


def _on_values(fname: str, func: Any, args: tuple, kwargs: dict) -> Any:
    """NumPy on the values when the result cannot carry a gradient; a TypeError otherwise."""
    out = func(*_values(args), **_values(kwargs))
    kinds = {np.asarray(o).dtype.kind for o in (out if isinstance(out, tuple) else (out,))}
    if kinds & set("fc"):
        raise TypeError(f"{fname} has no tapegrad op, so it cannot be recorded on a tape: write "
                        f"it with tapegrad ops (tg.exp, tg.sum, ...), or call it on t.numpy() "
                        f"for a constant (no gradient flows through NumPy code)")
    return out
