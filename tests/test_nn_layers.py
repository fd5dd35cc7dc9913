"""Layers: forward values against NumPy, gradients (float64), dropout and batch-norm behaviour,
activations, initializers, regularizers, and XOR learned in a hand-written tape loop."""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.nn import activations
from tapegrad.testing import check_gradients

RNG = np.random.default_rng(0)


def functional(layer, names, training=True):
    """f(x, *weights): call `layer` with its weights replaced by the given tensors."""

    def f(x, *ws):
        saved = {n: layer.__dict__[n] for n in names}
        layer.__dict__.update(zip(names, ws))
        try:
            return layer(x, training=training)
        finally:
            layer.__dict__.update(saved)

    return f


def built(layer, x):
    layer(tg.tensor(x))
    return layer


# -- forward values ------------------------------------------------------------------------------

def test_dense_forward_matches_numpy():
    x = RNG.standard_normal((5, 3))
    layer = built(tg.nn.Dense(4, activation="tanh"), x)
    k, b = layer.kernel.numpy(), layer.bias.numpy()
    assert layer.kernel.dtype == np.float64  # weights take the input's float dtype
    np.testing.assert_allclose(layer(tg.tensor(x)).numpy(), np.tanh(x @ k + b), rtol=1e-12)


def test_dense_without_bias_and_nd_inputs():
    x = RNG.standard_normal((2, 3, 4))
    layer = built(tg.nn.Dense(5, use_bias=False), x)
    assert layer.bias is None and len(layer.variables) == 1
    np.testing.assert_allclose(layer(x).numpy(), x @ layer.kernel.numpy(), rtol=1e-12)


def test_dense_call_records_only_matmul_add_and_activation():
    x = tg.tensor(RNG.standard_normal((4, 3)))
    layer = built(tg.nn.Dense(2, activation="relu"), x.numpy())
    with tg.GradientTape() as tape:
        layer(x)
    names = [op.name for op in tape.ops]
    assert names == ["matmul", "add", "relu"]  # the engine sums the bias gradient back
    assert all(op.scope == layer.name for op in tape.ops)


def test_activation_flatten_forward():
    x = RNG.standard_normal((2, 3, 4))
    assert tg.nn.Flatten()(tg.tensor(x)).shape == (2, 12)
    np.testing.assert_array_equal(tg.nn.Flatten()(tg.tensor(x)).numpy(), x.reshape(2, 12))
    np.testing.assert_allclose(tg.nn.Activation("sigmoid")(tg.tensor(x)).numpy(),
                               1 / (1 + np.exp(-x)), rtol=1e-12)


def test_layer_normalization_forward_matches_numpy():
    x = RNG.standard_normal((4, 6)) * 3 + 1
    layer = built(tg.nn.LayerNormalization(), x)
    layer.gamma.assign(RNG.standard_normal(6))
    layer.beta.assign(RNG.standard_normal(6))
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    want = (x - mu) / np.sqrt(var + 1e-3) * layer.gamma.numpy() + layer.beta.numpy()
    np.testing.assert_allclose(layer(tg.tensor(x)).numpy(), want, rtol=1e-10)


def test_layer_normalization_over_several_axes():
    x = RNG.standard_normal((2, 3, 4))
    layer = built(tg.nn.LayerNormalization(axis=[1, 2]), x)
    assert layer.gamma.shape == (3, 4)
    mu, var = x.mean((1, 2), keepdims=True), x.var((1, 2), keepdims=True)
    np.testing.assert_allclose(layer(x).numpy(), (x - mu) / np.sqrt(var + 1e-3), rtol=1e-10)


ACTIVATIONS_NUMPY = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softmax": lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "gelu": lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "linear": lambda x: x,
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x)),
    "swish": lambda x: x / (1 + np.exp(-x)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS_NUMPY))
