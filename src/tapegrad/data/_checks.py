"""The one input validator of training (`fit`/`evaluate`/`predict`) and `tg.data`: arrays with a
sample axis, equal lengths, counts, seeds and random states. Every error names the function
(`where`) and the argument (`what`), says what was expected and what came instead."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad import random as tg_random
from tapegrad.tensor import Tensor


def as_array(a: Any, what: str, where: str) -> np.ndarray:
    """`a` as a numeric (bool, int or float) ndarray with a sample axis.

    Ragged nested lists, strings, complex numbers, objects and scalars (0-d Tensors too) raise
    a ValueError naming `where` and `what`.
    """
    if a is None:
        raise ValueError(f"{where}: {what} is None; expected an array with one row per sample")
    if isinstance(a, Tensor):
        arr = a.numpy()
    else:
        try:
            arr = np.asarray(a)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{where}: {what} is ragged (rows of different lengths); "
                             f"pad it first (tg.data.pad_sequences): {e}") from e
    if arr.dtype == object:
        raise ValueError(f"{where}: {what} is ragged or not numeric (dtype object); pad "
                         f"sequences first with tg.data.pad_sequences")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{where}: {what} must be numeric (bool, int or float), got dtype "
                         f"{arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{where}: {what} must have a sample axis (one row per sample), got a "
                         f"scalar {arr.item()!r}")
    return arr


def same_length(where: str, **arrays: np.ndarray) -> int:
    """The common number of samples; a ValueError naming the lengths if they differ."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ValueError(f"{where}: inputs must have the same number of samples ({desc})")
    return next(iter(lengths.values()))


def check_int(value: Any, what: str, where: str, minimum: int | None = 1) -> int:
    """`value` as an int >= `minimum`: a TypeError for non-integers (bools and whole floats too,
    as `range` does), a ValueError below the minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {what} must be an int, got {type(value).__name__} "
                        f"{value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}: {what} must be >= {minimum}, got {value}")
    return int(value)


def check_optional_int(value: Any, what: str, where: str, minimum: int = 1) -> int | None:
    """None, or `check_int(value, ...)`."""
    return None if value is None else check_int(value, what, where, minimum)


def check_seed(seed: Any, what: str, where: str) -> Any:
    """None, an int in [0, 2**32) (NumPy's seed range) or a NumPy Generator/RandomState."""
    if seed is None or isinstance(seed, (np.random.Generator, np.random.RandomState)):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{where}: {what} must be None, an int or a NumPy random generator, "
                        f"got {type(seed).__name__} {seed!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(f"{where}: {what} must be in [0, 2**32) (NumPy's seed range), got "
                         f"{seed}")
    return int(seed)


def permutation(n: int, random_state: Any, where: str = "permutation") -> np.ndarray:
    """A permutation of range(n): scikit-learn's for an int seed (so splits match it),
    tapegrad's shared generator for None (so `tg.random.seed` makes it repeatable)."""
    random_state = check_seed(random_state, "random_state", where)
    if random_state is None:
        return tg_random.generator().permutation(n)
    if isinstance(random_state, int):
        return np.random.RandomState(random_state).permutation(n)
    return random_state.permutation(n)


def check_bool(value: Any, what: str, where: str) -> bool:
    """`value` as a bool; anything but True/False (or NumPy bools) raises a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: {what} must be True or False, got {type(value).__name__} "
                        f"{value!r}")
    return bool(value)
