"""DLPack: tapegrad Tensors and PyTorch tensors view each other's memory without copies."""

import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch", reason="PyTorch is not installed (the interop extra)")


def test_torch_reads_a_tensor_without_copy():
    t = tg.tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
    pt = torch.from_dlpack(t)
    assert pt.shape == (3, 4) and pt.dtype == torch.float32
    assert pt.data_ptr() == t.numpy().ctypes.data
    np.testing.assert_array_equal(pt.numpy(), t.numpy())
    assert t.__dlpack_device__() == (1, 0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64, torch.bool])
def test_from_torch_without_copy(dtype):
    pt = torch.arange(6).reshape(2, 3).to(dtype)
    t = tg.from_dlpack(pt)
    assert t.shape == (2, 3)
    assert t.numpy().ctypes.data == pt.data_ptr()
    np.testing.assert_array_equal(t.numpy(), pt.numpy())


def test_from_torch_copy_is_independent():
    pt = torch.zeros(3)
    t = tg.from_dlpack(pt, copy=True)
    pt += 1
    np.testing.assert_array_equal(t.numpy(), [0.0, 0.0, 0.0])


def test_strided_view_and_gradients_flow_in_tapegrad():
    pt = torch.arange(8.0).reshape(2, 4)[:, ::2]
    x = tg.Variable(tg.from_dlpack(pt))
    with tg.GradientTape() as tape:
        y = tg.sum(x * x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), 2 * pt.numpy())


def test_variable_exports_too():
    w = tg.Variable(np.ones((2, 2), np.float32))
    np.testing.assert_array_equal(torch.from_dlpack(w).numpy(), np.ones((2, 2)))


def test_errors():
    with pytest.raises(ValueError, match="detach"):
        tg.from_dlpack(torch.ones(2, requires_grad=True))
    with pytest.raises(TypeError, match="__dlpack__"):
        tg.from_dlpack([1.0, 2.0])
