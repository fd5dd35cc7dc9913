"""`tg.function`: trace a step once, replay it as a flat list of NumPy calls, read it as code.

The first call for an input signature (shapes and dtypes of the tensor arguments, values of the
Python ones) runs the function eagerly under a `Tracer`: a recorder that sees every op, forward and
backward (inside the function `tape.gradient` runs its rules as recorded ops, as it does for a
second derivative), every Variable read and `assign*`, every random draw and every optimizer
step, every gradient hook. The trace becomes a `Program`: steps `slot <- fn(slots...)` over a
list of slots, with constants filled in, unused ops dropped, each value dropped after its last
use, and large elementwise results written into the buffer of a value that died before them
(`out=`, as hand-written NumPy updates in place). Later calls with the same signature run only
those NumPy calls: no Tensor objects, no recording, no rule dispatch.

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
import keyword
import linecache
import re
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.state import HOOK_CHANGES, STATE, Recorder
from tapegrad.tensor import Tensor, Variable, tensor

__all__ = ["Function", "Program", "TracingError", "function", "host_step", "tracing"]

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


class _Stale(Exception):
    """A guard saw a different value than at trace time: this call must run eagerly."""


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


# -- the program ------------------------------------------------------------------------------


def _read(v: Variable) -> np.ndarray:
    return v._value


def _fit(d: Any, old: np.ndarray) -> np.ndarray:
    """`d` as an array of `old`'s shape and dtype, as `Variable.assign*` makes it."""
    if d.__class__ is np.ndarray and d.shape == old.shape and d.dtype == old.dtype:
        return d
    return np.broadcast_to(d, old.shape).astype(old.dtype, copy=False)


def _assign(v: Variable, d: Any) -> np.ndarray:
    v._value = new = np.array(_fit(d, v._value), copy=True)
    v._version += 1
    return new


def _assign_add(v: Variable, d: Any) -> np.ndarray:
    old = v._value
    v._value = new = old + _fit(d, old)
    v._version += 1
    return new


def _assign_sub(v: Variable, d: Any) -> np.ndarray:
    old = v._value
    v._value = new = old - _fit(d, old)
    v._version += 1
    return new


_ASSIGNS = {"assign": _assign, "assign_add": _assign_add, "assign_sub": _assign_sub}


_ARRAY_OPS: dict[Any, Callable] = {}  # op forward -> its ndarray-returning wrapper (bounded)


def _array(fn: Callable) -> Callable:
    """`fn`, but always giving an ndarray (as ops do: NumPy reductions may give scalars)."""
    op = _ARRAY_OPS.get(fn)
    if op is None:
        def op(*args: Any, **params: Any) -> np.ndarray:
            out = fn(*args, **params)
            return out if out.__class__ is np.ndarray else np.asarray(out)

        op.__wrapped__ = fn  # type: ignore[attr-defined]
        op.gives_array = True  # type: ignore[attr-defined]
        if len(_ARRAY_OPS) >= 4096:
            _ARRAY_OPS.clear()
        _ARRAY_OPS[fn] = op
    return op


class Step:
    """One instruction: `slots[out] = fn(*slots[ins], **params)`, then `slots[dead] = None`.

    `kind` is "op", "const_op" (no gradient), "read", "assign_*", "random", "host" or "guard";
    `name` the op's name; `scope` its layer scope; `rule` the op whose gradient rule made it."""

    __slots__ = ("kind", "name", "fn", "ins", "out", "params", "scope", "rule", "dead",
                 "where", "target", "into")

    def __init__(self, kind: str, name: str, fn: Callable, ins: list[int], out: int | None,
                 params: dict, scope: str = "", rule: Any = None, target: Any = None):
        self.kind, self.name, self.fn, self.ins, self.out = kind, name, fn, ins, out
        self.params, self.scope, self.rule, self.target = params, scope, rule, target
        self.dead: tuple[int, ...] = ()
        self.where: tuple[str, int] | None = None
        self.into: int | None = None  # a dead slot whose buffer receives the result (`out=`)

    def __repr__(self) -> str:
        return f"Step({self.kind} {self.name} {self.ins} -> {self.out})"


