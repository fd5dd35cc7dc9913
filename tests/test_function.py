"""tg.function: a traced step replays eager execution exactly (float64: to the last bit), draws
fresh random numbers, guards Python reads of traced values, and prints itself as code."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import program
from tapegrad.program import Program, generate


@pytest.fixture(autouse=True)
def reuse_every_buffer(monkeypatch):
    """Plan `out=` buffers for arrays of any size, so that every replay here also checks that
    writing into dead values' buffers changes no number (by default only large ones are)."""
    monkeypatch.setattr(program, "MIN_REUSE", 0)


@pytest.fixture
def float64():
    tg.set_default_dtype("float64")
    yield
    tg.set_default_dtype("float32")


def _batches(n_steps, shape, n_classes=None, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n_steps,) + shape).astype(dtype)
    if n_classes is None:
        ys = rng.normal(size=(n_steps, shape[0], 1)).astype(dtype)
    else:
        ys = rng.integers(0, n_classes, size=(n_steps, shape[0]))
    return xs, ys


def _train_step(model, opt, loss_fn):
    def step(x, y):
        with tg.GradientTape() as tape:
            pred = model(x, training=True)
            loss = loss_fn(y, pred) + sum(model.losses, tg.tensor(0.0))
        variables = model.trainable_variables
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, pred

    return step


def _compare(make, xs, ys, exact=True, steps=100):
    """Run `steps` steps eagerly and traced from the same seed; compare every loss and output,
    and every variable (trainable or not) at the end."""
    results = []
    for traced in (False, True):
        tg.random.seed(123)
        step, variables = make()
        fn = tg.function(step) if traced else step
        outs = [[o.numpy().copy() for o in fn(tg.tensor(x), tg.tensor(y))]
                for x, y in zip(xs[:steps], ys[:steps])]
        results.append((outs, [v.numpy().copy() for v in variables()], fn))
    (eager, eager_vars, _), (replay, replay_vars, fn) = results
    assert fn.trace_count == 1 and fn.eager_calls == 0
    for k, (a, b) in enumerate(zip(eager, replay)):
        for ea, ra in zip(a, b):
            if exact:
                np.testing.assert_array_equal(ra, ea, err_msg=f"step {k}")
            else:
                np.testing.assert_allclose(ra, ea, rtol=1e-6, atol=1e-7, err_msg=f"step {k}")
    for ev, rv in zip(eager_vars, replay_vars):
        if exact:
            np.testing.assert_array_equal(rv, ev)
        else:
            np.testing.assert_allclose(rv, ev, rtol=1e-6, atol=1e-7)
    return fn


def _model_maker(layers, opt, loss, input_shape):
    def make():
        model = tg.nn.Sequential(layers())
        model.build((None,) + input_shape)
        step = _train_step(model, opt(), loss)
        return step, lambda: model.variables

    return make


def test_mlp_with_dropout_replays_eager_bit_for_bit(float64):
    """Dense-tanh-Dropout-Dense, Adam, sparse cross-entropy: 100 traced steps are eager's."""
    xs, ys = _batches(100, (16, 8), n_classes=4)
    make = _model_maker(lambda: [tg.nn.Dense(16, activation="tanh"), tg.nn.Dropout(0.3),
                                 tg.nn.Dense(4)], lambda: tg.optimizers.Adam(0.01),
                        lambda y, p: tg.losses.sparse_categorical_crossentropy(
                            y, p, from_logits=True), (8,))
    fn = _compare(make, xs, ys)
    assert any(s.kind == "random" for s in fn.programs[next(iter(fn.programs))].steps)


def test_mlp_float32_within_1e6(float64):
    tg.set_default_dtype("float32")
    xs, ys = _batches(100, (16, 8), n_classes=4, dtype=np.float32)
    make = _model_maker(lambda: [tg.nn.Dense(16, activation="relu"), tg.nn.Dense(4)],
                        lambda: tg.optimizers.SGD(0.05, momentum=0.9),
                        lambda y, p: tg.losses.sparse_categorical_crossentropy(
                            y, p, from_logits=True), (8,))
    _compare(make, xs, ys, exact=False)


