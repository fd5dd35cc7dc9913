"""Augmentation and preprocessing layers: identities at inference (random ones), exact
transforms at fixed factors, Keras's conventions (directions, ranges), seeds, and errors."""

import numpy as np
import pytest

import tapegrad as tg

nn = tg.nn
RANDOM_LAYERS = [
    lambda: nn.RandomFlip(), lambda: nn.RandomRotation(0.3), lambda: nn.RandomZoom(0.4),
    lambda: nn.RandomTranslation(0.3, 0.3), lambda: nn.RandomContrast(0.5),
]


def _images(shape=(4, 6, 6, 2), seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


@pytest.mark.parametrize("make", RANDOM_LAYERS, ids=lambda m: type(m()).__name__)
def test_random_layers_are_identities_at_inference_and_change_images_in_training(make):
    x = _images()
    layer = make()
    np.testing.assert_array_equal(layer(x).numpy(), x)                 # default: inference
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    tg.random.seed(0)
    out = layer(x, training=True).numpy()
    assert out.shape == x.shape and not np.allclose(out, x)
    model = nn.Sequential([make(), nn.Flatten()])
    np.testing.assert_array_equal(model.predict(x), x.reshape(4, -1))  # predict: inference


@pytest.mark.parametrize("make", RANDOM_LAYERS, ids=lambda m: type(m()).__name__)
def test_random_layers_repeat_with_tg_random_seed_and_with_their_own_seed(make):
    x = _images()
    tg.random.seed(7)
    a = make()(x, training=True).numpy()
    tg.random.seed(7)
    b = make()(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)


def test_own_seed_gives_a_private_repeatable_stream():
    x = _images()
    a = nn.RandomRotation(0.3, seed=3)(x, training=True).numpy()
    tg.random.seed(99)  # the shared generator does not matter
    b = nn.RandomRotation(0.3, seed=3)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    layer = nn.RandomRotation(0.3, seed=3)
    first, second = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert not np.allclose(first, second)  # one stream: each call draws new angles


def test_each_image_gets_its_own_transform():
    x = np.repeat(_images((1, 6, 6, 1)), 16, axis=0)
    out = nn.RandomRotation(0.5, seed=0)(x, training=True).numpy()
    assert len({out[i].tobytes() for i in range(16)}) == 16


def test_flip_modes():
    x = _images((1, 4, 5, 1))
    seen = {nn.RandomFlip("horizontal", seed=s)(x, training=True).numpy().tobytes()
            for s in range(20)}
    assert seen == {x.tobytes(), x[:, :, ::-1].copy().tobytes()}
    seen = {nn.RandomFlip("vertical", seed=s)(x, training=True).numpy().tobytes()
            for s in range(20)}
    assert seen == {x.tobytes(), x[:, ::-1].copy().tobytes()}
    seen = {nn.RandomFlip(seed=s)(x, training=True).numpy().tobytes() for s in range(40)}
    assert len(seen) == 4
    big = np.zeros((4000, 1, 2, 1), np.float32)
    big[..., 1, 0] = 1.0
    flipped = nn.RandomFlip("horizontal", seed=0)(big, training=True).numpy()[:, 0, 0, 0]
    assert abs(flipped.mean() - 0.5) < 0.03  # probability 1/2 (4000 draws: sd 0.008)


def test_rotation_direction_and_exact_quarter_turns():
    """Positive factors turn counter-clockwise (Keras), as np.rot90 does."""
    x = _images((2, 5, 5, 3))
    for k, factor in ((1, 0.25), (2, 0.5), (3, -0.25)):
        out = nn.RandomRotation((factor, factor), fill_mode="constant")(x, training=True)
        np.testing.assert_allclose(out.numpy(), np.rot90(x, k, axes=(1, 2)), atol=1e-5)


def test_translation_directions_and_fill_modes():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    right = nn.RandomTranslation(0.0, (0.25, 0.25), fill_mode="constant", fill_value=-1.0)
    np.testing.assert_array_equal(right(x, training=True).numpy()[0, :, :, 0],
                                  np.c_[-np.ones(4), x[0, :, :3, 0]])
    up = nn.RandomTranslation((-0.5, -0.5), 0.0, fill_mode="wrap")
    np.testing.assert_array_equal(up(x, training=True).numpy(), np.roll(x, -2, axis=1))
    for mode, rows in (("reflect", [1, 0]), ("nearest", [0, 0])):
        down = nn.RandomTranslation((0.5, 0.5), 0.0, fill_mode=mode)(x, training=True).numpy()
        np.testing.assert_array_equal(down[0, 2:, :, 0], x[0, :2, :, 0])
        np.testing.assert_array_equal(down[0, :2, :, 0], x[0, rows, :, 0])


def test_zoom_in_and_out():
    """Zoom about the centre: +1 (x2 out) puts the whole image in the middle half, -0.5 (x2
    in) stretches the middle half over the image; width_factor None keeps the aspect ratio."""
    x = _images((1, 8, 8, 1))
    out = nn.RandomZoom((1.0, 1.0), fill_mode="constant", interpolation="nearest")
    small = out(x, training=True).numpy()
    np.testing.assert_array_equal(small[0, 2:6, 2:6], x[0, 1::2, 1::2])  # every other pixel
    assert np.count_nonzero(small[0, :1]) == 0 and np.count_nonzero(small[0, :, :1]) == 0
    zin = nn.RandomZoom((-0.5, -0.5), interpolation="nearest")(x, training=True).numpy()
    np.testing.assert_array_equal(zin[0, ::2, ::2], x[0, 2:6, 2:6])
    ones = np.ones((1, 9, 9, 1), np.float32)
    wide = nn.RandomZoom((0.0, 0.0), width_factor=(1.0, 1.0), fill_mode="constant")
    band = wide(ones, training=True).numpy()[0, :, :, 0]
    assert band[:, 4].min() == 1.0 and band[:, 0].max() == 0.0 and band[0, 4] == 1.0


def test_contrast_keeps_the_mean_and_scales_the_deviation():
    x = _images((8, 5, 5, 3))
    tg.random.seed(0)
    out = nn.RandomContrast((0.3, 0.6))(x, training=True).numpy()
    mean = x.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out.mean(axis=(1, 2), keepdims=True), mean, atol=1e-6)
    c = ((out - mean) / (x - mean))
    per_image = c.reshape(8, -1)
    np.testing.assert_allclose(per_image, per_image[:, :1] + 0 * per_image, rtol=1e-3)
    assert (per_image[:, 0] >= 0.7 - 1e-6).all() and (per_image[:, 0] <= 1.6 + 1e-6).all()
    clipped = nn.RandomContrast((-1.0, 1.0), value_range=(0, 1))(x, training=True).numpy()
    assert clipped.min() >= 0 and clipped.max() <= 1


