"""The functional API (issue 13): Input and symbolic tensors, Model(inputs, outputs) DAGs with
several inputs and outputs, shared layers, nested models, get_layer/layers/inputs/outputs,
intermediate-activations models, functional = subclassed numbers, summary's "Connected to",
plot_model's DAG, and the Layer/Model split (layers do not train)."""

import gc
import threading

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn


@pytest.fixture(autouse=True)
def _fresh_names():
    nn.reset_names()
    yield


def toy_71(vocab=50, tags=6, departments=4):
    """DLwP 7.1's ticket model, shrunk: title and body as bag-of-words vectors plus tags in,
    a priority (sigmoid regression) and a department (softmax) out."""
    title = nn.Input((vocab,), name="title")
    body = nn.Input((vocab,), name="text_body")
    tag = nn.Input((tags,), name="tags")
    features = nn.Concatenate()([title, body, tag])
    features = nn.Dense(16, activation="relu")(features)
    priority = nn.Dense(1, activation="sigmoid", name="priority")(features)
    department = nn.Dense(departments, activation="softmax", name="department")(features)
    return nn.Model(inputs=[title, body, tag], outputs=[priority, department])


# -- symbolic tensors ------------------------------------------------------------------------

def test_input_is_symbolic_with_none_batch_and_layer_calls_give_shapes():
    x = nn.Input(shape=(28, 28, 1), name="image")
    assert x.shape == (None, 28, 28, 1) and x.dtype == np.float32 and x.name == "image"
    y = nn.Conv2D(8, 3, strides=2, padding="same")(x)
    assert y.shape == (None, 14, 14, 8)
    assert y.node.layer.name == "conv2d"
    seq = nn.Input((None,), dtype="int64")
    emb = nn.Embedding(20, 4)(seq)
    assert emb.shape == (None, None, 4)  # the variable time axis stays None
    assert nn.LSTM(3, return_sequences=True)(emb).shape == (None, None, 3)


def test_python_operators_on_symbolic_tensors_are_layers_and_functions_are_refused():
    """As in Keras 3: `x * 2`, `a + b`, `-x`, `x[:, :2]` record layers (TensorOp); values and
    tapegrad functions on a symbolic tensor raise with the fix (a Lambda layer)."""
    x, y = nn.Input((3,)), nn.Input((3,))
    z = (x + y) * 2 - 1.0 / (x * x + 1) + np.ones(3)
    w = -z[:, :2] ** 2
    model = nn.Model([x, y], [z, w, x @ np.ones((3, 2))])
    a, b = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    want_z = (a + b) * 2 - 1.0 / (a * a + 1) + 1
    got = model([a, b])
    np.testing.assert_allclose(got[0].numpy(), want_z, rtol=1e-6)
    np.testing.assert_allclose(got[1].numpy(), -want_z[:, :2] ** 2, rtol=1e-6)
    np.testing.assert_allclose(got[2].numpy(), a @ np.ones((3, 2)), rtol=1e-6)
    assert type(z.node.layer).__name__ == "TensorOp"
    with pytest.raises(TypeError, match="symbolic.*Lambda"):
        tg.exp(x)
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(x)
    with pytest.raises(TypeError, match="symbolic"):
        bool(x)


def test_symbolic_call_does_not_update_batchnorm_statistics_or_record():
    x = nn.Input((3,))
    bn = nn.BatchNormalization()
    with tg.GradientTape() as tape:
        bn(x, training=True)
    assert len(list(tape.ops)) == 0
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(3))


# -- multi-input, multi-output --------------------------------------------------------------

def test_multi_input_multi_output_forward_by_position_and_by_name():
    model = toy_71()
    assert model.input_names == ["title", "text_body", "tags"]
    assert model.output_names == ["priority", "department"]
    rng = np.random.default_rng(0)
    xs = [rng.random((5, 50)), rng.random((5, 50)), rng.random((5, 6))]
    p, d = model(xs)
    assert p.shape == (5, 1) and d.shape == (5, 4)
    np.testing.assert_allclose(d.numpy().sum(axis=1), 1.0, rtol=1e-5)
    p2, d2 = model(dict(zip(model.input_names, xs)))
    np.testing.assert_array_equal(p.numpy(), p2.numpy())
    np.testing.assert_array_equal(d.numpy(), d2.numpy())
    assert [t.name for t in model.inputs] == model.input_names
    assert [t.shape for t in model.outputs] == [(None, 1), (None, 4)]
    assert [type(x).__name__ for x in model.layers] == [
        "InputLayer", "InputLayer", "InputLayer", "Concatenate", "Dense", "Dense", "Dense"]
    # gradients flow to every weight through both heads
    with tg.GradientTape() as tape:
        p, d = model(xs, training=True)
        loss = tg.mean(p) + tg.mean(d * d)
    grads = tape.gradient(loss, model.trainable_variables)
    assert len(grads) == 6 and all(g is not None for g in grads)