def test_cnn_replays_eager(float64):
    xs, ys = _batches(100, (4, 6, 6, 1), n_classes=3)
    make = _model_maker(lambda: [tg.nn.Conv2D(3, 3, activation="relu"), tg.nn.MaxPooling2D(2),
                                 tg.nn.Flatten(), tg.nn.Dense(3)],
                        lambda: tg.optimizers.RMSprop(0.01),
                        lambda y, p: tg.losses.sparse_categorical_crossentropy(
                            y, p, from_logits=True), (6, 6, 1))
    _compare(make, xs, ys)


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_recurrent_with_dropout_replays_eager(float64, cell):
    xs, ys = _batches(100, (4, 5, 3))
    layer = getattr(tg.nn, cell)
    make = _model_maker(lambda: [layer(6, dropout=0.2, recurrent_dropout=0.2), tg.nn.Dense(1)],
                        lambda: tg.optimizers.Adam(0.01), tg.losses.mean_squared_error, (5, 3))
    _compare(make, xs, ys)


def test_batchnorm_moving_statistics_follow_eager(float64):
    """The moving mean and variance (non-trainable, updated by assign) end as eager's."""
    xs, ys = _batches(100, (8, 5))
    xs = xs * 3 + 1
    make = _model_maker(lambda: [tg.nn.Dense(6), tg.nn.BatchNormalization(), tg.nn.Dense(1)],
                        lambda: tg.optimizers.SGD(0.01), tg.losses.mean_squared_error, (5,))
    tg.random.seed(123)
    step, variables = make()
    before = [v.numpy().copy() for v in variables()]
    _compare(make, xs, ys)
    tg.random.seed(123)
    step, variables = make()
    fn = tg.function(step)
    for x, y in zip(xs[:3], ys[:3]):
        fn(tg.tensor(x), tg.tensor(y))
    moving = [v for v in variables() if "moving" in (v.name or "")]
    assert len(moving) == 2
    assert all(not np.array_equal(v.numpy(), b) for v, b in zip(variables(), before)
               if "moving" in (v.name or ""))


def test_gan_step_with_two_tapes(float64):
    """A generator and a discriminator, each with its own tape and optimizer, in one step."""
    xs, ys = _batches(100, (8, 2))

    def make():
        gen = tg.nn.Sequential([tg.nn.Dense(8, activation="relu"), tg.nn.Dense(2)])
        disc = tg.nn.Sequential([tg.nn.Dense(8, activation="tanh"), tg.nn.Dense(1)])
        gen.build((None, 2))
        disc.build((None, 2))
        g_opt, d_opt = tg.optimizers.Adam(1e-3), tg.optimizers.Adam(1e-3)
        bce = tg.losses.BinaryCrossentropy(from_logits=True)

        def step(real, noise):
            noise = noise * tg.tensor(np.ones((8, 2)))
            with tg.GradientTape() as gt, tg.GradientTape() as dt:
                fake = gen(noise, training=True)
                real_logit, fake_logit = disc(real, training=True), disc(fake, training=True)
                ones, zeros = np.ones((8, 1)), np.zeros((8, 1))
                d_loss = bce(ones, real_logit) + bce(zeros, fake_logit)
                g_loss = bce(ones, fake_logit)
            d_opt.apply_gradients(zip(dt.gradient(d_loss, disc.trainable_variables),
                                      disc.trainable_variables))
            g_opt.apply_gradients(zip(gt.gradient(g_loss, gen.trainable_variables),
                                      gen.trainable_variables))
            return d_loss, g_loss

        return step, lambda: gen.variables + disc.variables

    _compare(make, xs, np.repeat(ys, 2, axis=2)[:, :, :2])