_PURE = ("op", "const_op", "read")  # steps with no effect: dropped when nothing uses them
_MIN_REUSE = 8192  # bytes: below this a fresh array costs no more than an `out=` argument


def _without_dead_code(steps: list[Step], outputs: set) -> list[Step]:
    """`steps` minus the pure ones whose results nothing uses (walking back from the end)."""
    used, kept = set(outputs), []
    for s in reversed(steps):
        if s.kind in _PURE and s.out not in used:
            continue
        used.update(s.ins)
        kept.append(s)
    return kept[::-1]


def _plan_buffers(steps: list[Step], values: dict[int, np.ndarray], fixed: set) -> None:
    """Let ufunc steps write into the buffer of a value that is dead by then (`out=`, set as
    `step.into`), as a hand-written NumPy step updates in place. A buffer qualifies if it is
    at least `_MIN_REUSE` bytes, an op made it (not a Variable's value), it owns its memory,
    no other value of the trace shares it (no views), it is not an input, constant or output,
    and only ops read it (nothing keeps it)."""
    roots: collections.Counter = collections.Counter()
    for v in values.values():
        while v.base is not None:
            v = v.base
        roots[id(v)] += 1
    made = {s.out for s in steps if s.kind in ("op", "const_op")}
    users: dict[int, set] = collections.defaultdict(set)
    for s in steps:
        for i in s.ins:
            users[i].add(s.kind)

    def own(k: int) -> bool:
        v = values.get(k)
        return (v is not None and k in made and k not in fixed and v.base is None
                and roots[id(v)] == 1
                and v.nbytes >= _MIN_REUSE and users[k] <= {"op", "const_op"})

    def key(k: int) -> tuple:
        return values[k].shape, values[k].dtype.str

    free: dict[tuple, list[int]] = collections.defaultdict(list)  # dead buffers by shape
    for s in steps:
        out = values.get(s.out) if s.out is not None else None
        if (out is not None and out.base is None and isinstance(s.fn, np.ufunc)
                and s.fn.nout == 1 and not s.params and out.nbytes >= _MIN_REUSE):
            pool = free[(out.shape, out.dtype.str)]
            dying = [] if s.fn is np.matmul else [  # (matmul's out must not be an input)
                i for i in s.ins if i in s.dead and own(i) and key(i) == key(s.out)]
            if dying:
                s.into = dying[0]
            elif pool:
                s.into = pool.pop()
        for d in s.dead:
            if d != s.into and own(d):
                free[key(d)].append(d)


