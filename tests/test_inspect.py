"""Gradients on the input: through every layer type, and the tools built on them (tg.viz's
activations, filter_patterns, grad_cam and saliency), checked against answers known by
construction; plus FGSM, the attack that is nothing but the gradient of the loss on the input."""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.testing import check_gradients

nn = tg.nn

# (name, make the layer, input shape, training flag). Random layers get a fixed seed inside the
# maker, so every evaluation of f draws the same transform (needed for central differences).
LAYER_CASES = [
    ("Dense", lambda: nn.Dense(3, activation="tanh"), (2, 4), False),
    ("Activation", lambda: nn.Activation("softplus"), (2, 4), False),
    ("Flatten", lambda: nn.Flatten(), (2, 3, 2), False),
    ("Dropout", lambda: nn.Dropout(0.5), (2, 4), False),
    ("BatchNormalization", lambda: _bn_with_statistics(), (3, 4), False),
    ("LayerNormalization", lambda: nn.LayerNormalization(), (2, 4), False),
    ("Conv1D", lambda: nn.Conv1D(3, 2, padding="causal"), (2, 5, 2), False),
    ("Conv2D", lambda: nn.Conv2D(3, 2, activation="relu"), (2, 4, 4, 2), False),
    ("DepthwiseConv2D", lambda: nn.DepthwiseConv2D(2, depth_multiplier=2), (2, 4, 4, 2), False),
    ("SeparableConv2D", lambda: nn.SeparableConv2D(3, 2), (2, 4, 4, 2), False),
    ("MaxPooling1D", lambda: nn.MaxPooling1D(2), (2, 6, 2), False),
    ("AveragePooling1D", lambda: nn.AveragePooling1D(2), (2, 6, 2), False),
    ("MaxPooling2D", lambda: nn.MaxPooling2D(2), (2, 4, 4, 2), False),
    ("AveragePooling2D", lambda: nn.AveragePooling2D(2), (2, 4, 4, 2), False),
    ("GlobalMaxPooling1D", lambda: nn.GlobalMaxPooling1D(), (2, 5, 3), False),
    ("GlobalAveragePooling1D", lambda: nn.GlobalAveragePooling1D(), (2, 5, 3), False),
    ("GlobalMaxPooling2D", lambda: nn.GlobalMaxPooling2D(), (2, 3, 3, 2), False),
    ("GlobalAveragePooling2D", lambda: nn.GlobalAveragePooling2D(), (2, 3, 3, 2), False),
    ("SimpleRNN", lambda: nn.SimpleRNN(3), (2, 4, 2), False),
    ("GRU", lambda: nn.GRU(3, return_sequences=True), (2, 4, 2), False),
    ("LSTM", lambda: nn.LSTM(3), (2, 4, 2), False),
    ("Bidirectional", lambda: nn.Bidirectional(nn.LSTM(2)), (2, 4, 2), False),
    ("Masking", lambda: nn.Masking(0.0), (2, 3, 4), False),  # random steps: none is all 0
    ("Masking", lambda: nn.Sequential([nn.Masking(0.0), nn.GRU(3)]), (2, 3, 4), False),
    ("TimeDistributed", lambda: nn.TimeDistributed(nn.Dense(2, activation="tanh")), (2, 3, 4),
     False),
    ("RandomFlip", lambda: nn.RandomFlip(seed=1), (3, 4, 4, 1), True),
    ("RandomRotation", lambda: nn.RandomRotation(0.2, seed=1), (2, 5, 5, 2), True),
    ("RandomZoom", lambda: nn.RandomZoom(0.3, seed=1), (2, 5, 5, 1), True),
    ("RandomTranslation", lambda: nn.RandomTranslation(0.2, 0.2, seed=1, fill_mode="constant"),
     (2, 5, 5, 1), True),
    ("RandomContrast", lambda: nn.RandomContrast(0.5, seed=1), (2, 4, 4, 2), True),
    ("Rescaling", lambda: nn.Rescaling(0.5, offset=-1.0), (2, 3), False),
    ("Resizing", lambda: nn.Resizing(7, 3), (2, 4, 5, 1), False),
    *[(cls.__name__, lambda cls=cls: _Halves(cls()), (2, 6), False)
      for cls in (nn.Add, nn.Subtract, nn.Multiply, nn.Average, nn.Maximum, nn.Minimum)],
    ("Concatenate", lambda: _Halves(nn.Concatenate(axis=1)), (2, 4, 2), False),
    ("Dot", lambda: _Halves(nn.Dot(axes=1)), (2, 6), False),
    ("Dot", lambda: _Halves(nn.Dot(axes=(1, 2), normalize=True)), (2, 2, 4), False),
    ("Lambda", lambda: nn.Lambda(lambda t, k: tg.tanh(t) * k, arguments={"k": 3.0}), (2, 3),
     False),
    ("Identity", lambda: nn.Identity(), (2, 3), False),
    ("InputLayer", lambda: nn.InputLayer(shape=(None, 3)), (2, 4, 3), False),
    ("Reshape", lambda: nn.Reshape((3, -1)), (2, 6), False),
    ("Permute", lambda: nn.Permute((2, 1)), (2, 3, 4), False),
    ("RepeatVector", lambda: nn.RepeatVector(3), (2, 4), False),
    ("ZeroPadding2D", lambda: nn.ZeroPadding2D(((1, 0), (2, 1))), (2, 3, 3, 2), False),
    ("Cropping2D", lambda: nn.Cropping2D(((1, 0), (0, 2))), (2, 4, 5, 2), False),
    ("UpSampling2D", lambda: nn.UpSampling2D((2, 3)), (2, 2, 3, 2), False),
    ("Conv2DTranspose", lambda: nn.Conv2DTranspose(3, 3, strides=2, padding="same",
                                                   activation="tanh"), (2, 3, 3, 2), False),
    ("Conv2DTranspose", lambda: nn.Conv2DTranspose(2, (2, 3), strides=(2, 1)), (2, 3, 3, 2),
     False),
    ("Sequential", lambda: nn.Sequential([nn.Conv2D(2, 3, padding="same"),
                                          _bn_with_statistics(), nn.Activation("relu"),
                                          nn.Dropout(0.3), nn.MaxPooling2D(2), nn.Flatten(),
                                          nn.Dense(2)]), (2, 4, 4, 1), False),
]
# Layers whose input is not differentiable, with the reason (the gradient does not exist).
NOT_ON_THE_INPUT = {"Embedding": "its input is integer token ids"}
NOT_LAYERS = {"Module", "Layer", "Model"}  # base classes, not layers to test