def test_activation_values_and_gradients(name):
    x = RNG.standard_normal((3, 4))
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kinks of relu/leaky_relu/elu
    fn = activations.get(name)
    np.testing.assert_allclose(np.asarray(fn(tg.tensor(x))), ACTIVATIONS_NUMPY[name](x),
                               rtol=1e-12, atol=1e-15)
    layer = tg.nn.Activation(name)
    check_gradients(lambda t: layer(t) * 1.0, [x])


def test_activations_get():
    assert activations.get(None) is activations.linear
    assert activations.get(np.tanh) is np.tanh
    with pytest.raises(ValueError, match="unknown activation 'nope'"):
        activations.get("nope")


def test_step_is_a_float_tensor_cut_from_the_tape():
    x = tg.Variable([-1.0, 0.0, 2.0])
    with tg.GradientTape() as tape:
        y = activations.step(x) * 1.0
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), [0.0, 1.0, 1.0])
    assert tape.gradient(y, x, unconnected_gradients="zero").numpy().tolist() == [0, 0, 0]


# -- gradients -----------------------------------------------------------------------------------

def test_dense_gradients():
    x = RNG.standard_normal((4, 3))
    layer = built(tg.nn.Dense(2, activation="tanh"), x)
    f = functional(layer, ["kernel", "bias"])
    check_gradients(f, [x, layer.kernel.numpy(), layer.bias.numpy()], order=2)


def test_batch_normalization_gradients_in_training_mode():
    x = RNG.standard_normal((6, 3)) * 2 + 1
    layer = built(tg.nn.BatchNormalization(), x)
    layer.gamma.assign(RNG.standard_normal(3))
    layer.beta.assign(RNG.standard_normal(3))
    f = functional(layer, ["gamma", "beta"], training=True)
    check_gradients(f, [x, layer.gamma.numpy(), layer.beta.numpy()])


def test_batch_normalization_gradients_channels_first_4d():
    x = RNG.standard_normal((3, 2, 2, 2))
    layer = built(tg.nn.BatchNormalization(axis=1), x)
    assert layer.gamma.shape == (2,)
    f = functional(layer, ["gamma", "beta"], training=True)
    check_gradients(f, [x, RNG.standard_normal(2), RNG.standard_normal(2)])


def test_layer_normalization_gradients():
    x = RNG.standard_normal((3, 5))
    layer = built(tg.nn.LayerNormalization(), x)
    f = functional(layer, ["gamma", "beta"])
    check_gradients(f, [x, RNG.standard_normal(5), RNG.standard_normal(5)])


# -- dropout ---------------------------------------------------------------------------------

def test_dropout_is_identity_at_inference():
    x = tg.tensor(RNG.standard_normal((10, 10)))
    layer = tg.nn.Dropout(0.5)
    assert layer(x) is x
    assert layer(x, training=False) is x


def test_dropout_training_zeroes_and_rescales_preserving_the_mean():
    x = tg.tensor(np.ones((200, 500)))
    y = tg.nn.Dropout(0.3)(x, training=True).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7)
    assert abs(kept.mean() - 0.7) < 0.01  # 100000 Bernoulli draws: std 0.0015
    assert abs(y.mean() - 1.0) < 0.015


def test_dropout_mask_repeats_when_reseeded_and_gradient_uses_it():
    x = tg.Variable(np.ones((4, 8)))
    layer = tg.nn.Dropout(0.5)
    tg.random.seed(7)
    a = layer(x, training=True).numpy()
    tg.random.seed(7)
    with tg.GradientTape() as tape:
        b = layer(x, training=True)
        s = tg.sum(b)
    np.testing.assert_array_equal(a, b.numpy())
    np.testing.assert_array_equal(tape.gradient(s, x).numpy(), a)  # d/dx (x * mask) = mask
    with pytest.raises(ValueError, match="rate"):
        tg.nn.Dropout(1.0)


