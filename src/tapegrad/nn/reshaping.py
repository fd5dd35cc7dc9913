"""Layers that move values around (Keras's names): Lambda, Reshape, Permute, RepeatVector,
ZeroPadding2D, Cropping2D, UpSampling2D and Identity. Shapes exclude the batch dimension.

>>> import numpy as np, tapegrad as tg
>>> tg.nn.Reshape((4, -1))(np.zeros((2, 8))).shape, tg.nn.RepeatVector(3)(np.zeros((2, 5))).shape
((2, 4, 2), (2, 3, 5))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tapegrad import _args, ops
from tapegrad.nn._utils import check_data_format, check_rank, int_tuple
from tapegrad.nn.module import Module
from tapegrad.tensor import Tensor

__all__ = ["Lambda", "Reshape", "Permute", "RepeatVector", "ZeroPadding2D", "Cropping2D",
           "UpSampling2D", "Identity"]


class Lambda(Module):
    """Wrap `function(inputs, **arguments)` (tapegrad ops) as a layer, e.g. to use it in a
    functional model. To save a model with a Lambda, register the function by name with
    `tg.nn.register_serializable` (functions are never pickled).

    >>> import tapegrad as tg
    >>> tg.nn.Lambda(lambda t: t * 2)(tg.tensor([1.0, 2.0])).numpy()
    array([2., 4.], dtype=float32)
    """

    def __init__(self, function: Callable[..., Any], output_shape: Any = None,
                 arguments: dict[str, Any] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable, got {function!r}")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"Lambda: arguments must be a dict of keyword arguments for the "
                            f"function, or None; got {arguments!r}")
        self.function = function
        self.output_shape = output_shape
        self.arguments = dict(arguments or {})

    def call(self, inputs: Any, training: bool = False) -> Any:
        if not isinstance(inputs, (list, tuple, dict)):  # structures go to the function as is
            inputs = _args.layer_input(inputs)
        return self.function(inputs, **self.arguments)


class Identity(Module):
    """Return the input unchanged (a placeholder layer, as in Keras); a list or tuple of
    tensors passes through as it is, anything else must be numeric array data.

    >>> import tapegrad as tg
    >>> tg.nn.Identity()(tg.tensor([1.0])).numpy()
    array([1.], dtype=float32)
    """

    def call(self, inputs: Any, training: bool = False) -> Any:
        return inputs if isinstance(inputs, (list, tuple)) else _args.layer_input(inputs)


class Reshape(Module):
    """Reshape each sample to `target_shape` (one entry may be -1).

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.Reshape((3, 4))(np.zeros((2, 12))).shape
    (2, 3, 4)
    """

    def __init__(self, target_shape: Sequence[int], **kwargs: Any):
        super().__init__(**kwargs)
        message = (f"Reshape: target_shape must be a tuple of positive ints with at most one "
                   f"-1 (batch excluded), got {target_shape!r}")
        if not isinstance(target_shape, (list, tuple)) or any(
                isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer))
                for s in target_shape):
            raise TypeError(message)
        self.target_shape = tuple(int(s) for s in target_shape)
        if sum(s == -1 for s in self.target_shape) > 1 or any(
                s < 1 and s != -1 for s in self.target_shape):
            raise ValueError(message)

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        x = _args.layer_input(inputs)
        if x.ndim < 1:
            raise ValueError(f"Reshape needs a batch of samples, got a scalar {x!r:.40}")
        size = int(np.prod(x.shape[1:], dtype=np.int64))
        known = int(np.prod([s for s in self.target_shape if s != -1], dtype=np.int64))
        if (-1 in self.target_shape and (known == 0 or size % known)) or (
                -1 not in self.target_shape and known != size):
            raise ValueError(f"cannot reshape samples of shape {tuple(x.shape[1:])} "
                             f"({size} values) to {self.target_shape}")
        return ops.reshape(x, (x.shape[0], *self.target_shape))


class Permute(Module):
    """Permute the non-batch axes: `dims` is a permutation of 1..rank-1 (1-based, as Keras).

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.Permute((2, 1))(np.zeros((5, 3, 4))).shape
    (5, 4, 3)
    """

    def __init__(self, dims: Sequence[int], **kwargs: Any):
        super().__init__(**kwargs)
        if not isinstance(dims, (list, tuple)) or any(
                isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer))
                for d in dims):
            raise TypeError(f"Permute: dims must be a tuple of ints (a permutation of 1..n), "
                            f"got {dims!r}")
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1..{len(self.dims)} "
                             f"(axis 0 is the batch), got {dims!r}")

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        x = _args.layer_input(inputs)
        check_rank(self, x.shape, len(self.dims) + 1, f"(batch + {len(self.dims)} axes)")
        return ops.transpose(x, (0, *self.dims))


class RepeatVector(Module):
    """Repeat a (batch, features) input `n` times: (batch, n, features).

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.RepeatVector(2)(np.array([[1.0, 2.0]])).numpy().tolist()
    [[[1.0, 2.0], [1.0, 2.0]]]
    """

    def __init__(self, n: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.n = _args.count(n, "RepeatVector", "n")

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        x = _args.layer_input(inputs)
        check_rank(self, x.shape, 2, "(batch, features)")
        b, f = x.shape
        return ops.broadcast_to(ops.expand_dims(x, 1), (b, self.n, f))


def _pairs(v: Any, who: str, what: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """int, (sym_h, sym_w) or ((top, bottom), (left, right)) as two (before, after) pairs."""
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(
            isinstance(a, (list, tuple)) for a in v):
        return (int_tuple(v[0], 2, who, f"{what}[0]", minimum=0),  # type: ignore[return-value]
                int_tuple(v[1], 2, who, f"{what}[1]", minimum=0))
    h, w = int_tuple(v, 2, who, what, minimum=0)
    return (h, h), (w, w)


class ZeroPadding2D(Module):
    """Add rows and columns of zeros around (batch, h, w, channels) images.

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.ZeroPadding2D(((1, 0), (2, 2)))(np.ones((1, 3, 3, 1))).shape
    (1, 4, 7, 1)
    """

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        check_data_format(data_format, "ZeroPadding2D")
        self.padding = _pairs(padding, "ZeroPadding2D", "padding")

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        x = _args.layer_input(inputs)
        check_rank(self, x.shape, 4, "(batch, h, w, channels)")
        return ops.pad(x, ((0, 0), *self.padding, (0, 0)))


class Cropping2D(Module):
    """Remove rows and columns at the borders of (batch, h, w, channels) images.

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.Cropping2D(((1, 1), (0, 2)))(np.ones((1, 5, 5, 1))).shape
    (1, 3, 3, 1)
    """

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        check_data_format(data_format, "Cropping2D")
        self.cropping = _pairs(cropping, "Cropping2D", "cropping")

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        x = _args.layer_input(inputs)
        check_rank(self, x.shape, 4, "(batch, h, w, channels)")
        (t, b), (left, r) = self.cropping
        h, w = x.shape[1:3]
        if t + b >= h or left + r >= w:
            raise ValueError(f"cropping {self.cropping} leaves nothing of images of size "
                             f"{h}x{w}")
        return x[:, t:h - b, left:w - r, :]


class UpSampling2D(Module):
    """Repeat rows `size[0]` times and columns `size[1]` times (nearest-neighbour upsampling).

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.UpSampling2D(2)(np.arange(4.0).reshape(1, 2, 2, 1)).numpy()[0, :, :, 0]
    array([[0., 0., 1., 1.],
           [0., 0., 1., 1.],
           [2., 2., 3., 3.],
           [2., 2., 3., 3.]])
    """

    def __init__(self, size: Any = (2, 2), data_format: str | None = None,
                 interpolation: str = "nearest", **kwargs: Any):
        super().__init__(**kwargs)
        check_data_format(data_format, "UpSampling2D")
        if interpolation != "nearest":
            raise ValueError(f"UpSampling2D: only interpolation='nearest' is supported, got "
                             f"{interpolation!r}")
        self.size = int_tuple(size, 2, "UpSampling2D", "size")
        self.interpolation = interpolation

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        x = _args.layer_input(inputs)
        check_rank(self, x.shape, 4, "(batch, h, w, channels)")
        return ops.repeat(ops.repeat(x, self.size[0], axis=1), self.size[1], axis=2)