class _Halves(nn.Module):
    """Split the input in two along its last axis and give the halves to a merge layer, so a
    merge layer's gradient on both of its inputs is checked as one input gradient."""

    def __init__(self, merge):
        super().__init__()
        self.merge = merge

    def call(self, x, training=False):
        k = x.shape[-1] // 2
        return self.merge([x[..., :k], x[..., k:]])


def _bn_with_statistics():
    """A BatchNormalization layer in inference mode whose moving statistics are not 0 and 1
    (so the inference path really normalises), built for float64."""
    class StatsBN(nn.BatchNormalization):
        def build(self, input_shape):
            super().build(input_shape)
            rng = np.random.default_rng(5)
            shape = self.moving_mean.shape
            self.moving_mean.assign(rng.normal(size=shape))
            self.moving_variance.assign(rng.uniform(0.5, 2.0, shape))
            self.gamma.assign(rng.uniform(0.5, 1.5, shape))
    return StatsBN()


@pytest.mark.parametrize("name,make,shape,training", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_gradient_on_a_constant_input_through_every_layer(name, make, shape, training):
    """A watched constant input gets the right gradient through each layer type (central
    differences in float64), with training=False (BatchNorm in inference) unless the layer only
    does something in training (augmentation)."""
    x = np.random.default_rng(0).normal(size=shape)
    layer = make()
    layer(tg.tensor(x), training=training)  # build in float64 (the first input's dtype)

    def f(t):  # in training, a fresh layer per call draws the same transform (same seed)
        return (make() if training else layer)(t, training=training)

    check_gradients(f, [x])
    xt = tg.constant(x)
    with tg.GradientTape() as tape:
        tape.watch(xt)
        y = tg.sum(f(xt) ** 2)
    g = tape.gradient(y, xt)
    assert g is not None and g.shape == x.shape and np.abs(g.numpy()).sum() > 0


def test_every_exported_layer_has_an_input_gradient_case():
    """A new layer class must join LAYER_CASES above (or NOT_ON_THE_INPUT, with a reason)."""
    covered = {c[0] for c in LAYER_CASES} | set(NOT_ON_THE_INPUT) | NOT_LAYERS
    classes = {getattr(nn, n) for n in nn.__all__ if isinstance(getattr(nn, n), type)
               and issubclass(getattr(nn, n), nn.Module)}
    missing = sorted({c.__name__ for c in classes} - covered)
    assert not missing, f"add input-gradient cases to LAYER_CASES in {__file__} for {missing}"


def test_integer_input_has_no_input_gradient_and_says_so():
    model = nn.Sequential([nn.Embedding(10, 3), nn.Flatten(), nn.Dense(2)])
    with pytest.raises(TypeError, match="integer input"):
        tg.viz.saliency(model, np.array([[1, 2]]))


# -- Grad-CAM on a model whose answer is known by construction --------------------------------
def _two_blob_model(dense_kernel):
    """Channel k of the input passes unchanged (1x1 identity conv, ReLU) to feature map k; the
    class scores are dense_kernel^T @ (the mean of each map)."""
    model = nn.Sequential([nn.Conv2D(2, 1, use_bias=False, activation="relu"),
                           nn.GlobalAveragePooling2D(), nn.Dense(2, use_bias=False)])
    model.build((None, 8, 8, 2))
    model.layers[0].kernel.assign(np.eye(2).reshape(1, 1, 2, 2))
    model.layers[2].kernel.assign(dense_kernel)
    return model


def _two_blobs():
    x = np.zeros((1, 8, 8, 2), np.float32)
    x[0, 1:3, 1:3, 0] = 1.0      # evidence for class 0, top left
    x[0, 5:8, 4:7, 1] = 2.0      # evidence for class 1, bottom right
    return x


@pytest.mark.parametrize("dense_kernel", [np.eye(2), np.array([[1.0, -1.0], [-1.0, 1.0]])])
def test_grad_cam_finds_the_evidence_it_was_built_on(dense_kernel):
    """The weights of map k are mean(d score_c / d A_k) = W[k, c] / 64, so the heatmap for class
    c is relu(sum_k W[k, c] A_k) / max: exactly the blob of channel c (the other channel's
    negative weight is cut by the ReLU)."""
    model, x = _two_blob_model(dense_kernel), _two_blobs()
    for c in (0, 1):
        heat = tg.viz.grad_cam(model, x, 0, class_index=c)
        np.testing.assert_allclose(heat[0], (x[0, :, :, c] > 0).astype(float), atol=1e-6)


def test_grad_cam_top_class_upsampling_and_overlay():
    """Without class_index the top class is explained; maps from a pooled layer are upsampled
    to the image and their peak stays where the evidence is; overlay draws without error."""
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    model = nn.Sequential([nn.Conv2D(2, 1, use_bias=False, activation="relu"),
                           nn.MaxPooling2D(2), nn.GlobalAveragePooling2D(),
                           nn.Dense(2, use_bias=False)])
    model.build((None, 8, 8, 2))
    model.layers[0].kernel.assign(np.eye(2).reshape(1, 1, 2, 2))
    model.layers[3].kernel.assign(np.eye(2))
    x = _two_blobs()
    assert int(np.argmax(model(x).numpy())) == 1
    heat = tg.viz.grad_cam(model, x, model.layers[1], overlay=True)
    assert heat.shape == (1, 8, 8) and 0.0 <= heat.min() and heat.max() <= 1.0
    peak = np.unravel_index(np.argmax(heat[0]), (8, 8))
    assert peak[0] >= 4 and 4 <= peak[1] <= 7, peak
    assert heat[0, :4, :4].max() < 0.1  # nothing where class 0's evidence is


def test_grad_cam_and_layer_lookup_errors():
    model = _two_blob_model(np.eye(2))
    x = _two_blobs()
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        tg.viz.grad_cam(model, x, "nope")
    with pytest.raises(IndexError, match="out of range"):
        tg.viz.grad_cam(model, x, 7)
    with pytest.raises(IndexError, match="class_index"):
        tg.viz.grad_cam(model, x, 0, class_index=5)
    with pytest.raises(ValueError, match="is not part of model"):
        tg.viz.grad_cam(model, x, nn.Dense(2))
    assert "call" not in model.layers[0].__dict__  # the capture hook is removed again


# -- saliency ---------------------------------------------------------------------------------
def test_saliency_of_a_linear_model_is_its_weights_and_smoothgrad_keeps_them():
    """For scores x @ W the gradient of class c is W[:, c] everywhere: saliency returns its
    absolute value, and SmoothGrad (an average of gradients at noisy inputs) the same."""
    w = np.array([[1.0, 0.0], [-2.0, 3.0], [0.5, -1.0]])
    model = nn.Sequential([nn.Dense(2, use_bias=False)])
    model.build((None, 3))
    model.layers[0].kernel.assign(w)
    x = np.random.default_rng(0).normal(size=(4, 3))
    for c in (0, 1):
        np.testing.assert_allclose(tg.viz.saliency(model, x, c), np.abs(w[:, c]) + 0 * x,
                                   rtol=1e-6)
        np.testing.assert_allclose(tg.viz.saliency(model, x, c, smooth_samples=5,
                                                   absolute=False), w[:, c] + 0 * x, rtol=1e-5)


def test_smoothgrad_removes_noise_from_a_relu_networks_saliency():
    """On a random ReLU net the raw gradient jumps between nearby inputs; SmoothGrad's average
    over 50 noisy copies varies much less between two nearby inputs (measured over seeds 0-9
    for the model and the data: the smoothed change is 0.22-0.32 of the raw one)."""
    tg.random.seed(3)
    model = nn.Sequential([nn.Dense(64, activation="relu"), nn.Dense(64, activation="relu"),
                           nn.Dense(3)])
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 10))
    x2 = x + 0.05 * rng.normal(size=x.shape)
    raw = np.abs(tg.viz.saliency(model, x, 0, absolute=False)
                 - tg.viz.saliency(model, x2, 0, absolute=False)).mean()
    smooth = np.abs(tg.viz.saliency(model, x, 0, absolute=False, smooth_samples=50)
                    - tg.viz.saliency(model, x2, 0, absolute=False, smooth_samples=50)).mean()
    assert smooth < 0.5 * raw, (smooth, raw)


