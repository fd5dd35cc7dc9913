"""GradientTape: records ops on watched tensors, and the one chain-rule loop that every
backward pass runs (gradients, Jacobians, explain, the learner's step-through).

Every op is recorded after its inputs exist, so the tape read in reverse is already a valid order
for the chain rule: no graph sort, no recursion. References point one way (tape -> tensors).
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import CodeType
from typing import Any

import numpy as np

from tapegrad.ops.primitive import Primitive
from tapegrad.state import HOOKS, STATE, Recorder
from tapegrad.tensor import Tensor, Variable

_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

# A record is a plain tuple (cheap to make); OpRecord is the readable view of one.
# (primitive, args, values, params, output, call site, scope)
_PRIM, _ARGS, _VALS, _PARAMS, _OUT, _SITE, _SCOPE = range(7)

INSIDE_LIMIT = 4096  # file names remembered by caller_site (cleared when full)
_INSIDE: dict[str, bool] = {}  # file name -> is it tapegrad's own code? (a str caches its hash)
_NOWHERE = (None, -1)  # the call site of an op with no frame outside tapegrad


def caller_site(depth: int = 2) -> tuple[CodeType | None, int]:
    """Where the user created the op, as the code object and instruction offset of the first
    frame outside tapegrad: cheap to take for every recorded op (`location_of` turns it into a
    file and line when asked). No frame is kept: a frame would keep its local variables alive.
    (Whether a file is ours is cached.)"""
    f = sys._getframe(depth)
    inside = _INSIDE
    while f is not None:
        code = f.f_code
        file = code.co_filename
        ours = inside.get(file)
        if ours is None:
            if len(inside) >= INSIDE_LIMIT:  # notebook cells and exec'd strings are new files
                inside.clear()
            ours = inside[file] = file.startswith(_PKG_DIR)
        if not ours:
            return (code, f.f_lasti)
        f = f.f_back
    return _NOWHERE


@functools.lru_cache(maxsize=INSIDE_LIMIT)
def location_of(site: tuple[CodeType | None, int]) -> tuple[str, int]:
    """The (file, line) of a call site taken by `caller_site` (the line the frame was on, as
    its `f_lineno` said then).

    >>> def where_am_i():
    ...     return location_of(caller_site(1))  # this frame (depth 0 is caller_site's own)
    >>> where_am_i()[1]
    2
    """
    code, offset = site
    if code is None:
        return ("<tapegrad>", 0)
    line = code.co_firstlineno
    for start, end, number in code.co_lines():
        if start <= offset < end:
            line = line if number is None else number
            break
    return (code.co_filename, line)


def caller_location(depth: int = 2) -> tuple[str, int]:
    """File and line of the first frame outside tapegrad (for messages raised right away)."""
    return location_of(caller_site(depth + 1))


def _describe(x: Any) -> str:
    if isinstance(x, Tensor):
        return f"{x.shape} {x.dtype}"
    return repr(x)


class OpRecord:
    """A read-only view of one recorded op: name, inputs, output, parameters and source line.

    >>> import tapegrad as tg
    >>> x = tg.Variable([1.0, 2.0])
    >>> with tg.GradientTape() as tape:
    ...     y = tg.exp(x) * 2
    >>> [(op.name, op.output.shape) for op in tape.ops]
    [('exp', (2,)), ('multiply', (2,))]
    """

    __slots__ = ("_rec", "index")

    def __init__(self, rec: tuple, index: int | None = None):
        self._rec = rec
        self.index = index  # position on the tape (None if unknown)

    name = property(lambda self: self._rec[_PRIM].name, doc="The op's registered name.")
    op = property(lambda self: self._rec[_PRIM], doc="The Primitive itself.")
    inputs = property(lambda self: tuple(self._rec[_ARGS]), doc="Input tensors (or constants).")
    values = property(lambda self: tuple(self._rec[_VALS]),
                      doc="The inputs' values when the op ran (ndarrays or numbers).")
    output = property(lambda self: self._rec[_OUT], doc="The output tensor.")
    params = property(lambda self: dict(self._rec[_PARAMS]), doc="Static keyword parameters.")
    location = property(lambda self: location_of(self._rec[_SITE]),
                        doc="(file, line) that created the op (found when asked).")
    scope = property(lambda self: "/".join(self._rec[_SCOPE]), doc="Name scope ('' if none).")
    scopes = property(lambda self: self._rec[_SCOPE], doc="Nested name scopes, outermost first.")

    def __repr__(self) -> str:
        ins = ", ".join(_describe(a) for a in self._rec[_ARGS])
        file, line = self.location
        scope = f" in {self.scope}" if self._rec[_SCOPE] else ""
        return (f"{self.name}({ins}) -> {_describe(self._rec[_OUT])}{scope}"
                f"  [{os.path.basename(file)}:{line}]")

    __str__ = __repr__


def _flatten(structure: Any, what: str, strict: bool = True) -> tuple[list, Callable]:
    """Flatten any nesting of lists, tuples and dicts of tensors (as `tf.nest`); return the
    leaves and a function that rebuilds the structure from new leaves. Leaves must be Tensors
    when `strict`, else anything that is not a list, tuple or dict is a leaf."""
    if isinstance(structure, dict):
        keys = list(structure)
        parts = [_flatten(structure[k], what, strict) for k in keys]

        def rebuild(vals: list) -> Any:
            return dict(zip(keys, _split(vals, parts)))
    elif isinstance(structure, (list, tuple)):
        kind = type(structure) if type(structure) in (list, tuple) else tuple
        parts = [_flatten(s, what, strict) for s in structure]

        def rebuild(vals: list) -> Any:
            return kind(_split(vals, parts))
    elif isinstance(structure, Tensor) or not strict:
        return [structure], lambda vals: vals[0]
    else:
        raise TypeError(f"{what}: expected a Tensor, or a list, tuple or dict of Tensors, "
                        f"got {type(structure).__name__}")
    return [leaf for leaves, _ in parts for leaf in leaves], rebuild


def _split(vals: list, parts: list) -> list:
    out, k = [], 0
    for leaves, rebuild in parts:
        out.append(rebuild(vals[k:k + len(leaves)]))
        k += len(leaves)
    return out


# Live tapes (weakly held) in order of entry: lets viz draw a tensor after the `with` block.
LIVE_TAPES: weakref.WeakValueDictionary[int, GradientTape] = weakref.WeakValueDictionary()
_ENTRIES = itertools.count()


def tape_of(t: Tensor) -> GradientTape | None:
    """The most recently entered live tape that still holds the record of `t` (or None)."""
    for key in sorted(LIVE_TAPES.keys(), reverse=True):
        tape = LIVE_TAPES.get(key)
        if tape is not None and tape.has_recorded(t):
            return tape
    return None


class GradientTape(Recorder):
    """Record operations for automatic differentiation, as in TensorFlow.

    >>> import tapegrad as tg
    >>> x = tg.Variable(3.0)
    >>> with tg.GradientTape() as tape:
    ...     y = x * x
    >>> float(tape.gradient(y, x))
    6.0

    Trainable Variables used inside are watched automatically (unless
    `watch_accessed_variables=False`); watch other tensors with `tape.watch`. A non-persistent
    tape frees what it recorded when `gradient` returns and can be asked only once.
    """

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self._persistent = persistent
        self._watch_vars = watch_accessed_variables
        self._records: list[tuple] = []
        self._ids: set[int] = set()  # ids of tensors this tape tracks (kept alive below)
        self._watched: list[Tensor] = []
        self._recording = False
        self._used = False
        self._freed = False
        self._views: tuple[OpRecord, ...] = ()
        self._retain = False
        self._grads: dict[int, Tensor] = {}
        self._cuts: list[tuple] = []  # ops that had tracked inputs but were not recorded
        self._cut_of: dict[int, int] = {}  # id(tensor) -> index of the cut it descends from
        self._exports: dict[int, Tensor] = {}  # id(array) -> tracked tensor it came from

    # -- context ---------------------------------------------------------------------------
    def __enter__(self) -> GradientTape:
        if self in STATE.recorders:
            raise RuntimeError("GradientTape is already active; tapes cannot be re-entered")
        STATE.recorders.append(self)
        LIVE_TAPES[next(_ENTRIES)] = self
        self._recording = not self._used
        return self

    def __exit__(self, *exc: Any) -> None:
        self._recording = False
        rec = STATE.recorders
        if self in rec:
            rec.remove(self)

    @contextmanager
    def stop_recording(self) -> Iterator[None]:
        """Ops run inside this block are not recorded on this tape."""
        was = self._recording
        self._recording = False
        try:
            yield
        finally:
            self._recording = was and not self._used

    def reset(self) -> None:
        """Forget every recorded op and every watched tensor."""
        self._free()
        self._watched = []
        self._used = self._freed = False
        self._recording = self in STATE.recorders

    def _free(self) -> None:
        """Drop the records (the one place a tape lets go of what it recorded)."""
        self._records = []
        self._ids = set()
        self._views = ()
        self._cuts, self._cut_of, self._exports = [], {}, {}

    def _finish(self) -> None:
        """After a gradient or Jacobian: a non-persistent tape frees its records."""
        if not self._persistent:
            self._used = self._freed = True
            self._recording = False
            self._free()

    # -- watching --------------------------------------------------------------------------
    def watch(self, tensor: Any) -> None:
        """Track `tensor` (or a list/tuple/dict of them) so gradients can be taken for it."""
        leaves, _ = _flatten(tensor, "GradientTape.watch")
        for t in leaves:
            if t.dtype.kind != "f":
                warnings.warn(f"GradientTape.watch: a tensor of dtype {t.dtype} is not "
                              "differentiable; its gradient will be None", stacklevel=2)
                continue
            self._watch_one(t)

    def _watch_one(self, t: Tensor) -> None:
        if id(t) not in self._ids:
            self._ids.add(id(t))
            self._watched.append(t)

    def watched_variables(self) -> tuple[Variable, ...]:
        """Variables this tape watches, in the order they were first watched (still after a
        non-persistent tape's `gradient`, as in TensorFlow)."""
        return tuple(t for t in self._watched if t._is_variable)

    @property
    def watched(self) -> tuple[Tensor, ...]:
        """Every tensor this tape watches (Variables and `watch`ed tensors), in order."""
        return tuple(self._watched)

    @property
    def watches_accessed_variables(self) -> bool:
        """Does this tape watch trainable Variables automatically (the constructor's flag)?"""
        return self._watch_vars

    def tracks(self, t: Any) -> bool:
        """Is `t` watched by this tape or computed by one of its records?"""
        return id(t) in self._ids

    def dependents(self, sources: Sequence[Tensor]) -> set[int]:
        """Ids of the tracked tensors that depend on any of `sources` (sources included)."""
        return depends(self._records, {id(s) for s in sources} & self._ids)

    def cut_before(self, t: Tensor) -> tuple | None:
        """If `t` descends from an op that consumed tracked tensors without being recorded:
        `(reason, op name, ids of its tracked inputs, (file, line))`, else None."""
        k = self._cut_of.get(id(t))
        if k is None:
            return None
        reason, op, tracked, _, site, _ = self._cuts[k]
        return reason, op, tracked, location_of(site)

    def has_recorded(self, t: Tensor) -> bool:
        """Does this tape hold a record that produced `t` (or track `t`)?"""
        return id(t) in self._ids and bool(self._records)

    # -- recording (called by every primitive while this tape is active) --------------------
    def _record(self, prim: Any, args: tuple, vals: list, params: dict, out: Tensor) -> None:
        ids = self._ids
        if self._recording:
            hit = False
            for a in args:
                if id(a) in ids:  # (ids are of live tensors only, so no false hits)
                    hit = True
                elif isinstance(a, Tensor) and a._trainable and self._watch_vars:
                    self._watch_one(a)
                    hit = True
            if hit:
                if out._value.dtype.kind == "f":
                    self._records.append(
                        (prim, args, vals, params, out, caller_site(3), STATE.scope))
                    ids.add(id(out))
                else:
                    self._note_cut(f"its result has dtype {out.dtype}", prim.name, args, out)
                    return
        elif not self._used:
            self._note_cut("it ran inside tape.stop_recording()", prim.name, args, out)
            return
        if self._cut_of:  # follow descendants of cut values, so explain can name the cut
            cut_of = self._cut_of
            for a in args:
                if id(a) in cut_of:
                    cut_of[id(out)] = cut_of[id(a)]
                    self._cuts[cut_of[id(a)]][5].append(out)  # keep it alive (unique id)
                    break

    def _note_cut(self, reason: str, op: str, args: tuple, out: Any) -> None:
        """Remember an op that consumed tracked tensors without being recorded (for explain)."""
        if self._recording and self._watch_vars:  # reading a Variable watches it, as in TF
            for a in args:
                if isinstance(a, Tensor) and a._trainable:
                    self._watch_one(a)
        tracked = [id(a) for a in args if isinstance(a, Tensor) and id(a) in self._ids]
        if tracked and not self._used:
            self._cut_of[id(out)] = len(self._cuts)
            self._cuts.append((reason, op, tracked, out, caller_site(), []))

    def _note_export(self, t: Tensor) -> None:
        """`t.numpy()` was called on a tracked tensor (explain can spot the round trip)."""
        if id(t) in self._ids:
            self._exports[id(t._value)] = t

    @property
    def ops(self) -> Sequence[OpRecord]:
        """The recorded ops, in order (read-only)."""
        if len(self._views) != len(self._records):
            self._views = tuple(OpRecord(r, k) for k, r in enumerate(self._records))
        return self._views

    # -- gradients -------------------------------------------------------------------------
    def retain_gradients(self) -> None:
        """Keep the records and every intermediate gradient of the next `gradient` call (even on
        a non-persistent tape) so they can be inspected with `gradient_of` or drawn."""
        self._retain = True

    def gradient_of(self, t: Tensor) -> Tensor | None:
        """The gradient that flowed into `t` during the last `gradient` call (needs
        `retain_gradients()` first); None if none flowed."""
        return self._grads.get(id(t))

    @property
    def retained_gradients(self) -> dict[int, Tensor]:
        """Gradients kept by `retain_gradients()` from the last `gradient` call, by tensor id."""
        return dict(self._grads)

    @property
    def freed(self) -> bool:
        """True once a non-persistent tape gave its gradient and dropped its records."""
        return self._freed

    def explain(self, target: Tensor, source: Tensor) -> str:
        """Say in plain words why the gradient of `target` with respect to `source` is None or
        zero (see `tapegrad.debug.explain`)."""
        from tapegrad.debug import explain

        return explain(self, target, source)

    def jacobian(self, target: Tensor, source: Tensor,
                 unconnected_gradients: str = "none") -> Tensor | None:
        """Jacobian of `target` with respect to `source`: shape `target.shape + source.shape`.

        One backward pass with a batch of seeds (one row of the identity per target element);
        when an outer tape records, one recorded pass per row (so it can be differentiated).

        >>> import tapegrad as tg
        >>> x = tg.Variable([1.0, 2.0])
        >>> with tg.GradientTape() as tape:
        ...     y = x * x
        >>> tape.jacobian(y, x).numpy()
        array([[2., 0.],
               [0., 4.]], dtype=float32)
        """
        self._check_usable("jacobian")
        _check_pair("jacobian", target, source)
        n = target.size
        shape = target.shape + source.shape
        if n == 0 or source.size == 0:
            connected = id(target) in depends(self._records, {id(source)} & self._ids)
            jac = Tensor._wrap(np.zeros(shape, source.dtype)) if connected else None
        elif _create_graph({id(self)}):  # an outer tape records: one Tensor-mode pass per row
            rows = []
            for k in range(n):
                seed = np.zeros(n, target.dtype)
                seed[k] = 1
                (g,) = self.run_backward([target], [Tensor._wrap(seed.reshape(target.shape))],
                                         [source], record_self=False)
                rows.append(g)
            if all(r is None for r in rows):
                jac = None
            else:
                from tapegrad.ops import reshape, stack

                zero = Tensor._wrap(np.zeros(source.shape, source.dtype))
                jac = reshape(stack([zero if r is None else r for r in rows]), shape)
        else:
            seeds = np.eye(n, dtype=target.dtype).reshape((n,) + target.shape)
            (out,) = self.run_backward([target], [seeds], [source], batched=True,
                                       record_self=False)
            jac = None if out is None else Tensor._wrap(out.reshape(shape))
        self._finish()
        if jac is None and unconnected_gradients == "zero":
            return Tensor._wrap(np.zeros(shape, source.dtype))
        return jac

    def batch_jacobian(self, target: Tensor, source: Tensor) -> Tensor | None:
        """Per-example Jacobians: shape `(batch,) + target.shape[1:] + source.shape[1:]`
        (row b of target must depend only on row b of source).

        >>> import tapegrad as tg
        >>> x = tg.Variable([[1.0, 2.0], [3.0, 4.0]])
        >>> with tg.GradientTape() as tape:
        ...     y = x * x
        >>> tape.batch_jacobian(y, x).shape
        (2, 2, 2)
        """
        self._check_usable("batch_jacobian")
        _check_pair("batch_jacobian", target, source)
        if target.ndim < 1 or source.ndim < 1 or target.shape[0] != source.shape[0]:
            raise ValueError(f"batch_jacobian: target {target.shape} and source {source.shape} "
                             "must share their first (batch) dimension")
        b, inner = target.shape[0], target.shape[1:]
        t = int(np.prod(inner))
        if b * t == 0 or source.size == 0:
            self._finish()
            return Tensor._wrap(np.zeros((b,) + inner + source.shape[1:], source.dtype))
        seeds = np.zeros((t, b, t), target.dtype)
        seeds[np.arange(t), :, np.arange(t)] = 1
        seeds = seeds.reshape((t,) + target.shape)
        (out,) = self.run_backward([target], [seeds], [source], batched=True, record_self=False)
        self._finish()
        if out is None:
            return None
        return Tensor._wrap(np.moveaxis(out, 1, 0).reshape((b,) + inner + source.shape[1:]))

    def graph(self, **options: Any) -> Any:
        """Draw the recorded graph as a `graphviz.Digraph` (see `tapegrad.viz.graph`)."""
        from tapegrad import viz

        return viz.graph(self, **options)

    def backward_steps(self, target: Tensor) -> Any:
        """Iterate the backward pass one node at a time (see `tapegrad.viz.backward_steps`)."""
        from tapegrad import viz

        return viz.backward_steps(self, target)

    def _check_usable(self, what: str) -> None:
        if self._used:
            raise RuntimeError(
                f"GradientTape.{what} can only be called once on a non-persistent tape: "
                "its records were freed. Use GradientTape(persistent=True) to take several "
                "gradients, or record again in a new tape.")

    def run_backward(self, targets: list, seeds: list, sources: list, *,
                     batched: bool = False, retained: dict | None = None,
                     observer: Any = None, record_self: bool = True) -> list:
        """The chain rule over this tape's records (see `backward`). The tape pauses its own
        recording, unless it is persistent, inside its block and `record_self`: then it records
        the gradient computation too, as TF does, so a second call can differentiate it."""
        was = self._recording
        self._recording = (record_self and was and self._persistent
                           and self in STATE.recorders)
        try:
            return backward(self._records, targets, seeds, sources, self._ids,
                            watched=self._watched, retained=retained, batched=batched,
                            observer=observer)
        finally:
            self._recording = was

    def gradient(self, target: Any, sources: Any, output_gradients: Any = None,
                 unconnected_gradients: str = "none") -> Any:
        """Gradient of `target` (summed if not scalar) with respect to each of `sources`.

        `sources` may be a Tensor or any nesting of lists, tuples and dicts of them; the result
        has the same structure. Unconnected sources give None, or zeros with
        `unconnected_gradients="zero"`. A non-persistent tape frees its records here, unless a
        gradient came out None: then it keeps them (but takes no further gradients) so that
        `tape.explain` can say why.
        """
        self._check_usable("gradient")
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"GradientTape.gradient: unconnected_gradients must be 'none' or "
                             f"'zero', got {unconnected_gradients!r}")
        if not isinstance(target, (Tensor, list, tuple, dict)):
            raise TypeError(f"GradientTape.gradient target: expected a Tensor, or a list, tuple "
                            f"or dict of Tensors, got {type(target).__name__}")
        targets, _ = _flatten(target, "GradientTape.gradient target", strict=False)
        srcs, rebuild = _flatten(sources, "GradientTape.gradient sources")
        if isinstance(target, Tensor) and output_gradients is not None \
                and not isinstance(output_gradients, Tensor):
            output_gradients = [output_gradients]  # one target: the whole value is its seed
        elif isinstance(target, dict) and isinstance(output_gradients, dict):
            output_gradients = [output_gradients.get(k) for k in target]  # match by key
        seeds = _seeds(targets, output_gradients)
        retained = {} if self._retain else None
        grads = self.run_backward(targets, seeds, srcs, retained=retained)
        if retained is not None:
            self._grads = {k: v if isinstance(v, Tensor) else Tensor._wrap(v)
                           for k, v in retained.items()}
            self._used = not self._persistent
            self._recording = False if self._used else self._recording
        elif (not self._persistent and unconnected_gradients == "none"
              and any(g is None for g in grads)):
            self._used = True  # records kept so that explain() can say why a gradient is None
            self._recording = False
        else:
            self._finish()
        if unconnected_gradients == "zero":
            grads = [Tensor._wrap(np.zeros(s.shape, s.dtype)) if g is None else g
                     for g, s in zip(grads, srcs)]
        return rebuild(grads)


