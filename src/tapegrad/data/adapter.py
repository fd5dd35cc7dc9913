"""What `fit`, `evaluate` and `predict` accept, turned into batches: `DataHandler`.

Sources, as Keras 3: NumPy arrays or Tensors; lists/tuples/dicts of them for several inputs or
outputs (by position, or by input/output name); a `tg.data.Dataset` of batches; a Python
generator or iterator (read once, so several epochs need `steps_per_epoch`); any other iterable
(read afresh each epoch). A generator or Dataset yields `x`, `(x, y)` or `(x, y, sample_weight)`
per batch. Every batch reaches the model's `train_step(data)` as `pack_x_y_sample_weight` packs it,
with Tensor leaves (floats in the model's dtype).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from tapegrad import random as tg_random
from tapegrad.data._checks import as_array, same_length
from tapegrad.data.dataset import INFINITE, Dataset
from tapegrad.tensor import Tensor

__all__ = ["DataHandler", "pack_x_y_sample_weight", "unpack_x_y_sample_weight"]


def pack_x_y_sample_weight(x: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """`x` alone without y (a tuple `(x,)` if x is itself a tuple/list), `(x, y)`, or
    `(x, y, sample_weight)`: the `data` a `train_step` receives (Keras's packing).

    >>> pack_x_y_sample_weight(1), pack_x_y_sample_weight(1, 2), pack_x_y_sample_weight(1, 2, 3)
    (1, (1, 2), (1, 2, 3))
    """
    if y is None:
        return (x,) if isinstance(x, (tuple, list)) else x
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def unpack_x_y_sample_weight(data: Any) -> tuple[Any, Any, Any]:
    """`(x, y, sample_weight)` from a batch, with None for the missing parts (a list counts as
    a tuple, as in Keras 3); use it at the top of a custom `train_step`.

    >>> unpack_x_y_sample_weight((1, 2)), unpack_x_y_sample_weight(1)
    ((1, 2, None), (1, None, None))
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise ValueError(f"a batch must be x, (x,), (x, y) or (x, y, sample_weight); got a tuple "
                     f"of {len(data)} parts")


def _is_arrays(x: Any) -> bool:
    """True for what is sliced into batches (arrays and their containers), False for sources
    that yield batches themselves (Datasets, generators, other iterables)."""
    if isinstance(x, (np.ndarray, Tensor, list, tuple, dict, str, bytes, int, float, complex,
                      np.generic)):
        return True
    return not hasattr(x, "__iter__")


def _structure(x: Any, what: str, where: str) -> Any:
    """An ndarray, or a list/dict of ndarrays (several inputs or outputs); None stays None."""
    if x is None:
        return None
    if isinstance(x, dict):
        if not x:
            raise ValueError(f"{where}: {what} is an empty dict; expected arrays keyed by name")
        return {k: as_array(v, f"{what}[{k!r}]", where) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, (np.ndarray, Tensor))
                                                  or isinstance(v, (list, tuple, dict))
                                                  and _holds_arrays(v) for v in x):
        return [as_array(v, f"{what}[{i}]", where) for i, v in enumerate(x)]
    return as_array(x, what, where)


def _holds_arrays(v: Any) -> bool:
    return any(isinstance(e, (np.ndarray, Tensor)) for e in
               (v.values() if isinstance(v, dict) else v))


def _check_weights(s: Any, where: str) -> Any:
    """Sample weights: one finite float per sample, shape (n,) or (n, 1)."""
    def check(a: np.ndarray) -> np.ndarray:
        if a.ndim > 2 or (a.ndim == 2 and a.shape[1] != 1):
            raise ValueError(f"{where}: sample_weight must have shape (samples,) or "
                             f"(samples, 1), got {a.shape}")
        a = a.astype(np.float64).reshape(len(a))
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{where}: sample_weight contains NaN or infinite values")
        return a
    return _map(check, s)


