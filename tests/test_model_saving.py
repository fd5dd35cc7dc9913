"""Whole-model saving (issue 13): `model.save(path)` / `tg.nn.load_model(path)` round trips give
identical predictions for Sequential, functional (multi-IO, shared and nested) and registered
subclassed models; configs of every kind of layer; clear errors for unknown classes, lambdas
and damaged files; the file is written atomically and read without pickle."""

import json
import os

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _fresh_names():
    nn.reset_names()
    yield


def roundtrip(model, tmp_path, *xs, same_names=True, **load_kwargs):
    """Save, load into a new model, compare predictions bit for bit; returns the new model.
    (Sub-layers made in a subclassed model's __init__ get fresh automatic names, as in Keras,
    so their variable names may differ: weights are matched by order.)"""
    path = tmp_path / "m.tapegrad"
    model.save(path)
    again = nn.load_model(path, **load_kwargs)
    assert again is not model and type(again) is type(model)
    x = xs[0] if len(xs) == 1 else list(xs)
    a, b = model(x), again(x)
    if isinstance(a, dict):
        assert list(a) == list(b)
        a, b = list(a.values()), list(b.values())
    for u, v in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
        np.testing.assert_array_equal(u.numpy(), v.numpy())
    if same_names:
        assert [v.name for v in again.variables] == [v.name for v in model.variables]
    return again


def test_sequential_roundtrip_with_many_layer_kinds(tmp_path):
    model = nn.Sequential([
        nn.Input((8, 8, 1)),
        nn.Conv2D(4, 3, padding="same", activation="relu",
                  kernel_initializer=tg.nn.initializers.HeNormal(seed=1),
                  kernel_regularizer=tg.nn.regularizers.L2(1e-3)),
        nn.BatchNormalization(momentum=0.9),
        nn.MaxPooling2D(2),
        nn.Conv2DTranspose(2, 3, strides=2, padding="same"),
        nn.ZeroPadding2D(1), nn.Cropping2D(1), nn.Reshape((-1,)),
        nn.Dropout(0.25), nn.Dense(5, activation="softmax"),
    ])
    x = RNG.random((3, 8, 8, 1)).astype(np.float32)
    model(x, training=True)  # move the BatchNorm statistics away from their initial values
    again = roundtrip(model, tmp_path, x)
    conv = again.layers[0]
    assert isinstance(conv.kernel_initializer, tg.nn.initializers.HeNormal)
    assert conv.kernel_initializer.seed == 1 and len(again.losses) == 1
    assert again.layers[1].momentum == 0.9
    np.testing.assert_array_equal(again.layers[1].moving_mean.numpy(),
                                  model.layers[1].moving_mean.numpy())


def test_sequential_without_input_built_by_a_call(tmp_path):
    model = nn.Sequential([nn.Embedding(30, 4), nn.LSTM(3, return_sequences=True),
                           nn.Bidirectional(nn.GRU(2)), nn.Dense(1)])
    x = RNG.integers(0, 30, (2, 5))
    model(x)
    roundtrip(model, tmp_path, x)


def test_functional_multi_io_shared_and_nested_roundtrip(tmp_path):
    inner_in = nn.Input((4,))
    inner = nn.Model(inner_in, nn.Dense(3, activation="tanh")(inner_in), name="encoder")
    a, b = nn.Input((4,), name="a"), nn.Input((4,), name="b")
    shared = nn.Dense(4, name="shared")
    ea, eb = inner(shared(a)), inner(shared(b))
    merged = nn.Concatenate()([ea, eb, nn.Dot(axes=1, normalize=True)([ea, eb])])
    model = nn.Model([a, b], [nn.Dense(1, name="score")(merged),
                              nn.Dense(2, activation="softmax", name="label")(merged)])
    xa, xb = RNG.random((3, 4)), RNG.random((3, 4))
    again = roundtrip(model, tmp_path, xa, xb)
    assert again.input_names == ["a", "b"] and again.output_names == ["score", "label"]
    assert len(again.get_layer("shared")._inbound_nodes) == 2
    assert isinstance(again.get_layer("encoder"), nn.Model)
    dict_model = nn.Model({"a": a}, {"out": nn.Dense(2)(a)})
    again = roundtrip(dict_model, tmp_path, {"a": xa})
    assert again.output_names == ["out"]


