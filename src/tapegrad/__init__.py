"""tapegrad: reverse-mode automatic differentiation on NumPy with a GradientTape API.

>>> import tapegrad as tg
>>> x = tg.Variable(3.0)
>>> with tg.GradientTape() as tape:
...     y = x ** 2
>>> float(tape.gradient(y, x))
6.0
"""

from typing import Any

from tapegrad import (
    callbacks,
    data,
    datasets,
    debug,
    initializers,
    integrations,
    losses,
    metrics,
    nn,
    onnx,
    optimizers,
    pruning,
    random,
    regularizers,
    schedules,
    testing,
    viz,
)
from tapegrad.autodiff import (
    custom_gradient,
    grad,
    hessian,
    hvp,
    jacobian,
    recompute_grad,
    value_and_grad,
)
from tapegrad.forward import ForwardAccumulator
from tapegrad.function import TracingError, function, tracing
from tapegrad.integrations.dlpack import from_dlpack
from tapegrad.ops import *  # noqa: F403  (the differentiable functions)
from tapegrad.ops import __all__ as _ops_all
from tapegrad.state import STATE as _STATE
from tapegrad.state import name_scope, no_grad, note_cut
from tapegrad.tape import GradientTape, OpRecord
from tapegrad.tensor import (
    Tensor,
    Variable,
    as_tensor,
    constant,
    get_default_dtype,
    set_default_dtype,
    tensor,
)
from tapegrad.tensor import as_operand as _as_operand


def stop_gradient(x: Any) -> Tensor:
    """The same values, cut from the tape: no gradient flows through the result.

    >>> import tapegrad as tg
    >>> x = tg.Variable(2.0)
    >>> with tg.GradientTape() as tape:
    ...     y = tg.stop_gradient(x * x) * x
    >>> float(tape.gradient(y, x))
    4.0
    """
    x = x if isinstance(x, Tensor) else _as_operand(x, "stop_gradient")
    out = Tensor._wrap(x._value)
    if _STATE.recorders:
        note_cut("it passed through stop_gradient", "stop_gradient", (x,), out)
    return out


__version__ = "0.1.0"
__all__ = [
    *_ops_all,
    # tensors and tapes
    "ForwardAccumulator", "GradientTape", "OpRecord", "Tensor", "Variable", "as_tensor",
    "constant", "from_dlpack", "get_default_dtype", "name_scope", "no_grad", "set_default_dtype",
    "stop_gradient", "tensor",
    # derivatives beyond one gradient
    "custom_gradient", "grad", "hessian", "hvp", "jacobian", "recompute_grad", "value_and_grad",
    # tracing a step into a NumPy program
    "TracingError", "function", "tracing",
    # modules
    "callbacks", "data", "datasets", "debug", "initializers", "integrations", "losses", "metrics",
    "nn", "onnx",
    "optimizers", "pruning", "random", "regularizers", "schedules", "testing", "viz",
]
