"""One seeded random generator for initialisers, dropout and shuffling: `tg.random.seed(n)`."""

from __future__ import annotations

from typing import Any

import numpy as np

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


def _draw(kind: str) -> Any:
    """A traced op drawing from `rng` (the shared generator when None): `tg.function` replays it
    with fresh numbers on every call, as eager code would draw them."""
    from tapegrad.ops.primitive import Primitive

    def fwd(*, shape: tuple, dtype: Any = None, rng: Any = None, **args: Any) -> np.ndarray:
        g = rng if rng is not None else _rng
        x = g.random(shape) if kind == "uniform" else g.standard_normal(shape)
        return x if dtype is None else x.astype(dtype)

    op = Primitive(fwd, f"random_{kind}", register=False, doc=f"`random_{kind}` draws.")
    op.random = True  # type: ignore[attr-defined]  (tg.function: a fresh draw per call)
    return op


_OPS: dict[str, Any] = {}


def uniform(shape: Any, dtype: Any = None, rng: np.random.Generator | None = None) -> Any:
    """U[0, 1) samples as a Tensor (float64 unless `dtype`), from `rng` or the shared generator;
    inside `tg.function` each call draws fresh numbers.

    >>> import tapegrad as tg
    >>> tg.random.uniform((2, 3)).shape
    (2, 3)
    """
    op = _OPS.get("uniform") or _OPS.setdefault("uniform", _draw("uniform"))
    return op(shape=tuple(shape), dtype=None if dtype is None else np.dtype(dtype), rng=rng)


def normal(shape: Any, dtype: Any = None, rng: np.random.Generator | None = None) -> Any:
    """N(0, 1) samples as a Tensor (float64 unless `dtype`); see `uniform`.

    >>> import tapegrad as tg
    >>> tg.random.normal((4,), "float32").dtype
    dtype('float32')
    """
    op = _OPS.get("normal") or _OPS.setdefault("normal", _draw("normal"))
    return op(shape=tuple(shape), dtype=None if dtype is None else np.dtype(dtype), rng=rng)
