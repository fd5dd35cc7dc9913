"""Weights to and from PyTorch and Keras: the same architecture gives the same outputs
(float32, rtol 1e-5) after moving the weights either way."""

import os

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.integrations import from_keras, from_torch, to_keras, to_torch_state_dict

# Keras 3's torch backend converts its variables with np.array(x) (its own deprecation).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

N = tg.nn
RNG = np.random.default_rng(0)
SEQ = RNG.normal(size=(4, 6, 3)).astype(np.float32)
IMG = RNG.normal(size=(4, 8, 8, 3)).astype(np.float32)
VEC = RNG.normal(size=(4, 5)).astype(np.float32)
IDS = RNG.integers(0, 10, size=(4, 6))


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# -- PyTorch ---------------------------------------------------------------------------------

torch_cases = {}
try:
    import torch
    from torch import nn as tnn
except ImportError:  # the interop extra is not installed: the torch tests skip
    torch = None


def _rnn_out(kind):
    class Last(tnn.Module):  # the last hidden state of a batch-first RNN, as Keras returns
        def __init__(self):
            super().__init__()
            self.rnn = getattr(tnn, kind)(3, 5, batch_first=True)

        def forward(self, x):
            return self.rnn(x)[0][:, -1]

    return Last


if torch is not None:
    class ToNCHW(tnn.Module):
        def forward(self, x):
            return x.permute(0, 3, 1, 2)

    class ToNWC(tnn.Module):
        def forward(self, x):
            return x.permute(0, 2, 1)

    class Mean(tnn.Module):
        def __init__(self, dims):
            super().__init__()
            self.dims = dims

        def forward(self, x):
            return x.mean(self.dims)

    torch_cases = {
        "mlp": (lambda: N.Sequential([N.Dense(8, activation="tanh"), N.LayerNormalization(
            epsilon=1e-5), N.Dense(2)]), lambda: tnn.Sequential(
            tnn.Linear(5, 8), tnn.Tanh(), tnn.LayerNorm(8, eps=1e-5), tnn.Linear(8, 2)), VEC),
        "cnn": (lambda: N.Sequential([
            N.Conv2D(4, 3, padding="same", activation="relu"), N.BatchNormalization(epsilon=1e-5),
            N.DepthwiseConv2D(3, depth_multiplier=2), N.GlobalAveragePooling2D(), N.Dense(2)]),
            lambda: tnn.Sequential(ToNCHW(), tnn.Conv2d(3, 4, 3, padding="same"), tnn.ReLU(),
                                   tnn.BatchNorm2d(4, eps=1e-5), tnn.Conv2d(4, 8, 3, groups=4),
                                   Mean((2, 3)), tnn.Linear(8, 2)), IMG),
        "conv1d": (lambda: N.Sequential([N.Conv1D(4, 3), N.GlobalAveragePooling1D()]),
                   lambda: tnn.Sequential(ToNWC(), tnn.Conv1d(3, 4, 3), Mean((2,))), None),
        "embedding": (lambda: N.Sequential([N.Embedding(10, 3), N.GlobalAveragePooling1D()]),
                      lambda: tnn.Sequential(tnn.Embedding(10, 3), Mean((1,))), IDS),
        "simple_rnn": (lambda: N.Sequential([N.SimpleRNN(5)]), _rnn_out("RNN"), SEQ),
        "lstm": (lambda: N.Sequential([N.LSTM(5)]), _rnn_out("LSTM"), SEQ),
        "gru": (lambda: N.Sequential([N.GRU(5)]), _rnn_out("GRU"), SEQ),
    }
    torch_cases["conv1d"] = (*torch_cases["conv1d"][:2], SEQ)


def _torch_run(module, x):
    module.eval()
    with torch.no_grad():
        return module(torch.from_numpy(np.asarray(x))).numpy()


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed (the interop extra)")
@pytest.mark.parametrize("case", sorted(torch_cases))
def test_to_torch_then_back(case):
    make, make_torch, x = torch_cases[case]
    tg.random.seed(0)
    torch.manual_seed(0)
    model, module = make(), make_torch()
    model(x)
    for v in model.variables:  # non-trivial statistics and biases
        v.assign(v.numpy() + RNG.normal(0, 0.1, size=v.shape).astype(np.float32)
                 if "variance" not in v.name else RNG.uniform(0.5, 2, size=v.shape))
    module.load_state_dict(to_torch_state_dict(model, module))
    close(_torch_run(module, x), model.predict(x))
    # and back: a fresh model takes the torch weights (module and state-dict forms)
    tg.random.seed(1)
    other = make()
    other(x)
    from_torch(other, module)
    close(other.predict(x), model.predict(x))
    want = model.predict(x)  # the state-dict form is keyed by this model's layer names
    sd = to_torch_state_dict(model)
    for v in model.variables:
        v.assign(np.zeros(v.shape, v.dtype))
    from_torch(model, sd)
    close(model.predict(x), want)


