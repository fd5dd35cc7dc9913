"""Embedding: integer ids -> rows of a trainable (input_dim, output_dim) table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad import _args, ops
from tapegrad.nn.masking import set_mask
from tapegrad.nn.module import Module
from tapegrad.ops import nondifferentiable
from tapegrad.tensor import Tensor

__all__ = ["Embedding"]


def _check_ids(ids: np.ndarray, *, input_dim: int) -> np.ndarray:
    """Integer ids in [0, input_dim), as intp (else a ValueError saying what is wrong)."""
    if ids.dtype.kind == "f":
        if not np.all(ids == np.round(ids)):
            raise ValueError(f"Embedding needs integer ids, got non-integer values of dtype "
                             f"{ids.dtype}")
    elif ids.dtype.kind not in "iu":
        raise ValueError(f"Embedding needs integer ids, got dtype {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() >= input_dim):
        raise ValueError(f"ids must be in [0, {input_dim}), got values from {ids.min()} to "
                         f"{ids.max()}")
    return ids.astype(np.intp)


_ids = nondifferentiable(_check_ids, "embedding_ids")


class Embedding(Module):
    """Look up `embeddings[ids]`: (batch, ...) integer ids -> (batch, ..., output_dim).

    The gradient of a row sums over every position where its id occurs (via `tg.take`).
    Default initializer: uniform in [-0.05, 0.05], as Keras. With `mask_zero=True` id 0 is
    padding: the output carries the mask `ids != 0`, which recurrent layers and
    GlobalAveragePooling1D honour (so the vocabulary needs input_dim = words + 1).

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.Embedding(10, 4)(np.array([[1, 2, 1]])).shape
    (1, 3, 4)
    """

    def __init__(self, input_dim: int, output_dim: int,
                 embeddings_initializer: Any = "random_uniform",
                 embeddings_regularizer: Any = None, mask_zero: bool = False,
                 input_length: int | None = None, **kwargs: Any):
        if input_length is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (_args.count(input_length, "Embedding", "input_length"),)
        super().__init__(**kwargs)
        self.input_dim = _args.count(input_dim, "Embedding", "input_dim")
        self.output_dim = _args.count(output_dim, "Embedding", "output_dim")
        _args.weight_args(self, embeddings_initializer=embeddings_initializer,
                          embeddings_regularizer=embeddings_regularizer)
        self.embeddings_initializer = embeddings_initializer
        self.embeddings_regularizer = embeddings_regularizer
        if not isinstance(mask_zero, (bool, np.bool_)):
            raise TypeError(f"Embedding: mask_zero must be True or False, got {mask_zero!r}")
        self.mask_zero = bool(mask_zero)

    def build(self, input_shape: Sequence[int | None]) -> None:
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer,
                                          self.embeddings_regularizer)

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        try:  # an op, so that a `tg.function` replay checks and looks up each call's own ids
            ids = _ids(_args.layer_input(inputs), input_dim=self.input_dim)
        except ValueError as e:
            raise ValueError(f"{self.name}: {e.__cause__ or e}") from e
        out = ops.take(self.embeddings, ids, axis=0)
        return set_mask(out, ids.numpy() != 0) if self.mask_zero else out

    def compute_mask(self, inputs: Any) -> np.ndarray | None:
        """`ids != 0` with `mask_zero=True`, else None (Keras)."""
        if not self.mask_zero:
            return None
        return np.asarray(inputs.numpy() if isinstance(inputs, Tensor) else inputs) != 0
