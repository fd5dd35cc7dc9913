"""Recurrent layers: Keras shapes and weight layouts, the gate equations against NumPy,
gradients, dropout masks, Bidirectional, errors, and a memory task that each cell learns."""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.nn.recurrent import unstack_time
from tapegrad.optimizers import Adam
from tapegrad.testing import check_gradients


def sig(z):
    return 1 / (1 + np.exp(-z))


def numpy_lstm(x, w, r, b, u):
    h = c = np.zeros((x.shape[0], u))
    hs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ w + h @ r + b
        i, f = sig(z[:, :u]), sig(z[:, u:2 * u])
        g, o = np.tanh(z[:, 2 * u:3 * u]), sig(z[:, 3 * u:])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    return np.stack(hs, 1), h, c


def numpy_gru(x, w, r, b, u, reset_after):
    h = np.zeros((x.shape[0], u))
    hs = []
    for t in range(x.shape[1]):
        xz = x[:, t] @ w + (b[0] if reset_after else b)
        if reset_after:
            hr = h @ r + b[1]
            z, rr = sig(xz[:, :u] + hr[:, :u]), sig(xz[:, u:2 * u] + hr[:, u:2 * u])
            hh = np.tanh(xz[:, 2 * u:] + rr * hr[:, 2 * u:])
        else:
            z = sig(xz[:, :u] + h @ r[:, :u])
            rr = sig(xz[:, u:2 * u] + h @ r[:, u:2 * u])
            hh = np.tanh(xz[:, 2 * u:] + (rr * h) @ r[:, 2 * u:])
        h = z * h + (1 - z) * hh
        hs.append(h)
    return np.stack(hs, 1), h


@pytest.fixture
def x():
    return np.random.default_rng(0).standard_normal((3, 6, 4))


def test_lstm_matches_the_keras_equations(x):
    layer = tg.nn.LSTM(5, return_sequences=True, return_state=True)
    seq, h, c = layer(x)
    w, r, b = (v.numpy() for v in layer.trainable_variables)
    assert (w.shape, r.shape, b.shape) == ((4, 20), (5, 20), (20,))
    np.testing.assert_array_equal(b[5:10], 1.0)  # unit_forget_bias
    ref = numpy_lstm(x, w, r, b, 5)
    for got, want in zip((seq, h, c), ref, strict=True):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_matches_the_keras_equations(x, reset_after):
    layer = tg.nn.GRU(5, return_sequences=True, return_state=True, reset_after=reset_after,
                      bias_initializer="random_normal")
    seq, h = layer(x)
    w, r, b = (v.numpy() for v in layer.trainable_variables)
    assert b.shape == ((2, 15) if reset_after else (15,))
    ref = numpy_gru(x, w, r, b, 5, reset_after)
    np.testing.assert_allclose(seq.numpy(), ref[0], rtol=1e-10)
    np.testing.assert_allclose(h.numpy(), ref[1], rtol=1e-10)


def test_simple_rnn_go_backwards_and_initial_state(x):
    layer = tg.nn.SimpleRNN(3, go_backwards=True, return_sequences=True)
    h0 = np.full((3, 3), 0.5)
    seq = layer(x, initial_state=[h0]).numpy()
    w, r, b = (v.numpy() for v in layer.trainable_variables)
    h = h0
    for k, t in enumerate(reversed(range(6))):  # outputs in processing order, as Keras
        h = np.tanh(x[:, t] @ w + h @ r + b)
        np.testing.assert_allclose(seq[:, k], h, rtol=1e-10)


@pytest.mark.parametrize("cls", [tg.nn.SimpleRNN, tg.nn.LSTM, tg.nn.GRU])
def test_gradients_through_recurrent_layers(cls, x):
    tg.random.seed(0)
    layer = cls(3, return_sequences=True)
    layer(x)
    check_gradients(lambda xt: layer(xt), [x])
    # weights: compare one kernel entry with central differences
    k = layer.recurrent_kernel
    with tg.GradientTape() as tape:
        loss = tg.sum(layer(x) ** 2)
    g = tape.gradient(loss, k).numpy()[1, 2]
    w0 = k.numpy().copy()
    vals = []
    for sgn in (1, -1):
        w = w0.copy()
        w[1, 2] += sgn * 1e-6
        k.assign(w)
        vals.append(float(tg.sum(layer(x) ** 2)))
    k.assign(w0)
    np.testing.assert_allclose(g, (vals[0] - vals[1]) / 2e-6, rtol=1e-5)