def _check_per_output_weights(sw: Any, y: Any, output_names: list[str] | None,
                              where: str) -> None:
    """A list/dict of sample weights needs several outputs and must match them."""
    if not isinstance(sw, (list, dict)):
        return
    several = (output_names is not None and len(output_names) > 1) or isinstance(y, (list, dict))
    if not several or not sw:
        raise ValueError(f"{where}: sample_weight must be one array with a weight per sample "
                         f"(a list or dict of them needs a model with several outputs)")
    names = output_names or (list(y) if isinstance(y, dict) else None)
    if isinstance(sw, dict) and names is not None:
        unknown = [k for k in sw if k not in names]
        if unknown:
            raise ValueError(f"{where}: sample_weight has keys {unknown} that name no output; "
                             f"the outputs are {names}")
    elif isinstance(sw, list):
        n = len(output_names) if output_names else len(y)
        if len(sw) != n:
            raise ValueError(f"{where}: sample_weight has {len(sw)} arrays for {n} outputs")


def _leaves(s: Any, what: str) -> dict[str, np.ndarray]:
    if s is None:
        return {}
    if isinstance(s, dict):
        return {f"{what}[{k!r}]": v for k, v in s.items()}
    if isinstance(s, list):
        return {f"{what}[{i}]": v for i, v in enumerate(s)}
    return {what: s}


def _map(fn: Any, s: Any) -> Any:
    if s is None:
        return None
    if isinstance(s, dict):
        return {k: fn(v) for k, v in s.items()}
    if isinstance(s, (list, tuple)):
        return [fn(v) for v in s]
    return fn(s)


def check_names(s: Any, names: list[str] | None, what: str, kind: str, where: str) -> None:
    """A dict `s` must have exactly the model's input (or output) names as keys; a list must
    have one entry per name."""
    if names is None or s is None:
        return
    if isinstance(s, dict):
        missing = [n for n in names if n not in s]
        extra = [k for k in s if k not in names]
        if missing or extra:
            raise ValueError(f"{where}: {what} is a dict with keys {list(s)}, but the model's "
                             f"{kind}s are named {names} (missing: {missing}, unknown: {extra})")
    elif isinstance(s, list):
        if len(s) != len(names):
            raise ValueError(f"{where}: {what} is a list of {len(s)} arrays, but the model has "
                             f"{len(names)} {kind}s {names}")
    elif len(names) > 1:
        raise ValueError(f"{where}: {what} is one array, but the model has {len(names)} {kind}s "
                         f"{names}; pass a list or a dict keyed by {kind} name")


