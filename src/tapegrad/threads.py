"""How many BLAS threads `fit` uses: one, for the small matrices tapegrad trains, unless you chose.

OpenBLAS starts one thread per core. A small model's matrices (a batch of 32 by a few hundred
units) are too small to split: the threads add hand-offs, and on a busy machine they wait for each
other. Measured with tools/thread_timing.py (README, "Threads"): one thread was 1.2-2.3x faster
for every `fit` workload on a shared 2-core machine.
So `fit` runs with one BLAS thread when threadpoolctl is installed (`pip install
tapegrad[threads]`; scikit-learn brings it too), unless you set the number yourself:
OPENBLAS_NUM_THREADS, OMP_NUM_THREADS or MKL_NUM_THREADS in the environment, or
TAPEGRAD_BLAS_THREADS (a number for `fit`, or "none" to leave BLAS alone). Nothing is kept here:
the environment is read at each call.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

USER_SETTINGS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
F = TypeVar("F", bound=Callable[..., Any])


def fit_blas_threads() -> int | None:
    """The BLAS thread count `fit` sets, or None to leave BLAS as it is.

    >>> import os
    >>> saved = os.environ.get("TAPEGRAD_BLAS_THREADS")
    >>> os.environ["TAPEGRAD_BLAS_THREADS"] = "2"
    >>> fit_blas_threads()
    2
    >>> _ = os.environ.pop("TAPEGRAD_BLAS_THREADS") if saved is None else os.environ.update(
    ...     TAPEGRAD_BLAS_THREADS=saved)
    """
    own = os.environ.get("TAPEGRAD_BLAS_THREADS", "").strip()
    if own:
        if own.lower() == "none":
            return None
        try:
            n = int(own)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"TAPEGRAD_BLAS_THREADS must be a positive integer or 'none', "
                             f"got {own!r}")
        return n
    if any(os.environ.get(name, "").strip() for name in USER_SETTINGS):
        return None  # the user chose; their setting already holds
    return 1


def limit_blas_threads(fn: F) -> F:
    """Decorate a training entry point: run it with `fit_blas_threads()` BLAS threads.

    Without threadpoolctl installed, or when the count is None, `fn` runs unchanged.

    >>> @limit_blas_threads
    ... def work():
    ...     return "done"
    >>> work()
    'done'
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        n = fit_blas_threads()
        if n is None:
            return fn(*args, **kwargs)
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return fn(*args, **kwargs)
        with threadpool_limits(limits=n, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
