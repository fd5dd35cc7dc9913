"""Tensor and Variable: creation, dtype rules, operators, indexing and clear errors."""

import numpy as np
import pytest

import tapegrad as tg


def test_python_floats_default_to_float32_and_arrays_keep_dtype():
    assert tg.tensor(1.0).dtype == np.float32
    assert tg.tensor([[1.0, 2.0]]).dtype == np.float32
    assert tg.tensor(np.zeros(2)).dtype == np.float64
    assert tg.tensor([1, 2]).dtype.kind == "i"
    assert tg.tensor([True]).dtype == np.bool_
    assert tg.constant([1.0], dtype="float64").dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float64, "float64", np.dtype("float64")])
def test_set_default_dtype_accepts_numpy_dtypes_and_names(dtype):
    tg.set_default_dtype(dtype)
    assert tg.tensor(1.5).dtype == np.float64
    assert tg.Variable(1.5).dtype == np.float64


def test_set_default_dtype_rejects_integers():
    with pytest.raises(TypeError, match="floating"):
        tg.set_default_dtype("int32")


@pytest.mark.parametrize("bad, exc, words", [
    ("abc", TypeError, "string"),
    (None, TypeError, "None"),
    ([[1, 2], [3]], ValueError, "ragged"),
    ([object()], TypeError, "unsupported"),
    ({"a": 1}, TypeError, "unsupported"),
])
def test_bad_input_to_tensor_raises_clear_errors(bad, exc, words):
    with pytest.raises(exc, match=words):
        tg.tensor(bad)


def test_array_facts():
    t = tg.tensor(np.arange(6.0).reshape(2, 3))
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.T.shape == (3, 2)
    assert np.asarray(t).shape == (2, 3)
    assert float(tg.tensor(2.5)) == 2.5
    assert isinstance(t.numpy(), np.ndarray)
    assert "shape=(2, 3)" in repr(t)


def test_scalars_on_either_side_give_tensors_with_weak_dtype():
    t = tg.tensor([1.0, 2.0])
    for r in (np.float64(2) * t, t * np.float64(2), 2 * t, t * 2.0, np.int64(3) + t, 1 - t,
              2 / t, 2 ** t, t ** 2):
        assert isinstance(r, tg.Tensor)
        assert r.dtype == np.float32
    np.testing.assert_allclose((np.float64(2) * t).numpy(), [2, 4])
    np.testing.assert_allclose((1 - t).numpy(), [0, -1])
    np.testing.assert_allclose((2 / t).numpy(), [2, 1])


def test_operators_match_numpy():
    a, b = np.random.default_rng(0).standard_normal((2, 3, 3))
    x, y = tg.tensor(a), tg.tensor(b)
    np.testing.assert_allclose((x @ y).numpy(), a @ b)
    np.testing.assert_allclose((-x).numpy(), -a)
    np.testing.assert_allclose(abs(x).numpy(), np.abs(a))
    np.testing.assert_allclose((x - y / (abs(y) + 1)).numpy(), a - b / (np.abs(b) + 1))
    np.testing.assert_allclose((a @ y).numpy(), a @ b)  # ndarray @ Tensor defers to us


def test_comparisons_are_boolean_tensors():
    x = tg.tensor([1.0, 2.0, 3.0])
    for r in (x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2):
        assert isinstance(r, tg.Tensor) and r.dtype == np.bool_
    np.testing.assert_array_equal(((x > 1) & (x < 3)).numpy(), [False, True, False])
    np.testing.assert_array_equal((~(x > 1)).numpy(), [True, False, False])
    assert hash(x) == hash(x)  # still usable in dicts


@pytest.mark.parametrize("key", [1, -1, slice(0, 2), (None, Ellipsis), (Ellipsis, 0),
                                 [0, 0, 1], np.array([2, 0]), (slice(None), 1)])
def test_indexing_matches_numpy(key):
    a = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(tg.tensor(a)[key].numpy(), a[key])