def test_rescaling_and_resizing_always_apply():
    x = np.array([[0, 128, 255]], dtype=np.uint8)
    out = nn.Rescaling(1 / 255)(x, training=False)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), x / 255, rtol=1e-6)
    img = _images((2, 4, 6, 1))
    for training in (False, True):
        assert nn.Resizing(8, 3)(img, training=training).shape == (2, 8, 3, 1)
    np.testing.assert_allclose(nn.Resizing(4, 6)(img).numpy(), img, atol=1e-6)  # same size
    np.testing.assert_array_equal(nn.Resizing(2, 3, interpolation="nearest")(img).numpy(),
                                  img[:, 1::2, 1::2])
    half = nn.Resizing(2, 3)(img).numpy()  # bilinear, half-pixel centres: 2x2 block means
    np.testing.assert_allclose(half, img.reshape(2, 2, 2, 3, 2, 1).mean(axis=(2, 4)), atol=1e-6)
    crop = nn.Resizing(4, 4, crop_to_aspect_ratio=True)(img).numpy()
    np.testing.assert_allclose(crop, img[:, :, 1:5], atol=1e-6)  # centred square window
    single = nn.Resizing(2, 3)(img[0])
    assert single.shape == (2, 3, 1)


def test_resizing_matches_scipy_style_bilinear_on_a_ramp():
    """Bilinear interpolation reproduces a linear ramp exactly inside the image."""
    ramp = np.add.outer(np.arange(5.0), 2 * np.arange(7.0)).reshape(1, 5, 7, 1)
    out = nn.Resizing(9, 13)(ramp).numpy()[0, :, :, 0]
    sy = (np.arange(9) + 0.5) * 5 / 9 - 0.5
    sx = (np.arange(13) + 0.5) * 7 / 13 - 0.5
    want = np.add.outer(np.clip(sy, 0, 4), 2 * np.clip(sx, 0, 6))
    np.testing.assert_allclose(out, want, atol=1e-9)


def test_augmentation_in_a_model_trains_and_predicts():
    """In fit the random layers are active (training=True); in predict/evaluate they are not."""
    tg.random.seed(0)
    x = _images((32, 6, 6, 1))
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype(np.int64)
    model = nn.Sequential([nn.RandomFlip("horizontal"), nn.RandomRotation(0.05),
                           nn.Flatten(), nn.Dense(2)])
    model.compile("adam", tg.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    np.testing.assert_array_equal(model.predict(x), model.predict(x))


@pytest.mark.parametrize("bad,match", [
    (lambda: nn.RandomFlip("diagonal"), "mode must be one of"),
    (lambda: nn.RandomRotation(0.1, fill_mode="mirror"), "fill_mode must be one of"),
    (lambda: nn.RandomZoom(1.5), r"must lie in \[-1.0, 1.0\]"),
    (lambda: nn.RandomTranslation((0.3, 0.1), 0.0), "lower bound 0.3 above upper bound 0.1"),
    (lambda: nn.RandomContrast(1.5), "lower factor must be in"),
    (lambda: nn.RandomRotation("a lot"), "factor must be a float or a"),
    (lambda: nn.Resizing(0, 3), "must be positive"),
    (lambda: nn.Resizing(3, 3, interpolation="cubic"), "interpolation must be one of"),
])
def test_bad_arguments_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


def test_bad_input_rank_names_the_layer():
    with pytest.raises(ValueError, match=r"random_rotation.*\(batch, height, width, channels\)"):
        nn.RandomRotation(0.1, name="random_rotation")(np.zeros((2, 3)), training=True)