def test_hessian_vector_product(float64):
    """A second derivative (nested tapes) traced: H v of a small network's loss."""
    w = tg.Variable(np.random.default_rng(0).normal(size=(3, 2)))

    def hvp(x, v):
        with tg.GradientTape() as outer:
            with tg.GradientTape() as inner:
                loss = tg.sum(tg.tanh(x @ w) ** 2)
            g = inner.gradient(loss, w)
            gv = tg.sum(g * v)
        return outer.gradient(gv, w), loss

    fn = tg.function(hvp)
    rng = np.random.default_rng(1)
    for _ in range(100):
        x, v = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
        want = [t.numpy() for t in hvp(tg.tensor(x), tg.tensor(v))]
        got = [t.numpy() for t in fn(tg.tensor(x), tg.tensor(v))]
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    assert fn.trace_count == 1
    # and against central differences of the gradient, to know the numbers are right
    x, v = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    hv = fn(tg.tensor(x), tg.tensor(v))[0].numpy()

    def grad_at(wv):
        wt = tg.Variable(wv)
        with tg.GradientTape() as t:
            loss = tg.sum(tg.tanh(tg.tensor(x) @ wt) ** 2)
        return t.gradient(loss, wt).numpy()

    eps = 1e-6
    fd = (grad_at(w.numpy() + eps * v) - grad_at(w.numpy() - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv, fd, rtol=1e-5, atol=1e-7)


# -- semantics ---------------------------------------------------------------------------------


def test_replay_runs_no_tensor_code_and_retraces_per_signature():
    w = tg.Variable([1.0, 2.0])
    calls = []

    @tg.function
    def f(x, scale=1.0):
        calls.append(1)  # Python side effects happen only while tracing
        return tg.sum(w * x) * scale

    a = f(tg.tensor([1.0, 1.0]))
    b = f(tg.tensor([2.0, 0.0]))
    assert float(a) == 3.0 and float(b) == 2.0 and len(calls) == 1
    f(tg.tensor([1.0, 1.0]), scale=2.0)  # a new Python constant: a new trace
    f(np.ones((3, 2), np.float32))  # a new shape (NumPy arrays are inputs too)
    assert f.trace_count == 3 and len(calls) == 3
    w.assign([10.0, 0.0])  # Variables are read on every call, never baked in
    assert float(f(tg.tensor([1.0, 1.0]))) == 10.0


def test_excessive_retracing_warns_and_the_cache_is_bounded():
    f = tg.function(lambda x: x * 2, max_traces=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n in range(1, 8):
            f(tg.tensor(np.ones(n)))
    assert f.trace_count == 7 and len(f.programs) == 3
    assert sum("traced 6 times" in str(w.message) for w in caught) == 1


def test_python_branch_on_a_tensor_value_is_guarded_not_stale():
    """`if float(t) > 0` is decided at trace time; a call where the decision would differ runs
    eagerly, so the result is never that of the stale branch."""

    @tg.function
    def f(x):
        if float(tg.sum(x)) > 0:
            return x * 2
        return x * -1

    np.testing.assert_array_equal(f(tg.tensor([1.0, 2.0])).numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(f(tg.tensor([-1.0, -2.0])).numpy(), [1.0, 2.0])
    assert f.eager_calls == 1
    assert "must be unchanged" in f.source


def test_reading_a_value_after_an_update_runs_eagerly_with_a_warning():
    w = tg.Variable([1.0])

    def step(x):
        w.assign_add(x)
        return float(tg.sum(w))

    f = tg.function(step)
    with pytest.warns(UserWarning, match="after a variable update.*runs eagerly"):
        assert f(tg.tensor([1.0])) == 2.0
    assert f(tg.tensor([1.0])) == 3.0 and f.eager_calls == 1  # never a stale replay
    with pytest.raises(tg.TracingError, match="this call ran eagerly"):
        tg.function(step, strict=True)(tg.tensor([1.0]))
    assert w.numpy()[0] == 4.0  # the failed trace still made exactly one (eager) step


def test_assigning_constants_is_replayed():
    w = tg.Variable([1.0, 2.0])

    @tg.function
    def f(x):
        w.assign(np.zeros(2, np.float32))
        w.assign_add(x)
        return x * 1.0

    f(tg.tensor([1.0, 1.0]))
    w.assign([5.0, 5.0])
    f(tg.tensor([2.0, 3.0]))
    np.testing.assert_array_equal(w.numpy(), [2.0, 3.0])


def test_untraceable_variable_write_is_a_clear_error():
    w = tg.Variable([1.0, 2.0])

    @tg.function
    def f(x):
        y = x * w
        w._value = np.zeros(2, np.float32)  # behind tapegrad's back: cannot be replayed
        return y

    with pytest.warns(UserWarning, match="cannot trace"):
        f(tg.tensor([1.0]))
    w.assign([1.0, 1.0])
    np.testing.assert_array_equal(f(tg.tensor([1.0])).numpy(), [1.0, 1.0])  # eager: right
    np.testing.assert_array_equal(w.numpy(), [0.0, 0.0])


def test_random_draws_are_fresh_on_every_replay():
    drop = tg.nn.Dropout(0.5)
    f = tg.function(lambda x: (drop(x, training=True), tg.random.normal((3,))))
    x = tg.tensor(np.ones((4, 50)))
    masks = [f(x) for _ in range(4)]
    assert f.trace_count == 1
    for a, b in zip(masks, masks[1:]):
        assert not np.array_equal(a[0].numpy(), b[0].numpy())
        assert not np.array_equal(a[1].numpy(), b[1].numpy())
    tg.random.seed(5)
    first = f(x)[1].numpy()
    tg.random.seed(5)
    np.testing.assert_array_equal(f(x)[1].numpy(), first)  # seeded draws repeat


def test_no_grad_and_metrics_inside_are_traced():
    w = tg.Variable([[1.0], [2.0]])

    @tg.function
    def f(x, y):
        with tg.no_grad():
            pred = x @ w
        return tg.mean(tg.astype(tg.equal(tg.argmax(tg.concatenate([pred, -pred], 1), 1), y),
                               "float32"))

    assert float(f(tg.tensor([[1.0, 1.0]]), tg.tensor([0]))) == 1.0
    assert float(f(tg.tensor([[-1.0, -1.0]]), tg.tensor([0]))) == 0.0


def test_labels_are_checked_on_every_replay():
    f = tg.function(lambda y, p: tg.losses.sparse_categorical_crossentropy(y, p))
    p = tg.tensor([[0.5, 0.5]])
    f(tg.tensor([1]), p)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        f(tg.tensor([2]), p)


def test_dead_values_are_dropped_after_their_last_use():
    w = tg.Variable(np.ones((3, 3)))

    @tg.function
    def f(x):
        with tg.GradientTape() as tape:
            loss = tg.sum(tg.tanh(x @ w) ** 2)
        return tape.gradient(loss, w)

    prog = f.concrete(tg.tensor(np.ones((2, 3))))
    made = [s.out for s in prog.steps if s.out is not None and s.out not in prog.outputs]
    freed = [d for s in prog.steps for d in s.dead]
    assert sorted(freed) == sorted(made)  # every intermediate is dropped, exactly once
    x = np.random.default_rng(0).normal(size=(2, 3))
    np.testing.assert_array_equal(prog.run_steps([x])[0], prog.run([x])[0])  # same program
    assert "del " in generate(prog, fast=True)[0] and "del " not in prog.source


def test_a_repeated_op_is_computed_once_and_an_unused_one_not_at_all():
    """`tanh(x)` written twice is one step; the transpose of `w` that the backward pass of
    each `@ w` needs is one step; `tg.exp(x)`, whose result nothing uses, is no step."""
    w = tg.Variable(np.random.default_rng(0).normal(size=(3, 3)))

    def f(x):
        with tg.GradientTape() as tape:
            tape.watch(x)
            tg.exp(x)
            y = tg.tanh(x) + tg.tanh(x)
            loss = tg.sum((y @ w) @ w)
        return loss, tape.gradient(loss, x)

    traced = tg.function(f)
    x = np.random.default_rng(1).normal(size=(2, 3))
    prog = traced.concrete(tg.tensor(x))
    names = [s.name for s in prog.steps]
    assert names.count("tanh") == 1 and "exp" not in names
    assert names.count("transpose") == 1
    for a, b in zip(traced(tg.tensor(x)), f(tg.tensor(x))):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_indices_from_a_tensor_are_each_calls_own_not_the_traces():
    """`take(table, ids)` and `x[ids]` with ids from an argument look up each call's ids (and
    scatter the gradient there); a scalar or boolean index fixes the result's shape, so it is
    guarded: a call with another value runs eagerly instead of replaying a stale lookup."""
    table = tg.Variable([1.0, 2.0, 3.0])

    @tg.function
    def lookup(ids):
        with tg.GradientTape() as tape:
            y = tg.sum(tg.take(table, ids) ** 2) + tg.sum(table[ids])
        return y, tape.gradient(y, table)

    for ids in ([0, 0], [2, 1], [1, 2]):
        with tg.GradientTape() as tape:
            want = tg.sum(tg.take(table, ids) ** 2) + tg.sum(table[ids])
        y, g = lookup(tg.tensor(ids))
        np.testing.assert_array_equal(y.numpy(), want.numpy())
        np.testing.assert_array_equal(g.numpy(), tape.gradient(want, table).numpy())
    assert lookup.trace_count == 1 and lookup.eager_calls == 0
    pick = tg.function(lambda x, i: x[i])
    x = tg.tensor([10.0, 20.0, 30.0])
    assert [float(pick(x, tg.tensor(k))) for k in (0, 2)] == [10.0, 30.0]
    assert pick(x, tg.tensor([False, True, True])).numpy().tolist() == [20.0, 30.0]
    assert pick(x, tg.tensor([True, False, False])).numpy().tolist() == [10.0]
    assert pick.eager_calls == 2


def test_an_embedding_model_trains_traced_as_eagerly_without_falling_back(capsys):
    """Embedding's ids are an op of the trace (checked and looked up on every replay), so
    `fit` replays the step instead of giving up on it, with eager's numbers."""
    def train(jit):
        tg.random.seed(0)
        tg.nn.reset_names()
        model = tg.nn.Sequential([tg.nn.Embedding(12, 4), tg.nn.SimpleRNN(5), tg.nn.Dense(3)])
        model.compile("rmsprop", tg.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit=jit)
        rng = np.random.default_rng(0)
        x, y = rng.integers(0, 12, (48, 6)), rng.integers(0, 3, 48)
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
        return model

    traced, eager = train(True), train(False)
    assert "jit:" not in capsys.readouterr().out
    assert traced._steps.fns["train"].eager_calls == 0
    for a, b in zip(traced.variables, eager.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match=r"ids must be in \[0, 12\)"):
        traced.fit(np.full((8, 6), 12), np.zeros(8, np.int64), verbose=0)


def test_results_go_into_dead_buffers_never_into_views_variables_or_outputs():
    """A ufunc step may write into a value that died before it (as NumPy code updates in
    place), but never into a buffer something still sees: a Variable's value, an output, or
    the base of a view (here `y`, dead after `exp` while its slice `z` lives on)."""
    w = tg.Variable(np.random.default_rng(0).normal(size=(4, 6)), name="w")

    @tg.function
    def f(x):
        with tg.GradientTape() as tape:
            y = tg.tanh(x @ w)
            z = y[:, :3]
            e = tg.exp(y) * 2.0
            loss = tg.sum(e) + tg.sum(z * z)
        w.assign_sub(0.01 * tape.gradient(loss, w))
        return loss, z, e

    x = np.random.default_rng(1).normal(size=(5, 4))
    prog = f.concrete(tg.tensor(x))
    into = {s.into for s in prog.steps if s.into is not None}
    assert into, "nothing was planned: the test checks nothing"
    protected = set(prog.outputs) | {s.out for s in prog.steps if s.kind in ("read", "assign")}
    viewed = {s.ins[0] for s in prog.steps if s.name in ("getitem", "transpose", "reshape")}
    assert not into & (protected | viewed)
    w.assign(np.random.default_rng(0).normal(size=(4, 6)))
    eager = [[t.numpy().copy() for t in f.fn(tg.tensor(x))] for _ in range(3)]
    w.assign(np.random.default_rng(0).normal(size=(4, 6)))
    replay = [[t.numpy().copy() for t in f(tg.tensor(x))] for _ in range(3)]
    for a, b in zip(eager, replay):
        for ea, ra in zip(a, b):
            np.testing.assert_array_equal(ra, ea)


def test_only_large_buffers_are_reused_by_default(monkeypatch):
    """Below `MIN_REUSE` bytes an `out=` argument costs more than a fresh array."""
    monkeypatch.setattr(program, "MIN_REUSE", 8192)
    w = tg.Variable(np.ones((64, 64), np.float32))

    @tg.function
    def f(x):
        return tg.tanh(tg.tanh(x @ w) + 1.0)

    small, large = f.concrete(tg.tensor(np.ones((2, 64)))), f.concrete(
        tg.tensor(np.ones((64, 64))))
    assert [s.into for s in small.steps if s.into is not None] == []
    assert [s.name for s in large.steps if s.into is not None] == ["tanh", "add", "tanh"]


def test_gradient_hooks_run_on_every_replay_and_new_hooks_retrace(float64):
    """Hooks are Python: an observer sees each replay's gradient, a hook that replaces the
    gradient (halving it) changes the replayed update as eagerly, and a hook registered after
    the trace makes the function trace again instead of replaying without it."""
    def run(traced):
        w = tg.Variable(np.array([1.0, -2.0]), name="w")
        seen = []
        halve = w.register_hook(lambda g: g * 0.5)
        step_fn = _hooked_step(w)
        fn = tg.function(step_fn) if traced else step_fn
        x = tg.tensor([3.0, 4.0])
        for _ in range(3):
            fn(x)
        observe = w.register_hook(lambda g: seen.append(g.numpy().copy()))
        for _ in range(3):
            fn(x)
        source = fn.source if traced else ""
        halve.remove()
        observe.remove()
        fn(x)
        return w.numpy(), seen, fn, source

    (w_eager, seen_eager, _, _), (w_traced, seen_traced, fn, source) = run(False), run(True)
    np.testing.assert_array_equal(w_traced, w_eager)
    assert len(seen_traced) == len(seen_eager) == 3
    for a, b in zip(seen_traced, seen_eager):
        np.testing.assert_array_equal(a, b)
    assert fn.trace_count == 3 and fn.eager_calls == 0
    assert source.count("the gradient hooks (Python), run on every call") == 1


def _hooked_step(w):
    def step(x):
        with tg.GradientTape() as tape:
            loss = tg.sum(w * w * x)
        w.assign_sub(0.1 * tape.gradient(loss, w))
        return loss

    return step


# -- the generated source ----------------------------------------------------------------------


def _mlp_step():
    tg.random.seed(0)
    model = tg.nn.Sequential([tg.nn.Dense(8, activation="tanh", name="dense_1"),
                              tg.nn.Dense(3, name="dense_2")])
    model.build((None, 4))
    opt = tg.optimizers.SGD(0.1)

    def train_step(x, y):
        with tg.GradientTape() as tape:
            loss = tg.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True)
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                model.trainable_variables))
        return loss

    return model, train_step


