"""Embedding: integer ids -> rows of a trainable (input_dim, output_dim) table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad import _args, ops
from tapegrad.nn.module import Module
from tapegrad.tensor import Tensor

__all__ = ["Embedding"]


class Embedding(Module):
    """Look up `embeddings[ids]`: (batch, ...) integer ids -> (batch, ..., output_dim).

    The gradient of a row sums over every position where its id occurs (via `tg.take`).
    Default initializer: uniform in [-0.05, 0.05], as Keras.

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.Embedding(10, 4)(np.array([[1, 2, 1]])).shape
    (1, 3, 4)
    """

    def __init__(self, input_dim: int, output_dim: int,
                 embeddings_initializer: Any = "random_uniform",
                 embeddings_regularizer: Any = None, input_length: int | None = None,
                 **kwargs: Any):
        if input_length is not None and "input_shape" not in kwargs:
            kwargs["input_shape"] = (_args.count(input_length, "Embedding", "input_length"),)
        super().__init__(**kwargs)
        self.input_dim = _args.count(input_dim, "Embedding", "input_dim")
        self.output_dim = _args.count(output_dim, "Embedding", "output_dim")
        _args.weight_args(self, embeddings_initializer=embeddings_initializer,
                          embeddings_regularizer=embeddings_regularizer)
        self.embeddings_initializer = embeddings_initializer
        self.embeddings_regularizer = embeddings_regularizer

    def build(self, input_shape: Sequence[int | None]) -> None:
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer,
                                          self.embeddings_regularizer)

    def call(self, inputs: Any, training: bool = False) -> Tensor:
        ids = _args.layer_input(inputs).numpy()
        if ids.dtype.kind == "f":
            if not np.all(ids == np.round(ids)):
                raise ValueError(f"{self.name}: Embedding needs integer ids, got non-integer "
                                 f"values of dtype {ids.dtype}")
            ids = ids.astype(np.int64)
        elif ids.dtype.kind not in "iu":
            raise ValueError(f"{self.name}: Embedding needs integer ids, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            raise ValueError(f"{self.name}: ids must be in [0, {self.input_dim}), got values "
                             f"from {ids.min()} to {ids.max()}")
        return ops.take(self.embeddings, ids, axis=0)