class DataHandler:
    """Batches of one source for `fit`, `evaluate` or `predict`.

    `steps` is the number of batches per epoch (None while unknown: a generator without
    `steps_per_epoch`). With `steps` given, one iterator continues across epochs (as Keras);
    `ran_out` turns True when a source ended before `steps` batches.
    """

    def __init__(self, x: Any, y: Any = None, sample_weight: Any = None, *,
                 batch_size: int | None = None, steps: int | None = None,
                 shuffle: bool = False, where: str = "fit",
                 dtype: Any = None, input_names: list[str] | None = None,
                 output_names: list[str] | None = None, need_y: bool = True):
        if x is None:
            raise ValueError(f"{where}: x is None; pass the inputs")
        self.where = where
        self.dtype = np.dtype(dtype) if dtype is not None else None
        self.shuffle = shuffle
        self.ran_out = False
        self.batch_size = batch_size
        self._iterator: Iterator[Any] | None = None
        self._seen = 0  # batches read from _iterator
        self.arrays = _is_arrays(x)
        if self.arrays:
            self.x = _structure(x, "x", where)
            self.y = _structure(y, "y", where)
            self.sample_weight = _check_weights(
                _structure(sample_weight, "sample_weight", where), where)
            check_names(self.x, input_names, "x", "input", where)
            check_names(self.y, output_names, "y", "output", where)
            _check_per_output_weights(self.sample_weight, self.y, output_names, where)
            if need_y and self.y is None:
                raise ValueError(f"{where}: y (the targets) is required by the compiled "
                                 f"loss; pass y, or yield (x, y) batches from a generator "
                                 f"or Dataset")
            leaves = {**_leaves(self.x, "x"), **_leaves(self.y, "y"),
                      **_leaves(self.sample_weight, "sample_weight")}
            self.num_samples = same_length(where, **leaves)
            if self.num_samples == 0:
                raise ValueError(f"{where}: x is empty (0 samples)")
            self.known_batches: int | None = math.ceil(self.num_samples / batch_size)
        else:
            for name, v in (("y", y), ("sample_weight", sample_weight),
                            ("batch_size", batch_size)):
                if v is not None:
                    raise ValueError(f"{where}: {name} must not be given when x is a "
                                     f"{type(x).__name__}: yield (x, y, sample_weight) "
                                     f"batches from it instead")
            if isinstance(x, Dataset):
                if not x.batched:
                    raise ValueError(f"{where}: the Dataset yields single samples; batch it "
                                     f"first, e.g. dataset.batch(32)")
                n = x.cardinality()
                if n == INFINITE and steps is None:
                    raise ValueError(f"{where}: the Dataset repeats forever; pass "
                                     f"{_steps_name(where)} to say how many batches make an "
                                     f"epoch")
                self.known_batches = n if n >= 0 else None
            else:
                self.known_batches = None
            self.source = x
            self.num_samples = None
        self.steps = steps if steps is not None else self.known_batches

    # -- splitting ----------------------------------------------------------------------------
    def split(self, fraction: float) -> tuple[Any, Any, Any]:
        """Hold out the last `fraction` of the samples (before shuffling, as Keras): returns the
        held-out (x, y, sample_weight) and keeps the rest."""
        if not self.arrays:
            raise ValueError(f"{self.where}: validation_split works on arrays only; pass "
                             f"validation_data for a generator or Dataset")
        n = self.num_samples
        cut = int(n * (1.0 - fraction))
        if cut == 0 or cut == n:
            raise ValueError(f"{self.where}: validation_split={fraction} of {n} samples leaves "
                             f"an empty training or validation set")
        held = tuple(_map(lambda a: a[cut:], s) for s in (self.x, self.y, self.sample_weight))
        self.x, self.y, self.sample_weight = (_map(lambda a: a[:cut], s)
                                              for s in (self.x, self.y, self.sample_weight))
        self.num_samples = cut
        self.known_batches = math.ceil(cut / self.batch_size)
        if self.steps is not None and self.steps > self.known_batches:
            self.steps = self.known_batches
        return held

    def set_class_weight(self, class_weight: dict) -> None:
        """Weight each training sample by the weight of its class (call after `split`, so the
        validation samples keep weight 1, as Keras)."""
        if not self.arrays:
            raise ValueError(f"{self.where}: class_weight works with arrays; yield "
                             f"(x, y, sample_weight) batches from a generator or Dataset")
        self.sample_weight = _apply_class_weight(self.y, self.sample_weight, class_weight,
                                                 self.where)

    # -- batches ------------------------------------------------------------------------------
    def _tensor(self, a: np.ndarray) -> Tensor:
        """A batch leaf as a Tensor; floats in the model's dtype (ints stay ints: ids)."""
        if self.dtype is not None and a.dtype.kind == "f" and a.dtype != self.dtype:
            a = a.astype(self.dtype)
        return Tensor._wrap(a)

    def _array_pass(self) -> Iterator[Any]:
        n, bs = self.num_samples, self.batch_size
        order = tg_random.generator().permutation(n) if self.shuffle else None
        for lo in range(0, n, bs):
            idx = slice(lo, lo + bs) if order is None else order[lo:lo + bs]
            xb = _map(lambda a, i=idx: self._tensor(a[i]), self.x)
            yb = _map(lambda a, i=idx: self._tensor(a[i]), self.y)
            sw = _map(lambda a, i=idx: Tensor._wrap(a[i]), self.sample_weight)
            yield pack_x_y_sample_weight(xb, yb, sw)

    def _source_pass(self) -> Iterator[Any]:
        for k, data in enumerate(self.source):
            yield self._convert(data, k)

    def _convert(self, data: Any, k: int) -> Any:
        where = f"{self.where} (batch {k} of the {type(self.source).__name__})"
        x, y, sw = unpack_x_y_sample_weight(data)
        parts = [_structure(x, "x", where), _structure(y, "y", where),
                 _check_weights(_structure(sw, "sample_weight", where), where)]
        leaves = {**_leaves(parts[0], "x"), **_leaves(parts[1], "y"),
                  **_leaves(parts[2], "sample_weight")}
        same_length(where, **leaves)
        xb = _map(self._tensor, parts[0])
        yb = _map(self._tensor, parts[1])
        swb = _map(Tensor._wrap, parts[2])
        return pack_x_y_sample_weight(xb, yb, swb)

    def _fresh(self) -> Iterator[Any]:
        return self._array_pass() if self.arrays else self._source_pass()

    def epoch(self) -> Iterator[Any]:
        """The batches of one epoch: a full pass, or `steps` batches from an iterator that
        continues across epochs. A source of known length restarts after each full pass, and
        an epoch never spans two passes (as Keras: more steps than batches end it early)."""
        if self.steps is None:
            count = 0
            for batch in self._fresh():
                count += 1
                yield batch
            self.ran_out = count == 0  # a generator read by an earlier epoch
            return
        for _ in range(self.steps):
            if self._iterator is None:
                self._iterator, self._seen = self._fresh(), 0
            try:
                batch = next(self._iterator)
            except StopIteration:
                self.ran_out, self._iterator = True, None
                return
            self._seen += 1
            yield batch
            if self.known_batches is not None and self._seen >= self.known_batches:
                self._iterator = None  # the next epoch starts a new pass
                if self.steps > self.known_batches:
                    warnings.warn(f"{self.where}: the data has {self.known_batches} batches, "
                                  f"fewer than the {self.steps} steps asked for; the pass "
                                  f"ends early", stacklevel=3)
                return


