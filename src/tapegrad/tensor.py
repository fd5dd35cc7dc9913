"""Tensor and Variable: an ndarray plus Python operators that call tapegrad ops.

No autodiff logic lives here; recording happens in :mod:`tapegrad.ops.primitive` and the tape.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np

from tapegrad.state import STATE, note_cut

_default_float = np.dtype(np.float32)


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype that Python floats and float lists become (float32 unless changed).

    >>> import tapegrad as tg
    >>> tg.set_default_dtype("float64"); tg.tensor(1.0).dtype
    dtype('float64')
    >>> tg.set_default_dtype(np.float32)
    """
    global _default_float
    dt = _as_dtype(dtype, "set_default_dtype")
    if dt.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dt}")
    _default_float = dt


def get_default_dtype() -> np.dtype:
    """The dtype Python floats become (float32 unless changed by `set_default_dtype`).

    >>> import tapegrad as tg
    >>> tg.get_default_dtype()
    dtype('float32')
    """
    return _default_float


def _as_dtype(dtype: Any, where: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{where}: {dtype!r} is not a dtype ({e})") from e
    check_dtype(dt, where)
    return dt


SUPPORTED_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                    "uint64", "float16", "float32", "float64")
"""The element types a Tensor can hold: booleans, integers and floats (only floats are
differentiable). Complex, object, string, bytes and datetime data are rejected with a TypeError."""

_KINDS = "biuf"


def check_dtype(dtype: np.dtype, where: str) -> None:
    """Raise a TypeError naming `where` unless `dtype` is one of `SUPPORTED_DTYPES`.

    >>> import tapegrad as tg
    >>> tg.tensor(1j)
    Traceback (most recent call last):
    ...
    TypeError: tensor: unsupported dtype complex128; tapegrad supports bool, int8, ...
    """
    if dtype.kind not in _KINDS:
        what = {"c": "complex numbers", "O": "Python objects (or integers beyond 64 bits)",
                "U": "strings", "S": "bytes"}.get(dtype.kind, "this element type")
        raise TypeError(f"{where}: unsupported dtype {dtype}; tapegrad supports "
                        f"{', '.join(SUPPORTED_DTYPES)}, not {what}")


def _no_export(t: Tensor) -> None:
    pass


def is_float_dtype(dtype: np.dtype) -> bool:
    """Floating dtypes are the differentiable ones."""
    return dtype.kind == "f"


def _holds_tensor(data: Any) -> bool:
    """Does a (nested) list or tuple contain a Tensor?"""
    for d in data:
        if isinstance(d, Tensor) or (isinstance(d, (list, tuple)) and _holds_tensor(d)):
            return True
    return False


def _to_array(data: Any, dtype: Any = None, where: str = "tensor") -> np.ndarray:
    """Convert user data to an ndarray with tapegrad's dtype rules and clear errors."""
    if isinstance(data, Tensor):
        arr = data._value
    elif isinstance(data, np.ndarray):
        arr = data
    else:
        if data is None:
            raise TypeError(f"{where}: cannot make a tensor from None")
        if isinstance(data, (str, bytes)):
            raise TypeError(f"{where}: cannot make a tensor from a string ({data!r:.40})")
        try:
            arr = np.asarray(data)
        except TypeError as e:  # an object that refuses to be an array (a symbolic tensor)
            raise TypeError(f"{where}: {e}") from e
        except (ValueError, OverflowError) as e:
            raise ValueError(
                f"{where}: data is ragged or inhomogeneous "
                f"(nested lists must have equal lengths): {e}"
            ) from e
        if (arr.dtype.kind == "f" and arr.dtype == np.float64 and dtype is None
                and not isinstance(data, np.generic)):
            arr = arr.astype(_default_float)
    check_dtype(arr.dtype, where)
    if dtype is not None:
        dt = _as_dtype(dtype, where)
        if arr.dtype != dt:
            arr = arr.astype(dt)
    return arr