def test_dict_outputs_and_wrong_inputs_are_clear():
    a = nn.Input((2,), name="a")
    model = nn.Model({"a": a}, {"score": nn.Dense(1)(a), "same": nn.Identity()(a)})
    out = model({"a": np.ones((3, 2))})
    assert set(out) == {"score", "same"} and out["score"].shape == (3, 1)
    assert model.output_names == ["score", "same"]
    with pytest.raises(ValueError, match=r"input 'a' expects shape \(None, 2\).*\(3, 5\)"):
        model({"a": np.ones((3, 5))})
    with pytest.raises(ValueError, match="missing \\['a'\\]"):
        model({"b": np.ones((3, 2))})
    two = toy_71()
    with pytest.raises(ValueError, match="expects 3 input"):
        two([np.ones((2, 50)), np.ones((2, 50))])


def test_graph_disconnected_and_duplicate_names_are_errors():
    a, b = nn.Input((2,), name="a"), nn.Input((2,), name="b")
    y = nn.Add()([a, b])
    with pytest.raises(ValueError, match="graph disconnected.*'b'"):
        nn.Model(a, y)
    c = nn.Dense(2, name="same")(a)
    d = nn.Dense(2, name="same")(c)
    with pytest.raises(ValueError, match="unique.*'same'"):
        nn.Model(a, d)
    with pytest.raises(TypeError, match="symbolic tensors"):
        nn.Model(np.ones((1, 2)), d)


# -- residual DAG, shared layers, nested models ----------------------------------------------

def test_residual_block_matches_the_hand_computation():
    x = nn.Input((4,))
    dense = nn.Dense(4, activation="tanh")
    model = nn.Model(x, nn.Add()([x, dense(x)]))
    v = np.random.default_rng(1).random((3, 4)).astype(np.float32)
    want = v + np.tanh(v @ dense.kernel.numpy() + dense.bias.numpy())
    np.testing.assert_allclose(model(v).numpy(), want, rtol=1e-6)


def test_shared_layer_siamese_model_shares_weights():
    """One Dense instance reads two inputs: one set of weights, gradients from both uses add."""
    left, right = nn.Input((3,), name="left"), nn.Input((3,), name="right")
    encoder = nn.Dense(2, name="encoder")
    distance = nn.Subtract()([encoder(left), encoder(right)])
    model = nn.Model([left, right], distance)
    assert [v.name for v in model.variables] == ["encoder/kernel", "encoder/bias"]
    assert model.layers.count(encoder) == 1
    assert len(encoder._inbound_nodes) == 2
    a, b = np.ones((1, 3), np.float32), 2 * np.ones((1, 3), np.float32)
    with tg.GradientTape() as tape:
        out = model([a, b])
        loss = tg.sum(out)
    gk, gb = tape.gradient(loss, [encoder.kernel, encoder.bias])
    np.testing.assert_allclose(out.numpy(), (a - b) @ encoder.kernel.numpy(), rtol=1e-6)
    np.testing.assert_allclose(gk.numpy(), np.repeat((a - b).T, 2, axis=1), rtol=1e-6)
    np.testing.assert_allclose(gb.numpy(), [0.0, 0.0], atol=1e-7)  # +1 and -1 cancel


def test_nested_model_is_a_layer():
    x = nn.Input((3,))
    inner = nn.Model(x, nn.Dense(5, activation="relu")(x), name="inner")
    y = nn.Input((3,))
    outer = nn.Model(y, nn.Dense(1)(inner(y)), name="outer")
    assert [layer.name for layer in outer.layers][1] == "inner"
    assert len(outer.variables) == 4
    v = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(outer(v).numpy(),
                               outer.layers[2](inner(v)).numpy(), rtol=1e-6)
    seq = nn.Sequential([nn.Dense(3)])
    z = nn.Input((2,))
    assert nn.Model(z, seq(z))(np.ones((4, 2))).shape == (4, 3)


def test_get_layer_layers_inputs_outputs():
    model = toy_71()
    assert model.get_layer("department").units == 4
    assert model.get_layer(index=0).name == "title"
    with pytest.raises(ValueError, match="no layer named 'nope'.*priority"):
        model.get_layer("nope")
    assert model.input == model.inputs  # a list model: the list
    assert model.get_layer("priority").output is model.outputs[0]


