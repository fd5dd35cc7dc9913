"""Weight initializers with Keras's names, defaults and formulas: `init(shape, dtype) -> ndarray`.

Fans follow Keras: a 2-D kernel (fan_in, fan_out) = shape; an N-D kernel in Keras layout
(..., in, out) (e.g. conv (kh, kw, in, out)) multiplies both by the receptive field
prod(shape[:-2]); a vector has fan_in = fan_out = its length.

VarianceScaling(scale, mode, distribution) draws with variance scale / n, n = fan_in, fan_out or
their average (mode "fan_in", "fan_out", "fan_avg"):
- "uniform": U(-limit, limit), limit = sqrt(3 * scale / n)
- "truncated_normal": N(0, stddev) re-drawn beyond 2 stddev, stddev = sqrt(scale / n) / .87962566
  (the truncation shrinks the spread by that factor, so the variance stays scale / n)
- "untruncated_normal": N(0, sqrt(scale / n))

glorot_uniform = VS(1, fan_avg, uniform): limit sqrt(6 / (fan_in + fan_out)); glorot_normal =
VS(1, fan_avg, truncated_normal); he_normal = VS(2, fan_in, truncated_normal), stddev
sqrt(2 / fan_in) / .87962566; he_uniform = VS(2, fan_in, uniform): limit sqrt(6 / fan_in);
lecun_* use scale 1 and fan_in.

Randomness comes from `tg.random.generator()` (so `tg.random.seed(n)` repeats runs) unless an
initializer is given its own `seed`, in which case each call draws the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tapegrad import _args
from tapegrad import random as _random
from tapegrad.config import Configurable, lookup

__all__ = [
    "Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
    "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "LecunNormal",
    "LecunUniform", "Orthogonal", "zeros", "ones", "constant", "random_normal", "random_uniform",
    "truncated_normal", "variance_scaling", "glorot_uniform", "glorot_normal", "he_normal",
    "he_uniform", "lecun_normal", "lecun_uniform", "orthogonal", "compute_fans", "get",
]

_TRUNCATION_STDDEV_FACTOR = 0.87962566103423978  # stddev of N(0,1) truncated to [-2, 2]


def compute_fans(shape: Sequence[int]) -> tuple[float, float]:
    """(fan_in, fan_out) of a weight shape, as Keras computes them.

    >>> compute_fans((3, 3, 8, 16))
    (72.0, 144.0)
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = float(np.prod(shape[:-2])) if len(shape) > 2 else 1.0
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer(Configurable):
    """Base class: `__call__(shape, dtype=None) -> ndarray` (None: the default float dtype).

    >>> import numpy as np
    >>> class Half(Initializer):
    ...     def __call__(self, shape, dtype=None):
    ...         return np.full(shape, 0.5, dtype)
    >>> Half()((2,), "float32")
    array([0.5, 0.5], dtype=float32)
    """

    seed: int | None = None
    dtype_kinds = "f"  # random values are floats; constant ones may be ints or bools too

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed) if self.seed is not None else _random.generator()

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> np.ndarray:
        raise NotImplementedError


def _seed(seed: Any, who: str) -> int | None:
    """None (draw from `tg.random.generator()`) or a seed >= 0 for a private generator."""
    return None if seed is None else _args.count(seed, who, "seed", minimum=0)


def _shape(shape: Any, init: Initializer) -> tuple[int, ...]:
    """`shape` as a tuple of ints >= 0, or an error naming the initializer."""
    who = type(init).__name__
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        raise TypeError(f"{who}: shape must be a tuple of ints, got {shape!r}")
    return tuple(_args.count(d, who, "shape entries", minimum=0) for d in shape)


def _dtype(dtype: Any, init: Initializer) -> np.dtype:
    """The dtype to return: given (of a kind the initializer supports), else the default."""
    from tapegrad.tensor import get_default_dtype

    if dtype is None:
        return get_default_dtype()
    who = type(init).__name__
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{who}: {dtype!r} is not a dtype") from e
    if dt.kind not in init.dtype_kinds:
        raise TypeError(f"{who}: cannot make values of dtype {dt} (expected "
                        f"{'a floating' if init.dtype_kinds == 'f' else 'a numeric'} dtype)")
    return dt


class Zeros(Initializer):
    """All zeros.

    >>> Zeros()((2,), "float32")
    array([0., 0.], dtype=float32)
    """

    dtype_kinds = "fiub"

    def __call__(self, shape, dtype=None):
        return np.zeros(_shape(shape, self), _dtype(dtype, self))