def test_source_names_layers_and_rules_and_runs_to_the_same_numbers():
    model, step = _mlp_step()
    f = tg.function(step)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 4)).astype(np.float32), rng.integers(0, 3, 5)
    f(tg.tensor(x), tg.tensor(y))
    src = f.source
    assert "read(dense_1_kernel)" in src and "# read Variable 'dense_1/kernel'" in src
    assert "# rule of tanh: d tanh(x)/dx = 1 - tanh(x)^2" in src
    assert "# -- backward --" in src and "SGD_apply_gradients" in src
    lines = [ln for ln in src.splitlines() if " = " in ln and not ln.lstrip().startswith("#")]
    prog = f._last
    assert len(lines) == sum(s.out is not None for s in prog.steps)  # one line per step
    code = prog.compile_source()
    start = [v.numpy().copy() for v in model.variables]
    replayed = prog.run([x, y])[0]
    after_replay = [v.numpy().copy() for v in model.variables]
    for v, s in zip(model.variables, start):
        v.assign(s)
    from_source = code(x, y)[0]
    np.testing.assert_array_equal(from_source, replayed)
    for v, a in zip(model.variables, after_replay):
        np.testing.assert_array_equal(v.numpy(), a)


def test_source_needs_a_trace_first():
    f = tg.function(lambda x: x + 1)
    with pytest.raises(RuntimeError, match="no trace yet"):
        f.source  # noqa: B018
    assert "add(" in f.code(tg.tensor(1.0))


