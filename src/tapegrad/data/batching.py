"""Mini-batch iteration with seeded shuffling."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from tapegrad import random as tg_random
from tapegrad.data._checks import as_array, check_bool, check_int, check_seed, same_length

__all__ = ["batches"]


def batches(X: Any, y: Any = None, batch_size: int = 32, shuffle: bool = True,
            seed: int | None = None, drop_remainder: bool = False) -> Iterator[Any]:
    """Yield `(X_batch, y_batch)` NumPy pairs (just `X_batch` without y), one pass over the data.

    Shuffles with `np.random.default_rng(seed)`, or `tg.random.generator()` when `seed` is None
    (so `tg.random.seed(n)` makes it repeatable). The last batch may be smaller unless
    `drop_remainder=True`.

    >>> import numpy as np
    >>> [yb.tolist() for _, yb in batches(np.zeros((5, 1)), np.arange(5), 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    """
    X = as_array(X, "X", "batches")
    if y is not None:
        y = as_array(y, "y", "batches")
        same_length("batches", X=X, y=y)
    batch_size = check_int(batch_size, "batch_size", "batches")
    seed = check_seed(seed, "seed", "batches")
    shuffle = check_bool(shuffle, "shuffle", "batches")
    drop_remainder = check_bool(drop_remainder, "drop_remainder", "batches")
    n = len(X)
    if shuffle:
        if seed is None:
            rng = tg_random.generator()
        elif isinstance(seed, int):
            rng = np.random.default_rng(seed)
        else:
            rng = seed
        order = rng.permutation(n)
        X = X[order]
        y = None if y is None else y[order]
    stop = n - n % batch_size if drop_remainder else n
    return _iterate(X, y, batch_size, stop)  # arguments are checked now, not at the first batch


def _iterate(X: np.ndarray, y: np.ndarray | None, batch_size: int, stop: int) -> Iterator[Any]:
    for lo in range(0, stop, batch_size):
        xb = X[lo:lo + batch_size]
        yield xb if y is None else (xb, y[lo:lo + batch_size])
