"""Merge layers (Add ... Dot), reshaping layers (Lambda ... Identity) and Conv2DTranspose:
values against NumPy, gradients against central differences (float64), clear errors, and
symbolic shapes in functional models."""

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.testing import check_gradients

RNG = np.random.default_rng(0)
A, B, C = (RNG.standard_normal((3, 4)) for _ in range(3))


@pytest.mark.parametrize("layer, want", [
    (nn.Add(), A + B + C), (nn.Multiply(), A * B * C), (nn.Average(), (A + B + C) / 3),
    (nn.Maximum(), np.maximum(np.maximum(A, B), C)),
    (nn.Minimum(), np.minimum(np.minimum(A, B), C)),
    (nn.Concatenate(), np.concatenate([A, B, C], axis=-1)),
    (nn.Concatenate(axis=0), np.concatenate([A, B, C], axis=0)),
])
def test_merge_values_and_gradients(layer, want):
    np.testing.assert_allclose(layer([A, B, C]).numpy(), want, rtol=1e-12)
    check_gradients(lambda a, b, c: layer([a, b, c]), [A, B, C], order=2)


def test_subtract_and_dot():
    np.testing.assert_allclose(nn.Subtract()([A, B]).numpy(), A - B)
    np.testing.assert_allclose(nn.Dot(axes=1)([A, B]).numpy(), (A * B).sum(1, keepdims=True))
    cos = (A * B).sum(1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1)
    np.testing.assert_allclose(nn.Dot(axes=-1, normalize=True)([A, B]).numpy()[:, 0], cos)
    x, y = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 5, 4))
    np.testing.assert_allclose(nn.Dot(axes=(2, 2))([x, y]).numpy(),
                               np.einsum("bik,bjk->bij", x, y), rtol=1e-12)
    check_gradients(lambda a, b: nn.Dot(axes=1, normalize=True)([a, b]), [A, B], order=2)


def test_merge_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"Add needs inputs of the same shape.*\(3, 4\), \(3, 5\)"):
        nn.Add()([A, np.ones((3, 5))])
    with pytest.raises(TypeError, match=r"list of tensors, e.g. Add\(\)\(\[a, b\]\)"):
        nn.Add()(A)
    with pytest.raises(ValueError, match="at least 2"):
        nn.Multiply()([A])
    with pytest.raises(ValueError, match="exactly 2"):
        nn.Subtract()([A, B, C])
    with pytest.raises(ValueError, match="match except on that axis"):
        nn.Concatenate()([A, np.ones((2, 4))])
    with pytest.raises(ValueError, match="sizes 4 and 5"):
        nn.Dot(axes=1)([A, np.ones((3, 5))])


def test_reshaping_layers():
    x = RNG.standard_normal((2, 3, 4))
    np.testing.assert_array_equal(nn.Reshape((4, 3))(x).numpy(), x.reshape(2, 4, 3))
    np.testing.assert_array_equal(nn.Reshape((-1,))(x).numpy(), x.reshape(2, 12))
    np.testing.assert_array_equal(nn.Permute((2, 1))(x).numpy(), x.transpose(0, 2, 1))
    np.testing.assert_array_equal(nn.RepeatVector(3)(A).numpy(),
                                  np.repeat(A[:, None, :], 3, axis=1))
    np.testing.assert_array_equal(nn.Identity()(x).numpy(), x)
    np.testing.assert_array_equal(nn.Lambda(lambda t, k: t * k, arguments={"k": 3.0})(x).numpy(),
                                  3 * x)
    img = RNG.standard_normal((2, 4, 5, 3))
    np.testing.assert_array_equal(nn.ZeroPadding2D(((1, 2), (0, 1)))(img).numpy(),
                                  np.pad(img, ((0, 0), (1, 2), (0, 1), (0, 0))))
    np.testing.assert_array_equal(nn.Cropping2D(((1, 0), (1, 2)))(img).numpy(),
                                  img[:, 1:, 1:3, :])
    np.testing.assert_array_equal(nn.UpSampling2D((2, 3))(img).numpy(),
                                  img.repeat(2, axis=1).repeat(3, axis=2))
    for layer in (nn.Reshape((12,)), nn.Permute((2, 1)), nn.RepeatVector(2)):
        arg = A if isinstance(layer, nn.RepeatVector) else x
        check_gradients(lambda t, layer=layer: layer(t), [arg], order=2)
    for layer in (nn.ZeroPadding2D(1), nn.Cropping2D(1), nn.UpSampling2D(2)):
        check_gradients(lambda t, layer=layer: layer(t), [img], order=2)