def test_intermediate_activations_model_from_functional_and_sequential_bases():
    """DLwP 5.4: a model whose outputs are the activations of a base's first layers."""
    inp = nn.Input((6, 6, 1))
    x = nn.Conv2D(2, 3, activation="relu")(inp)
    x = nn.MaxPooling2D(2)(x)
    base = nn.Model(inp, nn.Dense(3)(nn.Flatten()(x)))
    acts = nn.Model(base.input, [layer.output for layer in base.layers[1:3]])
    v = np.random.default_rng(0).random((2, 6, 6, 1)).astype(np.float32)
    conv_out, pool_out = acts(v)
    np.testing.assert_array_equal(conv_out.numpy(), base.layers[1](v).numpy())
    assert pool_out.shape == (2, 2, 2, 2)
    seq = nn.Sequential([nn.Input((4,)), nn.Dense(3, activation="relu"), nn.Dense(2)])
    feats = nn.Model(seq.input, [layer.output for layer in seq.layers])
    h, o = feats(np.ones((1, 4)))
    np.testing.assert_allclose(o.numpy(), seq(np.ones((1, 4))).numpy(), rtol=1e-6)
    np.testing.assert_allclose(h.numpy(), seq.layers[0](np.ones((1, 4))).numpy(), rtol=1e-6)


