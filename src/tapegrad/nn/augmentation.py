"""Image preprocessing and augmentation layers with Keras's names and arguments.

`Rescaling` and `Resizing` always apply. The random layers (`RandomFlip`, `RandomRotation`,
`RandomZoom`, `RandomTranslation`, `RandomContrast`) change their inputs only when called with
`training=True` (inside `fit`), drawing one transform per image from `tg.random.generator()` or
from a private generator seeded with `seed`; at inference they return their inputs unchanged.
Images are channels-last, `(batch, height, width, channels)` or one `(height, width, channels)`.

Geometric transforms map each output pixel to a point of the input and interpolate there
("bilinear" or "nearest"); the pixels are gathered with `tg.take`, so a transform is a fixed
linear map of the input and gradients flow through it. Points outside the image are filled by
`fill_mode`: "reflect" (d c b a | a b c d | d c b a, Keras's default), "wrap", "nearest" or
"constant" (`fill_value`), applied to each pixel index that interpolation reads.

>>> import numpy as np, tapegrad as tg
>>> aug = tg.nn.Sequential([tg.nn.RandomFlip("horizontal"), tg.nn.RandomRotation(0.1)])
>>> x = tg.tensor(np.random.default_rng(0).random((2, 8, 8, 1)))
>>> bool((aug(x, training=False) == x).numpy().all()), aug(x, training=True).shape
(True, (2, 8, 8, 1))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad import _args, ops
from tapegrad import random as _random
from tapegrad.nn.module import Module
from tapegrad.tensor import Tensor

__all__ = ["RandomContrast", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
           "Rescaling", "Resizing"]

FILL_MODES = ("reflect", "wrap", "nearest", "constant")
INTERPOLATIONS = ("bilinear", "nearest")


def _images(layer: Module, inputs: Any) -> tuple[Tensor, bool]:
    """The inputs as a float (batch, h, w, c) Tensor, and whether a batch axis was added."""
    x = _args.layer_input(inputs)
    if x.ndim not in (3, 4):
        raise ValueError(f"{layer.name}: {type(layer).__name__} expects images of shape "
                         f"(batch, height, width, channels) or (height, width, channels), got "
                         f"shape {x.shape}")
    if x.dtype.kind != "f":
        x = ops.astype(x, layer.dtype)
    return (ops.expand_dims(x, 0), True) if x.ndim == 3 else (x, False)


def _unbatch(x: Tensor, added: bool) -> Tensor:
    return ops.squeeze(x, 0) if added else x


def _factor_range(factor: Any, who: str, what: str, bound: float | None = None
                  ) -> tuple[float, float]:
    """A float f means (-f, f); a pair (lower, upper) is taken as given."""
    if isinstance(factor, (list, tuple)):
        if len(factor) != 2:
            raise ValueError(f"{who}: {what} must be a float or a (lower, upper) pair, got "
                             f"{factor!r}")
        lo, hi = (_args.number(f, who, what) for f in factor)
    elif isinstance(factor, (str, bytes)) or factor is None:
        raise ValueError(f"{who}: {what} must be a float or a (lower, upper) pair, got "
                         f"{factor!r}")
    else:
        f = abs(_args.number(factor, who, what))
        lo, hi = -f, f
    if lo > hi:
        raise ValueError(f"{who}: {what} has lower bound {lo} above upper bound {hi}")
    if bound is not None and (lo < -bound or hi > bound):
        raise ValueError(f"{who}: {what} must lie in [-{bound}, {bound}], got ({lo}, {hi})")
    return lo, hi


def _check_choice(value: str, choices: tuple[str, ...], who: str, what: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{who}: {what} must be one of {choices}, got {value!r}")
    return value


def _fold(index: np.ndarray, size: int, fill_mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer pixel indices brought inside [0, size) by `fill_mode`, and which were inside."""
    inside = (index >= 0) & (index < size)
    if fill_mode == "reflect":
        period = index % (2 * size)
        index = np.where(period < size, period, 2 * size - 1 - period)
    elif fill_mode == "wrap":
        index = index % size
    else:  # nearest, and constant (whose outside reads are given weight 0)
        index = np.clip(index, 0, size - 1)
    return index, inside