def test_called_under_a_tape_it_runs_eagerly_so_gradients_flow():
    f = tg.function(lambda x: tg.tanh(x) * 2)
    f(tg.tensor([0.5]))  # traced
    x = tg.Variable([0.5])
    with tg.GradientTape() as tape:
        y = f(x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), 2 * (1 - np.tanh(0.5) ** 2),
                               rtol=1e-6)


def test_methods_trace_per_instance():
    class Scaler:
        def __init__(self, k):
            self.k = tg.Variable(k)

        @tg.function
        def __call__(self, x):
            return x * self.k

    a, b = Scaler(2.0), Scaler(3.0)
    assert float(a(tg.tensor(1.0))) == 2.0 and float(b(tg.tensor(1.0))) == 3.0
    assert float(a(tg.tensor(2.0))) == 4.0


# -- a property over random programs -----------------------------------------------------------

_UNARY = [tg.tanh, tg.exp, tg.sin, lambda t: t * t, lambda t: tg.sum(t, axis=0, keepdims=True),
          lambda t: tg.maximum(t, 0.0), lambda t: tg.reshape(t, (-1,))[:3] + 0.0, tg.sigmoid]
_BINARY = [tg.add, tg.multiply, tg.subtract, lambda a, b: a / (1.0 + b * b)]


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(st.tuples(st.integers(0, len(_UNARY) + len(_BINARY) - 1),
                              st.integers(0, 10), st.integers(0, 10)), min_size=1, max_size=8),
       seed=st.integers(0, 2 ** 16))