class Program:
    """A traced call: constants, input slots, steps and output slots (see the module docstring).

    `run(arrays)` replays it on new input arrays and returns the output arrays; `source` is the
    same program as Python code (one line per step) that `compile_source()` turns back into a
    function giving the same numbers."""

    def __init__(self, n_slots: int, consts: dict[int, Any], inputs: list[int],
                 steps: list[Step], outputs: list[int | None], rebuild: Callable,
                 names: dict[int, str], fn_name: str, values: dict[int, np.ndarray]):
        self.n_slots, self.consts, self.inputs = n_slots, consts, inputs
        self.outputs, self.rebuild = outputs, rebuild
        self.steps = _without_dead_code(steps, set(outputs))
        self.names, self.fn_name = names, fn_name
        template: list[Any] = [None] * n_slots
        for k, v in consts.items():
            template[k] = v
        self._template = template
        self._mark_dead()
        _plan_buffers(self.steps, values, set(outputs) | set(consts) | set(inputs))
        self._source: str | None = None
        self._run = self._compile(*_generate(self, fast=True))

    def _mark_dead(self) -> None:
        keep = set(self.outputs) | set(self.consts) | set(self.inputs)
        last: dict[int, int] = {}
        for k, s in enumerate(self.steps):
            for i in s.ins:
                last[i] = k
        dead: dict[int, list[int]] = collections.defaultdict(list)
        for slot, k in last.items():
            if slot not in keep:
                dead[k].append(slot)
        for k, s in enumerate(self.steps):
            unused = [s.out] if s.out is not None and s.out not in last and s.out not in keep \
                else []
            s.dead = tuple(dead.get(k, []) + unused)

    def __len__(self) -> int:
        return len(self.steps)

    def run(self, arrays: list[Any]) -> list[Any]:
        """Replay on `arrays` (one per tensor input); return the output values."""
        return list(self._run(*arrays))

    def run_steps(self, arrays: list[Any]) -> list[Any]:
        """The same replay, interpreted step by step over the slot list (what `run` compiles
        to straight-line code: one call per step, each value dropped after its last use)."""
        s = self._template.copy()
        for k, a in zip(self.inputs, arrays):
            s[k] = a
        for step in self.steps:
            r = step.fn(*[s[i] for i in step.ins], **step.params)
            if step.out is not None:
                s[step.out] = r
            for d in step.dead:
                s[d] = None
        return [None if k is None else s[k] for k in self.outputs]

    def _compile(self, src: str, namespace: dict) -> Callable:
        filename = f"<tg.function {self.fn_name}>"
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
        ns = dict(namespace)
        exec(compile(src, filename, "exec"), ns)  # noqa: S102  (our own generated code)
        return ns[_ident(self.fn_name)]

    # -- source -------------------------------------------------------------------------------
    @property
    def source(self) -> str:
        """The program as Python: forward, backward and updates, one line per step."""
        if self._source is None:
            self._source, self._namespace = _generate(self)
        return self._source

    def compile_source(self) -> Callable:
        """The generated source as a function of the input arrays (gives what `run` gives)."""
        return self._compile(self.source, self._namespace)


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
            k = self.var_slots[id(v)] = self.const(v, _ident(v.name or "variable"))
        return k

    def _read(self, v: Variable) -> int:
        vk = self._variable(v)
        out = self._new_slot(v._value, _ident(v.name or "variable") + "_value")
        self.steps.append(Step("read", "read", _read, [vk], out, {}, target=v))
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
        if ins and all(i in self.consts for i in ins):  # constant folding
            self.const(out._value)
            return
        kind = "random" if getattr(prim, "random", False) else "op"
        if kind == "random":
            self.effects += 1
        rule = STATE.rule
        scope = "/".join(STATE.scope)
        name = self._name_for(prim.name, scope, rule)
        k = self._new_slot(out._value, name)
        fwd = prim.fwd if out._value.ndim else _array(prim.fwd)  # (0-d: it may give a scalar)
        self.steps.append(Step(kind, prim.name, fwd, ins, k, params, scope, rule))

    def _record_constant(self, fn: Any, name: str, args: tuple, params: dict, out: Any) -> None:
        if self.paused:
            return
        self._flush()
        vals = [a._value if isinstance(a, Tensor) else a for a in args]
        ins = [self.slot(a, v) for a, v in zip(args, vals)]
        if all(i in self.consts for i in ins):
            self.const(out._value)
            return
        k = self._new_slot(out._value, self._name_for(name, "/".join(STATE.scope), STATE.rule))
        self.steps.append(Step("const_op", name, _array(fn), ins, k, params,
                               "/".join(STATE.scope), STATE.rule))

    def _note_cut(self, reason: str, op: str, args: tuple, out: Any) -> None:
        if self.paused:
            return
        self._flush()
        if op in _ASSIGNS and isinstance(out, Variable) and args:
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
        step = Step("guard", "guard", _guard(expected), [k], None, {})
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
            k = self._new_slot(v._value, _ident(v.name or "variable") + "_new")
            self.steps.append(Step("assign", op, _ASSIGNS[op], [vk, dk], k, {}, target=v))
            self.known[id(v)] = (v, v._value)
            self.effects += 1

    def _name_for(self, op: str, scope: str, rule: Any) -> str:
        if rule is not None:
            k = self.slot_of.get(id(rule[4]._value))
            base = self.names.get(k, "x") if k is not None else "x"
            return "d_" + base
        return _ident(f"{scope}/{op}" if scope else op)

    def finish(self) -> None:
        self._flush()
        for v, arr in self.known.values():
            if v._value is not arr and self.error is None:
                self.error = (f"Variable {v.name or ''} {v.shape} was changed inside the "
                              "function by code tapegrad cannot trace (a direct write); use "
                              "assign with a Tensor computed with tg ops instead")


