"""Progress display for `fit`/`evaluate`: a tqdm bar per epoch (verbose=1), one line per epoch
(verbose=2), or nothing (verbose=0). The number of steps may be unknown (a generator without
`steps_per_epoch`): the bar then counts batches and their rate instead of a percentage.
"""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["ProgressBar", "format_logs"]


def format_logs(logs: dict[str, float]) -> str:
    """`loss: 0.1234 - accuracy: 0.9000`.

    >>> format_logs({"loss": 0.5, "accuracy": 0.75})
    'loss: 0.5000 - accuracy: 0.7500'
    """
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class ProgressBar:
    """One epoch's display; `steps=None` for an unknown number of batches.

    >>> bar = ProgressBar(verbose=2, steps=None, title="Epoch 1/1")
    >>> bar.update(0, {"loss": 1.0}); bar.close({"loss": 0.5})  # doctest: +ELLIPSIS
    Epoch 1/1 - 1 steps - ...s - loss: 0.5000
    """

    def __init__(self, verbose: int, steps: int | None, title: str):
        self.verbose, self.steps, self.title = verbose, steps, title
        self.start = time.perf_counter()
        self.count = 0
        self.bar: Any = None
        if verbose == 1:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # tqdm is in the `examples` extra: fall back to one line
                self.verbose = 2
            else:
                self.bar = tqdm(total=steps, desc=title, unit="batch", leave=True,
                                mininterval=0.2, dynamic_ncols=True, file=sys.stderr)

    def update(self, step: int, logs: dict[str, float]) -> None:
        """After batch `step` (from 0) with the running logs."""
        self.count = step + 1
        if self.bar is not None:
            self.bar.update(1)
            if step % 8 == 0 or step + 1 == self.steps:
                self.bar.set_postfix_str(format_logs(logs), refresh=False)

    def close(self, logs: dict[str, float]) -> None:
        """At the end of the epoch, with its logs (validation included)."""
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs), refresh=False)
            self.bar.close()
        elif self.verbose == 2:
            secs = time.perf_counter() - self.start
            steps = f" - {self.count} steps" if self.steps is None else ""
            print(f"{self.title}{steps} - {secs:.2f}s - {format_logs(logs)}")