class Ones(Initializer):
    """All ones (also `ones`).

    >>> Ones()((2,), "float32")
    array([1., 1.], dtype=float32)
    """

    dtype_kinds = "fiub"

    def __call__(self, shape, dtype=None):
        return np.ones(_shape(shape, self), _dtype(dtype, self))


class Constant(Initializer):
    """Every element equal to `value` (also `constant`).

    >>> Constant(0.5)((2,), "float32")
    array([0.5, 0.5], dtype=float32)
    """

    dtype_kinds = "fiub"

    def __init__(self, value: float = 0.0):
        self.value = _args.number(value, "Constant", "value")

    def __call__(self, shape, dtype=None):
        return np.full(_shape(shape, self), self.value, _dtype(dtype, self))


class RandomNormal(Initializer):
    """N(mean, stddev) (Keras defaults mean=0, stddev=0.05; also `random_normal`).

    >>> w = RandomNormal(stddev=1.0, seed=0)((1000,), "float32")
    >>> round(float(w.std()), 1), w.dtype
    (1.0, dtype('float32'))
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        who = type(self).__name__
        self.mean = _args.number(mean, who, "mean")
        self.stddev = _args.number(stddev, who, "stddev", 0.0)
        self.seed = _seed(seed, who)

    def __call__(self, shape, dtype=None):
        dt, shape = _dtype(dtype, self), _shape(shape, self)
        return self._rng().normal(self.mean, self.stddev, shape).astype(dt)


class RandomUniform(Initializer):
    """U(minval, maxval) (Keras defaults -0.05, 0.05; also `random_uniform`).

    >>> w = RandomUniform(-1.0, 1.0, seed=0)((1000,))
    >>> bool(w.min() >= -1.0 and w.max() < 1.0)
    True
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None):
        self.minval = _args.number(minval, "RandomUniform", "minval")
        self.maxval = _args.number(maxval, "RandomUniform", "maxval")
        if self.minval > self.maxval:
            raise ValueError(f"RandomUniform: minval ({minval}) must not exceed maxval "
                             f"({maxval})")
        self.seed = _seed(seed, "RandomUniform")

    def __call__(self, shape, dtype=None):
        dt, shape = _dtype(dtype, self), _shape(shape, self)
        return self._rng().uniform(self.minval, self.maxval, shape).astype(dt)


def _truncated_normal(rng: np.random.Generator, shape: tuple, mean: float,
                      stddev: float) -> np.ndarray:
    """N(mean, stddev) with values beyond 2 stddev re-drawn (as tf.random.truncated_normal)."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2
    return mean + stddev * z


class TruncatedNormal(Initializer):
    """N(mean, stddev) re-drawn beyond two standard deviations (Keras defaults 0, 0.05).

    >>> w = TruncatedNormal(stddev=1.0, seed=0)((1000,))
    >>> bool(abs(w).max() <= 2.0)
    True
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None):
        who = type(self).__name__
        self.mean = _args.number(mean, who, "mean")
        self.stddev = _args.number(stddev, who, "stddev", 0.0)
        self.seed = _seed(seed, who)

    def __call__(self, shape, dtype=None):
        dt, shape = _dtype(dtype, self), _shape(shape, self)
        return _truncated_normal(self._rng(), shape, self.mean, self.stddev).astype(dt)