# -- activations and filter patterns ----------------------------------------------------------
def test_activations_are_the_layer_outputs():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    tg.nn.reset_names()
    model = nn.Sequential([nn.Conv2D(3, 3, activation="relu"), nn.MaxPooling2D(2),
                           nn.Flatten(), nn.Dense(2)])
    x = np.random.default_rng(0).random((2, 6, 6, 1)).astype(np.float32)
    maps = tg.viz.activations(model, x)
    assert list(maps) == ["conv2d", "max_pooling2d"]
    conv = model.layers[0](x).numpy()
    np.testing.assert_array_equal(maps["conv2d"], conv)
    np.testing.assert_array_equal(maps["max_pooling2d"], model.layers[1](conv).numpy())
    only = tg.viz.activations(model, x, layers="dense", plot=False)
    np.testing.assert_allclose(only["dense"], model(x).numpy(), rtol=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_filter_ascent_increases_the_activation_monotonically(seed):
    """Gradient ascent with the RMS-normalised gradient raises each live filter's mean
    activation at every step, and by a large factor overall. Measured over seeds 0-19: at
    least 6 of 8 filters live, every step raised every live filter's activation by at least
    1.2% of its value, and the final/initial ratio was at least 3.08."""
    tg.random.seed(seed)
    model = nn.Sequential([nn.Conv2D(8, 3, padding="same", activation="relu"),
                           nn.Conv2D(8, 3, padding="same", activation="relu")])
    model.build((None, 8, 8, 1))
    start = 0.5 + np.random.default_rng(seed).normal(0, 0.1, (8, 8, 8, 1))
    images, hist = tg.viz.filter_patterns(model, 1, range(8), input_shape=(8, 8, 1),
                                          start=start, steps=20, step_size=0.05, plot=False,
                                          return_history=True)
    assert images.shape == (8, 8, 8, 1) and hist.shape == (21, 8)
    live = hist[0] > 1e-6
    assert live.sum() >= 4
    assert (np.diff(hist[:, live], axis=0) > 0).all()
    assert (hist[-1, live] > 2 * hist[0, live]).all()


# -- FGSM --------------------------------------------------------------------------------------
def _digits_mlp(seed):
    X, y = tg.datasets.load_digits()
    Xtr, Xte, ytr, yte = tg.data.train_test_split(X, y, test_size=0.3, random_state=0)
    tg.random.seed(seed)
    model = nn.Sequential([nn.Dense(64, activation="relu"), nn.Dense(10)])
    model.compile(tg.optimizers.Adam(0.01),
                  tg.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(Xtr.astype(np.float32), ytr, batch_size=64, epochs=15, verbose=0)
    return model, Xte.astype(np.float32), yte


def fgsm(model, x, labels, epsilon):
    """x + epsilon * sign(d loss / d x), kept in the pixel range [0, 1]."""
    xt = tg.constant(x)
    with tg.GradientTape() as tape:
        tape.watch(xt)
        loss = tg.losses.sparse_categorical_crossentropy(labels, model(xt), from_logits=True)
    return np.clip(x + epsilon * np.sign(tape.gradient(loss, xt).numpy()), 0.0, 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fgsm_at_epsilon_0_1_lowers_accuracy(seed):
    """The fast gradient sign attack at epsilon 0.1 (a tenth of the pixel range) breaks a digits
    classifier, while random-sign noise of the same size does not. Measured over seeds 0-9 and
    OPENBLAS_CORETYPE Haswell/Prescott: clean 0.950-0.974, random signs 0.937-0.963 (at most
    0.024 below clean), FGSM 0.419-0.467."""
    model, x, y = _digits_mlp(seed)
    acc = lambda xs: float((np.argmax(model.predict(xs), axis=1) == y).mean())  # noqa: E731
    noise = np.sign(np.random.default_rng(seed).normal(size=x.shape))
    clean, noisy = acc(x), acc(np.clip(x + 0.1 * noise, 0, 1))
    attacked = acc(fgsm(model, x, y, 0.1))
    assert clean >= 0.93 and noisy >= clean - 0.06, (clean, noisy)
    assert attacked <= 0.6 and attacked <= clean - 0.35, (clean, attacked)


def test_masked_steps_get_no_input_gradient():
    """A step that Masking masks (all features == mask_value) is skipped by the GRU after it, so
    the loss does not depend on it: its input gradient is 0, and the others match an unmasked
    run on the input without that step."""
    x = np.random.default_rng(1).normal(size=(2, 4, 3))
    x[:, 3] = 0.0  # the last step is padding
    model = nn.Sequential([nn.Masking(0.0), nn.GRU(2)])
    xt = tg.constant(x)
    with tg.GradientTape() as tape:
        tape.watch(xt)
        y = tg.sum(model(xt) ** 2)
    g = tape.gradient(y, xt).numpy()
    assert np.all(g[:, 3] == 0) and np.abs(g[:, :3]).sum() > 0
    short = tg.constant(x[:, :3])
    with tg.GradientTape() as tape:
        tape.watch(short)
        y2 = tg.sum(model(short) ** 2)
    np.testing.assert_allclose(g[:, :3], tape.gradient(y2, short).numpy(), rtol=1e-10)