@nn.register_serializable()
class Scaled(nn.Layer):
    """A custom layer with its own argument and weight."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1],), "random_normal")

    def call(self, x):
        return x * self.w * self.factor


@nn.register_serializable(name="ResidualMLP")
class ResidualMLP(nn.Model):
    """A registered subclassed model (DLwP chapter 7's subclassing style)."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = nn.Dense(units, activation="relu")
        self.scale = Scaled(0.5)
        self.out = nn.Dense(1)

    def call(self, x, training=False):
        h = self.hidden(x)
        return self.out(h + self.scale(h))


def test_registered_subclassed_model_and_custom_layer_roundtrip(tmp_path):
    model = ResidualMLP(units=6, name="res")
    x = RNG.random((5, 3)).astype(np.float32)
    model(x)
    again = roundtrip(model, tmp_path, x, same_names=False)
    assert again.units == 6 and again.name == "res" and again.scale.factor == 0.5
    inp = nn.Input((3,))
    functional = nn.Model(inp, Scaled(3.0)(inp))
    roundtrip(functional, tmp_path, x)


def test_unknown_layer_class_error_names_it_and_how_to_register(tmp_path):
    class Unregistered(nn.Layer):
        def call(self, x):
            return x + 1.0

    inp = nn.Input((2,))
    model = nn.Model(inp, Unregistered(name="plus_one")(inp))
    path = tmp_path / "m.tapegrad"
    model.save(path)
    with pytest.raises(ValueError, match=r"unknown layer 'Unregistered'.*"
                                         r"@tg.nn.register_serializable\(\).*custom_objects"):
        nn.load_model(path)
    again = nn.load_model(path, custom_objects={"Unregistered": Unregistered})
    np.testing.assert_array_equal(again(np.zeros((1, 2))).numpy(), [[1.0, 1.0]])


def test_lambda_functions_must_be_registered_not_pickled(tmp_path):
    inp = nn.Input((2,))
    model = nn.Model(inp, nn.Lambda(lambda t: t * 2.0)(inp))
    with pytest.raises(TypeError, match="cannot save argument.*lambda.*register_serializable"):
        model.save(tmp_path / "m.tapegrad")
    assert not (tmp_path / "m.tapegrad").exists()

    @nn.register_serializable(name="test_saving.double")
    def double(t):
        return t * 2.0

    model = nn.Model(inp, nn.Lambda(double)(inp))
    roundtrip(model, tmp_path, np.ones((1, 2)))


def test_file_is_an_npz_with_json_config_and_damage_is_reported(tmp_path):
    model = nn.Sequential([nn.Input((3,)), nn.Dense(2, name="d")])
    path = tmp_path / "sub" / "m.tapegrad"  # the folder is created
    model.save(path)
    with np.load(path, allow_pickle=False) as data:
        config = json.loads(str(data["__config__"]))
    assert config["model"]["class_name"] == "Sequential"
    assert [w["name"] for w in config["weights"]] == ["d/kernel", "d/bias"]
    assert not [f for f in os.listdir(path.parent) if f.startswith(".tmp")]
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable tapegrad model file"):
        nn.load_model(path)
    weights = tmp_path / "w.npz"
    model.save_weights(weights)
    with pytest.raises(ValueError, match="no model config.*load_weights"):
        nn.load_model(weights)
    with pytest.raises(ValueError, match="not been built"):
        nn.Sequential([nn.Dense(2)]).save(tmp_path / "x.tapegrad")


def test_frozen_layers_stay_frozen_after_loading(tmp_path):
    model = nn.Sequential([nn.Input((3,)), nn.Dense(4), nn.Dense(1)])
    model.layers[0].trainable = False
    again = roundtrip(model, tmp_path, np.ones((1, 3)))
    assert [layer.trainable for layer in again.layers] == [False, True]
    assert len(again.trainable_variables) == 2


def test_get_config_from_config_of_builtin_layers():
    for layer in (nn.Dense(3, activation="relu", use_bias=False), nn.Conv2D(2, (3, 1)),
                  nn.Dropout(0.3, seed=4), nn.Concatenate(axis=1), nn.Reshape((2, -1)),
                  nn.LSTM(4, return_sequences=True, dropout=0.1), nn.Embedding(10, 3)):
        config = layer.get_config()
        twin = type(layer).from_config(config)
        assert twin.get_config() == config


def test_operators_on_symbolic_tensors_roundtrip(tmp_path):
    x, y = nn.Input((3,)), nn.Input((3,))
    z = (x + y) * 2 - 1.0 / (x * x + 1) + np.ones(3)
    model = nn.Model([x, y], [-z[:, 1:] ** 2, x @ np.full((3, 2), 0.5)])
    roundtrip(model, tmp_path, RNG.random((2, 3)), RNG.random((2, 3)))


def test_call_arguments_with_arrays_and_layers_roundtrip(tmp_path):
    """Constants in layer calls (an array operand, a dict argument) survive the config."""
    x = nn.Input((2,))
    model = nn.Model(x, {"scaled": x * np.array([2.0, 3.0]), "dense": nn.Dense(1)(x)})
    again = roundtrip(model, tmp_path, RNG.random((4, 2)))
    assert again.output_names == ["scaled", "dense"]


def test_encoder_decoder_with_symbolic_initial_state_roundtrip(tmp_path):
    """Symbolic tensors in keyword arguments (a decoder LSTM started from the encoder's
    states, DLwP's sequence-to-sequence model) are part of the graph and of the config."""
    source, target = nn.Input((5, 3)), nn.Input((4, 2))
    _, h, c = nn.LSTM(4, return_state=True)(source)
    decoded = nn.LSTM(4, return_sequences=True)(target, initial_state=[h, c])
    model = nn.Model([source, target], nn.Dense(1)(decoded))
    lines = []
    model.summary(print_fn=lines.append)
    assert any(line.strip() == "lstm[0][2]" for line in lines)
    roundtrip(model, tmp_path, RNG.random((2, 5, 3)), RNG.random((2, 4, 2)))