@pytest.mark.skipif(torch is None, reason="PyTorch is not installed (the interop extra)")
def test_torch_errors():
    model = N.Sequential([N.Conv2D(2, 3), N.Flatten(), N.Dense(2)])
    model(IMG)
    with pytest.raises(ValueError, match="channels-first"):
        to_torch_state_dict(model)
    mlp = N.Sequential([N.Dense(3), N.Dense(2)])
    mlp(VEC)
    with pytest.raises(ValueError, match="2 layers with weights"):
        from_torch(mlp, tnn.Sequential(tnn.Linear(5, 3)))
    with pytest.raises(ValueError, match="shape"):
        to_torch_state_dict(mlp, tnn.Sequential(tnn.Linear(5, 4), tnn.Linear(4, 2)))
    gru = N.Sequential([N.GRU(3, reset_after=False)])
    gru(SEQ)
    with pytest.raises(ValueError, match="reset_after"):
        to_torch_state_dict(gru)


# -- Keras -----------------------------------------------------------------------------------

def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except Exception as e:  # not installed, or no backend to run on
        pytest.skip(f"Keras 3 with a backend is not available: {e}")
    return keras


def keras_cases(keras):
    L = keras.layers
    return {
        "cnn": (lambda: N.Sequential([
            N.Conv2D(4, 3, activation="relu"), N.BatchNormalization(), N.MaxPooling2D(2),
            N.SeparableConv2D(5, 2, padding="same"), N.DepthwiseConv2D(2), N.Flatten(),
            N.Dense(3, activation="softmax")]),
            lambda: keras.Sequential([
                keras.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu"),
                L.BatchNormalization(), L.MaxPooling2D(2), L.SeparableConv2D(5, 2, padding="same"),
                L.DepthwiseConv2D(2), L.Flatten(), L.Dense(3, activation="softmax")]), IMG),
        "rnn": (lambda: N.Sequential([N.LSTM(4, return_sequences=True),
                                      N.GRU(3, return_sequences=True), N.SimpleRNN(2),
                                      N.LayerNormalization()]),
                lambda: keras.Sequential([keras.Input((6, 3)), L.LSTM(4, return_sequences=True),
                                          L.GRU(3, return_sequences=True), L.SimpleRNN(2),
                                          L.LayerNormalization()]), SEQ),
        "embedding_bidirectional": (
            lambda: N.Sequential([N.Embedding(10, 3), N.Bidirectional(N.LSTM(2))]),
            lambda: keras.Sequential([keras.Input((6,), dtype="int32"), L.Embedding(10, 3),
                                      L.Bidirectional(L.LSTM(2))]), IDS),
    }


@pytest.mark.parametrize("case", ["cnn", "rnn", "embedding_bidirectional"])
def test_keras_roundtrip(case):
    keras = _keras()
    make, make_keras, x = keras_cases(keras)[case]
    keras.utils.set_random_seed(0)
    kmodel = make_keras()
    for layer in kmodel.layers:  # move BatchNormalization statistics off (0, 1)
        if layer.weights and type(layer).__name__ == "BatchNormalization":
            layer.set_weights([w + RNG.uniform(0.1, 0.5, size=w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    tg.random.seed(0)
    model = make()
    model(x)
    from_keras(model, kmodel)
    want = np.asarray(kmodel.predict(x, verbose=0))
    close(model.predict(x), want)
    # and back into a freshly initialised Keras model
    keras.utils.set_random_seed(1)
    fresh = make_keras()
    to_keras(model, fresh)
    close(np.asarray(fresh.predict(x, verbose=0)), want)


def test_keras_mismatch_is_named():
    keras = _keras()
    kmodel = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    model = N.Sequential([N.LayerNormalization()])
    model(VEC)
    with pytest.raises(ValueError, match="is a LayerNormalization but the Keras layer"):
        from_keras(model, kmodel)