def _check_pair(what: str, target: Any, source: Any) -> None:
    for name, t in (("target", target), ("source", source)):
        if not isinstance(t, Tensor):
            raise TypeError(f"GradientTape.{what}: {name} must be a Tensor (a single one; use "
                            f"gradient for structures), got {type(t).__name__} {t!r:.40}")


def _seeds(targets: list, output_gradients: Any) -> list:
    if output_gradients is None:
        return [None] * len(targets)
    if isinstance(output_gradients, (np.ndarray, float, int)):
        outs = [output_gradients]
    elif isinstance(output_gradients, (list, tuple)) and len(output_gradients) == len(targets):
        outs = list(output_gradients)  # one seed per target (seeds may be nested lists)
    else:
        outs, _ = _flatten(output_gradients, "GradientTape.gradient output_gradients",
                           strict=False)
    if len(outs) != len(targets):
        raise ValueError(f"GradientTape.gradient: {len(outs)} output_gradients for "
                         f"{len(targets)} targets")
    seeds = []
    for t, o in zip(targets, outs):
        if o is None:
            seeds.append(None)
            continue
        if not isinstance(o, Tensor):
            try:
                o = Tensor._wrap(np.asarray(o, dtype=t.dtype))
            except (TypeError, ValueError) as e:
                raise TypeError(f"GradientTape.gradient: output_gradients must be numeric, "
                                f"got {type(o).__name__}") from e
        if o.shape != t.shape:
            raise ValueError(f"GradientTape.gradient: output_gradients of shape {o.shape} do "
                             f"not match target of shape {t.shape}")
        seeds.append(o)
    return seeds


