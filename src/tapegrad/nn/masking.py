"""Masks over time steps, as Keras: `Embedding(mask_zero=True)` and `Masking` attach a boolean
(batch, time) mask to their output; SimpleRNN/LSTM/GRU/Bidirectional skip the masked steps (the
state is carried over unchanged) and GlobalAveragePooling1D averages the unmasked steps only. A
recurrent layer with `return_sequences=True` and `TimeDistributed` pass the mask on, so stacks
work. A layer can also be given `mask=` explicitly.

The mask rides on the output Tensor like Keras's `_keras_mask`, in a registry keyed by tensor
id that drops an entry when its tensor dies (Tensors have no spare attribute slot).

>>> import numpy as np, tapegrad as tg
>>> x = tg.nn.Masking()(np.array([[[1.0], [0.0], [2.0]]]))
>>> tg.nn.masking.get_mask(x)
array([[ True, False,  True]])
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from tapegrad import _args, ops
from tapegrad.nn.module import Module
from tapegrad.tensor import Tensor

__all__ = ["Masking", "get_mask", "set_mask"]

# id(tensor) -> (weak reference to it, boolean mask); entries leave when the tensor dies.
_MASKS: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def set_mask(t: Tensor, mask: Any) -> Tensor:
    """Attach a boolean mask (one flag per leading position, e.g. (batch, time)) to `t`."""
    key = id(t)

    def drop(ref: weakref.ref, key: int = key) -> None:
        entry = _MASKS.get(key)
        if entry is not None and entry[0] is ref:
            del _MASKS[key]

    _MASKS[key] = (weakref.ref(t, drop), np.asarray(mask, dtype=bool))
    return t


def get_mask(t: Any) -> np.ndarray | None:
    """The mask attached to `t` by a masking layer, or None."""
    entry = _MASKS.get(id(t))
    if entry is None or entry[0]() is not t:
        return None
    return entry[1]


def check_mask(mask: Any, shape: tuple[int, ...], who: str) -> np.ndarray | None:
    """A (batch, time) boolean mask for inputs of `shape` (batch, time, ...), or None."""
    if mask is None:
        return None
    m = np.asarray(mask.numpy() if isinstance(mask, Tensor) else mask)
    if m.dtype.kind not in "biu" or m.shape != tuple(shape[:2]):
        raise ValueError(f"{who}: mask must be a boolean array of shape {tuple(shape[:2])} "
                         f"(batch, time), got dtype {m.dtype} and shape {m.shape}")
    return m.astype(bool)


class Masking(Module):
    """Mask the time steps whose features all equal `mask_value` (Keras's `Masking`): the
    output is the input with those steps zeroed, carrying the mask to the next layers.

    >>> import numpy as np, tapegrad as tg
    >>> model = tg.nn.Sequential([tg.nn.Masking(0.0), tg.nn.LSTM(3)])
    >>> x = np.array([[[1.0], [2.0], [0.0], [0.0]]])  # two real steps, two padded
    >>> bool(np.all(model(x).numpy() == model(x[:, :2]).numpy()))
    True
    """

    def __init__(self, mask_value: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float, np.number)):
            raise TypeError(f"Masking: mask_value must be a number, got {mask_value!r}")
        self.mask_value = float(mask_value)

    def compute_mask(self, inputs: Any) -> np.ndarray:
        """True at the steps where some feature differs from `mask_value`."""
        x = inputs.numpy() if isinstance(inputs, Tensor) else np.asarray(inputs)
        return np.any(x != self.mask_value, axis=-1)

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        x = _args.layer_input(inputs)
        if x.ndim < 2:
            raise ValueError(f"{self.name}: Masking needs inputs of shape (batch, time, "
                             f"features), got {x.shape}")
        mask = self.compute_mask(x)
        return set_mask(x * mask[..., None].astype(x.dtype), mask)

    def get_config(self) -> dict:
        return {"mask_value": self.mask_value}


def masked_mean(x: Tensor, mask: np.ndarray) -> Tensor:
    """Mean over axis 1 of the unmasked steps only: sum(x * m) / sum(m)."""
    m = mask.astype(x.dtype)[..., None]
    count = np.maximum(m.sum(axis=1), 1.0)  # an all-masked row averages to 0, not NaN
    return ops.sum(x * m, axis=1) / count