def _steps_name(where: str) -> str:
    return "steps_per_epoch" if where == "fit" else "validation_steps" \
        if "validation" in where else "steps"


def _apply_class_weight(y: Any, sample_weight: Any, class_weight: Any, where: str) -> Any:
    """Per-sample weights class_weight[label] (labels: integers, or argmax of one-hot rows),
    multiplied into `sample_weight` if given (Keras)."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"{where}: class_weight must be a dict {{class index: weight}}, got "
                        f"{type(class_weight).__name__}")
    if isinstance(y, (list, dict)):
        raise ValueError(f"{where}: class_weight works for a model with one output; pass "
                         f"sample_weight per output instead")
    if y.ndim > 1 and y.shape[-1] > 1:
        labels = np.argmax(y, axis=-1)
    else:
        labels = y.reshape(len(y), -1)[:, 0]
    if labels.dtype.kind == "f":
        if not np.all(labels == np.round(labels)):
            raise ValueError(f"{where}: class_weight needs integer class labels in y")
    labels = labels.astype(np.int64)
    missing = sorted(set(np.unique(labels).tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise ValueError(f"{where}: class_weight has no weight for classes {missing}")
    table = {int(k): float(v) for k, v in class_weight.items()}
    weights = np.array([table[int(c)] for c in labels], dtype=np.float64)
    if sample_weight is None:
        return weights
    if isinstance(sample_weight, (list, dict)):
        raise ValueError(f"{where}: class_weight with per-output sample weights is not "
                         f"supported; give one sample_weight array")
    return weights * sample_weight.reshape(len(weights))
