"""`tg.data.Dataset`: a small streaming pipeline for NumPy data with `tf.data`'s names.

A Dataset is a recipe: each `iter(ds)` runs it from the start, pulling one element at a time
from its source, so `Dataset.from_generator` over a million samples never holds more than the
shuffle buffer and one batch. Elements are NumPy arrays, or tuples/dicts of them; `batch` stacks
them along a new first axis. `fit`, `evaluate` and `predict` take a batched Dataset.

>>> import numpy as np, tapegrad as tg
>>> ds = tg.data.Dataset.from_tensor_slices((np.arange(6.0), np.arange(6) % 2))
>>> ds = ds.map(lambda x, y: (x * 10, y)).batch(4)
>>> [(xb.tolist(), yb.tolist()) for xb, yb in ds]
[([0.0, 10.0, 20.0, 30.0], [0, 1, 0, 1]), ([40.0, 50.0], [0, 1])]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from tapegrad import random as tg_random
from tapegrad.data._checks import as_array, check_bool, check_int, check_seed, same_length

__all__ = ["Dataset", "INFINITE", "UNKNOWN"]

INFINITE = -1  # `cardinality()` of a repeated dataset (tf.data.INFINITE_CARDINALITY)
UNKNOWN = -2  # `cardinality()` when the length cannot be known without running it


def _slice_structure(data: Any, where: str, what: str = "tensors") -> tuple[Any, int]:
    """(ndarray, or nested tuples/dicts of them, number of rows); a list is one array, as in
    tf.data."""
    if isinstance(data, (tuple, dict)):
        keys = list(data) if isinstance(data, dict) else range(len(data))
        if not keys:
            raise ValueError(f"{where}: {what} is an empty {type(data).__name__}; expected "
                             f"arrays")
        parts = {k: _slice_structure(data[k], where, f"{what}[{k!r}]") for k in keys}
        n = same_length(where, **{f"{what}[{k!r}]": np.empty(p[1]) for k, p in parts.items()})
        if isinstance(data, dict):
            return {k: p[0] for k, p in parts.items()}, n
        return tuple(p[0] for p in parts.values()), n
    arr = as_array(data, what, where)
    return arr, len(arr)


def _take(structure: Any, i: int) -> Any:
    if isinstance(structure, dict):
        return {k: _take(v, i) for k, v in structure.items()}
    if isinstance(structure, tuple):
        return tuple(_take(v, i) for v in structure)
    return structure[i]


def _stack(elements: list[Any], where: str) -> Any:
    first = elements[0]
    if isinstance(first, dict):
        return {k: _stack([e[k] for e in elements], where) for k in first}
    if isinstance(first, tuple):
        return tuple(_stack([e[i] for e in elements], where) for i in range(len(first)))
    try:
        return np.stack([np.asarray(e) for e in elements])
    except ValueError as e:
        shapes = sorted({np.shape(x) for x in elements})
        raise ValueError(f"{where}: elements of one batch must have the same shape, got "
                         f"{shapes}; pad them first (tg.data.pad_sequences)") from e


class Dataset:
    """An iterable pipeline of elements; build one with `from_tensor_slices` or
    `from_generator` and chain `shuffle`, `map`, `batch`, `repeat`, `take`, `prefetch`.

    >>> ds = Dataset.from_tensor_slices({"a": np.arange(4)}).batch(2).repeat(2)
    >>> [d["a"].tolist() for d in ds], ds.cardinality()
    ([[0, 1], [2, 3], [0, 1], [2, 3]], 4)
    """

    def __init__(self, make_iterator: Callable[[], Iterator[Any]], cardinality: int,
                 batched: bool = False):
        self._make_iterator = make_iterator
        self._cardinality = cardinality
        self.batched = batched  # True once `batch` was applied: fit needs batches

    # -- sources ------------------------------------------------------------------------------
    @classmethod
    def from_tensor_slices(cls, tensors: Any) -> Dataset:
        """One element per row of `tensors` (an array, or a tuple/dict of arrays of one length).

        >>> [x.tolist() for x in Dataset.from_tensor_slices(np.eye(2))]
        [[1.0, 0.0], [0.0, 1.0]]
        """
        data, n = _slice_structure(tensors, "Dataset.from_tensor_slices")
        return cls(lambda: (_take(data, i) for i in range(n)), n)

    @classmethod
    def from_generator(cls, generator: Callable[[], Iterable[Any]]) -> Dataset:
        """Elements from `generator()`, called afresh for every pass (so it can be repeated).

        >>> ds = Dataset.from_generator(lambda: (np.full(2, i) for i in range(10**6)))
        >>> [x.tolist() for x in ds.take(2)]
        [[0, 0], [1, 1]]
        """
        if not callable(generator):
            raise TypeError(f"Dataset.from_generator: generator must be a callable returning an "
                            f"iterator (e.g. a generator function), got "
                            f"{type(generator).__name__}; wrap it: lambda: my_iterable")

        def make() -> Iterator[Any]:
            it = generator()
            try:
                return iter(it)
            except TypeError as e:
                raise TypeError(f"Dataset.from_generator: generator() returned "
                                f"{type(it).__name__}, which is not iterable") from e

        return cls(make, UNKNOWN)

    # -- transformations --------------------------------------------------------------------
    def map(self, fn: Callable[..., Any]) -> Dataset:
        """Apply `fn` to each element (a tuple element is unpacked: `fn(x, y)`, as tf.data).

        >>> [int(x) for x in Dataset.from_tensor_slices(np.arange(3)).map(lambda x: x * x)]
        [0, 1, 4]
        """
        if not callable(fn):
            raise TypeError(f"Dataset.map: fn must be callable, got {type(fn).__name__}")

        def make() -> Iterator[Any]:
            for e in self._make_iterator():
                try:
                    out = fn(*e) if isinstance(e, tuple) else fn(e)
                except Exception as err:  # the user's own error, kept whole, with a note
                    if hasattr(err, "add_note"):  # Python >= 3.11
                        err.add_note("(raised by the function given to Dataset.map)")
                    raise
                yield out

        return Dataset(make, self._cardinality, self.batched)

    def shuffle(self, buffer_size: int, seed: int | None = None,
                reshuffle_each_iteration: bool = True) -> Dataset:
        """Shuffle through a buffer of `buffer_size` elements (tf.data's algorithm: each output
        is a random pick from the buffer, refilled from the input). A buffer at least as large
        as the dataset gives a uniform shuffle. Each pass is ordered differently unless
        `reshuffle_each_iteration=False`; `seed` (or `tg.random.seed`) makes them repeatable.

        >>> sorted(int(x) for x in Dataset.from_tensor_slices(np.arange(5)).shuffle(5, seed=0))
        [0, 1, 2, 3, 4]
        """
        buffer_size = check_int(buffer_size, "buffer_size", "Dataset.shuffle")
        seed = check_seed(seed, "seed", "Dataset.shuffle")
        reshuffle = check_bool(reshuffle_each_iteration, "reshuffle_each_iteration",
                               "Dataset.shuffle")
        if isinstance(seed, (np.random.Generator, np.random.RandomState)):
            raise TypeError("Dataset.shuffle: seed must be None or an int")
        entropy = seed if seed is not None else int(tg_random.generator().integers(2**63))
        passes = itertools.count()

        def make() -> Iterator[Any]:
            k = next(passes) if reshuffle else 0  # pass k draws from its own seeded stream
            rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(k,)))
            buffer: list[Any] = []
            for e in self._make_iterator():
                if len(buffer) < buffer_size:
                    buffer.append(e)
                    continue
                i = int(rng.integers(buffer_size))
                yield buffer[i]
                buffer[i] = e
            rng.shuffle(buffer)
            yield from buffer

        return Dataset(make, self._cardinality, self.batched)

    def batch(self, batch_size: int, drop_remainder: bool = False) -> Dataset:
        """Stack `batch_size` consecutive elements into one (the last may be smaller unless
        `drop_remainder=True`).

        >>> [b.shape for b in Dataset.from_tensor_slices(np.zeros((5, 3))).batch(2)]
        [(2, 3), (2, 3), (1, 3)]
        """
        batch_size = check_int(batch_size, "batch_size", "Dataset.batch")
        drop_remainder = check_bool(drop_remainder, "drop_remainder", "Dataset.batch")

        def make() -> Iterator[Any]:
            it = self._make_iterator()
            while True:
                chunk = list(itertools.islice(it, batch_size))
                if not chunk or (drop_remainder and len(chunk) < batch_size):
                    return
                yield _stack(chunk, "Dataset.batch")

        n = self._cardinality
        if n >= 0:
            n = n // batch_size if drop_remainder else -(-n // batch_size)
        return Dataset(make, n, batched=True)

    def repeat(self, count: int | None = None) -> Dataset:
        """Run the pipeline `count` times (forever with None, as tf.data).

        >>> [int(x) for x in Dataset.from_tensor_slices(np.arange(2)).repeat(2)]
        [0, 1, 0, 1]
        """
        if count is not None:
            count = check_int(count, "count", "Dataset.repeat", minimum=0)

        def make() -> Iterator[Any]:
            for _ in (itertools.count() if count is None else range(count)):
                empty = True
                for e in self._make_iterator():
                    empty = False
                    yield e
                if empty:  # repeating nothing forever would hang
                    return

        n = self._cardinality
        if count is None:
            n = 0 if n == 0 else INFINITE
        elif n >= 0:
            n = n * count
        return Dataset(make, n, self.batched)

    def take(self, count: int) -> Dataset:
        """At most the first `count` elements.

        >>> len(Dataset.from_tensor_slices(np.arange(10)).take(3))
        3
        """
        count = check_int(count, "count", "Dataset.take", minimum=0)
        n = self._cardinality
        n = count if n == INFINITE else (min(n, count) if n >= 0 else UNKNOWN)
        return Dataset(lambda: itertools.islice(self._make_iterator(), count), n, self.batched)

    def prefetch(self, buffer_size: int | None = None) -> Dataset:
        """Accepted for tf.data compatibility; the pipeline runs in the calling thread, so this
        returns the dataset unchanged.

        >>> ds = Dataset.from_tensor_slices(np.arange(3))
        >>> ds.prefetch(2) is ds
        True
        """
        if buffer_size is not None:
            check_int(buffer_size, "buffer_size", "Dataset.prefetch", minimum=-1)
        return self

    # -- reading --------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        return iter(self._make_iterator())

    def as_numpy_iterator(self) -> Iterator[Any]:
        """The elements (already NumPy arrays), as tf.data's method of that name."""
        return iter(self)

    def cardinality(self) -> int:
        """The number of elements, `INFINITE` (-1) after `repeat()`, `UNKNOWN` (-2) for a
        generator source."""
        return self._cardinality

    def __len__(self) -> int:
        if self._cardinality < 0:
            raise TypeError("Dataset: the length is "
                            f"{'infinite' if self._cardinality == INFINITE else 'unknown'}; "
                            f"use cardinality()")
        return self._cardinality

    def __repr__(self) -> str:
        n = {INFINITE: "infinite", UNKNOWN: "unknown"}.get(self._cardinality, self._cardinality)
        return f"<tg.data.Dataset elements={n} batched={self.batched}>"