def test_training_flag_propagates_to_nested_layers():
    class Net(tg.nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = tg.nn.Dropout(0.5)

        def call(self, x):  # no training parameter: nested layers inherit it
            return self.drop(x)

    x = tg.tensor(np.ones((50, 50)))
    net = Net()
    assert (net(x).numpy() == 1).all()
    assert (net(x, training=True).numpy() == 0).any()


# -- batch normalization ---------------------------------------------------------------------

def test_batch_norm_training_uses_batch_stats_and_updates_moving_stats():
    x = RNG.standard_normal((8, 3)) * 2 + 5
    bn = tg.nn.BatchNormalization(momentum=0.9)
    y = bn(tg.tensor(x), training=True).numpy()
    mu, var = x.mean(0), x.var(0)
    np.testing.assert_allclose(y, (x - mu) / np.sqrt(var + 1e-3), rtol=1e-10)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.9 * 0 + 0.1 * mu, rtol=1e-12)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 * 1 + 0.1 * var, rtol=1e-12)
    x2 = RNG.standard_normal((8, 3))
    bn(x2, training=True)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.9 * (0.1 * mu) + 0.1 * x2.mean(0),
                               rtol=1e-12)
    assert [v.name for v in bn.non_trainable_variables] == [
        f"{bn.name}/moving_mean", f"{bn.name}/moving_variance"]
    assert [v.name for v in bn.trainable_variables] == [f"{bn.name}/gamma", f"{bn.name}/beta"]


def test_batch_norm_inference_uses_moving_stats_and_does_not_update():
    x = RNG.standard_normal((8, 3))
    bn = built(tg.nn.BatchNormalization(), x)
    bn.moving_mean.assign([1.0, 2.0, 3.0])
    bn.moving_variance.assign([4.0, 1.0, 0.25])
    bn.gamma.assign([2.0, 2.0, 2.0])
    bn.beta.assign([0.5, 0.5, 0.5])
    y = bn(tg.tensor(x), training=False).numpy()
    want = (x - [1, 2, 3]) / np.sqrt(np.array([4.0, 1.0, 0.25]) + 1e-3) * 2 + 0.5
    np.testing.assert_allclose(y, want, rtol=1e-12)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), [1, 2, 3])
    bn.trainable = False  # a frozen batch norm runs in inference mode (Keras)
    np.testing.assert_allclose(bn(tg.tensor(x), training=True).numpy(), want, rtol=1e-12)


# -- initializers ----------------------------------------------------------------------------

def test_initializer_formulas():
    init = tg.initializers
    assert init.compute_fans((3, 3, 8, 16)) == (72.0, 144.0)
    tg.random.seed(0)
    w = init.get("glorot_uniform")((200, 300), "float64")
    limit = np.sqrt(6 / 500)
    assert w.max() <= limit and w.min() >= -limit and w.max() > 0.95 * limit
    w = init.he_uniform()((400, 300), "float64")
    assert np.abs(w).max() <= np.sqrt(6 / 400)
    w = init.he_normal()((1000, 500), "float64")
    assert abs(w.std() - np.sqrt(2 / 1000)) < 0.02 * np.sqrt(2 / 1000)
    assert np.abs(w).max() <= 2 * np.sqrt(2 / 1000) / 0.87962566103423978  # truncated at 2 std
    w = init.glorot_normal()((300, 700), "float64")
    assert abs(w.std() - np.sqrt(2 / 1000)) < 0.02 * np.sqrt(2 / 1000)
    w = init.random_normal(mean=1.0, stddev=0.5)((500, 400), "float32")
    assert w.dtype == np.float32 and abs(w.mean() - 1) < 0.01 and abs(w.std() - 0.5) < 0.01
    w = init.random_uniform()((100,), "float64")
    assert np.abs(w).max() <= 0.05
    np.testing.assert_array_equal(init.get("zeros")((2,), "float64"), [0, 0])
    np.testing.assert_array_equal(init.ones()((2,), "float64"), [1, 1])
    q = init.orthogonal()((5, 3), "float64")
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-12)
    assert isinstance(init.get("HeNormal"), init.HeNormal)
    with pytest.raises(ValueError, match="unknown initializer"):
        init.get("nope")