@pytest.mark.parametrize("cls", [tg.nn.LSTM, tg.nn.GRU])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_fused_sequence_op_equals_the_step_loop(cls, go_backwards, x):
    """The default cells run as one fused op (`lstm_sequence`, `gru_sequence`); the step loop
    (used with masks and recurrent dropout) gives the same outputs, states and gradients."""

    class Looped(cls):
        def fused(self):
            return False

    kw = dict(return_sequences=True, return_state=True, go_backwards=go_backwards,
              bias_initializer="random_normal", dtype="float64")
    tg.random.seed(0)
    fused = cls(5, **kw)
    looped = Looped(5, **kw)
    fused.build(x.shape)
    looped.build(x.shape)
    looped.set_weights(fused.get_weights())
    h0 = [np.full((3, 5), 0.3)] * (2 if cls is tg.nn.LSTM else 1)
    results = []
    for layer in (fused, looped):
        xt = tg.Variable(x)
        with tg.GradientTape() as tape:
            outs = layer(xt, initial_state=[tg.tensor(s) for s in h0])
            loss = sum(tg.sum(o * np.linspace(-1, 1, o.shape[-1])) for o in outs)
        assert any(op.name.endswith("_sequence") for op in tape.ops) == (layer is fused)
        grads = tape.gradient(loss, [xt, *layer.trainable_variables])
        results.append([o.numpy() for o in outs] + [g.numpy() for g in grads])
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_unstack_time_gives_every_step_and_its_gradient():
    v = tg.Variable(np.arange(2 * 11 * 3, dtype=np.float64).reshape(2, 11, 3))
    with tg.GradientTape() as tape:
        steps = unstack_time(v)
        loss = sum(tg.sum(s) * (t + 1) for t, s in enumerate(steps))
    for t, s in enumerate(steps):
        np.testing.assert_array_equal(s.numpy(), v.numpy()[:, t])
    g = tape.gradient(loss, v).numpy()
    np.testing.assert_array_equal(g[0, :, 0], np.arange(1, 12))


def test_dropout_masks_are_fixed_over_time_and_only_in_training(x):
    tg.random.seed(0)
    layer = tg.nn.SimpleRNN(4, dropout=0.5, recurrent_dropout=0.5, return_sequences=True,
                            use_bias=False)
    infer = layer(x, training=False).numpy()
    np.testing.assert_array_equal(infer, layer(x).numpy())
    assert not np.allclose(layer(x, training=True).numpy(), infer)
    # the same input at every step and no recurrence: equal outputs at every step show
    # that the input mask is drawn once per call, not once per step
    ones = np.ones((1, 5, 4))
    layer2 = tg.nn.SimpleRNN(4, dropout=0.5, use_bias=False, recurrent_initializer="zeros",
                             return_sequences=True, kernel_initializer="ones")
    seq = layer2(ones, training=True).numpy()[0]
    np.testing.assert_allclose(seq, np.repeat(seq[:1], 5, axis=0))


def test_bidirectional_concat_matches_two_layers(x):
    bi = tg.nn.Bidirectional(tg.nn.GRU(3, return_sequences=True))
    out = bi(x)
    assert out.shape == (3, 6, 6)
    fwd = bi.forward_layer(x).numpy()
    bwd = bi.backward_layer(x).numpy()[:, ::-1]
    np.testing.assert_allclose(out.numpy(), np.concatenate([fwd, bwd], -1))
    assert bi.backward_layer.go_backwards and bi.forward_layer.name.startswith("forward_")
    assert len(bi.trainable_variables) == 6
    summed = tg.nn.Bidirectional(tg.nn.LSTM(3, return_state=True), merge_mode="sum")
    out, *states = summed(x)
    assert out.shape == (3, 3) and len(states) == 4


