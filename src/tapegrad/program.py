"""A traced call as a program: steps over slots, planned once, run as generated NumPy code.

`tg.function` (tapegrad.function) records a call into `Step`s; a `Program` computes repeated ops
once, drops the steps nothing needs, marks where each value dies, plans `out=` buffers, and
compiles the steps to straight-line Python (`Program.source` is the same code with comments, for
reading).

>>> import numpy as np, tapegrad as tg
>>> prog = tg.function(lambda x: tg.tanh(x) * 2.0).concrete(tg.tensor([0.5]))
>>> [s.name for s in prog.steps], np.round(prog.run([np.array([0.5], np.float32)])[0], 4)
(['tanh', 'multiply'], array([0.9242], dtype=float32))
"""

from __future__ import annotations

import collections
import keyword
import linecache
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.tensor import Variable

__all__ = ["MIN_REUSE", "Program", "Stale", "Step"]


class Stale(Exception):
    """A guard saw a different value than at trace time: this call must run eagerly."""


# -- the program ------------------------------------------------------------------------------


def read(v: Variable) -> np.ndarray:
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


ASSIGNS = {"assign": _assign, "assign_add": _assign_add, "assign_sub": _assign_sub}


_ARRAY_OPS: dict[Any, Callable] = {}  # op forward -> its ndarray-returning wrapper (bounded)


def array_op(fn: Callable) -> Callable:
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
MIN_REUSE = 8192  # bytes: below this a fresh array costs no more than an `out=` argument


def _computed_once(steps: list[Step], outputs: list[int | None]) -> tuple[list[Step], list]:
    """Steps and outputs where an op repeating an earlier one (same function, inputs and
    parameters: `W.T` in every time step's backward) is dropped and its result's uses read
    the earlier result instead. Ops are pure, so the numbers cannot change."""
    first: dict[tuple, int] = {}  # (fn, inputs, parameters) -> the slot that holds its result
    same: dict[int, int] = {}  # dropped slot -> the slot with the same value
    kept = []
    for s in steps:
        s.ins = [same.get(i, i) for i in s.ins]
        if s.kind in ("op", "const_op") and s.out is not None:
            try:
                key = (s.fn, tuple(s.ins), tuple(s.params.items()))
                earlier = first.setdefault(key, s.out)
            except TypeError:  # a parameter that is not hashable (an index array)
                earlier = s.out
            if earlier != s.out:
                same[s.out] = earlier
                continue
        kept.append(s)
    return kept, [same.get(k, k) if k is not None else None for k in outputs]


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
    at least `MIN_REUSE` bytes, an op made it (not a Variable's value), it owns its memory,
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
                and v.nbytes >= MIN_REUSE and users[k] <= {"op", "const_op"})

    def key(k: int) -> tuple:
        return values[k].shape, values[k].dtype.str

    free: dict[tuple, list[int]] = collections.defaultdict(list)  # dead buffers by shape
    for s in steps:
        out = values.get(s.out) if s.out is not None else None
        if (out is not None and out.base is None and isinstance(s.fn, np.ufunc)
                and s.fn.nout == 1 and not s.params and out.nbytes >= MIN_REUSE):
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
        steps, self.outputs = _computed_once(steps, outputs)
        self.rebuild = rebuild
        self.steps = _without_dead_code(steps, set(self.outputs))
        self.names, self.fn_name = names, fn_name
        template: list[Any] = [None] * n_slots
        for k, v in consts.items():
            template[k] = v
        self._template = template
        self._mark_dead()
        _plan_buffers(self.steps, values, set(outputs) | set(consts) | set(inputs))
        self._source: str | None = None
        self._run = self._compile(*generate(self, fast=True))

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
        return ns[ident(self.fn_name)]

    # -- source -------------------------------------------------------------------------------
    @property
    def source(self) -> str:
        """The program as Python: forward, backward and updates, one line per step."""
        if self._source is None:
            self._source, self._namespace = generate(self)
        return self._source

    def compile_source(self) -> Callable:
        """The generated source as a function of the input arrays (gives what `run` gives)."""
        return self._compile(self.source, self._namespace)


def guard_step(expected: np.ndarray) -> Callable:
    def guard(value: np.ndarray) -> None:
        if value.shape != expected.shape or not np.array_equal(value, expected,
                                                               equal_nan=value.dtype.kind == "f"):
            raise Stale
    return guard


# -- source generation ------------------------------------------------------------------------


def ident(name: str) -> str:
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


def generate(prog: Program, fast: bool = False) -> tuple[str, dict]:
    """The program as Python source and the namespace it runs in; `fast` adds a `del` after
    each value's last use and the planned `out=` buffers, and leaves out the comments (the
    code `Program.run` executes; the numbers are the same)."""
    ns: dict[str, Any] = {"np": np, "read": read, **ASSIGNS}
    used: dict[str, int] = {}
    names: dict[int, str] = {}

    def fresh(base: str) -> str:
        base = ident(base)
        n = used.get(base, 0)
        used[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    for step in prog.steps:  # values never shadow the functions the code calls
        used.setdefault(ident(step.name), 1)
    used.update({n: 1 for n in ("np", "read", *ASSIGNS)})
    inputs = [fresh(prog.names.get(k, f"x{i}")) for i, k in enumerate(prog.inputs)]
    for k, n in zip(prog.inputs, inputs):
        names[k] = n
    for k in prog.consts:
        used.setdefault(ident(prog.names.get(k, "const")), 0)

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
            fname = ident(step.name)
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
    header = [f"def {ident(prog.fn_name)}({', '.join(inputs)}):",
              f'    """Traced by tg.function: {len(prog.steps)} steps. Each call is the NumPy '
              'forward of that op."""']
    return "\n".join(header + body) + "\n", ns