def _guard(expected: np.ndarray) -> Callable:
    def guard(value: np.ndarray) -> None:
        if value.shape != expected.shape or not np.array_equal(value, expected,
                                                               equal_nan=value.dtype.kind == "f"):
            raise _Stale
    return guard


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
                except _Stale:
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
        except _Stale:
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


# -- source generation ------------------------------------------------------------------------


def _ident(name: str) -> str:
    s = re.sub(r"\W+", "_", name).strip("_") or "v"
    if keyword.iskeyword(s) or s in ("None", "True", "False"):
        return s + "_"
    return "_" + s if s[0].isdigit() else s


def _literal(v: Any) -> str | None:
    """Python source for a parameter value, or None if it has no short literal form."""
    if v is None or isinstance(v, (bool, int, float, str)):
        r = repr(v)
        return None if r in ("inf", "-inf", "nan") else r
    if isinstance(v, np.dtype):
        return f"np.dtype({v.name!r})"
    if isinstance(v, np.generic) and v.ndim == 0 and v.dtype.kind in "fiub":
        return f"np.{v.dtype.name}({v.item()!r})"
    if isinstance(v, slice):
        parts = [_literal(p) for p in (v.start, v.stop, v.step)]
        return None if any(p is None and q is not None for p, q in
                           zip(parts, (v.start, v.stop, v.step))) else f"slice({', '.join(parts)})"
    if isinstance(v, (tuple, list)):
        items = [_literal(e) for e in v]
        if any(i is None for i in items):
            return None
        body = ", ".join(items)
        if isinstance(v, tuple):
            return f"({body},)" if len(items) == 1 else f"({body})"
        return f"[{body}]"
    return None


def _rule_comment(rule: Any) -> str:
    prim = rule[0]
    phrase = prim.phrases[0] if prim.phrases else ""
    return f"rule of {prim.name}" + (f": {phrase}" if phrase else "")