def test_random_programs_replay_like_eager(ops, seed):
    """Random op chains, their gradient and an update: the replay on new inputs equals eager."""
    w = tg.Variable(np.ones((2, 3)))

    def program(x):
        with tg.GradientTape() as tape:
            vals = [x, w * x]
            for k, i, j in ops:
                a, b = vals[i % len(vals)], vals[j % len(vals)]
                if k < len(_UNARY):
                    out = _UNARY[k](a)
                else:
                    try:
                        out = _BINARY[k - len(_UNARY)](a, b)
                    except ValueError:  # shapes that do not broadcast
                        out = a * 1.0
                vals.append(out)
            loss = tg.sum(vals[-1]) + tg.sum(vals[1])
        g = tape.gradient(loss, w)
        w.assign_sub(0.01 * g)
        return loss, g

    rng = np.random.default_rng(seed)
    inputs = [rng.normal(size=(2, 3)) for _ in range(3)]
    eager = []
    w.assign(np.ones((2, 3)))
    for x in inputs:
        eager.append([t.numpy() for t in program(tg.tensor(x))] + [w.numpy().copy()])
    w.assign(np.ones((2, 3)))
    f = tg.function(program)
    for x, want in zip(inputs, eager):
        got = [t.numpy() for t in f(tg.tensor(x))] + [w.numpy().copy()]
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    assert f.trace_count == 1
    assert isinstance(f._last, Program)


