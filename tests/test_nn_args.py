"""Bad layer, optimizer, regularizer and metric arguments give a clear error naming the class and
the argument, at construction; none is silently truncated (issues 10 and 11)."""

import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import optimizers as opt

nn = tg.nn
nan, inf = float("nan"), float("inf")

COUNT_ARGS = [  # (class, positional args before the count, name of the count)
    (nn.Dense, (), "units"), (nn.Conv1D, (), "filters"), (nn.Conv2D, (), "filters"),
    (nn.SeparableConv2D, (), "filters"), (nn.SimpleRNN, (), "units"), (nn.LSTM, (), "units"),
    (nn.GRU, (), "units"), (nn.Embedding, (10,), "output_dim"),
]


def _make(cls, before, value):
    extra = (2,) if cls in (nn.Conv1D, nn.Conv2D, nn.SeparableConv2D) else ()
    return cls(*before, value, *extra)


@pytest.mark.parametrize("cls, before, what", COUNT_ARGS)
@pytest.mark.parametrize("value", [2.5, 2.0, "a", None, nan, inf, True])
def test_a_count_that_is_not_an_int_is_refused(cls, before, what, value):
    with pytest.raises(TypeError, match=rf"^{cls.__name__}: {what} must be an integer >= 1, "
                                        rf"got {value!r:.5}"):
        _make(cls, before, value)


@pytest.mark.parametrize("cls, before, what", COUNT_ARGS)
@pytest.mark.parametrize("value", [0, -1])
def test_a_count_below_one_is_refused(cls, before, what, value):
    with pytest.raises(ValueError, match=rf"^{cls.__name__}: {what} must be an integer >= 1"):
        _make(cls, before, value)


def test_numpy_integers_are_counts():
    assert nn.Dense(np.int64(3)).units == 3 and type(nn.Dense(np.int64(3)).units) is int


def test_separable_conv_filters_and_conv_kernel_size_name_the_layer():
    for f in (0, -1):
        with pytest.raises(ValueError, match="^SeparableConv2D: filters"):
            nn.SeparableConv2D(f, 2)
    with pytest.raises(ValueError, match="^Conv2D: kernel_size must be a positive int"):
        nn.Conv2D(2, 0)
    with pytest.raises(TypeError, match="^Conv1D: strides"):
        nn.Conv1D(2, 3, strides=1.5)
    with pytest.raises(ValueError, match="^DepthwiseConv2D: depth_multiplier"):
        nn.DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(ValueError, match="^Conv2D: padding must be one of"):
        nn.Conv2D(2, 3, padding="full")


@pytest.mark.parametrize("dtype", ["int32", "bool", "complex64", object])
def test_layer_dtypes_are_floats(dtype):
    with pytest.raises(TypeError, match="^Dense: dtype must be a floating dtype"):
        nn.Dense(2, dtype=dtype)
    layer = nn.Dense(2, dtype="float64")
    layer(np.ones((1, 3)))
    assert layer.kernel.dtype == np.float64 and len(layer.trainable_variables) == 2


def test_dropout_and_rnn_rates():
    for bad in (None, "a"):
        with pytest.raises(TypeError, match=r"^Dropout: rate must be in \[0, 1\)"):
            nn.Dropout(bad)
    for bad in (1.0, -0.1, nan):
        with pytest.raises(ValueError, match=r"^Dropout: rate must be in \[0, 1\)"):
            nn.Dropout(bad)
    with pytest.raises(ValueError, match="^LSTM: recurrent_dropout"):
        nn.LSTM(2, recurrent_dropout=1.5)


def test_unknown_activation_and_initializer_names_fail_at_construction_naming_the_layer():
    with pytest.raises(ValueError, match="^Dense: activation: unknown activation 'relux'"):
        nn.Dense(2, activation="relux")
    with pytest.raises(ValueError, match="^GRU: recurrent_initializer: unknown initializer"):
        nn.GRU(2, recurrent_initializer="orthogonl")
    with pytest.raises(ValueError, match="^Conv2D: kernel_regularizer: unknown regularizer"):
        nn.Conv2D(2, 3, kernel_regularizer="l3")


@pytest.mark.parametrize("layer, x", [
    (nn.MaxPooling2D(), "abc"), (nn.Dense(2), None), (nn.Flatten(), {1: 2}),
    (nn.Conv2D(2, 2), np.zeros((1, 4, 4, 1), np.complex64)), (nn.LSTM(2), "abc"),
])
def test_layer_calls_on_non_numeric_inputs_name_the_layer(layer, x):
    with pytest.raises(TypeError, match=rf"\({type(layer).__name__}\): inputs must be"):
        layer(x)
    assert not layer.variables or isinstance(x, np.ndarray)  # not built from a guessed shape


def test_flatten_of_a_scalar_names_the_layer():
    with pytest.raises(ValueError, match=r"\(Flatten\): Flatten needs a batch dimension"):
        nn.Flatten()(3.0)


def test_a_ragged_list_input_names_the_layer():
    with pytest.raises(ValueError, match=r"^dense_ragged \(Dense\): inputs: .*ragged"):
        nn.Dense(2, name="dense_ragged")([[1.0], [1.0, 2.0]])