def operands(name: str, args: tuple, vals: list, float_valued: bool) -> tuple[tuple, list]:
    """The conversion entry point of every op: array-likes become constant Tensors, a list
    holding Tensors is stacked (recorded), Python scalars stay weakly typed next to arrays and
    become arrays on their own, and (for float-valued ops) integer or boolean input is
    promoted to the default float dtype: the one rule by which `tg.sigmoid([1, 2])` equals
    `tg.sigmoid([1.0, 2.0])`."""
    out_args, out_vals = list(args), list(vals)
    arrays = False
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            arrays = True
        elif isinstance(a, (bool, int, float)) and not isinstance(a, np.generic):
            if a.__class__ is int and not -2 ** 63 <= a < 2 ** 64:
                raise TypeError(f"{name}: the integer {a} does not fit in 64 bits; tapegrad "
                                f"supports {', '.join(SUPPORTED_DTYPES)}")
        elif isinstance(a, np.generic):
            check_dtype(a.dtype, name)
            out_args[i] = out_vals[i] = a.item()  # weakly typed, like a Python scalar
        else:
            t = as_operand(a, name)
            out_args[i], out_vals[i], arrays = t, t._value, True
    for i, v in enumerate(out_vals):
        if not arrays:  # only scalars: they become arrays, as tg.tensor makes them
            v = _to_array(v, where=name)
            out_args[i] = Tensor._wrap(v)
        if float_valued and isinstance(v, np.ndarray) and v.dtype.kind in "biu":
            v = v.astype(_default_float)
            out_args[i] = Tensor._wrap(v)
        out_vals[i] = v
    return tuple(out_args), out_vals


