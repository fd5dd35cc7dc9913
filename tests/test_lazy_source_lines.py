"""The file and line of each recorded op: taken cheaply as a call site when the op runs, turned
into (file, line) only when `tape.ops`, a graph or a message asks, and always the user's line."""

from __future__ import annotations

import gc
import os
import sys
import types
import weakref

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import tape as tape_mod

HERE = os.path.abspath(__file__)


def next_line() -> int:
    """The line after the caller's current one (where the op under test is written)."""
    return sys._getframe(1).f_lineno + 1


def test_every_way_of_calling_an_op_records_the_users_line():
    x = tg.Variable([1.0, 2.0])
    w = tg.Variable([[1.0], [2.0]])
    lines = []
    with tg.GradientTape() as tape:
        lines.append(next_line())
        a = tg.exp(x)
        lines.append(next_line())
        b = a * 2.0
        lines.append(next_line())
        c = 3.0 - b
        lines.append(next_line())
        d = -c
        lines.append(next_line())
        e = d @ w
        lines.append(next_line())
        f = e[0]
        lines.append(next_line())
        g = x * tg.tensor([1.0, 1.0])  # tensor operands
        lines += [next_line()] * 3
        tg.sum(f + g[0])
    assert [op.location for op in tape.ops] == [(HERE, n) for n in lines], tape.ops


def helper(x):
    return tg.tanh(x) + 1.0, sys._getframe().f_lineno


def test_an_op_in_a_helper_function_records_the_helpers_line():
    x = tg.Variable(1.0)
    with tg.GradientTape() as tape:
        _, line = helper(x)
    assert [op.location for op in tape.ops] == [(HERE, line), (HERE, line)]


def test_a_layer_call_records_the_line_that_called_the_layer():
    layer = tg.nn.Dense(3)
    x = tg.tensor(np.ones((2, 4), np.float32))
    layer(x)  # build outside the tape
    with tg.GradientTape() as tape:
        line = next_line()
        layer(x)
    assert tape.ops and all(op.location == (HERE, line) for op in tape.ops)


def test_code_run_by_exec_keeps_its_own_file_name_and_line():
    x = tg.Variable(1.0)
    with tg.GradientTape() as tape:
        exec(compile("a = 1\ny = x * 2.0\nz = tg.exp(y)", "<cell 7>", "exec"),
             {"x": x, "tg": tg})
    assert [op.location for op in tape.ops] == [("<cell 7>", 2), ("<cell 7>", 3)]


class Probe:
    """Sees the line Python reports for a `*` (its caller's f_lineno at that moment)."""

    def __mul__(self, o):
        self.line = sys._getframe(1).f_lineno
        return o


def test_a_multi_line_expression_gives_the_line_python_reports():
    x, probe = tg.Variable(1.0), Probe()
    with tg.GradientTape() as tape:
        start = next_line()
        _ = (x
             * 2.0)
    probe_start = next_line()
    _ = (probe
         * 2.0)
    assert tape.ops[0].location[1] - start == probe.line - probe_start


def test_record_repr_and_graph_labels_show_the_line():
    x = tg.Variable(1.0)
    with tg.GradientTape() as tape:
        line = next_line()
        y = tg.exp(x)
    assert repr(tape.ops[0]).endswith(f"[test_lazy_source_lines.py:{line}]")
    assert f"test_lazy_source_lines.py:{line}" in tg.viz.to_dot(tape, target=y)


def test_messages_name_the_users_line():
    c = tg.Variable([1.0, 2.0])
    with tg.GradientTape() as tape:
        h = c * 1.0
        line = next_line()
        y = tg.tensor(h.numpy()) * 2.0  # a round trip through NumPy cuts the tape
    assert tape.gradient(y, c) is None
    assert f"test_lazy_source_lines.py:{line}" in tape.explain(y, c)
    with tg.debug.detect_anomaly(), pytest.raises(FloatingPointError) as info:
        line = next_line()
        tg.log(tg.tensor([-1.0]))
    assert f"{HERE}:{line}" in str(info.value)


def test_records_hold_no_frames_so_a_helpers_locals_are_freed_on_return():
    class Big:
        pass

    refs = []

    def make(x):
        local = Big()  # a local variable of this frame, referenced by nothing else
        refs.append(weakref.ref(local))
        return x * 2.0

    x = tg.Variable(1.0)
    with tg.GradientTape(persistent=True) as tape:
        y = make(x)
    gc.collect()
    assert refs[0]() is None  # freed although the tape still holds the op made in `make`
    assert tape.ops[0].location[0] == HERE
    assert not any(isinstance(r, types.FrameType) for op in tape.ops
                   for r in gc.get_referents(*gc.get_referents(op)))
    assert float(tape.gradient(y, x)) == 2.0


def test_the_line_cache_is_bounded():
    assert tape_mod.location_of.cache_info().maxsize == tape_mod.INSIDE_LIMIT
