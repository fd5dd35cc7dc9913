"""Issue 12 (one chain rule, op metadata on the op) and the tape-side items of issues 10/11."""

from __future__ import annotations

import gc
import inspect
import threading
import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import tape as tape_mod
from tapegrad.ops import REGISTRY, primitive


def test_watch_after_a_broadcasting_use_gives_the_right_gradient():
    a = tg.tensor([1.0, 2.0, 3.0], dtype="float64")
    b = tg.Variable(np.ones((2, 3)), dtype="float64")
    with tg.GradientTape() as tape:
        y = a * b  # a is not tracked yet when the op runs
        tape.watch(a)
        z = tg.sum(y * 2.0)
    ga, gb = tape.gradient(z, [a, b])
    np.testing.assert_allclose(ga.numpy(), [4.0, 4.0, 4.0])
    np.testing.assert_allclose(gb.numpy(), np.tile([2.0, 4.0, 6.0], (2, 1)))


def test_broadcasting_gradients_at_second_order_and_in_jacobians():
    x = tg.tensor([1.0, 2.0], dtype="float64")
    w = tg.tensor([[1.0], [3.0]], dtype="float64")
    with tg.GradientTape() as outer:
        outer.watch(x)
        with tg.GradientTape() as inner:
            inner.watch(x)
            y = tg.sum(x * x * w)  # (2,) * (2, 1): broadcast to (2, 2)
        g = inner.gradient(y, x)  # 2 x * sum(w)
    np.testing.assert_allclose(g.numpy(), [8.0, 16.0])
    np.testing.assert_allclose(outer.jacobian(g, x).numpy(), 8.0 * np.eye(2))


def test_ops_never_read_tape_state():
    import tapegrad.ops.elementwise as ew

    src = inspect.getsource(ew)
    assert "_ids" not in src and "_watch_vars" not in src and "_tracked" not in src


def test_custom_gradient_second_order_with_forward_intermediates_tf_log1pexp():
    @tg.custom_gradient
    def log1pexp(x):
        e = tg.exp(x)

        def grad(upstream):
            return upstream * (1 - 1 / (1 + e))

        return tg.log(1 + e), grad

    x = tg.Variable(0.7, dtype="float64")
    with tg.GradientTape() as outer:
        with tg.GradientTape() as inner:
            y = log1pexp(x)
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    s = 1 / (1 + np.exp(-0.7))
    assert float(dy) == pytest.approx(s)
    assert d2y is not None and float(d2y) == pytest.approx(s * (1 - s))


def test_custom_gradient_grad_fn_runs_once_per_backward_step():
    calls = []

    @tg.custom_gradient
    def f(x, y):
        def grad(g):
            calls.append(1)
            return g * 2, g * 3
        return x * y, grad

    x, y = tg.Variable(1.0), tg.Variable(2.0)
    with tg.GradientTape() as tape:
        z = f(x, y)
    gx, gy = tape.gradient(z, [x, y])
    assert (float(gx), float(gy), len(calls)) == (2.0, 3.0, 1)


def test_jacobian_of_an_empty_target_is_empty():
    x = tg.Variable([1.0, 2.0, 3.0])
    with tg.GradientTape(persistent=True) as tape:
        y = tg.concatenate([x[:0], x[:0]])
    j = tape.jacobian(y, x)
    assert j.shape == (0, 3)
    assert tape.batch_jacobian(tg.reshape(y, (0, 1)), tg.reshape(x, (3, 1))[:0]).shape \
        == (0, 1, 1)


def test_gradient_sources_in_any_nesting_as_tf():
    x, y, z = tg.Variable(1.0), tg.Variable(2.0), tg.Variable(3.0)
    with tg.GradientTape() as tape:
        loss = x * y * z
    g = tape.gradient(loss, {"q": [x], "r": ({"s": y}, [z])})
    assert float(g["q"][0]) == 6.0
    assert float(g["r"][0]["s"]) == 3.0 and float(g["r"][1][0]) == 2.0
    assert isinstance(g["r"], tuple) and isinstance(g["q"], list)


@pytest.mark.parametrize("call", [
    lambda: tg.grad(lambda x: x * x)(3),
    lambda: tg.hessian(lambda x: tg.sum(x ** 3))(tg.tensor([1, 2])),
    lambda: tg.jacobian(lambda x: x * 2)(np.array([1, 2])),
    lambda: tg.value_and_grad(lambda x: x * x)(True),
])
def test_integer_sources_of_functional_transforms_raise_not_zero(call):
    with pytest.raises(TypeError, match="pass floats"):
        call()


def test_explain_names_an_integer_variable():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tensor.py may warn that it is not trainable
        v = tg.Variable(3, name="count")
    w = tg.Variable(2.0)
    with tg.GradientTape() as tape:
        y = w * v
    assert tape.gradient(y, v) is None
    msg = tape.explain(y, v)
    assert "count" in msg and "int" in msg and "tg.Variable(3.0)" in msg


def test_watched_variables_survive_gradient_on_a_non_persistent_tape():
    a, b = tg.Variable(1.0), tg.Variable(2.0)
    with tg.GradientTape() as tape:
        y = a * b
    tape.gradient(y, [a, b])
    assert tape.watched_variables() == (a, b)


def test_plot_from_the_output_tensor_after_the_with_block():
    x = tg.Variable([1.0, 2.0], name="x")
    with tg.GradientTape(persistent=True) as tape:
        loss = tg.sum(tg.tanh(x) * 2.0)
    dot = tg.viz.to_dot(loss)  # after the block: the last live tape that recorded it
    assert "tanh" in dot and "multiply" in dot
    assert tg.viz.to_dot(loss) == tg.viz.to_dot(tape, target=loss)