def test_reshaping_errors():
    with pytest.raises(ValueError, match=r"cannot reshape samples of shape \(3, 4\)"):
        nn.Reshape((5,))(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="at most one -1"):
        nn.Reshape((-1, -1))
    with pytest.raises(ValueError, match="permutation of 1..2"):
        nn.Permute((0, 1))
    with pytest.raises(ValueError, match="leaves nothing"):
        nn.Cropping2D(3)(np.ones((1, 5, 5, 1)))
    with pytest.raises(ValueError, match="only interpolation='nearest'"):
        nn.UpSampling2D(interpolation="bilinear")
    with pytest.raises(ValueError, match="expects inputs of rank 2"):
        nn.RepeatVector(2)(np.ones((2, 3, 4)))


@pytest.mark.parametrize("strides, padding, size", [
    (1, "valid", 5), (2, "same", 5), (2, "valid", 4), (3, "same", 3), (1, "same", 4)])
def test_conv2d_transpose_is_the_gradient_of_conv2d(strides, padding, size):
    """Conv2DTranspose(x) with kernel K equals the vector-Jacobian product of conv2d (kernel K
    read as HWIO with in=filters) at x, as Keras/TF define it; its own gradients pass."""
    layer = nn.Conv2DTranspose(2, 3, strides=strides, padding=padding, use_bias=False,
                               dtype="float64")
    x = RNG.standard_normal((2, size, size, 4))
    y = layer(x)
    want_hw = size * strides + (max(3 - strides, 0) if padding == "valid" else 0)
    assert y.shape == (2, want_hw, want_hw, 2)
    z = tg.Variable(np.zeros(y.shape))
    with tg.GradientTape() as tape:
        out = tg.conv2d(z, layer.kernel, strides, padding)
    assert out.shape == x.shape
    (vjp,) = tape.gradient(out, [z], output_gradients=tg.tensor(x))
    np.testing.assert_allclose(y.numpy(), vjp.numpy(), rtol=1e-10, atol=1e-12)
    check_gradients(lambda t, k: _conv_t(t, k, strides, padding), [x, layer.kernel.numpy()],
                    order=2)


def _conv_t(x, k, strides, padding):
    layer = nn.Conv2DTranspose(2, 3, strides=strides, padding=padding, use_bias=False)
    layer.build(x.shape)
    layer.kernel = k
    return layer(x)


def test_conv2d_transpose_in_a_decoder_and_errors():
    z = nn.Input((7, 7, 8))
    y = nn.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(z)
    y = nn.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid")(y)
    assert y.shape == (None, 28, 28, 1)
    out = nn.Conv2DTranspose(3, 3, strides=2, output_padding=1)(np.zeros((1, 4, 4, 2)))
    assert out.shape == (1, 10, 10, 3)  # (4 - 1) * 2 + 3 + 1
    with pytest.raises(ValueError, match="output_padding.*smaller than strides"):
        nn.Conv2DTranspose(3, 3, strides=1, output_padding=1)
    with pytest.raises(ValueError, match="only dilation_rate=1"):
        nn.Conv2DTranspose(3, 3, dilation_rate=2)
    with pytest.raises(ValueError, match="expects inputs of rank 4"):
        nn.Conv2DTranspose(3, 3)(np.zeros((2, 5, 5)))


def test_merge_and_reshape_in_a_functional_model():
    img = nn.Input((4, 4, 3))
    up = nn.UpSampling2D(2)(img)
    crop = nn.Cropping2D(2)(up)
    both = nn.Concatenate()([crop, nn.ZeroPadding2D(0)(img)])
    model = nn.Model(img, nn.Reshape((-1,))(both))
    assert [t.shape for t in model.outputs] == [(None, 96)]
    assert model(np.ones((2, 4, 4, 3))).shape == (2, 96)
