"""tapegrad's global mutable state, declared in one place.

- `STATE` (per thread): the stack of active recorders, the name scopes, raw mode, anomaly checks.
- `HOOKS`: gradient hooks by tensor id (an entry is dropped when its tensor dies), and
  `HOOK_CHANGES`, how many times hooks were added or removed.
- `Counter`: atomic counters for automatic names (each owner keeps its own instance).
- elsewhere, each bounded and listed here: the default float dtype (`tensor.set_default_dtype`),
  the random generator (`tapegrad.random`), the op registry (`ops.primitive.REGISTRY`, one entry
  per op name), the live tapes that `viz` can draw from a tensor (`tape.LIVE_TAPES`, weak), the
  file-name cache of `tape.caller_site` and the line cache of `tape.location_of` (each at most
  `tape.INSIDE_LIMIT` entries), the traced programs of each `tg.function` (at most its
  `max_traces`), the wrappers of op forwards in `program._ARRAY_OPS` (at most 4096), the one
  random-draw op of `tapegrad.random`, and the training flag of `nn` layers (passed as an
  argument, not stored globally).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class _State(threading.local):
    def __init__(self) -> None:
        self.recorders: list = []  # active GradientTapes / ForwardAccumulators, innermost last
        self.raw = False  # True while a first-order backward pass runs rules on plain ndarrays
        self.scope: tuple[str, ...] = ()  # name scopes (nn layers) that recorded ops belong to
        self.anomaly = False  # tg.debug.detect_anomaly() is active
        self.rule: Any = None  # the record whose rule runs in Tensor mode (tg.function names it)


STATE = _State()


class Recorder:
    """What every op tells the active recorders (GradientTape, ForwardAccumulator): a new op ran
    (`_record`), an op consumed tracked tensors without being recorded (`_note_cut`), a tracked
    tensor left as an ndarray (`_note_export`). The base class ignores all three.

    >>> r = Recorder()
    >>> r._note_cut("not differentiable", "argmax", (), None) is None
    True
    """

    _recording = False
    sees_all = False  # a tracer (tg.function) sees every op, even under no_grad()

    def _record(self, prim: Any, args: tuple, vals: list, params: dict, out: Any) -> None:
        pass

    def _note_cut(self, reason: str, op: str, args: tuple, out: Any) -> None:
        pass

    def _note_export(self, t: Any) -> None:
        pass

    def _record_constant(self, fn: Any, name: str, args: tuple, params: dict, out: Any) -> None:
        """An op without gradients (comparisons, argmax) ran; only tracers replay it."""

    def _call_hooks(self, run: Callable, g: Any) -> Any:
        """Run a tensor's gradient hooks, `run(g)`; a tracer records the call for its replays."""
        return run(g)


class Counter:
    """A thread-safe counter for automatic names: `next()` never returns a number twice.

    >>> c = Counter()
    >>> c.next(), c.next()
    (1, 2)
    """

    def __init__(self, start: int = 1):
        self._count = itertools.count(start)  # next() on itertools.count is atomic in CPython
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            return next(self._count)

# id(tensor) -> (weak reference, [hook, ...]); see Tensor.register_hook.
HOOKS: dict[int, tuple[weakref.ref, list[Callable]]] = {}
HOOK_CHANGES = [0]  # hooks added or removed so far (a tg.function retraces when it changes)


class HookHandle:
    """Returned by `Tensor.register_hook`; `remove()` unregisters the hook."""

    def __init__(self, key: int, hook: Callable):
        self._key, self._hook = key, hook

    def remove(self) -> None:
        entry = HOOKS.get(self._key)
        if entry and self._hook in entry[1]:
            entry[1].remove(self._hook)
            HOOK_CHANGES[0] += 1
            if not entry[1]:
                del HOOKS[self._key]


def add_hook(t: Any, hook: Callable) -> HookHandle:
    key = id(t)
    entry = HOOKS.get(key)
    if entry is None or entry[0]() is not t:
        entry = (weakref.ref(t, lambda _r, k=key: HOOKS.pop(k, None)), [])
        HOOKS[key] = entry
    entry[1].append(hook)
    HOOK_CHANGES[0] += 1
    return HookHandle(key, hook)


def note_cut(reason: str, op: str, args: tuple, out: Any) -> None:
    """Tell active tapes that `op` produced `out` from `args` without recording (for explain)."""
    for r in STATE.recorders:
        r._note_cut(reason, op, args, out)


@contextmanager
def name_scope(name: str) -> Iterator[None]:
    """Ops recorded inside belong to scope `name` (nested scopes join with '/'); used for graphs.

    >>> import tapegrad as tg
    >>> with tg.name_scope("dense_1"):
    ...     pass
    """
    st = STATE
    old = st.scope
    st.scope = old + (name,)
    try:
        yield
    finally:
        st.scope = old


@contextmanager
def recorders(active: list) -> Iterator[None]:
    """Run a block with `active` as the recorder stack (the one way to suspend or replace it)."""
    st = STATE
    saved = st.recorders
    tracers = [r for r in saved if getattr(r, "sees_all", False) and r not in active]
    st.recorders = tracers + list(active)  # a tg.function trace sees every op
    try:
        yield
    finally:
        st.recorders = saved


@contextmanager
def no_grad() -> Iterator[None]:
    """Run inference code without recording anything on the active tapes (as torch.no_grad).

    >>> import tapegrad as tg
    >>> x = tg.Variable(1.0)
    >>> with tg.GradientTape() as tape:
    ...     with tg.no_grad():
    ...         y = x * 2
    >>> tape.gradient(y, x) is None
    True
    """
    with recorders([]):
        yield
