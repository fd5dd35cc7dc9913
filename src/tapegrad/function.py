"""`tg.function`: trace a step once, replay it as a flat list of NumPy calls, read it as code.

The first call for an input signature (shapes and dtypes of the tensor arguments, values of the
Python ones) runs the function eagerly under a `Tracer`: a recorder that sees every op, forward and
backward (inside the function `tape.gradient` runs its rules as recorded ops, as it does for a
second derivative), every Variable read and `assign*`, every random draw and every optimizer step,
every gradient hook. The trace becomes a `Program`: steps `slot <- fn(slots...)` over a list of
slots, with constants filled in, repeated ops computed once, unused ones dropped, each value
dropped after its last use, and large elementwise results written into the buffer of a value that
died before them (`out=`, as hand-written NumPy updates in place). Later calls with the same
signature run only those NumPy calls: no Tensor objects, no recording, no rule dispatch.

Python control flow runs once, at trace time (as in `tf.function`): a Python `if` on a tensor's
value is fixed into the trace. Reading a traced value in Python (`bool(t)`, `float(t)`,
`t.numpy()`) therefore places a guard in the program: a later call whose value differs is run
eagerly (correct, not fast) instead of replaying a stale graph; use `tg.where` to keep both
branches in the graph. Called while a GradientTape is recording, a traced function runs eagerly,
so that the tape records its ops (trace the whole step, tape included, instead).
"""

from __future__ import annotations

import collections
import functools
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.program import ASSIGNS, Program, Stale, Step, array_op, guard_step, ident, read
from tapegrad.state import HOOK_CHANGES, STATE, Recorder
from tapegrad.tensor import Tensor, Variable, tensor

__all__ = ["Function", "TracingError", "function", "host_step", "tracing"]

MAX_TRACES = 32  # programs kept per function (least recently used dropped first)
RETRACE_WARNING = 5  # traces of one function before the warning about retracing


class TracingError(RuntimeError):
    """The function cannot be traced into a replayable program (the message says why). Raised
    by `tg.function(..., strict=True)` after the call ran eagerly; `result` holds its result.

    >>> import tapegrad as tg
    >>> w = tg.Variable(1.0)
    >>> def bump(x):
    ...     w.assign_add(x)
    ...     return float(w * 1.0)   # a Python read after an update: not replayable
    >>> try:
    ...     tg.function(bump, strict=True)(tg.tensor(1.0))
    ... except tg.TracingError as e:
    ...     e.result
    2.0
    """

    result: Any = None


def tracing() -> bool:
    """Is a `tg.function` trace being recorded right now?

    >>> import tapegrad as tg
    >>> tg.function(lambda x: tg.tensor(float(tg.tracing())))(tg.tensor(1.0)).numpy()
    array(1., dtype=float32)
    """
    return any(r.sees_all for r in STATE.recorders)


def _tracer() -> Tracer | None:
    for r in STATE.recorders:
        if r.sees_all:
            return r
    return None


def host_step(method: Callable) -> Callable:
    """Mark a NumPy-level method `method(self, pairs)` taking (gradient, Variable) pairs (an
    optimizer's `apply_gradients`) as one step of a trace: it runs as it is on each replay.

    >>> import tapegrad as tg
    >>> tg.optimizers.SGD.apply_gradients.__wrapped__.__name__
    'apply_gradients'
    """
    @functools.wraps(method)
    def wrapper(self: Any, grads_and_vars: Any) -> Any:
        tracer = _tracer() if STATE.recorders else None
        if tracer is None:
            return method(self, grads_and_vars)
        return tracer._host_call(method, self, list(grads_and_vars))

    return wrapper


# -- the tracer -------------------------------------------------------------------------------


