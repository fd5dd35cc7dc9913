"""`from_dlpack`: a tapegrad Tensor viewing another library's array without a copy.

Any object with `__dlpack__` works (a PyTorch or JAX array on the CPU, a NumPy array, a
tapegrad Tensor); tapegrad Tensors export themselves the same way (`torch.from_dlpack(t)`).

>>> import numpy as np, tapegrad as tg
>>> a = np.arange(3.0)
>>> t = tg.from_dlpack(a)
>>> t.numpy(), bool(np.shares_memory(t.numpy(), a))
(array([0., 1., 2.]), True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.tensor import Tensor

__all__ = ["from_dlpack"]


def from_dlpack(x: Any, *, copy: bool | None = None) -> Tensor:
    """A Tensor over `x`'s memory (`copy=True` for an independent copy). Only CPU arrays can be
    read: move others first (`x.cpu()` in PyTorch); a PyTorch tensor that requires grad needs
    `x.detach()`, since tapegrad does not see PyTorch's graph.

    >>> import numpy as np, tapegrad as tg
    >>> tg.from_dlpack(np.ones(2, np.float32), copy=True)
    <tg.Tensor shape=(2,) dtype=float32 numpy=[1., 1.]>
    """
    if not hasattr(x, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ (a PyTorch, JAX or "
                        f"NumPy array), got {type(x).__name__}")
    device = x.__dlpack_device__() if hasattr(x, "__dlpack_device__") else (1, 0)
    if int(device[0]) != 1:
        raise ValueError(f"from_dlpack: the array lives on DLPack device {tuple(device)}; "
                         f"tapegrad computes on the CPU: move it there first (e.g. x.cpu())")
    try:
        value = np.from_dlpack(x) if copy is None else np.from_dlpack(x, copy=copy)
    except (BufferError, RuntimeError) as e:
        raise ValueError(f"from_dlpack: {type(x).__name__} could not be exported: {e}") from e
    return Tensor._wrap(value)
