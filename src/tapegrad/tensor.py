"""Tensor and Variable: an ndarray plus Python operators that call tapegrad ops.

No autodiff logic lives here; recording happens in :mod:`tapegrad.ops.primitive` and the tape.
"""

from __future__ import annotations

import numbers
import sys
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
        return np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{where}: {dtype!r} is not a dtype ({e})") from None


def _no_export(t: Tensor) -> None:
    pass


def is_float_dtype(dtype: np.dtype) -> bool:
    """Floating dtypes are the differentiable ones."""
    return dtype.kind == "f"


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
        except ValueError as e:
            raise ValueError(
                f"{where}: data is ragged or inhomogeneous "
                f"(nested lists must have equal lengths): {e}"
            ) from None
        if (arr.dtype.kind == "f" and arr.dtype == np.float64 and dtype is None
                and not isinstance(data, np.generic)):
            arr = arr.astype(_default_float)
    if arr.dtype.kind not in "fiub":
        raise TypeError(
            f"{where}: unsupported element type {arr.dtype} (expected numbers or booleans); "
            f"got {type(data).__name__}"
        )
    if dtype is not None:
        dt = _as_dtype(dtype, where)
        if arr.dtype != dt:
            arr = arr.astype(dt)
    return arr


class Tensor:
    """An immutable n-dimensional array that GradientTape can record operations on.

    >>> import tapegrad as tg
    >>> x = tg.tensor([1.0, 2.0])
    >>> (x * 3 + 1).numpy()
    array([4., 7.], dtype=float32)
    """

    __slots__ = ("_value", "__weakref__")
    __array_ufunc__ = None  # make NumPy defer to our reflected operators (np.float64(2) * t)
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
        """The value as a NumPy array (a copy-free view; do not modify it). The result is a
        constant to every tape: gradients do not flow through NumPy code."""
        if STATE.recorders:
            for r in STATE.recorders:
                getattr(r, "_note_export", _no_export)(self)
        return self._value

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

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._value if dtype is None else self._value.astype(dtype)

    def __float__(self) -> float:
        return float(self._scalar("float"))

    def __int__(self) -> int:
        return int(self._scalar("int"))

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

    # -- operators (all differentiable ones go through tapegrad.ops) ----------------------------
    def __add__(self, o):
        return _ops.add(self, o)

    def __radd__(self, o):
        return _ops.add(o, self)

    def __sub__(self, o):
        return _ops.subtract(self, o)

    def __rsub__(self, o):
        return _ops.subtract(o, self)

    def __mul__(self, o):
        return _ops.multiply(self, o)

    def __rmul__(self, o):
        return _ops.multiply(o, self)

    def __truediv__(self, o):
        return _ops.divide(self, o)

    def __rtruediv__(self, o):
        return _ops.divide(o, self)

    def __pow__(self, o):
        return _ops.power(self, o)

    def __rpow__(self, o):
        return _ops.power(o, self)

    def __matmul__(self, o):
        return _ops.matmul(self, o)

    def __rmatmul__(self, o):
        return _ops.matmul(o, self)

    def __neg__(self):
        return _ops.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __getitem__(self, key):
        return _ops.getitem(self, key)

    # comparisons and logic: boolean results, never differentiable
    def __eq__(self, o):  # type: ignore[override]
        return _ops.equal(self, o)

    def __ne__(self, o):  # type: ignore[override]
        return _ops.not_equal(self, o)

    def __lt__(self, o):
        return _ops.less(self, o)

    def __le__(self, o):
        return _ops.less_equal(self, o)

    def __gt__(self, o):
        return _ops.greater(self, o)

    def __ge__(self, o):
        return _ops.greater_equal(self, o)

    def __and__(self, o):
        return _ops.logical_and(self, o)

    __rand__ = __and__

    def __or__(self, o):
        return _ops.logical_or(self, o)

    __ror__ = __or__

    def __xor__(self, o):
        return _ops.logical_xor(self, o)

    def __invert__(self):
        return _ops.logical_not(self)

    # -- methods mirroring the functions ----------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        return _ops.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return _ops.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return _ops.min(self, axis, keepdims)

    def prod(self, axis=None, keepdims=False):
        return _ops.prod(self, axis, keepdims)

    def var(self, axis=None, keepdims=False):
        return _ops.var(self, axis, keepdims)

    def std(self, axis=None, keepdims=False):
        return _ops.std(self, axis, keepdims)

    def argmax(self, axis=None):
        return _ops.argmax(self, axis)

    def argmin(self, axis=None):
        return _ops.argmin(self, axis)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes or None)

    def flatten(self):
        return _ops.reshape(self, (-1,))

    def squeeze(self, axis=None):
        return _ops.squeeze(self, axis)

    def astype(self, dtype):
        return _ops.astype(self, dtype)

    def clip(self, lo, hi):
        return _ops.clip(self, lo, hi)

    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def tanh(self):
        return _ops.tanh(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def dot(self, o):
        return _ops.dot(self, o)

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
        self._value = _to_array(initial_value, dtype, where="Variable")
        self._trainable = bool(trainable) and is_float_dtype(self._value.dtype)
        self.name = name
        self._version = 0

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
        """`v <- v + delta`."""
        self._note_assign(delta, "assign_add")
        d = self._new_value(delta, "assign_add")
        if self._private():
            np.add(self._value, d, out=self._value)
        else:
            self._value = self._value + d
        self._version += 1
        return self

    def assign_sub(self, delta: Any) -> Variable:
        """`v <- v - delta`."""
        self._note_assign(delta, "assign_sub")
        d = self._new_value(delta, "assign_sub")
        if self._private():
            np.subtract(self._value, d, out=self._value)
        else:
            self._value = self._value - d
        self._version += 1
        return self

    def _private(self) -> bool:
        """Does nothing but this Variable see its array (no tape record, view, or user
        reference)? Then it can be updated in place, which saves a large allocation per step;
        otherwise updates re-bind, so recorded values never change."""
        a = self._value
        return sys.getrefcount(a) <= 3 and a.base is None and a.flags.writeable


def tensor(data: Any, dtype: Any = None) -> Tensor:
    """Make a constant Tensor; Python floats default to float32, NumPy arrays keep their dtype.

    >>> import tapegrad as tg
    >>> tg.tensor([[1, 2], [3, 4]]).shape
    (2, 2)
    """
    if isinstance(data, Tensor) and dtype is None:
        return Tensor._wrap(data._value)
    out = Tensor._wrap(_to_array(data, dtype))
    if STATE.recorders and isinstance(data, np.ndarray):
        for r in STATE.recorders:
            src = getattr(r, "_exports", {}).get(id(data))
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
    return x if isinstance(x, Tensor) else Tensor._wrap(_to_array(x))


def is_number(x: Any) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, np.ndarray)


from tapegrad import ops as _ops  # noqa: E402  (operators need the ops; ops need Tensor)