def resample(x: Tensor, src_y: np.ndarray, src_x: np.ndarray, interpolation: str = "bilinear",
             fill_mode: str = "constant", fill_value: float = 0.0) -> Tensor:
    """Images x (b, h, w, c) read at the points (src_y, src_x), arrays (b, h', w') in input
    pixel units: the result is (b, h', w', c), differentiable with respect to x.

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 2, 2, 1)
    >>> resample(x, np.full((1, 1, 1), 0.5), np.full((1, 1, 1), 0.5)).numpy().ravel()
    array([1.5], dtype=float32)
    """
    b, h, w, c = x.shape
    flat = ops.reshape(x, (b * h * w, c))
    base = (np.arange(b) * (h * w)).reshape(b, 1, 1)
    if interpolation == "nearest":
        corners = [(np.floor(src_y + 0.5), np.floor(src_x + 0.5), np.ones_like(src_y))]
    else:
        y0, x0 = np.floor(src_y), np.floor(src_x)
        wy, wx = src_y - y0, src_x - x0
        corners = [(y0, x0, (1 - wy) * (1 - wx)), (y0, x0 + 1, (1 - wy) * wx),
                   (y0 + 1, x0, wy * (1 - wx)), (y0 + 1, x0 + 1, wy * wx)]
    out = None
    outside = np.zeros(src_y.shape)
    for cy, cx, weight in corners:
        iy, in_y = _fold(cy.astype(np.int64), h, fill_mode)
        ix, in_x = _fold(cx.astype(np.int64), w, fill_mode)
        if fill_mode == "constant":
            outside += weight * ~(in_y & in_x)
            weight = weight * (in_y & in_x)
        picked = ops.take(flat, (base + iy * w + ix).reshape(-1), axis=0)
        term = ops.reshape(picked, (*src_y.shape, c)) * Tensor._wrap(
            weight[..., None].astype(x.dtype))
        out = term if out is None else out + term
    if fill_mode == "constant" and fill_value != 0.0:
        out = out + Tensor._wrap((outside[..., None] * fill_value).astype(x.dtype))
    return out