def _generate(prog: Program, fast: bool = False) -> tuple[str, dict]:
    """The program as Python source and the namespace it runs in; `fast` adds a `del` after
    each value's last use and the planned `out=` buffers, and leaves out the comments (the
    code `Program.run` executes; the numbers are the same)."""
    ns: dict[str, Any] = {"np": np, "read": _read, **_ASSIGNS}
    used: dict[str, int] = {}
    names: dict[int, str] = {}

    def fresh(base: str) -> str:
        base = _ident(base)
        n = used.get(base, 0)
        used[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    for step in prog.steps:  # values never shadow the functions the code calls
        used.setdefault(_ident(step.name), 1)
    used.update({n: 1 for n in ("np", "read", *_ASSIGNS)})
    inputs = [fresh(prog.names.get(k, f"x{i}")) for i, k in enumerate(prog.inputs)]
    for k, n in zip(prog.inputs, inputs):
        names[k] = n
    for k in prog.consts:
        used.setdefault(_ident(prog.names.get(k, "const")), 0)

    def ref(k: int) -> str:
        if k in names:
            return names[k]
        v = prog.consts[k]
        lit = _literal(v) if not isinstance(v, (np.ndarray, Variable)) else None
        if lit is not None:
            return lit
        n = fresh(prog.names.get(k, "const"))
        ns[n] = v
        names[k] = n
        return n

    body: list[str] = []
    held = {s.into for s in prog.steps if s.into is not None}  # dead, kept for an `out=`
    section = None
    grads: set[int] = set()  # slots holding gradients (made by a rule, or summed from them)
    for step in prog.steps:
        accumulate = (step.rule is None and step.name == "add" and len(step.ins) == 2
                      and all(i in grads for i in step.ins))
        if step.out is not None and (step.rule is not None or accumulate):
            grads.add(step.out)
        part = ("backward" if step.rule is not None or accumulate else
                "updates" if step.kind in ("assign", "host") or any(i in grads for i in step.ins)
                else "forward")
        if part != section:
            section = part
            body.append(f"    # -- {part} --")
        args = [ref(k) for k in step.ins]
        for key, val in step.params.items():
            lit = _literal(val)
            if lit is None:
                pn = fresh(f"{step.name}_{key}")
                ns[pn] = val
                lit = pn
            args.append(f"{key}={lit}")
        if step.kind in ("op", "const_op", "random"):
            fname = _ident(step.name)
            existing = ns.get(fname)
            base = getattr(step.fn, "__wrapped__", step.fn) if getattr(
                step.fn, "gives_array", False) else step.fn
            if existing is not None and (getattr(existing, "__wrapped__", existing) if getattr(
                    existing, "gives_array", False) else existing) is not base:
                fname = fresh(fname)  # another op of the same name
            if fname not in ns or getattr(step.fn, "gives_array", False):
                ns[fname] = step.fn  # (one name per op: its ndarray-returning form if needed)
            call = f"{fname}({', '.join(args)})"
        elif step.kind == "host":
            fname = fresh(step.fn.__name__)
            ns[fname] = step.fn
            call = f"{fname}({', '.join(args)})"
        elif step.kind == "guard":
            gname = fresh("guard")
            ns[gname] = step.fn
            call = f"{gname}({', '.join(args)})"
        elif step.kind == "read" and fast:
            call = f"{args[0]}._value"
        else:
            call = f"{step.kind if step.kind != 'assign' else step.name}({', '.join(args)})"
        comment = ""
        if step.rule is not None:
            comment = _rule_comment(step.rule)
        elif accumulate:
            comment = "a value used twice: its gradients add up"
        elif step.kind == "read":
            comment = f"read Variable {step.target.name!r}" if step.target.name else \
                "read a Variable"
        elif step.name == "hooks":
            comment = "the gradient hooks (Python), run on every call"
        elif step.kind in ("assign", "host"):
            comment = "update " + ", ".join(repr(v.name) if v.name else "a Variable" for v in (
                step.target if isinstance(step.target, list) else [step.target]))
        elif step.kind == "guard":
            comment = ("value read in Python at trace time "
                       f"({step.where[0].rsplit('/', 1)[-1]}:{step.where[1]}): "
                       "must be unchanged")
        elif step.kind == "random":
            comment = "fresh random numbers on every call"
        elif step.scope:
            comment = step.scope
        if step.out is not None:
            n = fresh(prog.names.get(step.out, "v"))
            names[step.out] = n
            line = f"    {n} = {call}"
        else:
            line = f"    {call}"
        if fast:
            if step.into is not None:  # write into a dead value's buffer, then drop its name
                line = line[:-1] + f", out={names[step.into]})"
            body.append(line)
            dead = [names[d] for d in step.dead if d in names and d not in held]
            if step.into is not None:
                dead.append(names[step.into])
            if dead:
                body.append(f"    del {', '.join(dead)}")
            continue
        if comment:
            line = f"{line:<60}  # {comment}"
        body.append(line)
    outs = [("None" if k is None else ref(k)) for k in prog.outputs]
    body.append(f"    return ({', '.join(outs)}{',' if len(outs) == 1 else ''})")
    header = [f"def {_ident(prog.fn_name)}({', '.join(inputs)}):",
              f'    """Traced by tg.function: {len(prog.steps)} steps. Each call is the NumPy '
              'forward of that op."""']
    return "\n".join(header + body) + "\n", ns