def test_shapes_and_errors():
    x = np.zeros((2, 7, 3))
    assert tg.nn.LSTM(4)(x).shape == (2, 4)
    assert tg.nn.GRU(4, return_sequences=True)(x).shape == (2, 7, 4)
    with pytest.raises(ValueError, match="my_lstm.*rank 3"):
        tg.nn.LSTM(4, name="my_lstm")(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="my_gru.*initial_state"):
        tg.nn.GRU(4, name="my_gru")(x, initial_state=[np.zeros((2, 5))])
    with pytest.raises(ValueError, match="dropout"):
        tg.nn.SimpleRNN(4, dropout=1.0)


def memory_data(n, steps, noise, seed):
    """Label = was the first element positive; the rest of the sequence is noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = (rng.standard_normal((n, steps, 1)) * noise).astype(np.float32)
    x[:, 0, 0] = (2 * y - 1) * (0.5 + rng.random(n))
    return x, y.astype(np.float32)


def train_memory(cls, steps, noise, seed=0, max_epochs=15, stop_at=None):
    """Train `cls(8)` + Dense(1) with Adam on the memory task; (test accuracy, epochs run).

    With `stop_at`, training stops after the first epoch whose test accuracy reaches it."""
    tg.random.seed(seed)
    xtr, ytr = memory_data(512, steps, noise, seed)
    xte, yte = memory_data(256, steps, noise, seed + 100)
    rnn, head = cls(8), tg.nn.Dense(1)
    opt = Adam(0.02)
    rng = np.random.default_rng(seed)

    def accuracy():
        return float(((tg.reshape(head(rnn(xte)), (-1,)).numpy() > 0) == yte).mean())

    for epoch in range(max_epochs):
        perm = rng.permutation(len(xtr))
        for s in range(0, len(xtr), 32):
            i = perm[s:s + 32]
            with tg.GradientTape() as tape:
                z = tg.reshape(head(rnn(xtr[i])), (-1,))
                loss = tg.mean(tg.softplus(z) - ytr[i] * z)  # sigmoid cross-entropy
            vs = rnn.trainable_variables + head.trainable_variables
            opt.apply_gradients(zip(tape.gradient(loss, vs), vs, strict=True))
        if stop_at is not None and accuracy() >= stop_at:
            return accuracy(), epoch + 1
    return accuracy(), max_epochs


# The scores below, for tools/seed_spread.py (seed -> numbers); the tests assert them.
MEMORY_EPOCHS = 100


def simple_rnn_remembers_20(seed):
    return train_memory(tg.nn.SimpleRNN, 20, noise=0.5, seed=seed, max_epochs=MEMORY_EPOCHS,
                        stop_at=0.95)


def lstm_remembers_20(seed):
    return train_memory(tg.nn.LSTM, 20, noise=0.5, seed=seed, max_epochs=MEMORY_EPOCHS,
                        stop_at=0.95)


def gru_remembers_20(seed):
    return train_memory(tg.nn.GRU, 20, noise=0.5, seed=seed, max_epochs=MEMORY_EPOCHS,
                        stop_at=0.95)


@pytest.mark.training
@pytest.mark.parametrize("score", [simple_rnn_remembers_20, lstm_remembers_20, gru_remembers_20],
                         ids=["SimpleRNN", "LSTM", "GRU"])
def test_recurrent_layers_remember_the_first_of_20_steps(score):
    """Each cell (8 units, Adam 0.02) learns to carry the sign of step 1 through 19 steps of
    noise to >= 95% test accuracy, stopping at the first epoch that gets there, within
    MEMORY_EPOCHS. Epochs needed, seeds 0-19 x OPENBLAS_CORETYPE Haswell/SkylakeX/Prescott
    (tools/seed_spread.py, min / median / max over the 60 runs): SimpleRNN 1 / 1 / 53, LSTM
    1 / 2 / 11, GRU 6 / 13 / 63; seed 0 (the test) needs 1, 2 and 15-16 on every kernel.
    A fixed budget of 15 epochs was fragile: GRU seed 0 scored 0.805 on Haswell and 0.984 on
    Prescott, and seeds 2 and 5 stayed near chance. (An LSTM-beats-SimpleRNN test on 40 steps of
    unit noise was dropped: in 15 epochs the LSTM itself stayed near chance for 3 of seeds 0-5.)"""
    accuracy, epochs = score(0)
    assert accuracy >= 0.95, (accuracy, epochs)
