"""Fuzz test of the training side (issue 11): fit/evaluate/predict keywords and tg.data
functions called with Hypothesis-drawn odd and bad values. Each call either works or raises a
TypeError/ValueError whose message names the function; a rejected call changes nothing (model
weights, optimizer steps, history, the shared random generator, the caller's arrays).

The examples per test follow the Hypothesis profile (HYPOTHESIS_PROFILE=thorough for more)."""

import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tapegrad as tg

SCALE = max(1, settings.default.max_examples // 25)  # dev: 1, ci: 4, thorough: 12

ODD = st.sampled_from([
    None, "a", "", b"x", -1, 0, 1, 2, 3, 10**12, -(10**12), 1.5, 0.0, -0.0, 0.5, 2.0, np.nan,
    np.inf, -np.inf, True, False, 1 + 2j, [], {}, (), [1, 2], [[1.0], [2.0, 3.0]], (1, 2),
    {"a": 1}, np.int64(2), np.float32(0.25), np.array(3), np.array([1, 2]), np.zeros((0, 3)),
    np.array(["a", "b"]), np.array([1 + 1j]), np.ones((8, 2)), np.ones((8,)), np.ones((3, 1)),
    "auto", "batch", "pre", "post", "float32", "int32", object,
])

rng = np.random.default_rng(0)
X = rng.standard_normal((8, 3)).astype(np.float32)
Y = X[:, :1].copy()
LABELS = np.array([0, 1, 1, 0, 2, 1, 0, 2])


def model_snapshot(model):
    return ([w.copy() for w in model.get_weights()], model.optimizer.iterations, model.history,
            tg.random.generator().bit_generator.state)


def assert_unchanged(before, model):
    weights, iterations, history, rng_state = before
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == iterations
    assert model.history is history
    assert tg.random.generator().bit_generator.state == rng_state


# data the model or its loss cannot take is refused by the layer or loss, which names itself
LAYER_ERROR = re.compile(r"^(\w+ \((Dense|Sequential)\)|mean_squared_error): ")


def expect_clear(fn, name, *args, **kwargs):
    """Run fn; return True if it raised a clear error naming `name` (or, for data the model
    cannot take, the layer or loss that refused it), False if it worked."""
    try:
        fn(*args, **kwargs)
    except (TypeError, ValueError, IndexError) as e:
        text = " ".join([str(e), *getattr(e, "__notes__", [])])
        assert name in text or LAYER_ERROR.match(text), \
            f"{name}: unclear message {type(e).__name__}: {e}"
        return True
    return False


def fresh_model():
    tg.random.seed(0)
    model = tg.nn.Sequential([tg.nn.Dense(3), tg.nn.Dense(1)])
    model.compile("sgd", loss="mse")
    model(np.zeros((1, 3), np.float32))
    return model


FIT_KEYWORDS = ["batch_size", "epochs", "verbose", "callbacks", "validation_split",
                "validation_data", "shuffle", "class_weight", "sample_weight", "initial_epoch",
                "steps_per_epoch", "validation_steps", "validation_batch_size",
                "validation_freq"]
LOOPS = {"epochs", "steps_per_epoch", "validation_steps", "validation_freq"}


@settings(max_examples=60 * SCALE)
@given(kw=st.sampled_from(FIT_KEYWORDS), value=ODD)
def test_fit_keywords(kw, value):
    if kw in LOOPS and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        assume(value <= 3)  # a huge epoch count is valid and would just run long
    model = fresh_model()
    kwargs = {"verbose": 0, kw: value}
    before = model_snapshot(model)
    if expect_clear(model.fit, "fit", X, Y, **kwargs):
        assert_unchanged(before, model)


@settings(max_examples=40 * SCALE)
@given(which=st.sampled_from(["x", "y"]), value=ODD)
def test_fit_evaluate_predict_data(which, value):
    model = fresh_model()
    before = model_snapshot(model)
    x, y = (value, Y) if which == "x" else (X, value)
    if expect_clear(model.fit, "fit", x, y, verbose=0):
        assert_unchanged(before, model)
    before = model_snapshot(model)
    if expect_clear(model.evaluate, "evaluate", x, y):
        assert_unchanged(before, model)
    if which == "x":
        before = model_snapshot(model)
        if expect_clear(model.predict, "predict", x):
            assert_unchanged(before, model)


@settings(max_examples=40 * SCALE)
@given(fn=st.sampled_from(["evaluate", "predict"]),
       kw=st.sampled_from(["batch_size", "verbose", "sample_weight", "steps", "callbacks",
                           "return_dict"]), value=ODD)
def test_evaluate_and_predict_keywords(fn, kw, value):
    assume(not (fn == "predict" and kw in ("sample_weight", "return_dict")))
    model = fresh_model()
    before = model_snapshot(model)
    args = (X, Y) if fn == "evaluate" else (X,)
    if expect_clear(getattr(model, fn), fn, *args, **{kw: value}):
        assert_unchanged(before, model)
    assert_unchanged(before, model)  # evaluate and predict never change the model anyway


DATA_CALLS = {
    "train_test_split": (lambda kw, v: tg.data.train_test_split(X, LABELS, **{kw: v}),
                         ["test_size", "random_state", "shuffle"]),
    "KFold": (lambda kw, v: list(tg.data.KFold(**{"n_splits": 2, kw: v}).split(X)),
              ["n_splits", "shuffle", "random_state"]),
    "batches": (lambda kw, v: list(tg.data.batches(X, LABELS, **{kw: v})),
                ["batch_size", "shuffle", "seed", "drop_remainder"]),
    "one_hot": (lambda kw, v: tg.data.one_hot(**{"labels": LABELS, kw: v}),
                ["labels", "num_classes", "dtype"]),
    "pad_sequences": (lambda kw, v: tg.data.pad_sequences(**{"sequences": [[1, 2], [3]], kw: v}),
                      ["sequences", "maxlen", "dtype", "padding", "truncating", "value"]),
    "Standardizer": (lambda kw, v: tg.data.Standardizer().fit_transform(v), ["X"]),
    "Dataset": (lambda kw, v: list(getattr(tg.data.Dataset.from_tensor_slices((X, LABELS)),
                                           kw)(v).take(3)),
                ["batch", "shuffle", "take", "repeat", "map", "prefetch"]),
}


@settings(max_examples=80 * SCALE)
@given(name=st.sampled_from(sorted(DATA_CALLS)), data=st.data(), value=ODD)
def test_data_functions(name, data, value):
    fn, keywords = DATA_CALLS[name]
    kw = data.draw(st.sampled_from(keywords))
    if name == "one_hot" and kw == "num_classes" and isinstance(value, (int, np.integer)):
        assume(value <= 10**6)  # a valid huge class count is a huge (valid) array
    if name == "pad_sequences" and kw == "maxlen" and isinstance(value, (int, np.integer)):
        assume(value <= 10**6)
    if name == "Dataset" and kw == "shuffle" and isinstance(value, (int, np.integer)):
        assume(value <= 10**6)
    x_before, labels_before = X.copy(), LABELS.copy()
    rng_state = tg.random.generator().bit_generator.state
    if expect_clear(fn, name, kw, value):
        assert tg.random.generator().bit_generator.state == rng_state
    np.testing.assert_array_equal(X, x_before)
    np.testing.assert_array_equal(LABELS, labels_before)


def test_every_public_data_function_has_a_fuzz_entry():
    """A discovery check: a new tg.data function or class needs an entry in DATA_CALLS."""
    covered = set(DATA_CALLS) | {"cross_validate", "pack_x_y_sample_weight",
                                 "unpack_x_y_sample_weight"}  # covered by their own tests
    assert set(tg.data.__all__) <= covered, set(tg.data.__all__) - covered


@pytest.mark.parametrize("value", [0, -1, 1.5, "a", None, True])
def test_fit_batch_size_and_steps_messages_name_the_argument(value):
    model = fresh_model()
    ok = expect_clear(model.fit, "steps_per_epoch", X, Y, steps_per_epoch=value, verbose=0)
    assert ok == (value is not None)
