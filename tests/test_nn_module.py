"""Module: tracking and naming, lazy and explicit build, summary, get/set weights and the
.npz weights file (round trip, corrupted file, missing/extra keys, shape mismatch)."""

import os
import zipfile

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn


@pytest.fixture(autouse=True)
def _fresh_names():
    nn.reset_names()
    yield


def mlp():
    return nn.Sequential([nn.Dense(4, activation="relu"), nn.BatchNormalization(),
                          nn.Dense(2)])


# -- tracking and naming -----------------------------------------------------------------------

def test_unique_readable_names():
    a, b, c = nn.Dense(1), nn.Dense(1), nn.BatchNormalization()
    assert (a.name, b.name, c.name) == ("dense", "dense_1", "batch_normalization")
    assert nn.Dense(1, name="head").name == "head"
    b(np.ones((2, 3)))
    assert [v.name for v in b.variables] == ["dense_1/kernel", "dense_1/bias"]


def test_tracking_in_lists_and_dicts_in_assignment_order():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = [nn.Dense(3), nn.Dense(3)]
            self.heads = {"a": nn.Dense(1), "b": nn.Dense(2)}
            self.scale = tg.Variable(np.float32(2.0))
            self.frozen = tg.Variable(np.zeros(3, np.float32), trainable=False)
            self.config = (1, 2)  # plain data is ignored

        def call(self, x, training=False):
            for blk in self.blocks:
                x = blk(x)
            return self.heads["a"](x) * self.scale + self.heads["b"](x).sum()

    net = Net()
    assert net.name == "net"
    net(np.ones((2, 5), np.float32))
    names = [v.name for v in net.variables]
    assert names == ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias",
                     "dense_2/kernel", "dense_2/bias", "dense_3/kernel", "dense_3/bias",
                     "net/scale", "net/frozen"]
    assert [v.name for v in net.non_trainable_variables] == ["net/frozen"]
    assert len(net.trainable_variables) == 9
    assert [m.name for m in net.layers] == ["dense", "dense_1", "dense_2", "dense_3"]
    net.blocks.append(nn.Dense(3))  # in-place changes are seen
    assert len(net.layers) == 5
    with tg.GradientTape() as tape:
        tg.sum(net(np.ones((2, 5), np.float32)))
    scopes = {op.scope for op in tape.ops}
    assert {"net/dense", "net/dense_1", "net/dense_4"} <= scopes


def test_shared_layer_counted_once_and_frozen_layer_not_trainable():
    shared = nn.Dense(3)
    model = nn.Sequential([shared, nn.Activation("relu"), shared])
    model(np.ones((1, 3), np.float32))
    assert len(model.variables) == 2
    shared.trainable = False
    assert model.trainable_variables == [] and len(model.non_trainable_variables) == 2


def test_reassigning_an_attribute_replaces_tracking():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Dense(2)

        def call(self, x):
            return x

    net = Net()
    net.a = None
    assert net.layers == []


def test_build_up_front_and_input_shape():
    layer = nn.Dense(3)
    layer.build((None, 5))
    assert layer.built and layer.kernel.shape == (5, 3)
    model = nn.Sequential([nn.Input((4,)), nn.Dense(3), nn.Dense(1)])
    assert model.built and [v.shape for v in model.variables] == [(4, 3), (3,), (3, 1), (1,)]
    model2 = nn.Sequential([nn.Dense(3, input_shape=(6,))])
    assert model2.built and model2.variables[0].shape == (6, 3)
    model3 = nn.Sequential([nn.Dense(3)])
    assert not model3.built
    model3.build((None, 2))
    assert model3.variables[0].shape == (2, 3)


def test_custom_layer_with_add_weight_and_super_build():
    class Scale(nn.Module):
        def build(self, input_shape):
            self.w = self.add_weight("w", (input_shape[-1],), initializer="ones",
                                     regularizer=tg.regularizers.l2(1.0))
            super().build(input_shape)

        def call(self, inputs, training=False):
            return inputs * self.w

    s = Scale()
    out = s(tg.tensor(np.full((2, 3), 2.0)))
    np.testing.assert_array_equal(out.numpy(), np.full((2, 3), 2.0))
    assert s.built and s.w.name == "scale/w" and s.w.dtype == np.float64
    assert float(s.losses[0]) == 3.0


def test_unbuilt_call_without_layers_and_bad_arguments():
    with pytest.raises(ValueError, match="without layers"):
        nn.Sequential()(np.ones((1, 2)))
    with pytest.raises(TypeError, match="expected a layer"):
        nn.Sequential([lambda x: x])
    with pytest.raises(TypeError, match="unexpected keyword"):
        nn.Dense(2, units_typo=3)
    with pytest.raises(NotImplementedError):
        nn.Module()(np.ones(2))


# -- summary ---------------------------------------------------------------------------------

def test_summary(capsys):
    model = nn.Sequential([nn.Dense(8, activation="relu"), nn.Dropout(0.5), nn.Dense(3)])
    with pytest.raises(ValueError, match="not been built"):
        model.summary()
    model(np.zeros((5, 4), np.float32))
    model.summary()
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == 'Model: "sequential"'
    assert lines[2] == " Layer (type)                Output Shape              Param #"
    assert " dense (Dense)               (None, 8)                 40" in lines
    assert " dropout (Dropout)           (None, 8)                 0" in lines
    assert " dense_1 (Dense)             (None, 3)                 27" in lines
    assert "Total params: 67" in lines and "Trainable params: 67" in lines
    assert "Non-trainable params: 0" in lines
    bn = nn.Sequential([nn.Input((3,)), nn.BatchNormalization()])
    printed = []
    bn.summary(print_fn=printed.append)
    assert "Non-trainable params: 6" in printed and "Total params: 12" in printed