class _RandomLayer(Module):
    """Shared by the random layers: the generator, and identity unless training."""

    def __init__(self, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.seed = None if seed is None else _args.count(seed, type(self).__name__, "seed",
                                                          minimum=0)
        self._rng = None if seed is None else np.random.default_rng(self.seed)

    def _generator(self) -> np.random.Generator:
        return self._rng if self._rng is not None else _random.generator()

    def call(self, inputs: Any, training: bool = False) -> Any:
        x, added = _images(self, inputs)  # checked (and made float) at inference too, as Keras
        return _unbatch(self._augment(x), added) if training else _unbatch(x, added)

    def _augment(self, x: Tensor) -> Tensor:
        raise NotImplementedError


class _RandomAffine(_RandomLayer):
    """A random layer whose transform moves pixels: each output pixel reads one input point."""

    def __init__(self, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, **kwargs: Any):
        super().__init__(seed=seed, **kwargs)
        who = type(self).__name__
        self.fill_mode = _check_choice(fill_mode, FILL_MODES, who, "fill_mode")
        self.interpolation = _check_choice(interpolation, INTERPOLATIONS, who, "interpolation")
        self.fill_value = _args.number(fill_value, who, "fill_value")

    def _augment(self, x: Tensor) -> Tensor:
        b, h, w, _ = x.shape
        yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                             indexing="ij")
        src_y, src_x = self._source_points(b, h, w, yy[None] - (h - 1) / 2,
                                           xx[None] - (w - 1) / 2)
        return resample(x, src_y + (h - 1) / 2, src_x + (w - 1) / 2, self.interpolation,
                        self.fill_mode, self.fill_value)

    def _source_points(self, b: int, h: int, w: int, dy: np.ndarray, dx: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Source points (relative to the centre) of output points (dy, dx), shape (1, h, w)."""
        raise NotImplementedError


class RandomFlip(_RandomLayer):
    """Flip each image left-right ("horizontal"), up-down ("vertical") or either, each with
    probability 1/2 ("horizontal_and_vertical", the default).

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor(np.arange(3.0).reshape(1, 1, 3, 1))
    >>> flips = {tuple(tg.nn.RandomFlip("horizontal")(x, training=True).numpy().ravel().tolist())
    ...          for _ in range(20)}
    >>> sorted(flips)
    [(0.0, 1.0, 2.0), (2.0, 1.0, 0.0)]
    """

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None,
                 **kwargs: Any):
        super().__init__(seed=seed, **kwargs)
        self.mode = _check_choice(mode, self.MODES, "RandomFlip", "mode")

    def _augment(self, x: Tensor) -> Tensor:
        rng = self._generator()
        for axis, flag in ((2, "horizontal"), (1, "vertical")):
            if flag in self.mode:
                mask = (rng.random(x.shape[0]) < 0.5).reshape(-1, 1, 1, 1)
                x = ops.where(mask, ops.flip(x, axis), x)
        return x


class RandomRotation(_RandomAffine):
    """Rotate each image about its centre by a random angle of `factor * 2 pi`: a float f
    draws from [-f, f], a pair (lower, upper) from that range; positive is counter-clockwise.

    >>> import numpy as np, tapegrad as tg
    >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
    >>> turn = tg.nn.RandomRotation((0.25, 0.25), fill_mode="constant")  # exactly 90 degrees
    >>> np.allclose(turn(tg.tensor(x), training=True).numpy(), np.rot90(x, axes=(1, 2)))
    True
    """

    def __init__(self, factor: Any, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, **kwargs: Any):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.factor = factor
        self._range = _factor_range(factor, "RandomRotation", "factor")

    def _source_points(self, b, h, w, dy, dx):
        theta = (self._generator().uniform(*self._range, b) * 2 * np.pi).reshape(-1, 1, 1)
        cos, sin = np.cos(theta), np.sin(theta)
        return dx * sin + dy * cos, dx * cos - dy * sin


class RandomZoom(_RandomAffine):
    """Zoom each image about its centre by 1 + a random amount: `height_factor` f (or a
    (lower, upper) pair) in [-1, 1]; positive values zoom out (the image shrinks), negative zoom
    in. `width_factor=None` keeps the aspect ratio (the same amount for both axes).

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor(np.ones((1, 6, 6, 1)))
    >>> out = tg.nn.RandomZoom((1.0, 1.0), fill_mode="constant")(x, training=True).numpy()
    >>> bool(out.sum() < 36), float(out[0, 2:4, 2:4, 0].min())   # zoomed out 2x: smaller
    (True, 1.0)
    """

    def __init__(self, height_factor: Any, width_factor: Any = None, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, **kwargs: Any):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._h = _factor_range(height_factor, "RandomZoom", "height_factor", bound=1.0)
        self._w = (None if width_factor is None
                   else _factor_range(width_factor, "RandomZoom", "width_factor", bound=1.0))

    def _source_points(self, b, h, w, dy, dx):
        rng = self._generator()
        zy = 1.0 + rng.uniform(*self._h, b).reshape(-1, 1, 1)
        zx = zy if self._w is None else 1.0 + rng.uniform(*self._w, b).reshape(-1, 1, 1)
        return dy * zy, dx * zx


class RandomTranslation(_RandomAffine):
    """Shift each image by a random fraction of its height and width: `height_factor` f (or a
    (lower, upper) pair) in [-1, 1], positive shifts down; `width_factor` likewise, positive
    shifts right.

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor(np.eye(4).reshape(1, 4, 4, 1))
    >>> down = tg.nn.RandomTranslation((0.25, 0.25), 0.0, fill_mode="constant")
    >>> down(x, training=True).numpy()[0, :, :, 0]   # one row down, a zero row on top
    array([[0., 0., 0., 0.],
           [1., 0., 0., 0.],
           [0., 1., 0., 0.],
           [0., 0., 1., 0.]])
    """

    def __init__(self, height_factor: Any, width_factor: Any, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, **kwargs: Any):
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self._h = _factor_range(height_factor, "RandomTranslation", "height_factor", bound=1.0)
        self._w = _factor_range(width_factor, "RandomTranslation", "width_factor", bound=1.0)

    def _source_points(self, b, h, w, dy, dx):
        rng = self._generator()
        shift_y = (rng.uniform(*self._h, b) * h).reshape(-1, 1, 1)
        shift_x = (rng.uniform(*self._w, b) * w).reshape(-1, 1, 1)
        return dy - shift_y, dx - shift_x


class RandomContrast(_RandomLayer):
    """Scale each image's deviation from its mean (per channel) by a random c in
    [1 - lower, 1 + upper] (`factor` f means lower = upper = f): (x - mean) * c + mean.

    `value_range=(lo, hi)` clips the result to it. Keras 3 clips to (0, 255) by default;
    here the default is no clipping, since inputs are often standardised (negative values).

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor(np.array([0.0, 1.0, 2.0]).reshape(1, 1, 3, 1))
    >>> tg.nn.RandomContrast((-1.0, 1.0))(x, training=True).numpy().ravel()  # c = 2 exactly
    array([-1.,  1.,  3.])
    """

    def __init__(self, factor: Any, value_range: Sequence[float] | None = None,
                 seed: int | None = None, **kwargs: Any):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor
        if isinstance(factor, (list, tuple)):
            lo, hi = _factor_range(factor, "RandomContrast", "factor")
        else:
            lo = hi = abs(_args.number(factor, "RandomContrast", "factor"))
        if lo > 1.0:
            raise ValueError(f"RandomContrast: the lower factor must be in [0, 1] (the contrast "
                             f"is scaled by at least 1 - lower), got {factor!r}")
        self._range = (1.0 - lo, 1.0 + hi)
        if value_range is not None:
            if not isinstance(value_range, (list, tuple)) or len(value_range) != 2:
                raise TypeError(f"RandomContrast: value_range must be None or a (low, high) "
                                f"pair, got {value_range!r}")
            value_range = tuple(_args.number(v, "RandomContrast", "value_range")
                                for v in value_range)
            if value_range[0] >= value_range[1]:
                raise ValueError(f"RandomContrast: value_range must have low < high, got "
                                 f"{value_range}")
        self.value_range = value_range

    def _augment(self, x: Tensor) -> Tensor:
        c = self._generator().uniform(*self._range, x.shape[0]).reshape(-1, 1, 1, 1)
        mean = ops.mean(x, (1, 2), keepdims=True)
        y = (x - mean) * Tensor._wrap(c.astype(x.dtype)) + mean
        return y if self.value_range is None else ops.clip(y, *self.value_range)


class Rescaling(Module):
    """`inputs * scale + offset`, always (e.g. `Rescaling(1 / 255)` for 8-bit images);
    integer inputs give the layer's float dtype.

    >>> import tapegrad as tg
    >>> tg.nn.Rescaling(1 / 16, offset=-0.5)(tg.tensor([0, 8, 16])).numpy()
    array([-0.5,  0. ,  0.5], dtype=float32)
    """

    def __init__(self, scale: float, offset: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.scale = _args.number(scale, "Rescaling", "scale")
        self.offset = _args.number(offset, "Rescaling", "offset")

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        x = _args.layer_input(inputs)
        if x.dtype.kind != "f":
            x = ops.astype(x, self.dtype)
        y = x * self.scale
        return y + self.offset if self.offset else y


class Resizing(Module):
    """Resize images to (height, width), always: "bilinear" (default) or "nearest", with
    half-pixel centres as TensorFlow. `crop_to_aspect_ratio=True` first crops the largest
    centred window of the target aspect ratio, so the content is not stretched.

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.tensor([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 2, 2, 1)
    >>> tg.nn.Resizing(4, 4)(x).numpy()[0, :, :, 0]
    array([[0.  , 0.25, 0.75, 1.  ],
           [0.5 , 0.75, 1.25, 1.5 ],
           [1.5 , 1.75, 2.25, 2.5 ],
           [2.  , 2.25, 2.75, 3.  ]], dtype=float32)
    """

    def __init__(self, height: int, width: int, interpolation: str = "bilinear",
                 crop_to_aspect_ratio: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        sizes = (height, width)
        if all(isinstance(v, (int, np.integer)) for v in sizes) and min(sizes) < 1:
            raise ValueError(f"Resizing: height and width must be positive, got {height}, "
                             f"{width}")
        self.height = _args.count(height, "Resizing", "height")
        self.width = _args.count(width, "Resizing", "width")
        self.interpolation = _check_choice(interpolation, INTERPOLATIONS, "Resizing",
                                           "interpolation")
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        x, added = _images(self, inputs)
        b, h, w, _ = x.shape
        top, left, ch, cw = 0.0, 0.0, float(h), float(w)
        if self.crop_to_aspect_ratio:
            target = self.height / self.width
            if h / w > target:
                ch = w * target
                top = (h - ch) / 2
            else:
                cw = h / target
                left = (w - cw) / 2
        sy = top + (np.arange(self.height) + 0.5) * (ch / self.height) - 0.5
        sx = left + (np.arange(self.width) + 0.5) * (cw / self.width) - 0.5
        src_y = np.broadcast_to(sy[None, :, None], (b, self.height, self.width))
        src_x = np.broadcast_to(sx[None, None, :], (b, self.height, self.width))
        return _unbatch(resample(x, src_y, src_x, self.interpolation, "nearest"), added)