def test_seeding_repeats_initialization():
    tg.random.seed(3)
    a = tg.nn.Dense(4)
    a(np.ones((1, 3)))
    tg.random.seed(3)
    b = tg.nn.Dense(4)
    b(np.ones((1, 3)))
    np.testing.assert_array_equal(a.kernel.numpy(), b.kernel.numpy())
    c = tg.nn.Dense(4, kernel_initializer=tg.initializers.Constant(0.5))
    c(np.ones((1, 3)))
    np.testing.assert_array_equal(c.kernel.numpy(), np.full((3, 4), 0.5, np.float32))


# -- regularizers ----------------------------------------------------------------------------

def test_regularizer_values():
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    reg = tg.regularizers
    assert float(reg.l2()(tg.tensor(w))) == pytest.approx(0.01 * 5.25)
    assert float(reg.l1()(tg.tensor(w))) == pytest.approx(0.01 * 3.5)
    assert float(reg.l1_l2(0.01, 0.01)(tg.tensor(w))) == pytest.approx(0.01 * 3.5 + 0.01 * 5.25)
    assert float(reg.l1_l2()(tg.tensor(w))) == 0.0  # Keras 3 defaults: l1=l2=0.0
    assert float(reg.L1L2(l2=0.1)(tg.tensor(w))) == pytest.approx(0.525)
    assert float(reg.L1L2()(tg.tensor(w))) == 0.0
    assert isinstance(reg.get("l2"), reg.L2) and reg.get("l2").l2 == 0.01
    with pytest.raises(ValueError, match="unknown regularizer"):
        reg.get("l3")


def test_model_losses_follow_current_weights_and_differentiate():
    layer = tg.nn.Dense(2, kernel_regularizer=tg.regularizers.l2(0.1),
                        bias_regularizer="l1")
    layer(np.ones((1, 3)))
    layer.bias.assign([1.0, -1.0])
    k = layer.kernel.numpy()
    losses = layer.losses
    assert len(losses) == 2
    assert float(losses[0]) == pytest.approx(0.1 * (k ** 2).sum(), rel=1e-6)
    assert float(losses[1]) == pytest.approx(0.02, rel=1e-6)
    layer.kernel.assign(np.zeros((3, 2)))
    assert float(layer.losses[0]) == 0.0  # recomputed on every read
    layer.kernel.assign(k)
    with tg.GradientTape() as tape:
        total = tg.add(*layer.losses)
    g = tape.gradient(total, layer.kernel)
    np.testing.assert_allclose(g.numpy(), 0.2 * k, rtol=1e-6)


# -- XOR -------------------------------------------------------------------------------------

def _xor_gd(seed):
    tg.random.seed(seed + 1)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    model = tg.nn.Sequential([tg.nn.Dense(8, activation="tanh"),
                              tg.nn.Dense(1, activation="sigmoid")])
    lr = 0.5
    xt, yt = tg.tensor(x), tg.tensor(y)
    for _ in range(800):
        with tg.GradientTape() as tape:
            loss = tg.losses.binary_crossentropy(yt, model(xt, training=True))
        variables = model.trainable_variables
        for v, g in zip(variables, tape.gradient(loss, variables)):
            v.assign_sub(lr * g)
    return float(loss), tg.metrics.binary_accuracy(y, model(xt).numpy())


def xor_gd_loss(seed):
    loss, acc = _xor_gd(seed)
    return loss, float(acc)


@pytest.mark.training
def test_xor_learned_by_two_layer_mlp_with_plain_gradient_descent():
    """2-8-1 tanh/sigmoid MLP, 800 full-batch steps of plain gradient descent (lr 0.5): XOR
    learned, loss < 0.1 (final loss over 60 runs (seeds 0-19 x 3 BLAS kernels), min/median/max:
    0.0033 / 0.0044 / 0.0057, accuracy 1 every time)."""
    loss, acc = _xor_gd(0)
    assert acc == 1.0
    assert loss < 0.1
