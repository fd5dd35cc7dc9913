"""Elementwise ops. Each forward sits next to its gradient rule, written in tapegrad ops.

Every op here is declared `elementwise`: its rules may return gradients in the broadcast shape
of the output, and the engine sums them back to each input's shape (the one place that undoes
broadcasting), so no rule here contains broadcasting code. Kink conventions: relu, abs and sign
have gradient 0 at 0; maximum/minimum split the gradient equally between tied inputs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tapegrad.ops.primitive import float_valued, nondifferentiable, primitive
from tapegrad.state import STATE
from tapegrad.tensor import Tensor, Variable, as_operand

_TENSORS = (Tensor, Variable)

# -- explicit broadcasting -------------------------------------------------------------------


def broadcast_args(name: str, *args: Any) -> list:
    """Convert array-likes to Tensors and check that the shapes broadcast together; Python and
    NumPy scalars stay weakly typed constants. (The engine sums the gradients of these
    elementwise ops back to each input's shape, whatever was tracked when they ran.)"""
    out = []
    shapes = []
    for a in args:
        if isinstance(a, Tensor):
            pass
        elif isinstance(a, np.generic):  # NumPy scalars are weakly typed, like Python's
            out.append(a.item())
            continue
        elif isinstance(a, (int, float, bool)):
            out.append(a)
            continue
        else:
            a = as_operand(a, name)
        out.append(a)
        shapes.append(a._value.shape)
    if len(shapes) < 2 or all(s == shapes[0] for s in shapes) or STATE.raw:
        return out
    try:
        _result_shape(shapes)
    except ValueError:
        desc = " and ".join(str(s) for s in shapes)
        raise ValueError(f"{name}: shapes {desc} cannot be broadcast together "
                         "(NumPy broadcasting: trailing dimensions must match or be 1)") from None
    return out


def _result_shape(shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """np.broadcast_shapes, with the common case (one shape a suffix of another) done fast."""
    if len(shapes) == 2:
        a, b = shapes
        if len(a) < len(b):
            a, b = b, a
        if not b or a[len(a) - len(b):] == b:
            return a
    return np.broadcast_shapes(*shapes)


def _binary(prim: Any, doc: str) -> Any:
    def op(x: Any, y: Any) -> Tensor:
        cx, cy = type(x), type(y)  # (the common cases first: reading STATE costs more)
        if cx in _TENSORS:
            if cy in _TENSORS:
                if x._value.shape == y._value.shape:
                    return prim(x, y)
            elif cy is float or cy is int:
                return prim(x, y)
        elif (cx is float or cx is int) and cy in _TENSORS:
            return prim(x, y)
        if STATE.raw:
            return prim.fwd(x, y)
        return prim(*broadcast_args(prim.name, x, y))

    op.__name__ = op.__qualname__ = prim.name
    op.__doc__ = prim.__doc__ = doc
    op.primitive = prim  # type: ignore[attr-defined]
    return op


# -- unary ---------------------------------------------------------------------------------

negative = primitive(np.negative, elementwise=True, phrase="d(-x)/dx = -1", doc="""
-x, elementwise.

>>> import tapegrad as tg
>>> tg.negative(tg.tensor([1.5, -2.0])).numpy()
array([-1.5,  2. ], dtype=float32)
""").defvjp(lambda g, ans, x: -g)
exp = primitive(np.exp, elementwise=True, phrase="d exp(x)/dx = exp(x)", doc="""
e ** x, elementwise; the gradient reuses the output (g * exp(x)).

>>> import tapegrad as tg
>>> tg.exp(tg.tensor([0.0, 1.0])).numpy().round(3)
array([1.   , 2.718], dtype=float32)
""").defvjp(lambda g, ans, x: g * ans)
log = primitive(np.log, elementwise=True, phrase="d log(x)/dx = 1/x", doc="""
Natural logarithm, elementwise (-inf at 0, nan below; gradient g / x).

>>> import tapegrad as tg
>>> tg.log(tg.tensor([1.0, 100.0])).numpy().round(3)
array([0.   , 4.605], dtype=float32)
""").defvjp(lambda g, ans, x: g / x)
log1p = primitive(np.log1p, elementwise=True, phrase="d log1p(x)/dx = 1/(1+x)", doc="""
log(1 + x), accurate for tiny x (where 1 + x would round to 1).

>>> import tapegrad as tg
>>> tg.log1p(tg.tensor([1e-10])).numpy()  # log(1 + 1e-10) would give 0
array([1.e-10], dtype=float32)
""").defvjp(lambda g, ans, x: g / (x + 1))
expm1 = primitive(np.expm1, elementwise=True, phrase="d expm1(x)/dx = exp(x)", doc="""
exp(x) - 1, accurate for tiny x (no cancellation).

>>> import tapegrad as tg
>>> tg.expm1(tg.tensor([1e-10])).numpy()  # exp(1e-10) - 1 would give 0
array([1.e-10], dtype=float32)
""").defvjp(lambda g, ans, x: g * (ans + 1))
sqrt = primitive(np.sqrt, elementwise=True, phrase="d sqrt(x)/dx = 1/(2 sqrt(x))", doc="""
Square root, elementwise; the gradient 0.5 / sqrt(x) is inf at 0.

>>> import tapegrad as tg
>>> tg.sqrt(tg.tensor([4.0, 9.0])).numpy()
array([2., 3.], dtype=float32)
""").defvjp(lambda g, ans, x: g * 0.5 / ans)
square = primitive(np.square, elementwise=True, phrase="d(x^2)/dx = 2x", doc="""
x * x, elementwise (gradient 2 * x).

>>> import tapegrad as tg
>>> tg.square(tg.tensor([-3.0, 0.5])).numpy()
array([9.  , 0.25], dtype=float32)
""").defvjp(lambda g, ans, x: g * 2 * x)
sin = primitive(np.sin, elementwise=True, phrase="d sin(x)/dx = cos(x)", doc="""
Sine (radians), elementwise.

>>> import tapegrad as tg
>>> tg.sin(tg.tensor([0.0, 1.0])).numpy().round(3)
array([0.   , 0.841], dtype=float32)
""").defvjp(lambda g, ans, x: g * cos(x))
cos = primitive(np.cos, elementwise=True, phrase="d cos(x)/dx = -sin(x)", doc="""
Cosine (radians), elementwise.

>>> import tapegrad as tg
>>> tg.cos(tg.tensor([0.0, 1.0])).numpy().round(3)
array([1.  , 0.54], dtype=float32)
""").defvjp(lambda g, ans, x: -g * sin(x))
tan = primitive(np.tan, elementwise=True, phrase="d tan(x)/dx = 1 + tan(x)^2", doc="""
Tangent (radians), elementwise; gradient 1 + tan(x) ** 2.

>>> import tapegrad as tg
>>> tg.tan(tg.tensor([0.0, 1.0])).numpy().round(3)
array([0.   , 1.557], dtype=float32)
""").defvjp(lambda g, ans, x: g * (1 + ans * ans))
tanh = primitive(np.tanh, elementwise=True, phrase="d tanh(x)/dx = 1 - tanh(x)^2", doc="""
Hyperbolic tangent, elementwise; saturates to +-1 without overflow.

>>> import tapegrad as tg
>>> tg.tanh(tg.tensor([0.0, 1.0, 300.0])).numpy().round(3)
array([0.   , 0.762, 1.   ], dtype=float32)
""").defvjp(lambda g, ans, x: g * (1 - ans * ans))
abs = primitive(np.abs, name="abs", elementwise=True, phrase="d|x|/dx = sign(x)", doc="""
|x|, elementwise; the gradient is sign(x), so 0 at x = 0.

>>> import tapegrad as tg
>>> tg.abs(tg.tensor([-1.5, 0.0, 2.0])).numpy()
array([1.5, 0. , 2. ], dtype=float32)
""").defvjp(lambda g, ans, x: g * sign(x))
sign = primitive(np.sign, elementwise=True, phrase="d sign(x)/dx = 0", doc="""
-1, 0 or 1 by the sign of x; piecewise constant, so its gradient is 0.

>>> import tapegrad as tg
>>> tg.sign(tg.tensor([-1.5, 0.0, 2.0])).numpy()
array([-1.,  0.,  1.], dtype=float32)
""").defvjp(lambda g, ans, x: g * 0)


@primitive(elementwise=True, phrase="d sigmoid(x)/dx = s(1-s)")
def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), computed without overflow for large |x|.

    >>> import tapegrad as tg
    >>> tg.sigmoid(tg.tensor([-1000.0, 0.0, 2.0])).numpy().round(3)
    array([0.   , 0.5  , 0.881], dtype=float32)
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


sigmoid.defvjp(lambda g, ans, x: g * ans * (1 - ans))


@primitive(elementwise=True, phrase="d relu(x)/dx = 1 if x > 0 else 0")
def relu(x):
    """max(x, 0), elementwise; the gradient at x = 0 is 0.

    >>> import tapegrad as tg
    >>> tg.relu(tg.tensor([-1.0, 0.0, 2.0])).numpy()
    array([0., 0., 2.], dtype=float32)
    """
    return np.maximum(x, 0)


relu.defvjp(lambda g, ans, x: g * (x > 0))


@primitive(elementwise=True, phrase="d leaky_relu(x)/dx = 1 if x > 0 else alpha")
def leaky_relu(x, *, alpha=0.2):
    """x for x > 0, alpha * x otherwise (Keras's default alpha=0.2); gradient alpha at 0.

    >>> import tapegrad as tg
    >>> tg.leaky_relu(tg.tensor([-2.0, 3.0]), alpha=0.1).numpy()
    array([-0.2,  3. ], dtype=float32)
    """
    return np.where(x > 0, x, x * alpha).astype(x.dtype, copy=False)


leaky_relu.defvjp(lambda g, ans, x, alpha: g * where(x > 0, 1.0, alpha))


@primitive(elementwise=True, phrase="d elu(x)/dx = 1 if x > 0 else elu(x)+alpha")
def elu(x, *, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) otherwise; smooth at 0 when alpha = 1.

    >>> import tapegrad as tg
    >>> tg.elu(tg.tensor([-1.0, 2.0])).numpy().round(3)
    array([-0.632,  2.   ], dtype=float32)
    """
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


elu.defvjp(lambda g, ans, x, alpha: g * where(x > 0, 1.0, ans + alpha))


@primitive(elementwise=True, phrase="d softplus(x)/dx = sigmoid(x)")
def softplus(x):
    """log(1 + exp(x)), a smooth relu; stable for large |x| (exp(100) would overflow float32).

    >>> import tapegrad as tg
    >>> tg.softplus(tg.tensor([-100.0, 0.0, 100.0])).numpy().round(3)
    array([  0.   ,   0.693, 100.   ], dtype=float32)
    """
    return np.logaddexp(0, x).astype(x.dtype, copy=False)


softplus.defvjp(lambda g, ans, x: g * sigmoid(x))

_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


@primitive(elementwise=True, phrase="d erf(x)/dx = 2/sqrt(pi) exp(-x^2)")
def erf(x):
    """The error function 2/sqrt(pi) * integral of exp(-t**2) from 0 to x (to ~1e-15).

    >>> import tapegrad as tg
    >>> tg.erf(tg.tensor([0.0, 1.0, -3.0])).numpy().round(4)
    array([ 0.    ,  0.8427, -1.    ], dtype=float32)
    """
    a = np.abs(x).astype(np.float64)
    out = np.empty_like(a)
    small = a < 2.5  # power series with positive terms (no cancellation) up to 2.5
    s = a[small]
    term, total, t2 = s, s, 2 * s * s
    for n in range(1, 45):
        term = term * t2 / (2 * n + 1)
        total = total + term
    out[small] = _TWO_OVER_SQRT_PI * np.exp(-s * s) * total
    b = a[~small]  # beyond: erfc by its continued fraction, evaluated from the tail
    f = b
    for k in range(50, 0, -1):
        f = b + (k / 2) / f
    out[~small] = 1 - np.exp(-b * b) / (math.sqrt(math.pi) * f)
    return (np.sign(x) * out).astype(x.dtype, copy=False)


erf.defvjp(lambda g, ans, x: g * _TWO_OVER_SQRT_PI * exp(-x * x))

# -- binary --------------------------------------------------------------------------------

_add = primitive(np.add, elementwise=True, phrase=("d(x+y)/dx = 1", "d(x+y)/dy = 1"))
_add.defvjp(lambda g, ans, x, y: g, lambda g, ans, x, y: g)
_subtract = primitive(np.subtract, elementwise=True, phrase=("d(x-y)/dx = 1", "d(x-y)/dy = -1"))
_subtract.defvjp(lambda g, ans, x, y: g, lambda g, ans, x, y: -g)
_multiply = primitive(np.multiply, elementwise=True, phrase=("d(x*y)/dx = y", "d(x*y)/dy = x"))
_multiply.defvjp(lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)
_divide = primitive(np.divide, elementwise=True, phrase=("d(x/y)/dx = 1/y", "d(x/y)/dy = -x/y^2"))
_divide.defvjp(lambda g, ans, x, y: g / y,
               lambda g, ans, x, y: -g * ans / y)


def _power_vjp_x(g, ans, x, y):
    """g * y * x**(y-1), and exactly 0 for a constant exponent 0 (x**0 is constant, even at
    x = 0, where the formula would give 0 * inf)."""
    if isinstance(y, (int, float)):
        return g * 0 if y == 0 else g * y * x ** (y - 1)
    return where((y == 0) & (x == 0), 0.0, g * y * x ** (y - 1))


def _power_vjp_y(g, ans, x, y):
    """g * x**y * log(x), and 0 at x = 0 (where x**y is 0 or 1 and the formula is 0 * -inf;
    PyTorch and TensorFlow also give 0)."""
    if isinstance(x, (int, float)):  # a constant base: log(x) is a number (in float64)
        return g * ans * (math.log(x) if x > 0 else 0.0 if x == 0 else math.nan)
    return g * ans * log(where(x == 0, 1.0, x))


_power = primitive(np.power, elementwise=True,
                   phrase=("d(x**y)/dx = y*x**(y-1)", "d(x**y)/dy = x**y*log(x)"))
_power.defvjp(_power_vjp_x, _power_vjp_y)
_maximum = primitive(np.maximum, elementwise=True,
                     phrase=("d max(x,y)/dx = 1 where x > y", "d max(x,y)/dy = 1 where y > x"))
_maximum.defvjp(
    lambda g, ans, x, y: g * ((x > y) + (x == y) * 0.5),
    lambda g, ans, x, y: g * ((y > x) + (x == y) * 0.5))
_minimum = primitive(np.minimum, elementwise=True,
                     phrase=("d min(x,y)/dx = 1 where x < y", "d min(x,y)/dy = 1 where y < x"))
_minimum.defvjp(
    lambda g, ans, x, y: g * ((x < y) + (x == y) * 0.5),
    lambda g, ans, x, y: g * ((y < x) + (x == y) * 0.5))

add = _binary(_add, """
x + y, elementwise with NumPy broadcasting (gradients are summed back).

>>> import tapegrad as tg
>>> tg.add(tg.tensor([[1.0], [2.0]]), tg.tensor([10.0, 20.0])).numpy()
array([[11., 21.],
       [12., 22.]], dtype=float32)
""")
subtract = _binary(_subtract, """
x - y, elementwise with NumPy broadcasting.

>>> import tapegrad as tg
>>> tg.subtract(tg.tensor([5.0, 7.0]), 1).numpy()
array([4., 6.], dtype=float32)
""")
multiply = _binary(_multiply, """
x * y, elementwise with NumPy broadcasting.

>>> import tapegrad as tg
>>> tg.multiply(tg.tensor([1.0, 2.0]), tg.tensor([3.0, 4.0])).numpy()
array([3., 8.], dtype=float32)
""")
divide = _binary(_divide, """
x / y (true division), elementwise with NumPy broadcasting.

>>> import tapegrad as tg
>>> tg.divide(tg.tensor([1.0, 3.0]), 2).numpy()
array([0.5, 1.5], dtype=float32)
""")
power = _binary(_power, """
x ** y, elementwise with broadcasting; the gradient in y, x**y * log(x), needs x >= 0 (it is
0 at x = 0 and NaN below).

>>> import tapegrad as tg
>>> tg.power(tg.tensor([2.0, 3.0]), 2).numpy()
array([4., 9.], dtype=float32)
""")
maximum = _binary(_maximum, """
Elementwise max with broadcasting; where x == y the gradient is split equally.

>>> import tapegrad as tg
>>> x = tg.Variable([1.0, 2.0])
>>> with tg.GradientTape() as tape:
...     y = tg.maximum(x, 2.0)
>>> y.numpy(), tape.gradient(y, x).numpy()
(array([2., 2.], dtype=float32), array([0. , 0.5], dtype=float32))
""")
minimum = _binary(_minimum, """
Elementwise min with broadcasting; where x == y the gradient is split equally.

>>> import tapegrad as tg
>>> tg.minimum(tg.tensor([1.0, 5.0]), 3.0).numpy()
array([1., 3.], dtype=float32)
""")

_mod = primitive(np.mod, name="mod", elementwise=True,
                 phrase=("d(x % y)/dx = 1", "d(x % y)/dy = -floor(x/y)"))
_mod.defvjp(lambda g, ans, x, y: g, lambda g, ans, x, y: -g * floor(x / y))
mod = _binary(_mod, """
x % y with the sign of y (as Python's and NumPy's %); gradients 1 in x and -floor(x / y) in y.

>>> import tapegrad as tg
>>> tg.mod(tg.tensor([5.0, -5.0]), 3).numpy()
array([2., 1.], dtype=float32)
""")


@primitive(name="where", elementwise=True, phrase=(
    "(condition: no gradient)", "d where(c,x,y)/dx = 1 where c",
    "d where(c,x,y)/dy = 1 where not c"))
def _where(cond, x, y):
    return np.where(cond, x, y)


_where.defvjp(None, lambda g, ans, c, x, y: where(c, g, 0.0),
              lambda g, ans, c, x, y: where(c, 0.0, g))


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """Elements of `x` where `condition` holds, else of `y` (condition is not differentiated).

    >>> import tapegrad as tg
    >>> tg.where(tg.tensor([True, False]), tg.tensor([1.0, 2.0]), 0.0).numpy()
    array([1., 0.], dtype=float32)
    """
    if STATE.raw:
        return np.where(condition, x, y)
    return _where(*broadcast_args("where", condition, x, y))


@primitive(name="clip", elementwise=True, phrase=(
    "d clip(x)/dx = 1 inside [lo, hi], else 0", "d clip(x,lo,hi)/dlo = 1 where x < lo",
    "d clip(x,lo,hi)/dhi = 1 where x > hi"))
def _clip(x, lo, hi):
    return np.clip(x, lo, hi)


_clip.defvjp(lambda g, ans, x, lo, hi: g * ((x >= lo) & (x <= hi)),
             lambda g, ans, x, lo, hi: g * (x < lo),
             lambda g, ans, x, lo, hi: g * ((x > hi) & (x >= lo)))


def clip(x: Any, lo: Any = None, hi: Any = None) -> Tensor:
    """Limit values to [lo, hi] (either may be None); x gets the gradient where lo <= x <= hi,
    tensor bounds where they clip.

    >>> import tapegrad as tg
    >>> tg.clip(tg.tensor([-2.0, 0.5, 3.0]), 0.0, 1.0).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """
    if lo is None and hi is None:
        raise ValueError("clip: at least one of lo and hi must be given")
    if STATE.raw:
        return np.clip(x, lo, hi)
    if lo is None or hi is None:  # the missing bound: the lowest/highest value of x's dtype
        x = x if isinstance(x, Tensor) else as_operand(x, "clip")
        dt = x.dtype
        ends = (False, True) if dt.kind == "b" else (-np.inf, np.inf) if dt.kind == "f" else (
            np.iinfo(dt).min, np.iinfo(dt).max)
        lo, hi = ends[0] if lo is None else lo, ends[1] if hi is None else hi
    return _clip(*broadcast_args("clip", x, lo, hi))


# -- not differentiable ------------------------------------------------------------------

equal = nondifferentiable(np.equal, "equal", doc="""
x == y elementwise, as booleans (not differentiable).

>>> import tapegrad as tg
>>> a = tg.tensor([1.0, 2.0, 3.0])
>>> tg.equal(a, 2.0).numpy()
array([False,  True, False])
""")
not_equal = nondifferentiable(np.not_equal, "not_equal", doc="""
x != y elementwise, as booleans (not differentiable).

>>> import tapegrad as tg
>>> a = tg.tensor([1.0, 2.0, 3.0])
>>> tg.not_equal(a, 2.0).numpy()
array([ True, False,  True])
""")
less = nondifferentiable(np.less, "less", doc="""
x < y elementwise, as booleans (not differentiable).

>>> import tapegrad as tg
>>> a = tg.tensor([1.0, 2.0, 3.0])
>>> tg.less(a, 2.0).numpy()
array([ True, False, False])
""")
less_equal = nondifferentiable(np.less_equal, "less_equal", doc="""
x <= y elementwise, as booleans (not differentiable).

>>> import tapegrad as tg
>>> a = tg.tensor([1.0, 2.0, 3.0])
>>> tg.less_equal(a, 2.0).numpy()
array([ True,  True, False])
""")
greater = nondifferentiable(np.greater, "greater", doc="""
x > y elementwise, as booleans (not differentiable).

>>> import tapegrad as tg
>>> a = tg.tensor([1.0, 2.0, 3.0])
>>> tg.greater(a, 2.0).numpy()
array([False, False,  True])
""")
greater_equal = nondifferentiable(np.greater_equal, "greater_equal", doc="""
x >= y elementwise, as booleans (not differentiable).

>>> import tapegrad as tg
>>> a = tg.tensor([1.0, 2.0, 3.0])
>>> tg.greater_equal(a, 2.0).numpy()
array([False,  True,  True])
""")
logical_and = nondifferentiable(np.logical_and, "logical_and", doc="""
Elementwise AND of truth values (not differentiable).

>>> import tapegrad as tg
>>> p, q = tg.tensor([True, False]), tg.tensor([True, True])
>>> tg.logical_and(p, q).numpy()
array([ True, False])
""")
logical_or = nondifferentiable(np.logical_or, "logical_or", doc="""
Elementwise OR of truth values (not differentiable).

>>> import tapegrad as tg
>>> p, q = tg.tensor([True, False]), tg.tensor([True, True])
>>> tg.logical_or(p, q).numpy()
array([ True,  True])
""")
logical_xor = nondifferentiable(np.logical_xor, "logical_xor", doc="""
Elementwise XOR of truth values (not differentiable).

>>> import tapegrad as tg
>>> p, q = tg.tensor([True, False]), tg.tensor([True, True])
>>> tg.logical_xor(p, q).numpy()
array([False,  True])
""")
logical_not = nondifferentiable(np.logical_not, "logical_not", doc="""
Elementwise NOT of truth values (not differentiable).

>>> import tapegrad as tg
>>> tg.logical_not(tg.tensor([True, False])).numpy()
array([False,  True])
""")
isfinite = nondifferentiable(np.isfinite, "isfinite", doc="""
True where x is neither inf nor nan (not differentiable).

>>> import tapegrad as tg
>>> z = tg.tensor([1.0, float('inf'), float('nan')])
>>> tg.isfinite(z).numpy()
array([ True, False, False])
""")
isnan = nondifferentiable(np.isnan, "isnan", doc="""
True where x is nan (not differentiable).

>>> import tapegrad as tg
>>> z = tg.tensor([1.0, float('inf'), float('nan')])
>>> tg.isnan(z).numpy()
array([False, False,  True])
""")
floor = nondifferentiable(np.floor, "floor", doc="""
Largest integer <= x, as floats (not differentiable).

>>> import tapegrad as tg
>>> v = tg.tensor([-1.5, 0.5, 2.5])
>>> tg.floor(v).numpy()
array([-2.,  0.,  2.], dtype=float32)
""")
ceil = nondifferentiable(np.ceil, "ceil", doc="""
Smallest integer >= x, as floats (not differentiable).

>>> import tapegrad as tg
>>> v = tg.tensor([-1.5, 0.5, 2.5])
>>> tg.ceil(v).numpy()
array([-1.,  1.,  3.], dtype=float32)
""")
floor_divide = nondifferentiable(np.floor_divide, "floor_divide", doc="""
x // y, the floor of x / y elementwise (not differentiable: piecewise constant).

>>> import tapegrad as tg
>>> tg.floor_divide(tg.tensor([5.0, -5.0]), 3).numpy()
array([ 1., -2.], dtype=float32)
""")
round = nondifferentiable(np.round, "round", doc="""
Round to the nearest integer (or to `decimals` places), halves to even like NumPy (not
differentiable).

>>> import tapegrad as tg
>>> v = tg.tensor([-1.5, 0.5, 2.5])
>>> tg.round(v).numpy()
array([-2.,  0.,  2.], dtype=float32)
""")


__all__ = [  # the public ops of this family (tapegrad.ops exports exactly these)
    "abs", "add", "ceil", "clip", "cos", "divide", "elu", "equal", "erf", "exp", "expm1",
    "floor", "floor_divide", "mod",
    "greater", "greater_equal", "isfinite", "isnan", "leaky_relu", "less", "less_equal",
    "log", "log1p", "logical_and", "logical_not", "logical_or", "logical_xor", "maximum",
    "minimum", "multiply", "negative", "not_equal", "power", "relu", "round", "sigmoid",
    "sign", "sin", "softplus", "sqrt", "square", "subtract", "tan", "tanh", "where"
]

float_valued(exp, log, log1p, expm1, sqrt, sin, cos, tan, tanh, sigmoid, leaky_relu, elu,
             softplus, erf, _divide)