def as_operand(data: Any, where: str) -> Tensor:
    """An op's non-Tensor argument as a Tensor: a list holding Tensors is stacked (recorded,
    so the tape is never dropped silently), anything else becomes a constant."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (list, tuple)) and _holds_tensor(data):
        return _stack_tensors(data, where)
    return Tensor._wrap(_to_array(data, where=where))


def _stack_tensors(data: list | tuple, name: str) -> Tensor:
    """A list holding Tensors as one recorded `stack` (as TF's convert_to_tensor packs it)."""
    parts = [_stack_tensors(d, name) if isinstance(d, (list, tuple)) else d for d in data]
    try:
        return _ops.stack(parts)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{name}: a list of tensors is stacked into one tensor, but {e}") from e


def _readonly(a: np.ndarray) -> np.ndarray:
    """`a` itself if read-only, else a read-only view of it (Tensors are immutable)."""
    if not a.flags.writeable:
        return a
    v = a.view()
    v.flags.writeable = False
    return v


class Tensor:
    """An immutable n-dimensional array that GradientTape can record operations on.

    >>> import tapegrad as tg
    >>> x = tg.tensor([1.0, 2.0])
    >>> (x * 3 + 1).numpy()
    array([4., 7.], dtype=float32)
    """

    __slots__ = ("_value", "__weakref__")
    __array_priority__ = 1000
    _is_variable = False
    _trainable = False
    name: str | None = None

    def __init__(self, data: Any, dtype: Any = None):
        self._value = _to_array(data, dtype)

    @classmethod
    def _wrap(cls, value: np.ndarray) -> Tensor:
        t = object.__new__(Tensor)
        t._value = value
        return t

    # -- array facts ------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The value as a read-only NumPy array (no copy: `.copy()` it to modify). The result is
        a constant to every tape: gradients do not flow through NumPy code.

        >>> import tapegrad as tg
        >>> tg.tensor([1.0, 2.0]).numpy().flags.writeable
        False
        """
        if STATE.recorders:
            for r in STATE.recorders:
                getattr(r, "_note_export", _no_export)(self)
        return _readonly(self._value)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    @property
    def dtype(self) -> np.dtype:
        return self._value.dtype

    @property
    def ndim(self) -> int:
        return self._value.ndim

    @property
    def size(self) -> int:
        return self._value.size

    @property
    def T(self) -> Tensor:
        return _ops.transpose(self)

    def __len__(self) -> int:
        if self._value.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._value)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """NumPy's conversion protocol: a read-only view unless a copy or a new dtype is asked
        for (`np.array(t)` copies, `np.asarray(t)` does not), as NumPy 2 specifies."""
        v = self._value
        if dtype is not None and np.dtype(dtype) != v.dtype:
            if copy is False:
                raise ValueError(f"cannot convert a {v.dtype} tensor to {np.dtype(dtype)} "
                                 "without a copy (copy=False)")
            return v.astype(dtype)
        return v.copy() if copy else _readonly(v)

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError("Tensors are immutable: build a new one (tg.where, tg.scatter_add), "
                        "or use Variable.assign for model state")

    def __float__(self) -> float:
        """`float(t)` of a one-element tensor (any shape, as PyTorch and TF allow)."""
        return float(self._scalar("float").item())

    def __int__(self) -> int:
        """`int(t)` truncates toward 0, as `int(np.float32(2.7))` does."""
        return int(self._scalar("int").item())

    def __format__(self, spec: str) -> str:
        """`f"{loss:.4f}"` formats the number of a one-element tensor (as NumPy scalars do)."""
        if not spec:
            return str(self)
        return format(self._scalar(f"format with {spec!r}").item(), spec)

    def __round__(self, ndigits: int | None = None) -> Any:
        """`round(t)` gives an int and `round(t, 2)` a float for a one-element tensor, as for
        Python and NumPy scalars; other tensors give `tg.round(t, decimals=ndigits)`."""
        if self._value.size == 1:
            return round(self._value.item(), ndigits)
        return _ops.round(self, decimals=ndigits or 0)

    def _scalar(self, what: str) -> np.ndarray:
        if STATE.recorders:  # a Python number leaves the graph (tg.function guards it)
            for r in STATE.recorders:
                r._note_export(self)
        if self._value.size != 1:
            raise TypeError(f"{what}() needs a tensor with exactly one element, got shape "
                            f"{self.shape}; reduce it first (e.g. tg.sum) or index it")
        return self._value

    def __index__(self) -> int:
        if self._value.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, not {self.dtype}")
        return int(self._value)

    def __bool__(self) -> bool:
        if self._value.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous: "
                             "use tg.logical_and/any-style reductions, e.g. bool(tg.max(t > 0))")
        if STATE.recorders:
            for r in STATE.recorders:
                r._note_export(self)
        return bool(self._value)

    def register_hook(self, hook: Any) -> Any:
        """Call `hook(grad)` when this tensor's gradient is complete during a backward pass; a
        returned Tensor replaces the gradient. Returns a handle with `.remove()`.

        >>> import tapegrad as tg
        >>> x = tg.Variable(2.0)
        >>> with tg.GradientTape() as tape:
        ...     y = x * 3
        ...     handle = y.register_hook(lambda g: g * 10)
        ...     z = y + 1
        >>> float(tape.gradient(z, x))
        30.0
        """
        from tapegrad.state import add_hook

        return add_hook(self, hook)

    def item(self) -> Any:
        if STATE.recorders:
            for r in STATE.recorders:
                r._note_export(self)
        return self._value.item()

    def tolist(self) -> Any:
        return self._value.tolist()

    def __iter__(self):
        if self._value.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(len(self._value)):
            yield self[i]

    def __repr__(self) -> str:
        body = np.array2string(self._value, separator=", ", threshold=20, prefix="       ")
        kind = "Variable" if self._is_variable else "Tensor"
        name = f" name={self.name!r}" if self.name else ""
        return f"<tg.{kind}{name} shape={self.shape} dtype={self.dtype} numpy={body}>"

    __hash__ = object.__hash__

    # -- operators (all go through tapegrad.ops) ----------------------------------------------
    # `t + o`, `t * o`, `t[k]`, `t < o`, ... are the ops themselves (`_OPERATORS`, set below the
    # class); here are the ones that swap or take one operand.
    def __radd__(self, o):
        return _ops.add(o, self)

    def __rsub__(self, o):
        return _ops.subtract(o, self)

    def __rmul__(self, o):
        return _ops.multiply(o, self)

    def __rtruediv__(self, o):
        return _ops.divide(o, self)

    def __rpow__(self, o):
        return _ops.power(o, self)

    def __rmatmul__(self, o):
        return _ops.matmul(o, self)

    def __neg__(self):
        return _ops.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __rfloordiv__(self, o):
        return _ops.floor_divide(o, self)

    def __rmod__(self, o):
        return _ops.mod(o, self)

    def __invert__(self):
        return _ops.logical_not(self)

    # -- methods mirroring the functions (more are added below the class: `_METHODS`) -------
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return _ops.transpose(self, axes if axes is None else (tuple(axes) or None))

    def flatten(self):
        return _ops.reshape(self, (-1,))

    # -- NumPy functions on Tensors ------------------------------------------------------------
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """`np.exp(t)`, `arr * t`: NumPy ufuncs run as the tapegrad op of the same name."""
        from tapegrad.ops._numpy import ufunc_call

        return ufunc_call(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        """`np.sum(t)`, `np.concatenate([t, u])`: NumPy functions run as tapegrad ops."""
        from tapegrad.ops._numpy import function_call

        return function_call(func, args, kwargs)

    # -- DLPack (issue 16): other libraries read the values without a copy -----------------
    def __dlpack__(self, **kwargs: Any) -> Any:
        """Export the values as a DLPack capsule (NumPy's), e.g. for `torch.from_dlpack(t)`;
        the importer shares this tensor's memory (read it, do not write it)."""
        return self._value.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        """(device type, device id) of the values: always the CPU, (1, 0)."""
        return self._value.__dlpack_device__()


class Variable(Tensor):
    """A mutable Tensor holding model state; trainable ones are watched by tapes automatically.

    >>> import tapegrad as tg
    >>> w = tg.Variable([1.0, 2.0], name="w")
    >>> w.assign_sub([0.5, 0.5]).numpy()
    array([0.5, 1.5], dtype=float32)
    """

    __slots__ = ("_trainable", "name", "_version")
    _is_variable = True

    def __init__(self, initial_value: Any, trainable: bool = True, name: str | None = None,
                 dtype: Any = None):
        if callable(initial_value):
            initial_value = initial_value()
        arr = _to_array(initial_value, dtype, where="Variable")
        if arr is initial_value or arr is getattr(initial_value, "_value", None):
            arr = arr.copy()  # the caller's array stays theirs: changing it changes nothing here
        self._value = arr
        self._trainable = bool(trainable) and is_float_dtype(arr.dtype)
        self.name = name
        self._version = 0
        if trainable and not self._trainable:
            warnings.warn(
                f"Variable{f' {name!r}' if name else ''} has dtype {arr.dtype}, so it is not "
                f"trainable (gradients exist only for floats): pass float values or "
                f"dtype='float32' to train it, or trainable=False to say it is a constant",
                stacklevel=2)

    @property
    def trainable(self) -> bool:
        return self._trainable

    def _new_value(self, value: Any, op: str) -> np.ndarray:
        old = self._value
        if isinstance(value, Tensor):  # the common case in training loops: no conversion
            arr = value._value
            if arr.shape == old.shape and arr.dtype == old.dtype:
                return arr
        else:
            arr = _to_array(value, where=f"Variable.{op}")
        if old.dtype.kind in "iub" and arr.dtype.kind == "f":
            raise TypeError(f"Variable.{op}: cannot store {arr.dtype} values in "
                            f"{self.name or 'a variable'} of dtype {old.dtype} (they would be "
                            "truncated); create the Variable with a float dtype")
        if arr.shape != self._value.shape:
            try:
                arr = np.broadcast_to(arr, self._value.shape)
            except ValueError:
                raise ValueError(
                    f"Variable.{op}: value of shape {arr.shape} does not fit variable "
                    f"{self.name or ''} of shape {self._value.shape}"
                ) from None
        return arr.astype(self._value.dtype, copy=False)

    def _note_assign(self, value: Any, op: str) -> None:
        if STATE.recorders:  # (tg.function replays assigns of Tensors and of constants)
            note_cut(f"Variable.{op} is not differentiable (it re-binds the variable)", op,
                     (value,), self)

    def assign(self, value: Any) -> Variable:
        """Replace the value (same shape); earlier recorded uses keep the old value."""
        self._note_assign(value, "assign")
        self._value = np.array(self._new_value(value, "assign"), copy=True)
        self._version += 1
        return self

    def assign_add(self, delta: Any) -> Variable:
        """`v <- v + delta` (a new array: tapes and users holding the old one keep it)."""
        self._note_assign(delta, "assign_add")
        self._value = self._value + self._new_value(delta, "assign_add")
        self._version += 1
        return self

    def assign_sub(self, delta: Any) -> Variable:
        """`v <- v - delta` (a new array: tapes and users holding the old one keep it)."""
        self._note_assign(delta, "assign_sub")
        self._value = self._value - self._new_value(delta, "assign_sub")
        self._version += 1
        return self

    def _no_inplace(self, o: Any, fix: str) -> Any:
        raise TypeError(f"in-place operators on a Variable would re-bind the name to a Tensor "
                        f"that is no longer trained; use {fix}")

    def __iadd__(self, o):
        return self._no_inplace(o, "v.assign_add(delta)")

    def __isub__(self, o):
        return self._no_inplace(o, "v.assign_sub(delta)")

    def __imul__(self, o):
        return self._no_inplace(o, "v.assign(v * factor)")

    def __itruediv__(self, o):
        return self._no_inplace(o, "v.assign(v / divisor)")

    def __ifloordiv__(self, o):
        return self._no_inplace(o, "v.assign(v // divisor)")

    def __imod__(self, o):
        return self._no_inplace(o, "v.assign(v % divisor)")

    def __ipow__(self, o):
        return self._no_inplace(o, "v.assign(v ** exponent)")

    def __imatmul__(self, o):
        return self._no_inplace(o, "v.assign(v @ m)")


def tensor(data: Any, dtype: Any = None) -> Tensor:
    """Make a constant Tensor; Python floats default to float32, NumPy arrays keep their dtype.

    >>> import tapegrad as tg
    >>> tg.tensor([[1, 2], [3, 4]]).shape
    (2, 2)
    """
    if isinstance(data, Tensor) and dtype is None:
        return Tensor._wrap(data._value)
    if isinstance(data, (list, tuple)) and _holds_tensor(data):
        data = _stack_tensors(data, "tensor")._value  # a constant: the values, not the graph
    out = Tensor._wrap(_to_array(data, dtype))
    if STATE.recorders and isinstance(data, np.ndarray):
        for r in STATE.recorders:
            exports = getattr(r, "_exports", {})  # .numpy() hands out read-only views
            src = exports.get(id(data)) or exports.get(id(data.base))
            if src is not None:
                note_cut("it was copied out of the tape with .numpy() and back in as a constant",
                         "numpy", (src,), out)
    return out


constant = tensor


def as_tensor(x: Any) -> Tensor:
    """Return `x` if it already is a Tensor (no copy), else a constant Tensor of it.

    >>> import tapegrad as tg
    >>> t = tg.tensor([1.0, 2.0])
    >>> tg.as_tensor(t) is t, tg.as_tensor([[1, 2]]).shape
    (True, (1, 2))
    """
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (list, tuple)) and _holds_tensor(x):
        return _stack_tensors(x, "as_tensor")
    return Tensor._wrap(_to_array(x, where="as_tensor"))


def is_number(x: Any) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, np.ndarray)