def test_indexing_with_tensor_and_mask():
    a = np.arange(6.0)
    t = tg.tensor(a)
    np.testing.assert_array_equal(t[tg.tensor([1, 1, 3])].numpy(), a[[1, 1, 3]])
    np.testing.assert_array_equal(t[t > 2].numpy(), a[a > 2])


def test_index_errors_name_the_op_and_shape():
    with pytest.raises(IndexError, match=r"getitem.*\(3,\)"):
        tg.tensor([1.0, 2.0, 3.0])[5]


def test_shape_mismatch_errors_name_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\)"):
        tg.tensor(np.ones((2, 3))) + tg.tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        tg.tensor(np.ones((2, 3))) @ tg.tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\)"):
        tg.reshape(tg.tensor(np.ones((2, 3))), (4,))
    with pytest.raises(ValueError, match="concatenate"):
        tg.concatenate([tg.tensor(np.ones((2, 3))), tg.tensor(np.ones((2, 2)))], axis=0)
    with pytest.raises(ValueError, match="split"):
        tg.split(tg.tensor(np.ones(5)), 2)
    with pytest.raises(ValueError, match="axis 3"):
        tg.sum(tg.tensor(np.ones((2, 2))), axis=3)


def test_variable_assign_family():
    v = tg.Variable([1.0, 2.0], name="v")
    assert v.trainable and v.name == "v" and v.dtype == np.float32
    v.assign([3.0, 4.0])
    v.assign_add([1.0, 1.0])
    v.assign_sub(0.5)
    np.testing.assert_allclose(v.numpy(), [3.5, 4.5])
    with pytest.raises(ValueError, match="shape"):
        v.assign([1.0, 2.0, 3.0])
    with pytest.warns(UserWarning, match="not trainable"):
        assert not tg.Variable([1, 2]).trainable  # integers are never trainable


def test_functions_follow_numpy_semantics():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 3, 4))
    t = tg.tensor(a)
    cases = [
        (tg.sum(t, axis=(0, 2), keepdims=True), a.sum(axis=(0, 2), keepdims=True)),
        (tg.mean(t, 1), a.mean(1)),
        (tg.var(t, 0), a.var(0)),
        (tg.std(t), a.std()),
        (tg.max(t, -1), a.max(-1)),
        (tg.prod(t, 2), a.prod(2)),
        (tg.cumsum(t, 1), a.cumsum(1)),
        (tg.norm(t), np.linalg.norm(a)),
        (tg.transpose(t), a.T),
        (tg.swapaxes(t, 0, 2), a.swapaxes(0, 2)),
        (tg.moveaxis(t, 0, -1), np.moveaxis(a, 0, -1)),
        (tg.squeeze(tg.expand_dims(t, 1), 1), a),
        (tg.tile(t, (2, 1, 1, 2)), np.tile(a, (2, 1, 1, 2))),
        (tg.repeat(t, 2, axis=1), np.repeat(a, 2, axis=1)),
        (tg.repeat(t, 3), np.repeat(a, 3)),
        (tg.pad(t, ((1, 2), (0, 1), (0, 0))), np.pad(a, ((1, 2), (0, 1), (0, 0)))),
        (tg.flip(t, 1), np.flip(a, 1)),
        (tg.take(t, [0, 5, 5]), np.take(a, [0, 5, 5])),
        (tg.take(t, [1, 0], axis=2), np.take(a, [1, 0], axis=2)),
        (tg.stack([t, t], axis=1), np.stack([a, a], axis=1)),
        (tg.clip(t, -0.5, 0.5), np.clip(a, -0.5, 0.5)),
        (tg.where(t > 0, t, 0.0), np.where(a > 0, a, 0.0)),
        (tg.einsum("ijk,ikl->ijl", t, tg.tensor(a.swapaxes(1, 2))),
         np.einsum("ijk,ikl->ijl", a, a.swapaxes(1, 2))),
        (tg.dot(t, tg.tensor(a[0].T)), np.dot(a, a[0].T)),
        (tg.logsumexp(t, axis=1), np.log(np.exp(a).sum(1))),
        (tg.softmax(t), np.exp(a) / np.exp(a).sum(-1, keepdims=True)),
    ]
    for got, want in cases:
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    parts = tg.split(t, 2, axis=2)
    assert [p.shape for p in parts] == [(2, 3, 2), (2, 3, 2)]
    parts = tg.split(t, [1], axis=1)
    assert [p.shape for p in parts] == [(2, 1, 4), (2, 2, 4)]