def test_pooling_arguments_checked_at_construction():
    with pytest.raises(ValueError, match="^MaxPooling2D: pool_size must be positive"):
        nn.MaxPooling2D(0)
    with pytest.raises(TypeError, match="^AveragePooling1D: strides"):
        nn.AveragePooling1D(2, strides="a")


# -- optimizers --------------------------------------------------------------------------------
def test_sgd_refuses_integer_variables_instead_of_truncating():
    v = tg.Variable(np.array([1, 2]), name="counts")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for o in (opt.SGD(0.5), opt.Adam()):
            with pytest.raises(TypeError, match=r"apply_gradients: variable 'counts' has dtype "
                                                r"int64; only floating Variables"):
                o.apply_gradients([(np.ones(2), v)])
            assert o.iterations == 0
    np.testing.assert_array_equal(v.numpy(), [1, 2])


@pytest.mark.parametrize("make, match", [
    (lambda: opt.SGD(None), "^SGD: learning_rate must be a finite number >= 0, got None"),
    (lambda: opt.SGD(inf), "^SGD: learning_rate must be a finite number >= 0, got inf"),
    (lambda: opt.SGD("0.1"), "^SGD: learning_rate"),
    (lambda: opt.Adam(beta_2=2.0), r"^Adam: beta_2 must be in \[0, 1\), got 2.0"),
    (lambda: opt.Adam(beta_1=1.0), r"^Adam: beta_1 must be in \[0, 1\)"),
    (lambda: opt.AdamW(weight_decay=nan), "^AdamW: weight_decay must be a finite number"),
    (lambda: opt.SGD(weight_decay=nan), "^SGD: weight_decay"),
    (lambda: opt.RMSprop(rho=1.5), r"^RMSprop: rho must be in \[0, 1\]"),
    (lambda: opt.SGD(clipnorm=0), "^SGD: clipnorm must be a positive finite number"),
])
def test_optimizer_hyper_parameters_checked_at_construction(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make()


@pytest.mark.parametrize("grads_and_vars, match", [
    (None, "expected an iterable of \\(gradient, Variable\\) pairs"),
    ("ab", "expected an iterable"),
    (lambda w: [([[1.0], [1.0, 2.0]], w)], "the gradient of 'w' is ragged"),
    (lambda w: [(np.array(["a", "b"]), w)], "the gradient of 'w' has dtype <U1"),
    (lambda w: [w], "expected \\(gradient, Variable\\) pairs, got Variable"),
    (lambda w: [(np.ones(2), w), (np.ones(3), w)], "gradient of shape \\(3,\\)"),
])
def test_bad_apply_gradients_raise_and_change_nothing(grads_and_vars, match):
    o = opt.Adam(0.1)
    w = tg.Variable([1.0, 2.0], name="w")
    o.apply_gradients([(np.ones(2), w)])
    before = w.numpy().copy(), o.get_slot(w, "m").copy(), o.iterations
    arg = grads_and_vars(w) if callable(grads_and_vars) else grads_and_vars
    with pytest.raises((TypeError, ValueError), match=f"^Adam.apply_gradients: {match}"):
        o.apply_gradients(arg)
    np.testing.assert_array_equal(w.numpy(), before[0])
    np.testing.assert_array_equal(o.get_slot(w, "m"), before[1])
    assert o.iterations == before[2]


def test_a_schedule_returning_nan_is_refused_before_the_update():
    o = opt.SGD(lambda step: float("nan"))
    w = tg.Variable([1.0])
    with pytest.raises(ValueError, match=r"learning_rate \(from the schedule at step 0\)"):
        o.apply_gradients([(np.ones(1), w)])
    assert w.numpy()[0] == 1.0


# -- regularizers and metrics --------------------------------------------------------------------
def test_l1_l2_defaults_follow_keras_3():
    reg = tg.nn.regularizers.l1_l2()
    assert (reg.l1, reg.l2) == (0.0, 0.0)
    assert "Keras 3" in tg.nn.regularizers.l1_l2.__doc__
    with pytest.raises(ValueError, match="^L1: l1 must be a finite number >= 0"):
        tg.nn.regularizers.l1(-1.0)


@pytest.mark.parametrize("y_true, y_pred, err", [
    ({}, {}, TypeError), (None, [1.0], TypeError), ("ab", "cd", TypeError),
    ([[1], [1, 2]], [[1], [1, 2]], ValueError), ([], [], ValueError),
])
def test_accuracy_of_non_arrays_is_a_clear_error(y_true, y_pred, err):
    with pytest.raises(err, match="^accuracy: "):
        tg.metrics.accuracy(y_true, y_pred)


def test_zero_dimensional_arrays_and_tensors_are_numbers():
    assert opt.SGD(np.array(0.5)).learning_rate == 0.5
    assert opt.SGD(tg.tensor(0.25)).learning_rate == 0.25
    with pytest.raises(TypeError, match="^SGD: learning_rate"):
        opt.SGD(np.array([0.5]))


def test_a_learning_rate_scheduler_returning_nan_names_itself():
    o = opt.SGD(0.1)
    cbs = tg.callbacks.CallbackList([tg.callbacks.LearningRateScheduler(lambda e: float("nan"))],
                                    variables=[tg.Variable(1.0)], optimizer=o)
    with pytest.raises(ValueError, match="^LearningRateScheduler: the schedule's rate for "
                                         "epoch 0 must be"):
        cbs.on_epoch_begin(0)
    assert o.learning_rate == 0.1