# -- the backward pass -----------------------------------------------------------------------


def chain_rule(records: list, grads: dict, needed: Any, vjps: Callable = Primitive.vjp,
               steps: Any = None) -> dict:
    """The chain rule, once for every backward pass.

    Walk the records backwards; for each op whose output has a gradient `g` (popped: nothing
    later adds to it), let `vjps(op, g, output, inputs, values, params, needed)` apply the op's
    rules (`Primitive.vjp`, or `batched_vjps` for Jacobians) and give `(input index, gradient)`
    pairs, and add each to its input's gradient. `grads` maps tensor ids to
    gradients (the seeds on entry, what is left on exit). `steps`, if given, observes and may
    replace each upstream gradient (`arrived`), sees each contribution (`passed`) and the
    state after each op (`finished`): hooks, anomaly checks, retained gradients, step-through.
    """
    for rec in reversed(records):
        prim, args, vals, params, out, _, _ = rec
        g = grads.pop(id(out), None)
        if g is None:
            continue
        if steps is not None:
            g = steps.arrived(rec, g)
        for i, gi in vjps(prim, g, out, args, vals, params, needed):
            if steps is not None:
                steps.passed(rec, i, g, gi)
            aid = id(args[i])
            prev = grads.get(aid)
            grads[aid] = gi if prev is None else prev + gi
        if steps is not None:
            steps.finished(rec, g, grads)
    return grads


