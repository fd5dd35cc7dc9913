"""Train/test splits and k-fold cross-validation (scikit-learn's signatures and splits).

With an int `random_state` the splits are exactly scikit-learn's; with None they come from
`tg.random.generator()`, so `tg.random.seed(n)` makes them repeatable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tapegrad.data._checks import (
    as_array,
    check_bool,
    check_int,
    check_seed,
    permutation,
    same_length,
)

__all__ = ["train_test_split", "KFold", "cross_validate"]


def train_test_split(X: Any, y: Any = None, test_size: float | int = 0.25,
                     random_state: Any = None, shuffle: bool = True) -> tuple[np.ndarray, ...]:
    """Split into (X_train, X_test, y_train, y_test) (just (X_train, X_test) without y).

    `test_size` is a fraction (rounded up, as scikit-learn does) or a number of samples.

    >>> import numpy as np
    >>> X_tr, X_te, y_tr, y_te = train_test_split(np.zeros((8, 2)), np.arange(8), shuffle=False)
    >>> y_tr, y_te
    (array([0, 1, 2, 3, 4, 5]), array([6, 7]))
    """
    X = as_array(X, "X", "train_test_split")
    arrays = {"X": X}
    if y is not None:
        arrays["y"] = as_array(y, "y", "train_test_split")
    n = same_length("train_test_split", **arrays)
    shuffle = check_bool(shuffle, "shuffle", "train_test_split")
    check_seed(random_state, "random_state", "train_test_split")
    if isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"train_test_split: a float test_size must be in (0, 1), "
                             f"got {test_size}")
        n_test = math.ceil(test_size * n)
    elif isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        n_test = int(test_size)
    else:
        raise TypeError(f"train_test_split: test_size must be a float or int, got "
                        f"{type(test_size).__name__}")
    n_train = n - n_test
    if n_test <= 0 or n_train <= 0:
        raise ValueError(f"train_test_split: test_size={test_size} with {n} samples leaves "
                         f"{n_train} for training and {n_test} for testing; both must be > 0")
    if shuffle:
        perm = permutation(n, random_state, "train_test_split")
        test_idx, train_idx = perm[:n_test], perm[n_test:]
    else:
        train_idx, test_idx = np.arange(n_train), np.arange(n_train, n)
    out: list[np.ndarray] = []
    for a in arrays.values():
        out += [a[train_idx], a[test_idx]]
    return tuple(out)


class KFold:
    """K-fold cross-validation indices, identical to scikit-learn's `KFold`.

    The first `n % n_splits` folds have one extra sample; validation indices come out sorted.

    >>> for train_idx, val_idx in KFold(3).split(np.arange(6)):
    ...     print(train_idx, val_idx)
    [2 3 4 5] [0 1]
    [0 1 4 5] [2 3]
    [0 1 2 3] [4 5]
    """

    def __init__(self, n_splits: int = 5, shuffle: bool = False, random_state: Any = None):
        n_splits = check_int(n_splits, "n_splits", "KFold", minimum=2)
        shuffle = check_bool(shuffle, "shuffle", "KFold")
        check_seed(random_state, "random_state", "KFold")
        if not shuffle and random_state is not None:
            raise ValueError("KFold: random_state has no effect unless shuffle=True")
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.random_state = random_state

    def get_n_splits(self, X: Any = None) -> int:
        return self.n_splits

    def split(self, X: Any, y: Any = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (train_idx, val_idx) index arrays, one pair per fold."""
        n = len(as_array(X, "X", "KFold.split"))
        if y is not None:
            same_length("KFold.split", X=np.empty(n), y=as_array(y, "y", "KFold.split"))
        if self.n_splits > n:
            raise ValueError(f"KFold: cannot make {self.n_splits} folds from {n} samples")
        order = permutation(n, self.random_state, "KFold.split") if self.shuffle else np.arange(n)
        sizes = np.full(self.n_splits, n // self.n_splits, dtype=int)
        sizes[: n % self.n_splits] += 1
        start = 0
        for size in sizes:
            mask = np.zeros(n, dtype=bool)
            mask[order[start:start + size]] = True
            start += size
            yield np.flatnonzero(~mask), np.flatnonzero(mask)

    def __repr__(self) -> str:
        return (f"KFold(n_splits={self.n_splits}, shuffle={self.shuffle}, "
                f"random_state={self.random_state})")


def cross_validate(build_model: Callable[[], Any], X: Any, y: Any, k: int = 5,
                   shuffle: bool = True, random_state: Any = None, standardize: bool = False,
                   **fit_kwargs: Any) -> dict[str, Any]:
    """K-fold validation: for each fold build a fresh compiled model with `build_model()`,
    `fit` it on the other folds and `evaluate` it on this one; average the scores.

    With `standardize=True` a `Standardizer` is fitted on each training part only (no leak).
    Returns `{"mean": {...}, "std": {...}, "folds": [{...}, ...]}` keyed by "loss" and the
    compiled metrics. `fit_kwargs` go to `fit` (verbose defaults to 0).

    >>> # scores = tg.data.cross_validate(make_model, X, y, k=5, epochs=20)["mean"]
    """
    from tapegrad.data.preprocessing import Standardizer

    X = as_array(X, "X", "cross_validate")
    y = as_array(y, "y", "cross_validate")
    same_length("cross_validate", X=X, y=y)
    fit_kwargs.setdefault("verbose", 0)
    folds: list[dict[str, float]] = []
    for train_idx, val_idx in KFold(k, shuffle, random_state if shuffle else None).split(X):
        X_tr, X_va = X[train_idx], X[val_idx]
        if standardize:
            scaler = Standardizer().fit(X_tr)
            X_tr, X_va = scaler.transform(X_tr), scaler.transform(X_va)
        model = build_model()
        if getattr(model, "optimizer", None) is None:
            raise ValueError("cross_validate: build_model() must return a compiled model")
        model.fit(X_tr, y[train_idx], **fit_kwargs)
        scores = model.evaluate(X_va, y[val_idx], return_dict=True)
        folds.append({name: float(v) for name, v in scores.items()})
    keys = list(folds[0])
    return {
        "mean": {key: float(np.mean([f[key] for f in folds])) for key in keys},
        "std": {key: float(np.std([f[key] for f in folds])) for key in keys},
        "folds": folds,
    }