class VarianceScaling(Initializer):
    """Variance `scale / n` with n from `mode`; see the module docstring for the formulas.

    >>> w = VarianceScaling(2.0, "fan_in", "uniform", seed=0)((50, 10))  # = HeUniform
    >>> bool(abs(w).max() <= (3 * 2.0 / 50) ** 0.5)
    True
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: int | None = None):
        scale = _args.number(scale, "VarianceScaling", "scale", 0.0, low_open=True)
        seed = _seed(seed, type(self).__name__)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: mode must be 'fan_in', 'fan_out' or 'fan_avg', "
                             f"got {mode!r}")
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError("VarianceScaling: distribution must be 'truncated_normal', "
                             f"'untruncated_normal' or 'uniform', got {distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, shape, dtype=None):
        dt, shape = _dtype(dtype, self), _shape(shape, self)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * var)
            out = rng.uniform(-limit, limit, shape)
        elif self.distribution == "truncated_normal":
            out = _truncated_normal(rng, shape, 0.0, np.sqrt(var) / _TRUNCATION_STDDEV_FACTOR)
        else:
            out = rng.normal(0.0, np.sqrt(var), shape)
        return out.astype(dt)


class GlorotUniform(VarianceScaling):
    """Xavier uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)) (Keras default).

    >>> w = GlorotUniform(seed=0)((100, 200))  # glorot_uniform(seed=0) is the same
    >>> bool(abs(w).max() <= (6 / 300) ** 0.5)
    True
    """

    def __init__(self, seed: int | None = None):
        super().__init__(1.0, "fan_avg", "uniform", seed)


class GlorotNormal(VarianceScaling):
    """Xavier normal: truncated N(0, sqrt(2 / (fan_in + fan_out)) / .87962566).

    >>> w = GlorotNormal(seed=0)((400, 400))  # the truncation keeps std sqrt(2 / 800)
    >>> round(float(w.std()), 3)
    0.05
    """

    def __init__(self, seed: int | None = None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)


class HeNormal(VarianceScaling):
    """He normal (for ReLU): truncated N(0, sqrt(2 / fan_in) / .87962566).

    >>> w = HeNormal(seed=0)((500, 500))  # std sqrt(2 / 500)
    >>> round(float(w.std()), 2)
    0.06
    """

    def __init__(self, seed: int | None = None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)


class HeUniform(VarianceScaling):
    """He uniform: U(-limit, limit), limit = sqrt(6 / fan_in).

    >>> w = HeUniform(seed=0)((24, 10))  # limit sqrt(6 / 24) = 0.5
    >>> bool(abs(w).max() <= 0.5)
    True
    """

    def __init__(self, seed: int | None = None):
        super().__init__(2.0, "fan_in", "uniform", seed)


class LecunNormal(VarianceScaling):
    """LeCun normal (for SELU): truncated N(0, sqrt(1 / fan_in) / .87962566).

    >>> w = LecunNormal(seed=0)((400, 400))  # std sqrt(1 / 400)
    >>> round(float(w.std()), 2)
    0.05
    """

    def __init__(self, seed: int | None = None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)


class LecunUniform(VarianceScaling):
    """LeCun uniform: U(-limit, limit), limit = sqrt(3 / fan_in).

    >>> w = LecunUniform(seed=0)((12, 10))  # limit sqrt(3 / 12) = 0.5
    >>> bool(abs(w).max() <= 0.5)
    True
    """

    def __init__(self, seed: int | None = None):
        super().__init__(1.0, "fan_in", "uniform", seed)


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times `gain`, from the QR of a Gaussian (for recurrent kernels);
    shapes of more than 2 dims are flattened to (prod(shape[:-1]), shape[-1]).

    >>> import numpy as np
    >>> q = Orthogonal(seed=0)((3, 3))
    >>> bool(np.allclose(q.T @ q, np.eye(3), atol=1e-6))
    True
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None):
        self.gain = _args.number(gain, "Orthogonal", "gain")
        self.seed = _seed(seed, "Orthogonal")

    def __call__(self, shape, dtype=None):
        dt, shape = _dtype(dtype, self), _shape(shape, self)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: needs a shape of at least 2 dims, got {shape}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))  # make the decomposition unique (uniform over orthogonals)
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dt)


# Keras's lower-case names are the classes themselves: `he_normal()` is `HeNormal()`.
zeros, ones, constant = Zeros, Ones, Constant
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_normal, he_uniform, lecun_normal, lecun_uniform = HeNormal, HeUniform, LecunNormal, LecunUniform

_BY_NAME: dict[str, type] = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal, "xavier_uniform": GlorotUniform,
    "xavier_normal": GlorotNormal, "he_normal": HeNormal, "he_uniform": HeUniform,
    "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform, "orthogonal": Orthogonal,
}


def get(identifier: Any) -> Callable[..., np.ndarray] | None:
    """An initializer from a name (`"he_normal"`, `"HeNormal"`), a class, or any callable.

    >>> get("he_normal")
    HeNormal(scale=2.0, mode='fan_in', distribution='truncated_normal', seed=None)
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        key = identifier if identifier in _BY_NAME else _snake(identifier)
        return lookup("initializer", _BY_NAME, key)()
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"initializer must be a name, an Initializer or a callable "
                    f"f(shape, dtype), got {identifier!r}")


def _snake(name: str) -> str:
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