def depends(records: list, source_ids: set[int]) -> set[int]:
    """Ids of the tensors that depend on a source (only those need gradients): one forward
    sweep."""
    dep = set(source_ids)
    for rec in records:
        for a in rec[_ARGS]:
            if id(a) in dep:
                dep.add(id(rec[_OUT]))
                break
    return dep


# -- Jacobians: rules for a batch of upstream gradients -------------------------------------


def _sum_leading(g: np.ndarray, shape: tuple) -> np.ndarray:
    """sum_to for a batch of gradients: keep the leading axis, sum the rest down to `shape`."""
    n = g.shape[0]
    lead = g.ndim - 1 - len(shape)
    axes = tuple(range(1, 1 + lead)) + tuple(
        1 + lead + i for i, s in enumerate(shape) if s == 1 and g.shape[1 + lead + i] != 1)
    out = g.sum(axis=axes, keepdims=True) if axes else g
    return out.reshape((n,) + shape)


def batched_vjps(prim: Any, g: np.ndarray, out: Tensor, args: tuple, vals: list, params: dict,
                 needed: Any) -> list:
    """`Primitive.vjp` for a batch of upstream gradients (leading axis, one per Jacobian row):
    elementwise rules broadcast over it, ops with a batched rule use it, the others go row by
    row (raw mode only)."""
    ans = out._value
    n = g.shape[0]
    if prim.elementwise:
        pairs = prim.vjp(g, out, args, vals, params, needed, fit=False)
    else:
        pairs = []
        if prim.batched is not None:
            for i, a in enumerate(args):
                gi = prim.batched(i, g, ans, *vals, **params) if id(a) in needed else None
                if gi is not None:
                    pairs.append((i, gi))
        done = {i for i, _ in pairs}
        rest = {id(a) for i, a in enumerate(args) if id(a) in needed and i not in done}
        if rest:  # row by row
            rows = [dict(prim.vjp(row, out, args, vals, params, rest)) for row in g]
            pairs += [(i, np.stack([np.asarray(r[i]) for r in rows])) for i in rows[0]]
    fitted = []
    for i, gi in pairs:
        want = (n,) + vals[i].shape
        gi = np.asarray(gi)
        if gi.shape != want:
            if prim.elementwise and gi.ndim >= len(want):
                gi = _sum_leading(gi, vals[i].shape)
            elif gi.ndim <= len(want):
                gi = np.broadcast_to(gi, want)
            if gi.shape != want:
                raise ValueError(f"jacobian: rule of '{prim.name}' gave shape {gi.shape} for "
                                 f"input {i}, expected {want}")
        fitted.append((i, gi.astype(vals[i].dtype, copy=False)))
    return fitted