from tapegrad import ops as _ops  # noqa: E402  (operators need the ops; ops need Tensor)

# Operators that are ops called with the tensor first: `t * o` runs `tg.multiply(t, o)` with no
# wrapper frame in between (a tape that records the user's line pays for every such frame).
_OPERATORS = {
    "__add__": "add", "__sub__": "subtract", "__mul__": "multiply", "__truediv__": "divide",
    "__pow__": "power", "__matmul__": "matmul", "__floordiv__": "floor_divide", "__mod__": "mod",
    "__getitem__": "getitem", "__eq__": "equal", "__ne__": "not_equal", "__lt__": "less",
    "__le__": "less_equal", "__gt__": "greater", "__ge__": "greater_equal",
    "__and__": "logical_and", "__rand__": "logical_and", "__or__": "logical_or",
    "__ror__": "logical_or", "__xor__": "logical_xor",
}
for _dunder, _name in _OPERATORS.items():
    setattr(Tensor, _dunder, getattr(_ops, _name))

# The functions people call as methods (`x.relu()`, `x.sum(axis=1)`): `t.f(*a)` is `tg.f(t, *a)`.
_METHODS = (
    "abs", "argmax", "argmin", "astype", "broadcast_to", "ceil", "clip", "cos", "cumsum", "dot",
    "elu", "erf", "exp", "expand_dims", "expm1", "flip", "floor", "gelu", "isfinite", "isnan",
    "leaky_relu", "log", "log1p", "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean",
    "min", "minimum", "moveaxis", "negative", "norm", "prod", "relu", "repeat", "round", "sigmoid",
    "sign", "sin", "softmax", "softplus", "sqrt", "square", "squeeze", "std", "sum", "swapaxes",
    "take", "tan", "tanh", "tile", "var",
)


def _method(name: str, fn: Any) -> Any:
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)

    method.__name__ = name
    method.__qualname__ = f"Tensor.{name}"
    summary = (fn.__doc__ or "").strip().split("\n")[0]
    method.__doc__ = f"`tg.{name}(t, ...)` as a method: {summary}"
    return method


for _name in _METHODS:
    setattr(Tensor, _name, _method(_name, getattr(_ops, _name)))