def test_functional_and_subclassed_models_give_identical_numbers():
    """The same layers wired as a functional graph and in a subclassed call: bit-identical
    outputs and gradients (same ops in the same order)."""
    def layers():
        tg.random.seed(3)
        return (nn.Conv2D(4, 3, padding="same", activation="relu"),
                nn.BatchNormalization(), nn.Flatten(), nn.Dense(3))

    conv, bn, flat, head = layers()
    inp = nn.Input((5, 5, 2))
    h = conv(inp)
    functional = nn.Model(inp, head(flat(nn.Add()([h, bn(h)]))))

    class Residual(nn.Model):
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.flat, self.head = layers()

        def call(self, x, training=False):
            h = self.conv(x)
            return self.head(self.flat(h + self.bn(h, training=training)))

    sub = Residual()
    v = np.random.default_rng(2).random((4, 5, 5, 2)).astype(np.float32)
    sub(v)
    for a, b in zip(functional.variables, sub.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for training in (False, True):
        with tg.GradientTape() as t1:
            y1 = functional(v, training=training)
            l1 = tg.sum(y1 * y1)
        with tg.GradientTape() as t2:
            y2 = sub(v, training=training)
            l2 = tg.sum(y2 * y2)
        np.testing.assert_array_equal(y1.numpy(), y2.numpy())
        for g1, g2 in zip(t1.gradient(l1, functional.trainable_variables),
                          t2.gradient(l2, sub.trainable_variables)):
            np.testing.assert_array_equal(g1.numpy(), g2.numpy())


def test_training_flag_reaches_layers_and_can_be_fixed_at_build_time():
    x = nn.Input((100,))
    model = nn.Model(x, nn.Dropout(0.5)(x))
    ones = np.ones((2, 100), np.float32)
    np.testing.assert_array_equal(model(ones).numpy(), ones)
    assert (model(ones, training=True).numpy() == 0).any()
    always = nn.Model(x, nn.Dropout(0.5)(x, training=True))  # Keras: Monte-Carlo dropout
    assert (always(ones).numpy() == 0).any()


# -- display ----------------------------------------------------------------------------------

def test_summary_of_a_functional_model_has_connected_to():
    lines = []
    toy_71().summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in lines[2]
    assert "title (InputLayer)" in text
    row = next(i for i, line in enumerate(lines) if "concatenate (Concatenate)" in line)
    assert lines[row].rstrip().endswith("title[0][0]")
    assert lines[row + 1].strip() == "text_body[0][0]"
    assert lines[row + 2].strip() == "tags[0][0]"
    assert any("priority (Dense)" in line and line.rstrip().endswith("dense[0][0]")
               for line in lines)
    assert "Total params: 1,797" in text  # 106*16+16 + 16+1 + 16*4+4


def test_repr_lists_layers():
    model = nn.Sequential([nn.Dense(2), nn.Dropout(0.1)], name="net")
    text = repr(model)
    assert text.splitlines() == ["<Sequential name='net' built=False>",
                                 "  (0) <Dense name='dense' built=False>",
                                 "  (1) <Dropout name='dropout' built=False>"]
    assert str(toy_71()).count("InputLayer") == 3


def test_plot_model_keras_call_draws_every_layer_with_none_batch(tmp_path):
    model = nn.Sequential([nn.Dense(4, activation="relu"), nn.Dropout(0.5), nn.Dense(1)])
    model(np.ones((8, 3), np.float32))  # built by a call, no input_shape argument anywhere
    g = tg.viz.plot_model(model, to_file=tmp_path / "m.png", show_shapes=True)
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("dense (Dense)", "dropout (Dropout)", "dense_1 (Dense)", "(None, 3)",
                 "(None, 4)", "(None, 1)"):
        assert name in g.source, name
    m = toy_71()
    src = tg.viz.plot_model(m).source  # Keras's default: no shapes
    assert "(None, 4)" not in src and "(None, 4)" in tg.viz.plot_model(m, show_shapes=True).source
    assert src.count("->") == 6  # 3 inputs into concatenate, 1 into dense, 2 heads
    assert "concatenate (Concatenate)" in src


# -- the Layer/Model split and hygiene ---------------------------------------------------------

def test_layers_do_not_train_models_do():
    from tapegrad.training import Trainable

    assert nn.Layer is nn.Module
    assert not hasattr(nn.Dense(2), "fit") and not issubclass(nn.Layer, Trainable)
    for model in (nn.Sequential([nn.Dense(1)]), toy_71()):
        assert isinstance(model, nn.Model) and hasattr(model, "fit")
    assert nn.Sequential().input_names is None and nn.Sequential().output_names is None


def test_reading_losses_makes_no_cyclic_garbage():
    model = nn.Sequential([nn.Dense(4, kernel_regularizer="l2"),
                           nn.Sequential([nn.Dense(3, kernel_regularizer="l2")])])
    model(np.ones((2, 3), np.float32))
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        for _ in range(50):
            assert len(model.losses) == 2
            assert len(model.submodules) == 3
        found = gc.collect()
    finally:
        gc.enable()
    assert found == 0, f"{found} objects in reference cycles after 50 reads ({before})"


def test_automatic_names_are_unique_across_threads():
    names: list[str] = []
    lock = threading.Lock()

    def make():
        mine = [nn.Dense(1).name for _ in range(400)]
        with lock:
            names.extend(mine)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(names) == 3200 and len(set(names)) == 3200


def test_single_input_model_takes_a_one_element_list_and_casts_data_to_the_input_dtype():
    x = nn.Input((2,))
    model = nn.Model(x, nn.Dense(1)(x))
    data = np.ones((3, 2))  # float64 data into a float32 Input, as Keras casts it
    assert model([data]).shape == (3, 1) and model(data).dtype == np.float32
    wide = nn.Input((2,), dtype="float64")
    assert nn.Model(wide, nn.Dense(1)(wide))(data).dtype == np.float64


def test_plot_model_of_a_built_subclassed_model_traces_it():
    class Net(nn.Model):
        def __init__(self):
            super().__init__()
            self.hidden, self.out = nn.Dense(4, activation="relu"), nn.Dense(2)

        def call(self, x, training=False):
            return self.out(self.hidden(x))

    net = Net()
    with pytest.raises(ValueError, match="has not been built.*input_shape"):
        tg.viz.plot_model(net)
    net(np.ones((5, 3), np.float32))
    src = tg.viz.plot_model(net).source
    assert "dense (Dense)" in src and "dense_1 (Dense)" in src and "params 16" in src


def test_loaded_sequential_gives_intermediate_activations(tmp_path):
    base = nn.Sequential([nn.Input((4,)), nn.Dense(3, activation="relu"), nn.Dense(2)])
    base.save(tmp_path / "b.tapegrad")
    loaded = nn.load_model(tmp_path / "b.tapegrad")
    acts = nn.Model(loaded.input, [layer.output for layer in loaded.layers])
    h, o = acts(np.ones((1, 4)))
    np.testing.assert_allclose(o.numpy(), base(np.ones((1, 4))).numpy(), rtol=1e-6)


def test_an_error_inside_call_names_the_layer_and_keeps_the_failing_line():
    import traceback

    class Broken(nn.Layer):
        def call(self, x):
            return x.reshape((7, 7))  # the failing line

    try:
        Broken(name="broken")(np.ones((2, 3)))
    except ValueError as e:
        text = "".join(traceback.format_exception(e))
    assert "broken (Broken):" in text
    assert "return x.reshape((7, 7))  # the failing line" in text


def test_a_functional_training_step_makes_no_cyclic_garbage():
    x = nn.Input((4,))
    h = nn.BatchNormalization()(nn.Dense(8, kernel_regularizer="l2")(x))
    model = nn.Model(x, nn.Dense(1)(nn.Add()([nn.Dense(8)(h), h])))
    opt = tg.optimizers.Adam()
    data = np.ones((16, 4), np.float32)

    def step():
        with tg.GradientTape() as tape:
            loss = tg.mean(model(data, training=True) ** 2) + sum(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))

    for _ in range(3):
        step()
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            step()
        found = gc.collect()
    finally:
        gc.enable()
    assert found == 0