# -- the named steps around the chain rule -------------------------------------------------


class Steps:
    """What happens around the chain rule besides it: gradient hooks, catching the gradients
    of sources that are outputs of ops, retained gradients, anomaly checks, and an observer
    (the learner's step-through) that sees every op's upstream and contributions."""

    def __init__(self, records: list, sources: set[int], raw: bool, batched: bool,
                 retained: dict | None, observer: Any):
        self.sources, self.raw, self.batched = sources, raw, batched
        self.retained, self.observer = retained, observer
        self.anomaly = STATE.anomaly
        self.final: dict[int, Any] = {}
        self.contributions: list = []
        self.position = {id(r): k for k, r in enumerate(records)} if observer else {}

    def hooked(self, tid: int, g: Any) -> Any:
        """Apply the tensor's gradient hooks, if it has any (row by row for a batch)."""
        entry = HOOKS.get(tid) if HOOKS else None
        if entry is None:
            return g
        if self.batched:
            return np.stack([_run_hooks(entry[1], row, True) for row in g])
        for r in STATE.recorders if not self.raw else ():  # (a tracer replays the call)
            if r.sees_all:
                return r._call_hooks(lambda t: _run_hooks(entry[1], t, False), g)
        return _run_hooks(entry[1], g, self.raw)

    def arrived(self, rec: tuple, g: Any) -> Any:
        oid = id(rec[_OUT])
        g = self.hooked(oid, g)
        if oid in self.sources:
            self.final[oid] = g
        if self.retained is not None:
            self.retained[oid] = g
        self.contributions = []
        return g

    def passed(self, rec: tuple, i: int, g: Any, gi: Any) -> None:
        if self.anomaly:
            from tapegrad.debug import check_backward

            check_backward(OpRecord(rec), i, g, gi)
        if self.observer is not None:
            self.contributions.append((i, gi))

    def finished(self, rec: tuple, g: Any, grads: dict) -> None:
        if self.observer is not None:
            self.observer(OpRecord(rec, self.position[id(rec)]), g, self.contributions, grads)


