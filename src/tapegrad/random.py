"""One seeded random generator for initialisers, dropout, shuffling and sampling.

`tg.random.seed(n)` makes every draw that follows repeatable. `normal` and `uniform` return
constant Tensors (as `tf.random.normal`/`uniform`; a VAE's reparameterisation is
`mean + tg.exp(0.5 * log_var) * tg.random.normal(mean.shape)`), and `categorical` draws class
indices from logits, optionally sharpened or flattened by a temperature (text generation).
Each function takes `seed=` for a private, repeatable generator instead of the shared one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["categorical", "generator", "normal", "sample_with_temperature", "seed", "uniform"]

_rng = np.random.default_rng()


def seed(n: int | None) -> None:
    """Make initialisation, dropout and shuffling repeatable.

    >>> import tapegrad as tg
    >>> tg.random.seed(0); a = tg.random.generator().random()
    >>> tg.random.seed(0); a == tg.random.generator().random()
    True
    """
    global _rng
    _rng = np.random.default_rng(n)


def generator() -> np.random.Generator:
    """The shared generator (re-created by `seed`); draw from it, do not keep it."""
    return _rng


def _pick(seed: int | None) -> np.random.Generator:
    return _rng if seed is None else np.random.default_rng(seed)


def _shape(shape: Any, who: str) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        out = tuple(int(s) for s in shape)
    except TypeError as e:
        raise TypeError(f"{who}: shape must be an int or a sequence of ints, got {shape!r}") from e
    if any(s < 0 for s in out):
        raise ValueError(f"{who}: shape {out} has a negative dimension")
    return out


def _float_dtype(dtype: Any, who: str) -> np.dtype:
    from tapegrad.tensor import get_default_dtype

    dt = get_default_dtype() if dtype is None else np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{who}: dtype must be a float dtype, got {dt}")
    return dt


def _draw_fwd(*, kind: str, shape: tuple, dtype: np.dtype, low: Any, high: Any,
              seed: int | None, rng: np.random.Generator | None) -> np.ndarray:
    """The draw itself, run eagerly and again on every `tg.function` replay: the shared
    generator is looked up at call time (so `seed(n)` between calls counts), a `seed` makes a
    private generator per call (the same numbers every call, as eagerly)."""
    g = rng if rng is not None else _pick(seed)
    if kind == "normal":
        x = g.normal(low, high, shape)
    elif dtype.kind in "iu":
        x = g.integers(low, high, shape)
    else:
        x = g.uniform(low, high, shape)
    return x.astype(dtype)


_DRAW: Any = None


def _draw(kind: str, shape: tuple, dtype: np.dtype, low: Any, high: Any,
          seed: int | None, rng: np.random.Generator | None) -> Any:
    """Run the draw as an op marked `random`: `tg.function` records it and replays it with fresh
    numbers on every call (no inputs, so it has no gradient: the result is a constant)."""
    global _DRAW
    if _DRAW is None:
        from tapegrad.ops.primitive import Primitive

        _DRAW = Primitive(_draw_fwd, "random_draw", register=False,
                          doc="`random_draw`: draws from a random generator.")
        _DRAW.random = True  # (tg.function: a fresh draw per call)
    return _DRAW(kind=kind, shape=shape, dtype=dtype, low=low, high=high, seed=seed, rng=rng)


def normal(shape: int | Sequence[int], mean: float = 0.0, stddev: float = 1.0,
           dtype: Any = None, seed: int | None = None,
           rng: np.random.Generator | None = None) -> Any:
    """A constant Tensor of draws from N(mean, stddev**2) (default dtype float32), from `rng`,
    a private generator seeded with `seed`, or the shared one; inside `tg.function` each call
    draws fresh numbers.

    >>> import tapegrad as tg
    >>> z = tg.random.normal((1000, 2), mean=1.0, stddev=0.5, seed=0)
    >>> z.shape, bool(abs(z.numpy().mean() - 1.0) < 0.05)
    ((1000, 2), True)
    """
    dt = _float_dtype(dtype, "random.normal")
    if stddev < 0:
        raise ValueError(f"random.normal: stddev must be >= 0, got {stddev}")
    return _draw("normal", _shape(shape, "random.normal"), dt, float(mean), float(stddev),
                 seed, rng)


def uniform(shape: int | Sequence[int], minval: float = 0.0, maxval: float | None = None,
            dtype: Any = None, seed: int | None = None,
            rng: np.random.Generator | None = None) -> Any:
    """A constant Tensor of draws from [minval, maxval) (maxval 1 for floats; integer dtypes
    need maxval and draw integers, as `tf.random.uniform`); `rng` and `seed` as in `normal`.

    >>> import tapegrad as tg
    >>> u = tg.random.uniform((3,), minval=2.0, maxval=3.0, seed=0).numpy()
    >>> bool(((u >= 2.0) & (u < 3.0)).all())
    True
    >>> tg.random.uniform((4,), 0, 10, dtype="int64", seed=0).dtype
    dtype('int64')
    """
    from tapegrad.tensor import get_default_dtype

    dt = get_default_dtype() if dtype is None else np.dtype(dtype)
    shape = _shape(shape, "random.uniform")
    if dt.kind in "iu":
        if maxval is None:
            raise ValueError("random.uniform: an integer dtype needs maxval (the exclusive "
                             "upper bound), e.g. uniform(shape, 0, 10, dtype='int64')")
        low, high = int(minval), int(maxval)
    elif dt.kind == "f":
        low, high = float(minval), 1.0 if maxval is None else float(maxval)
    else:
        raise TypeError(f"random.uniform: dtype must be a float or integer dtype, got {dt}")
    if not high > low:
        raise ValueError(f"random.uniform: needs minval < maxval, got {minval} and {maxval}")
    return _draw("uniform", shape, dt, low, high, seed, rng)


def _probabilities(logits: Any, temperature: float, who: str) -> np.ndarray:
    """softmax(logits / temperature) along the last axis, in float64."""
    z = np.asarray(getattr(logits, "numpy", lambda: logits)(), dtype=np.float64)
    if z.ndim not in (1, 2):
        raise ValueError(f"{who}: logits must be (classes,) or (batch, classes), got shape "
                         f"{z.shape}")
    if z.shape[-1] == 0:
        raise ValueError(f"{who}: logits of shape {z.shape} have no classes")
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"{who}: temperature must be a positive number, got {temperature!r} "
                         "(for the most likely class use argmax)")
    if np.isnan(z).any() or np.isposinf(z).any():
        raise ValueError(f"{who}: logits contain NaN or +inf")
    top = z.max(axis=-1, keepdims=True)
    if np.isneginf(top).any():
        raise ValueError(f"{who}: a row of logits is all -inf (no class can be drawn)")
    e = np.exp((z - top) / temperature)
    return e / e.sum(axis=-1, keepdims=True)


def categorical(logits: Any, num_samples: int = 1, *, temperature: float = 1.0,
                dtype: Any = np.int64, seed: int | None = None) -> Any:
    """Class indices drawn from softmax(logits / temperature), as `tf.random.categorical`.

    `logits` is (batch, classes) -> result (batch, num_samples), or (classes,) -> (num_samples,).
    A temperature below 1 sharpens the distribution (towards argmax), above 1 flattens it;
    -inf logits are never drawn. The result is an integer Tensor.

    >>> import tapegrad as tg
    >>> tg.random.categorical([[0.0, 0.0, -np.inf]], 5, seed=0).shape
    (1, 5)
    >>> int(tg.random.categorical([[0.0, 5.0]], 1000, temperature=0.1, seed=0).numpy().min())
    1
    """
    from tapegrad.tensor import tensor

    p = _probabilities(logits, float(temperature), "random.categorical")
    n = int(num_samples)
    if n < 0:
        raise ValueError(f"random.categorical: num_samples must be >= 0, got {num_samples}")
    rows = p.reshape(-1, p.shape[-1])
    cdf = np.cumsum(rows, axis=-1)
    cdf[:, -1] = 1.0  # rounding: the last class ends exactly at 1
    u = _pick(seed).random((rows.shape[0], n))
    picks = np.stack([np.searchsorted(c, r, side="right") for c, r in zip(cdf, u)])
    picks = picks.reshape(p.shape[:-1] + (n,))
    return tensor(picks.astype(np.dtype(dtype)))


def sample_with_temperature(probabilities: Any, temperature: float = 1.0,
                            seed: int | None = None) -> Any:
    """One class index per row of `probabilities`, reweighted as p**(1/T) / sum(p**(1/T))
    ("Deep Learning with Python", 8.1): an int for (classes,), an int array for (batch, classes).

    >>> import tapegrad as tg
    >>> tg.random.sample_with_temperature([0.1, 0.0, 0.9], temperature=0.01, seed=0)
    2
    """
    p = np.asarray(getattr(probabilities, "numpy", lambda: probabilities)(), dtype=np.float64)
    if (p < 0).any() or not np.isfinite(p).all():
        raise ValueError("sample_with_temperature: probabilities must be finite and >= 0")
    with np.errstate(divide="ignore"):
        logits = np.log(p)
    picks = categorical(logits, 1, temperature=temperature, seed=seed).numpy()[..., 0]
    return int(picks) if picks.ndim == 0 else picks