def test_stable_at_extremes():
    big = tg.tensor([1000.0, -1000.0, 0.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(tg.sigmoid(big).numpy(), [1, 0, 0.5])
        np.testing.assert_allclose(tg.softmax(big).numpy(), [1, 0, 0])
        np.testing.assert_allclose(tg.log_softmax(big).numpy(), [0, -2000, -1000])
        np.testing.assert_allclose(tg.logsumexp(big).numpy(), 1000)
        np.testing.assert_allclose(tg.softplus(big).numpy(), [1000, 0, np.log(2)])
        np.testing.assert_allclose(tg.tanh(tg.tensor([300.0, -300.0])).numpy(), [1, -1])


def test_astype_and_argmax_are_not_differentiable_results():
    t = tg.tensor([1.5, -2.5])
    assert tg.astype(t, "int32").dtype == np.int32
    assert tg.argmax(t).dtype.kind == "i" and int(tg.argmax(t)) == 0


def test_variable_updates_never_change_values_someone_else_holds():
    user = np.array([1.0, 2.0])
    v = tg.Variable(user)
    v.assign_sub([1.0, 1.0])
    np.testing.assert_array_equal(user, [1.0, 2.0])  # the caller's array is untouched
    held = v.numpy()
    v.assign_add([1.0, 1.0])
    np.testing.assert_array_equal(held, [0.0, 1.0])  # a value read earlier keeps its numbers
    with tg.GradientTape(persistent=True) as tape:
        y = v * v  # the tape records v's current array
    v.assign_sub([0.5, 0.5])
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), [2.0, 4.0])  # recorded value used
    del tape, y, held
    v.assign_sub([0.5, 0.5])  # updates always make a new array (issue 10: no refcount heuristic)
    np.testing.assert_allclose(v.numpy(), [0.0, 1.0])


def test_tensor_methods_mirror_the_functions():
    a = np.arange(1.0, 7.0).reshape(2, 3)
    t = tg.tensor(a)
    pairs = [
        (t.sum(1), a.sum(1)), (t.mean(), a.mean()), (t.max(0), a.max(0)), (t.min(1), a.min(1)),
        (t.prod(0), a.prod(0)), (t.var(1), a.var(1)), (t.std(), a.std()),
        (t.reshape(3, 2), a.reshape(3, 2)), (t.reshape((6,)), a.reshape(6)),
        (t.transpose(), a.T), (t.transpose(1, 0), a.T), (t.flatten(), a.ravel()),
        (t.reshape(1, 6).squeeze(), a.ravel()), (t.clip(2, 4), a.clip(2, 4)),
        (t.exp(), np.exp(a)), (t.log(), np.log(a)), (t.tanh(), np.tanh(a)),
        (t.sqrt(), np.sqrt(a)), (t.dot(t.T), a @ a.T), (+t, a), (2 ** t, 2 ** a),
        (a.T @ t, a.T @ a), (t.astype("float32"), a.astype(np.float32)),
    ]
    for got, want in pairs:
        assert isinstance(got, tg.Tensor)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    assert int(t.argmax()) == 5 and t.argmin(axis=1).tolist() == [0, 0]
    assert int(tg.tensor(3)) == 3 and [1, 2, 3][tg.tensor(1)] == 2
    assert tg.tensor(2.5).item() == 2.5 and t.tolist() == a.tolist()
    assert [row.shape for row in t] == [(3,), (3,)]
    b = tg.tensor([True, False])
    np.testing.assert_array_equal((b | ~b).numpy(), [True, True])
    np.testing.assert_array_equal((b ^ True).numpy(), [False, True])
    with pytest.raises(TypeError, match="integer"):
        [1, 2][tg.tensor(1.0)]
    with pytest.raises(TypeError, match="0-d"):
        iter(tg.tensor(1.0)).__next__()