def test_no_reference_cycle_from_tensors_to_tapes_and_clear_error_when_gone():
    import weakref

    x = tg.Variable([1.0, 2.0])

    def make():
        with tg.GradientTape() as t:
            y = x * 3.0
        return y, weakref.ref(t)

    gc.collect()
    gc.disable()
    try:
        y, ref = make()
        assert ref() is None  # freed by reference counting alone: no cycle holds it
    finally:
        gc.enable()
    with pytest.raises(ValueError, match="no live tape"):
        tg.viz.to_dot(y)


def test_redefining_a_primitive_in_the_same_module_replaces_it_silently():
    def define():
        @primitive(name="cube_rerun")
        def cube(x):
            return x ** 3

        cube.defvjp(lambda g, ans, x: g * 3 * x * x)
        return cube

    first = define()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = define()  # a re-run notebook cell
    try:
        assert REGISTRY["cube_rerun"] is second and second is not first
        x = tg.Variable(2.0)
        with tg.GradientTape() as tape:
            y = second(x)
        assert float(tape.gradient(y, x)) == 12.0
    finally:
        del REGISTRY["cube_rerun"]


def test_errors_inside_an_op_keep_the_original_exception_and_frames():
    def forward(x):
        raise ValueError("the op's own complaint")

    op = tg.ops.Primitive(forward, name="fails", register=False)
    with pytest.raises(ValueError, match="fails: cannot apply") as info:
        op(tg.tensor([1.0]))
    assert isinstance(info.value.__cause__, ValueError)  # chained, not hidden by `from None`
    assert "the op's own complaint" in str(info.value)
    names = [f.name for f in info.traceback]
    assert "test_errors_inside_an_op_keep_the_original_exception_and_frames" in names
    import traceback

    text = "".join(traceback.format_exception(info.value))
    assert "in forward" in text  # the failing line inside the forward is shown


def test_hooks_apply_in_jacobians_too():
    x = tg.Variable([1.0, 2.0])
    with tg.GradientTape(persistent=True) as tape:
        h = x * 3.0
        handle = h.register_hook(lambda g: g * 10)
        y = h * h
        s = tg.sum(y)
    try:
        j = tape.jacobian(y, x).numpy()
        g = tape.gradient(s, x).numpy()
    finally:
        handle.remove()
    np.testing.assert_allclose(np.diag(j), g)
    np.testing.assert_allclose(g, 10 * 2 * 9 * np.array([1.0, 2.0]))


def test_jacobian_and_argnums_errors_are_clear():
    x = tg.Variable([1.0, 2.0])
    with tg.GradientTape() as tape:
        y = x * 2
    with pytest.raises(TypeError, match="source must be a Tensor"):
        tape.jacobian(y, 2.0)
    with pytest.raises(ValueError, match="argnums=1"):
        tg.grad(lambda a: a * a, argnums=1)(tg.tensor(1.0))


def test_counter_is_atomic_across_threads():
    from tapegrad.state import Counter

    c = Counter()
    out: list[int] = []

    def work():
        for _ in range(2000):
            out.append(c.next())

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(out)) == len(out) == 16000


def test_caller_location_cache_is_bounded():
    tape_mod._INSIDE.clear()
    x = tg.Variable(1.0)
    for k in range(tape_mod.INSIDE_LIMIT + 50):  # every exec makes a new code object
        with tg.GradientTape():
            exec(compile("y = x * 2.0", f"<cell {k}>", "exec"), {"x": x})
    assert len(tape_mod._INSIDE) <= tape_mod.INSIDE_LIMIT


def test_defaults_of_static_parameters_are_bound_into_the_record():
    x = tg.Variable([-1.0, 2.0])
    with tg.GradientTape() as tape:
        tg.leaky_relu(x)
    assert tape.ops[0].params == {"alpha": 0.2}


def test_op_metadata_lives_on_the_op():
    assert REGISTRY["exp"].elementwise and REGISTRY["multiply"].elementwise
    assert not REGISTRY["matmul"].elementwise and REGISTRY["matmul"].batched is not None
    assert REGISTRY["exp"].phrase(0) == "d exp(x)/dx = exp(x)"
    assert REGISTRY["lstm_cell"].vjp_all is not None
    import tapegrad.autodiff as autodiff
    import tapegrad.viz.rules as rules

    assert not hasattr(rules, "RULES")
    assert not hasattr(autodiff, "ELEMENTWISE") and not hasattr(autodiff, "BATCHED")
    import tapegrad.ops.nn_ops as nn_ops

    assert not hasattr(nn_ops, "_lstm_cache")


def test_one_backward_walker():
    """Only the chain rule walks the records backwards (grep-level fact of issue 12)."""
    import pathlib

    root = pathlib.Path(tg.__file__).parent
    walkers = [str(p.relative_to(root)) for p in root.rglob("*.py")
               if "reversed(records)" in p.read_text() or "reversed(recs)" in p.read_text()
               or "range(len(records) - 1, -1, -1)" in p.read_text()]
    assert walkers == ["tape.py"]
    for name in ("viz/backward.py", "viz/build.py", "debug.py", "autodiff.py", "forward.py"):
        text = (root / name).read_text()
        for private in ("tape._records", "tape._ids", "tape._watched", "tape._grads",
                        "tape._cuts", "tape._cut_of", "tape._freed", "tape._watch_vars"):
            assert private not in text, (name, private)