class Tracer(Recorder):
    """Records every op, Variable read and update, random draw and host step of one call."""

    _recording = True  # so that tape.gradient runs its rules as (recorded) ops
    sees_all = True

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.slot_of: dict[int, int] = {}  # id(ndarray) -> slot holding it
        self.consts: dict[int, Any] = {}
        self.keep: list[Any] = []  # every array seen, so ids stay unique during the trace
        self.values: dict[int, np.ndarray] = {}  # slot -> its array at trace time
        self.names: dict[int, str] = {}
        self.var_slots: dict[int, int] = {}  # id(Variable) -> its slot
        self.known: dict[int, tuple[Variable, Any]] = {}  # id(var) -> (var, array we know)
        self.pending: list[tuple] = []  # assigns noted, not yet seen done
        self.effects = 0  # steps that change state (assign, random, host): guards go before
        self.paused = 0
        self.n = 0
        self.error: str | None = None

    # -- slots ------------------------------------------------------------------------------
    def _new_slot(self, value: Any, name: str) -> int:
        k = self.n
        self.n += 1
        if isinstance(value, np.ndarray):
            self.slot_of[id(value)] = k
            self.keep.append(value)
            self.values[k] = value
        self.names[k] = name
        return k

    def const(self, value: Any, name: str = "const") -> int:
        k = self._new_slot(None, name)
        self.consts[k] = value
        if isinstance(value, np.ndarray):  # the same array again is the same constant
            self.slot_of[id(value)] = k
            self.keep.append(value)
        return k

    def slot(self, a: Any, v: Any) -> int:
        """The slot of an op's input `a` with value `v`: known, a Variable read, or constant."""
        if isinstance(v, np.ndarray):
            k = self.slot_of.get(id(v))
            if k is not None:
                return k
            if isinstance(a, Variable) and a._value is v:
                return self._read(a)
            return self.const(v)
        return self.const(v)

    def _variable(self, v: Variable) -> int:
        """The constant slot holding Variable `v` itself (one per Variable)."""
        k = self.var_slots.get(id(v))
        if k is None:
            k = self.var_slots[id(v)] = self.const(v, ident(v.name or "variable"))
        return k

    def _read(self, v: Variable) -> int:
        vk = self._variable(v)
        out = self._new_slot(v._value, ident(v.name or "variable") + "_value")
        self.steps.append(Step("read", "read", read, [vk], out, {}, target=v))
        self.known[id(v)] = (v, v._value)
        return out

    def is_dynamic(self, t: Tensor) -> bool:
        k = self.slot_of.get(id(t._value))
        return k is not None and k not in self.consts

    # -- the Recorder protocol ----------------------------------------------------------------
    def _record(self, prim: Any, args: tuple, vals: list, params: dict, out: Tensor) -> None:
        if self.paused:
            return
        self._flush()
        ins = [self.slot(a, v) for a, v in zip(args, vals)]
        fwd = prim.fwd if out._value.ndim else array_op(prim.fwd)  # (0-d: it may give a scalar)
        fwd, params, more = self._dynamic(fwd, params)
        if ins and not more and all(i in self.consts for i in ins):  # constant folding
            self.const(out._value)
            return
        kind = "random" if getattr(prim, "random", False) else "op"
        if kind == "random":
            self.effects += 1
        rule = STATE.rule
        scope = "/".join(STATE.scope)
        name = self._name_for(prim.name, scope, rule)
        k = self._new_slot(out._value, name)
        self.steps.append(Step(kind, prim.name, fwd, ins + more, k, params, scope, rule))

    def _record_constant(self, fn: Any, name: str, args: tuple, params: dict, out: Any) -> None:
        if self.paused:
            return
        self._flush()
        vals = [a._value if isinstance(a, Tensor) else a for a in args]
        ins = [self.slot(a, v) for a, v in zip(args, vals)]
        fn, params, more = self._dynamic(array_op(fn), params)
        if not more and all(i in self.consts for i in ins):
            self.const(out._value)
            return
        k = self._new_slot(out._value, self._name_for(name, "/".join(STATE.scope), STATE.rule))
        self.steps.append(Step("const_op", name, fn, ins + more, k, params,
                               "/".join(STATE.scope), STATE.rule))

    def _dynamic(self, fn: Callable, params: dict) -> tuple[Callable, dict, list[int]]:
        """Arrays among an op's parameters that the trace computed (indices from a tensor:
        `take(table, ids)`, and getitem's rule) become inputs of its step, so that each replay
        uses its own values: (the step's function, its fixed parameters, the extra slots)."""
        places = []  # (parameter, position in a tuple key or None, slot)
        for name, v in params.items():
            for pos, part in enumerate(v if isinstance(v, tuple) else (v,)):
                k = self.slot_of.get(id(part)) if isinstance(part, np.ndarray) else None
                if k is not None and k not in self.consts:
                    places.append((name, pos if isinstance(v, tuple) else None, k))
        if not places:
            return fn, params, []

        def op(*args: Any) -> Any:
            n = len(args) - len(places)
            p = dict(params)
            for (name, pos, _), a in zip(places, args[n:]):
                p[name] = a if pos is None else p[name][:pos] + (a,) + p[name][pos + 1:]
            return fn(*args[:n], **p)

        op.__name__ = getattr(fn, "__name__", "op")
        return op, {}, [k for _, _, k in places]

    def _note_cut(self, reason: str, op: str, args: tuple, out: Any) -> None:
        if self.paused:
            return
        self._flush()
        if op in ASSIGNS and isinstance(out, Variable) and args:
            d = args[0]
            dk = self.slot(d, d._value) if isinstance(d, Tensor) else self.const(tensor(d)._value)
            self.pending.append((out, op, dk, out._value))

    def _note_export(self, t: Tensor) -> None:
        if self.paused:
            return
        self._flush()
        if isinstance(t, Variable) and id(t._value) not in self.slot_of:
            self._read(t)  # a Variable's value read in Python: guard it like any other
        if not self.is_dynamic(t):
            return
        where = _user_line()
        if self.effects:  # a guard here could fail after state has changed
            self.error = self.error or (
                f"a traced value is read in Python (float/bool/.numpy()) at "
                f"{where[0]}:{where[1]}, after a variable update or random draw in the same "
                "step; return it from the function instead, or keep it in tg ops")
            return
        k = self.slot_of[id(t._value)]
        expected = np.array(t._value, copy=True)
        step = Step("guard", "guard", guard_step(expected), [k], None, {})
        step.where = where
        self.steps.append(step)

    def _host_call(self, method: Callable, obj: Any, pairs: list) -> Any:
        self._flush()
        ins, has = [], []  # slots of the gradients given; which pairs have one
        for g, _ in pairs:
            has.append(g is not None)
            if isinstance(g, Tensor):
                ins.append(self.slot(g, g._value))
            elif g is not None:
                ins.append(self.const(np.asarray(g)))
        variables = [v for _, v in pairs]
        self.paused += 1
        try:
            result = method(obj, pairs)
        finally:
            self.paused -= 1
        for v in variables:
            if isinstance(v, Variable):
                self.known[id(v)] = (v, v._value)
        self.effects += 1
        name = f"{type(obj).__name__}.{method.__name__}"
        self.steps.append(Step("host", name, _host(method, obj, variables, has), ins, None,
                               {}, target=variables))
        return result

    def _call_hooks(self, run: Callable, g: Tensor) -> Tensor:
        """Gradient hooks are Python (a logger, a clip): run them now and on every replay."""
        self._flush()
        k = self.slot(g, g._value)
        self.paused += 1
        try:
            out = run(g)
        finally:
            self.paused -= 1
        self.effects += 1
        self.steps.append(Step("host", "hooks", _hooks(run), [k],
                               self._new_slot(out._value, self.names.get(k, "g") + "_hooked"),
                               {}))
        return out

    def _flush(self) -> None:
        """Assigns noted before they ran: now that they ran, record them as steps."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        for v, op, dk, old in pending:
            if v._value is old:  # the assign raised: nothing changed
                continue
            vk = self._variable(v)
            k = self._new_slot(v._value, ident(v.name or "variable") + "_new")
            self.steps.append(Step("assign", op, ASSIGNS[op], [vk, dk], k, {}, target=v))
            self.known[id(v)] = (v, v._value)
            self.effects += 1

    def _name_for(self, op: str, scope: str, rule: Any) -> str:
        if rule is not None:
            k = self.slot_of.get(id(rule[4]._value))
            base = self.names.get(k, "x") if k is not None else "x"
            return "d_" + base
        return ident(f"{scope}/{op}" if scope else op)

    def finish(self) -> None:
        self._flush()
        for v, arr in self.known.values():
            if v._value is not arr and self.error is None:
                self.error = (f"Variable {v.name or ''} {v.shape} was changed inside the "
                              "function by code tapegrad cannot trace (a direct write); use "
                              "assign with a Tensor computed with tg ops instead")


def _host(method: Callable, obj: Any, variables: list, has: list) -> Callable:
    def host(*grads: np.ndarray) -> None:
        it = iter(grads)
        method(obj, [(Tensor._wrap(next(it)) if h else None, v) for h, v in zip(has, variables)])
    host.__name__ = f"{type(obj).__name__}_{method.__name__}"
    return host


def _hooks(run: Callable) -> Callable:
    def hooks(g: np.ndarray) -> np.ndarray:
        return run(Tensor._wrap(g))._value
    return hooks


_PKG = __file__.rsplit("/", 1)[0] + "/"


def _user_line() -> tuple[str, int]:
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith(_PKG):
        f = f.f_back
    return (f.f_code.co_filename, f.f_lineno) if f is not None else ("<tapegrad>", 0)


# -- the decorator ----------------------------------------------------------------------------


def _flatten(x: Any) -> tuple[list, Callable]:
    """Leaves of nested lists, tuples and dicts, and a function rebuilding the structure."""
    if isinstance(x, dict):
        keys = list(x)
        parts = [_flatten(x[k]) for k in keys]
        return ([leaf for p in parts for leaf in p[0]],
                lambda vals: dict(zip(keys, _unflatten(vals, parts))))
    if isinstance(x, (list, tuple)) and type(x) in (list, tuple):
        parts = [_flatten(e) for e in x]
        kind = type(x)
        return [leaf for p in parts for leaf in p[0]], lambda vals: kind(_unflatten(vals, parts))
    return [x], lambda vals: vals[0]


def _unflatten(vals: list, parts: list) -> list:
    out, k = [], 0
    for leaves, rebuild in parts:
        out.append(rebuild(vals[k:k + len(leaves)]))
        k += len(leaves)
    return out


def _signature(leaves: list) -> tuple:
    key = []
    for a in leaves:
        if isinstance(a, Variable):
            key.append(("V", id(a)))
        elif isinstance(a, Tensor):
            key.append(("T", a.shape, a.dtype.str))
        elif isinstance(a, np.ndarray):
            key.append(("A", a.shape, a.dtype.str))
        else:
            try:
                hash(a)
            except TypeError:
                raise TypeError(f"tg.function: argument {a!r:.60} is neither a tensor nor a "
                                "hashable Python value; pass arrays as tensors") from None
            key.append(("C", type(a).__name__, a))
    return tuple(key)


class Function:
    """A function traced per input signature and replayed as NumPy (see `function`)."""

    def __init__(self, fn: Callable, max_traces: int = MAX_TRACES, strict: bool = False):
        self.fn = fn
        self.max_traces = max_traces
        self.strict = strict
        self.untraceable: dict[tuple, str] = {}  # signature -> why it runs eagerly
        self.programs: collections.OrderedDict[tuple, Program] = collections.OrderedDict()
        self.trace_count = 0
        self.eager_calls = 0  # calls run eagerly because a guard saw a different value
        self._last: Program | None = None
        self._warned = False
        self._hooks_seen = HOOK_CHANGES[0]
        functools.update_wrapper(self, fn)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        bound = obj.__dict__.get(f"_tg_function_{self.fn.__name__}")
        if bound is None:  # one traced function per instance (its Variables are its own)
            bound = Function(self.fn.__get__(obj, objtype), self.max_traces, self.strict)
            obj.__dict__[f"_tg_function_{self.fn.__name__}"] = bound
        return bound

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if STATE.recorders:  # inside a tape (which must record it) or a trace (joins it)
            return self.fn(*args, **kwargs)
        if HOOK_CHANGES[0] != self._hooks_seen:  # gradient hooks came or went: trace again
            self._hooks_seen = HOOK_CHANGES[0]
            self.programs.clear()
            self.untraceable.clear()
        if not kwargs and all(a.__class__ is Tensor for a in args):  # the common call
            key = tuple(("T", a._value.shape, a._value.dtype.str) for a in args)
            prog = self.programs.get(key)
            if prog is not None:
                self.programs.move_to_end(key)
                self._last = prog
                try:
                    out = prog.run([a._value for a in args])
                except Stale:
                    self.eager_calls += 1
                    return self.fn(*args)
                return prog.rebuild([Tensor._wrap(v) if isinstance(v, np.ndarray) else v
                                     for v in out])
        leaves, rebuild = _flatten((args, kwargs))
        key = _signature(leaves)
        prog = self.programs.get(key)
        if prog is None:
            if key in self.untraceable:
                self.eager_calls += 1
                return self.fn(*args, **kwargs)
            return self._trace(key, leaves, rebuild)
        self.programs.move_to_end(key)
        self._last = prog
        arrays = [a._value if isinstance(a, Tensor) else a for a in leaves
                  if isinstance(a, (Tensor, np.ndarray)) and not isinstance(a, Variable)]
        try:
            out = prog.run(arrays)
        except Stale:
            self.eager_calls += 1
            return self.fn(*args, **kwargs)
        return prog.rebuild([Tensor._wrap(v) if isinstance(v, np.ndarray) else v
                             for v in out])

    def _trace(self, key: tuple, leaves: list, rebuild: Callable) -> Any:
        tracer = Tracer()
        call_leaves, inputs = [], []
        for a in leaves:
            if isinstance(a, (Tensor, np.ndarray)) and not isinstance(a, Variable):
                t = Tensor._wrap(np.array(a._value if isinstance(a, Tensor) else a, copy=True))
                inputs.append(tracer._new_slot(t._value, f"x{len(inputs)}"))
                call_leaves.append(t)
            else:
                call_leaves.append(a)
        args, kwargs = rebuild(call_leaves)
        STATE.recorders.append(tracer)
        try:
            result = self.fn(*args, **kwargs)
            tracer.finish()
        finally:
            STATE.recorders.remove(tracer)
        if tracer.error is not None:  # this call ran eagerly and is right; later ones too
            self.untraceable[key] = tracer.error
            msg = f"tg.function {getattr(self.fn, '__name__', '')!r}: {tracer.error}"
            if self.strict:
                err = TracingError(msg + " (this call ran eagerly)")
                err.result = result
                raise err
            warnings.warn(msg + "; it runs eagerly", stacklevel=3)
            return result
        out_leaves, out_rebuild = _flatten(result)
        outputs: list[int | None] = []
        consts_out: list[Any] = []
        for leaf in out_leaves:
            if isinstance(leaf, Tensor) and not isinstance(leaf, Variable):
                k = tracer.slot_of.get(id(leaf._value))
                outputs.append(k if k is not None else tracer.const(leaf._value))
                consts_out.append(None)
            else:
                outputs.append(None)
                consts_out.append(leaf)

        def rebuild_out(vals: list) -> Any:
            return out_rebuild([c if k is None else v
                                for k, v, c in zip(outputs, vals, consts_out)])

        prog = Program(tracer.n, tracer.consts, inputs, tracer.steps, outputs, rebuild_out,
                       tracer.names, getattr(self.fn, "__name__", "step"), tracer.values)
        self.programs[key] = prog
        self._last = prog
        self.trace_count += 1
        if len(self.programs) > self.max_traces:
            self.programs.popitem(last=False)
        if self.trace_count > RETRACE_WARNING and not self._warned:
            self._warned = True
            warnings.warn(
                f"tg.function {getattr(self.fn, '__name__', '')!r} was traced "
                f"{self.trace_count} times: each new input shape, dtype or Python value "
                "retraces, which is slow. Pass tensors of a fixed shape and keep Python "
                "arguments fixed (or give varying numbers as tensors).", stacklevel=3)
        return result

    @property
    def source(self) -> str:
        """Generated Python/NumPy source of the most recent trace (call the function first)."""
        if self._last is None:
            raise RuntimeError("tg.function: no trace yet; call the function once (or use "
                               "code(*args)) to see its source")
        return self._last.source

    def code(self, *args: Any, **kwargs: Any) -> str:
        """Source of the program for these arguments (tracing them now if needed), or of the
        most recent trace when called without arguments."""
        if not args and not kwargs:
            return self.source
        return self.concrete(*args, **kwargs).source

    def concrete(self, *args: Any, **kwargs: Any) -> Program:
        """The Program for these arguments (traced now, running the function once, if new)."""
        leaves, rebuild = _flatten((args, kwargs))
        key = _signature(leaves)
        if key not in self.programs:
            self._trace(key, leaves, rebuild)
        return self.programs[key]


def function(fn: Callable | None = None, *, max_traces: int = MAX_TRACES,
             strict: bool = False) -> Any:
    """Trace `fn` once per input signature and replay it as plain NumPy (as `tf.function`).

    Tensor and ndarray arguments are inputs (their shapes and dtypes pick the trace); other
    arguments are Python constants of the trace. Python control flow is fixed when tracing;
    a step that cannot be replayed (a value read in Python after a variable update, a Variable
    written behind tapegrad's back) runs eagerly with a warning, or raises `TracingError`
    with `strict=True`. Up to `max_traces` programs are kept per function.

    >>> import tapegrad as tg
    >>> w = tg.Variable([1.0, 2.0], name="w")
    >>> @tg.function
    ... def step(x):
    ...     with tg.GradientTape() as tape:
    ...         loss = tg.sum(w * x)
    ...     w.assign_sub(0.1 * tape.gradient(loss, w))
    ...     return loss
    >>> [round(float(step(tg.tensor([1.0, 1.0]))), 4) for _ in range(3)]
    [3.0, 2.8, 2.6]
    >>> step.trace_count
    1
    """
    if fn is None:
        return lambda f: Function(f, max_traces, strict)
    return Function(fn, max_traces, strict)