# -- compile(jit=True) -------------------------------------------------------------------------


def _digits_like(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(96, 10)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
    return x, y


def _fit(jit, seed=0):
    tg.random.seed(seed)
    model = tg.nn.Sequential([tg.nn.Dense(16, activation="relu"), tg.nn.Dropout(0.2),
                              tg.nn.Dense(3)])
    model.compile(tg.optimizers.Adam(0.01), tg.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"], jit=jit)
    x, y = _digits_like()
    hist = model.fit(x, y, batch_size=32, epochs=3, verbose=0, validation_split=0.25)
    return model, hist.history, model.evaluate(x, y), model.predict(x[:40])


def test_compile_jit_fit_evaluate_predict_equal_eager():
    """jit=True traces the train, test and predict steps once per batch shape and gives eager's
    numbers (losses, metrics, weights, predictions)."""
    m_eager, h_eager, e_eager, p_eager = _fit(False)
    m_jit, h_jit, e_jit, p_jit = _fit(True)
    for key in h_eager:
        np.testing.assert_allclose(h_jit[key], h_eager[key], rtol=1e-6)
    np.testing.assert_allclose(e_jit, e_eager, rtol=1e-6)
    np.testing.assert_allclose(p_jit, p_eager, rtol=1e-6)
    for a, b in zip(m_jit.variables, m_eager.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    train = m_jit._steps.fns["train"]
    assert train.trace_count == 2 and train.eager_calls == 0  # batches of 32 and the last 8


def test_compile_jit_falls_back_to_eager_with_a_notice(capsys):
    class Peeking(tg.nn.Dense):
        def call(self, inputs, training=False):
            out = super().call(inputs, training)
            self.kernel.assign_add(self.kernel * 0.0)
            float(tg.sum(out))  # a Python read after an update: cannot be replayed
            return out

    tg.random.seed(0)
    model = tg.nn.Sequential([Peeking(3)])
    model.compile("sgd", "mse", jit=True)
    x = np.ones((8, 2), np.float32)
    model.fit(x, np.zeros((8, 3), np.float32), batch_size=4, epochs=2, verbose=0)
    out = capsys.readouterr().out
    assert out.count("jit: the train step runs eagerly") == 1
    assert np.isfinite(model.evaluate(x, np.zeros((8, 3), np.float32)))


def test_compile_jit_is_the_default_and_gives_up_on_steps_whose_guards_keep_failing(capsys):
    """A layer branching in Python on its input's values is replayed behind a guard; when the
    guard fails on most batches the step runs eagerly from then on (one notice), and training
    is eager's, number for number."""
    class Branchy(tg.nn.Dense):
        def call(self, inputs, training=False):
            out = super().call(inputs, training)
            return out * 2.0 if float(tg.mean(inputs)) > 0 else out

    def train(jit):
        tg.random.seed(0)
        tg.nn.reset_names()
        model = tg.nn.Sequential([Branchy(3)])
        if jit is None:
            model.compile("sgd", "mse")
        else:
            model.compile("sgd", "mse", jit=jit)
        x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
        model.fit(x, np.zeros((64, 3), np.float32), batch_size=4, epochs=2, verbose=0,
                  shuffle=False)
        return model

    default, eager = train(None), train(False)
    assert default._steps is not None and eager._steps is None  # jit=True unless asked
    notice = capsys.readouterr().out
    assert notice.count("jit: the train step runs eagerly") == 1
    assert "read tensor values in Python that differed" in notice
    for a, b in zip(default.variables, eager.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_label_errors_name_the_loss_not_the_internal_op():
    """Issue 11: the check is an op (so replays check labels), but its error names the loss."""
    p = tg.tensor([[0.5, 0.5]])
    f = tg.function(lambda y, q: tg.losses.sparse_categorical_crossentropy(y, q))
    f(tg.tensor([1]), p)
    for call in (lambda: tg.losses.sparse_categorical_crossentropy([2], p), lambda: f(
            tg.tensor([2]), p), lambda: tg.losses.SparseCategoricalCrossentropy()([2], p)):
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value).startswith("sparse_categorical_crossentropy: labels must be in")
        assert "check_class_labels" not in str(info.value)


def test_seeded_and_integer_draws_replay_like_eager():
    """tg.random's seed=, mean/stddev and integer uniform are captured by the traced draw op: a
    seeded draw repeats on every call (as eagerly), an unseeded one is fresh."""
    f = tg.function(lambda x: (x + tg.random.normal((4,), 2.0, 0.5, dtype="float64", seed=3),
                               tg.random.uniform((5,), 0, 10, dtype="int64"), x * 1.0))
    x = tg.tensor(np.zeros(4))
    eager = tg.random.normal((4,), 2.0, 0.5, dtype="float64", seed=3).numpy()
    (a, ia, _), (b, ib, _) = f(x), f(x)
    np.testing.assert_array_equal(a.numpy(), eager)
    np.testing.assert_array_equal(b.numpy(), eager)
    assert f.trace_count == 1 and ia.dtype == np.int64 and ((ib.numpy() >= 0)
                                                            & (ib.numpy() < 10)).all()
    tg.random.seed(9)
    first = [f(x)[1].numpy() for _ in range(5)]
    assert len({tuple(v) for v in first}) > 1  # fresh integers per replay
    tg.random.seed(9)
    np.testing.assert_array_equal(np.stack([f(x)[1].numpy() for _ in range(5)]), first)


def _two_outputs(jit):
    tg.random.seed(0)
    inp = tg.nn.Input((6,))
    h = tg.nn.Dense(8, activation="tanh")(inp)
    model = tg.nn.Model(inp, [tg.nn.Dense(1, name="reg")(h), tg.nn.Dense(3, name="cls")(h)])
    model.compile("adam", loss={"reg": "mse", "cls": tg.losses.SparseCategoricalCrossentropy(
        from_logits=True)}, loss_weights={"reg": 1.0, "cls": 0.5},
        metrics={"cls": ["accuracy"]}, jit=jit)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    ys = {"reg": x[:, :1] * 2, "cls": (x[:, 1] > 0).astype(np.int64)}
    hist = model.fit(x, ys, batch_size=16, epochs=2, verbose=0, validation_split=0.25)
    return model, hist.history, model.evaluate(x, ys, return_dict=True), model.predict(x)


def test_compile_jit_multi_output_per_output_losses_and_metrics_equal_eager():
    """The per-output loss trackers are updated outside the trace, from the tensors the traced
    step returns: every logged number equals eager's, and nothing ran eagerly."""
    m_eager, h_eager, e_eager, p_eager = _two_outputs(False)
    m_jit, h_jit, e_jit, p_jit = _two_outputs(True)
    assert set(h_jit) == set(h_eager) and {"reg_loss", "cls_loss", "val_cls_loss"} <= set(h_jit)
    for key in h_eager:
        np.testing.assert_allclose(h_jit[key], h_eager[key], rtol=1e-5)
    for key in e_eager:
        np.testing.assert_allclose(e_jit[key], e_eager[key], rtol=1e-5)
    for a, b in zip(p_jit, p_eager):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for which in ("train", "test", "predict"):
        fn = m_jit._steps.fns[which]
        assert fn.trace_count >= 1 and fn.eager_calls == 0


def test_compile_jit_leaves_an_overridden_train_step_eager():
    """Only the default steps are traced: a custom train_step runs as written on every batch."""
    calls = []

    class Custom(tg.nn.Sequential):
        def train_step(self, data):
            x, y, _ = tg.data.unpack_x_y_sample_weight(data)
            calls.append(tg.tracing())
            with tg.GradientTape() as tape:
                loss = tg.losses.mean_squared_error(y, self(x, training=True))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return {"loss": loss}

    tg.random.seed(0)
    model = Custom([tg.nn.Dense(1)])
    model.compile("sgd", "mse", jit=True)
    x = np.ones((8, 2), np.float32)
    model.fit(x, np.zeros((8, 1), np.float32), batch_size=4, epochs=2, verbose=0)
    assert calls == [False] * 4 and model._steps.fns["train"].trace_count == 0
    with pytest.raises(TypeError, match="jit must be True or False"):
        model.compile("sgd", "mse", jit="yes")