# -- get/set weights ---------------------------------------------------------------------------

def test_get_and_set_weights():
    model = mlp()
    model(np.ones((3, 5), np.float32))
    w = model.get_weights()
    assert [a.shape for a in w] == [v.shape for v in model.variables]
    w[0][:] = 0  # copies: the model is not changed
    assert not (model.variables[0].numpy() == 0).all()
    new = [np.full(a.shape, i, np.float64) for i, a in enumerate(w)]
    model.set_weights(new)
    assert model.variables[3].numpy().dtype == np.float32
    np.testing.assert_array_equal(model.variables[3].numpy(), 3)
    bad = [*new[:-1], np.zeros((7,))]
    before = model.get_weights()
    with pytest.raises(ValueError, match="shape mismatch"):
        model.set_weights(bad)
    with pytest.raises(ValueError, match="has 8 variables, got 7"):
        model.set_weights(new[:-1])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# -- weights files -----------------------------------------------------------------------------

def trained_model():
    tg.random.seed(0)
    model = mlp()
    x = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    model(x, training=True)  # moves the batch-norm statistics too
    return model, x


def assert_same(a_weights, model):
    for a, v in zip(a_weights, model.variables):
        np.testing.assert_array_equal(a, v.numpy())


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    model, x = trained_model()
    path = tmp_path / "model.npz"
    model.save_weights(path)
    expected = model(x).numpy()
    with np.load(path, allow_pickle=False) as f:  # keys by position; the names stored too
        assert list(f["__names__"]) == [v.name for v in model.variables]
        assert all(k.split("/")[0].isdigit() for k in f.files if k != "__names__")
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    assert not np.array_equal(model(x).numpy(), expected)
    model.load_weights(path)
    np.testing.assert_array_equal(model(x).numpy(), expected)
    assert [p for p in os.listdir(tmp_path) if p != "model.npz"] == []  # no temp files left
    # a second model of the same shape has other automatic names: loaded by structure (Keras)
    other = mlp()
    other(x)
    with pytest.raises(ValueError, match="missing from the file"):
        other.load_weights(path, by_name=True)
    other.load_weights(path)
    np.testing.assert_array_equal(other(x).numpy(), expected)


def test_corrupted_file_raises_and_leaves_weights(tmp_path):
    model, _ = trained_model()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    before = model.get_weights()
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 40] = b"\x00" * 40
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not a readable .npz weights file"):
        model.load_weights(path)
    assert_same(before, model)
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable"):
        model.load_weights(path)
    path.write_bytes(bytes(data[: len(data) // 3]))  # truncated
    with pytest.raises(ValueError, match="not a readable"):
        model.load_weights(path)
    assert_same(before, model)
    with pytest.raises(FileNotFoundError):
        model.load_weights(tmp_path / "absent.npz")


def _rewrite(path, change):
    """Rewrite the file in the earlier format (keyed by variable name, still loadable)."""
    with np.load(path, allow_pickle=False) as f:
        names = list(f["__names__"])
        arrays = dict(zip(names, (f[k] for k in sorted(set(f.files) - {"__names__"}))))
    change(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_missing_key_raises_naming_it_and_leaves_weights(tmp_path):
    model, _ = trained_model()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    _rewrite(path, lambda a: a.pop("dense_1/bias"))
    model.set_weights([w + 1 for w in model.get_weights()])
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"missing from the file: \['dense_1/bias'\]"):
        model.load_weights(path, by_name=True)
    with pytest.raises(ValueError, match="holds 7 arrays but .* has 8 variables"):
        model.load_weights(path)
    assert_same(before, model)


def test_extra_key_raises_naming_it_and_leaves_weights(tmp_path):
    model, _ = trained_model()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    _rewrite(path, lambda a: a.update({"dense_9/kernel": np.zeros(2)}))
    model.set_weights([w + 1 for w in model.get_weights()])
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"not in the model: \['dense_9/kernel'\]"):
        model.load_weights(path, by_name=True)
    assert_same(before, model)


def test_shape_mismatch_raises_naming_it_and_leaves_weights(tmp_path):
    model, _ = trained_model()
    path = tmp_path / "w.npz"
    model.save_weights(path)

    def change(a):
        a["dense/kernel"] = a["dense/kernel"] * 0  # valid, would be assigned first
        a["dense_1/kernel"] = np.zeros((4, 3), np.float32)

    _rewrite(path, change)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"shape mismatch for .*dense_1/kernel.*\(4, 3\)"):
        model.load_weights(path)
    with pytest.raises(ValueError, match=r"shape mismatch for dense_1/kernel.*\(4, 3\)"):
        model.load_weights(path, by_name=True)
    assert_same(before, model)


def test_pickled_object_arrays_are_refused(tmp_path):
    model, _ = trained_model()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    _rewrite(path, lambda a: a.update({"dense/kernel": np.array([{"x": 1}], dtype=object)}))
    before = model.get_weights()
    with pytest.raises(ValueError, match="not a readable"):
        model.load_weights(path)
    assert_same(before, model)
    assert zipfile.is_zipfile(path)


def test_save_requires_built_model_and_loading_by_name_distinct_names(tmp_path):
    with pytest.raises(ValueError, match="no variables yet"):
        mlp().save_weights(tmp_path / "x.npz")
    model = nn.Sequential([nn.Dense(2, name="same"), nn.Dense(2, name="same")])
    model(np.ones((1, 2), np.float32))
    model.save_weights(tmp_path / "x.npz")  # positions keep the two apart
    with pytest.raises(ValueError, match="two variables of .* are named 'same/kernel'"):
        model.load_weights(tmp_path / "x.npz", by_name=True)
    model.load_weights(tmp_path / "x.npz")