def _create_graph(exclude: set[int]) -> bool:
    """Must the backward pass be recorded? Yes when another recorder is active and recording."""
    return any(r._recording for r in STATE.recorders if id(r) not in exclude)


def backward(records: list, targets: list, seeds: list, sources: list, tracked: set[int],
             *, watched: list | None = None, retained: dict | None = None,
             batched: bool = False, observer: Any = None) -> list:
    """Run the chain rule from `targets` (seeded with `seeds`, ones where None) to `sources`;
    return one gradient (or None) per source.

    The rules run on ndarrays unless an outer recorder is recording, in which case they run on
    Tensors so that it records them (higher-order derivatives). With `batched`, each seed has
    a leading axis of rows (Jacobians; ndarrays only). `observer(op, g, [(i, gi), ...], grads)`
    sees each op (an OpRecord) once its gradients are passed on.
    """
    src_ids = {id(s) for s in sources if id(s) in tracked}
    if not src_ids:
        return [None] * len(sources)
    if watched is not None and all(id(w) in src_ids for w in watched):
        dep = tracked  # every tracked tensor descends from a watched one, here all sources
    else:
        dep = depends(records, src_ids)
    raw = batched or not _create_graph(set())
    grads: dict[int, Any] = {}
    for t, seed in zip(targets, seeds):
        if not isinstance(t, Tensor) or id(t) not in dep or t.dtype.kind != "f":
            continue
        if seed is None:
            seed = Tensor._wrap(np.ones(t.shape, t.dtype))
        g = seed._value if raw and isinstance(seed, Tensor) else seed
        tid = id(t)
        grads[tid] = g if tid not in grads else grads[tid] + g
    leaves = {id(w) for w in watched} if watched is not None else set()
    steps = None
    if HOOKS or retained is not None or observer is not None or STATE.anomaly \
            or not src_ids <= leaves:
        steps = Steps(records, src_ids, raw, batched, retained, observer)
    vjps = batched_vjps if batched else Primitive.vjp
    st = STATE
    old_raw = st.raw
    st.raw = raw
    try:
        chain_rule(records, grads, dep, vjps, steps)
    finally:
        st.raw = old_raw
    if retained is not None:
        retained.update((k, v) for k, v in grads.items() if k not in retained)
    final = steps.final if steps is not None else {}
    out_grads = []
    for s in sources:
        sid = id(s)
        g = final.get(sid)
        if g is None and sid in src_ids:
            g = grads.get(sid)
            if g is not None and steps is not None:
                g = steps.hooked(sid, g)  # a leaf's hooks run once its gradient is complete
        if g is not None and raw and not batched:
            g = Tensor._wrap(g)
        out_grads.append(g)
    return out_grads


def _run_hooks(hooks: list, g: Any, raw: bool) -> Any:
    """Apply a tensor's gradient hooks (each may observe or replace the gradient)."""
    st = STATE
    old = st.raw
    st.raw = False
    try:
        gt = Tensor._wrap(g) if raw else g
        for hook in list(hooks):
            new = hook(gt)
            if new is not None:
                gt = new if isinstance(new, Tensor) else Tensor._wrap(np.asarray(new))
    finally:
        st.raw = old
    return gt._value if raw else gt
