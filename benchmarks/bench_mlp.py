"""MLP training steps: forward, softmax cross-entropy, backward and an SGD update.

Two sizes: digits-size (batch 64, 64 -> 128 -> 10, tanh), where per-op overhead still shows,
and wide (batch 256, 784 -> 1024 -> 1024 -> 10, ReLU), where the matrix products dominate and a
NumPy engine can at best tie hand-written NumPy (the BLAS bound). The tapegrad step uses raw ops
inside a GradientTape (no nn module), the NumPy step is written by hand with in-place updates,
and PyTorch's is eager autograd with a manual SGD update. The NumPy-based peers, where
installed, write the same math in their own idiom: DeZero with `F.matmul`, `F.log_softmax`,
`.backward()` and in-place updates of `p.data` (as its optimizers do), HIPS autograd with
`value_and_grad` of a function of the parameter list and `logsumexp`. All start from the same
weights and batch, so their losses agree step by step (the smoke tests check it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import tapegrad as tg
from benchmarks import optional_autograd, optional_dezero, optional_torch, torch_sgd_step

torch = optional_torch()
dezero = optional_dezero()
autograd = optional_autograd()

LR = 0.1


def init(sizes: list[int], batch: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray,
                                                              np.ndarray, np.ndarray]:
    """Glorot-uniform weights, zero biases, a random float32 batch and its one-hot labels."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        params.append(rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32))
        params.append(np.zeros(fan_out, np.float32))
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    labels = rng.integers(0, sizes[-1], batch)
    onehot = np.eye(sizes[-1], dtype=np.float32)[labels]
    return params, x, labels, onehot


def tapegrad_body(sizes: list[int], batch: int, activation: str) -> Callable[[], tg.Tensor]:
    """One SGD step in tapegrad: raw ops in a GradientTape, then `v.assign_sub(lr * g)`; gives
    the loss tensor (bench_function traces this body)."""
    arrays, x_np, _, onehot_np = init(sizes, batch)
    params = [tg.Variable(a) for a in arrays]
    x, onehot = tg.tensor(x_np), tg.tensor(onehot_np)
    act = tg.tanh if activation == "tanh" else tg.relu
    n_layers = len(params) // 2

    def body() -> tg.Tensor:
        with tg.GradientTape() as tape:
            h = x
            for i in range(n_layers):
                h = h @ params[2 * i] + params[2 * i + 1]
                if i < n_layers - 1:
                    h = act(h)
            loss = -tg.sum(onehot * tg.log_softmax(h, axis=-1)) / batch
        grads = tape.gradient(loss, params)
        for v, g in zip(params, grads, strict=True):
            v.assign_sub(LR * g)
        return loss

    return body


def tapegrad_step(sizes: list[int], batch: int, activation: str) -> Callable[[], float]:
    """`tapegrad_body`'s step, giving the loss as a float (as the NumPy step does)."""
    body = tapegrad_body(sizes, batch, activation)
    return lambda: float(body())


def numpy_step(sizes: list[int], batch: int, activation: str) -> Callable[[], float]:
    """The same step by hand in NumPy: forward, (softmax - onehot) / batch, backward, SGD."""
    params, x, _, onehot = init(sizes, batch)
    n_layers = len(params) // 2
    relu = activation == "relu"

    def run() -> float:
        hs = [x]
        h = x
        for i in range(n_layers):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < n_layers - 1:
                h = np.maximum(h, 0) if relu else np.tanh(h)
                hs.append(h)
        z = h - h.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = -np.sum(onehot * (z - np.log(s))) / batch
        d = (e / s - onehot) / batch
        for i in reversed(range(n_layers)):
            w, inp = params[2 * i], hs[i]
            dw = inp.T @ d
            db = d.sum(axis=0)
            if i:
                d = d @ w.T
                d = d * (inp > 0) if relu else d * (1 - inp * inp)
            w -= LR * dw
            params[2 * i + 1] -= LR * db
        return float(loss)

    return run


def torch_step(sizes: list[int], batch: int, activation: str) -> Callable[[], float] | None:
    """The same step in PyTorch eager mode with a manual SGD update (None without torch)."""
    if torch is None:
        return None
    arrays, x_np, labels, _ = init(sizes, batch)
    params = [torch.tensor(a, requires_grad=True) for a in arrays]
    x, y = torch.from_numpy(x_np), torch.from_numpy(labels)
    act = torch.tanh if activation == "tanh" else torch.relu
    f = torch.nn.functional
    n_layers = len(params) // 2

    def run() -> float:
        h = x
        for i in range(n_layers):
            h = h @ params[2 * i] + params[2 * i + 1]
            if i < n_layers - 1:
                h = act(h)
        return torch_sgd_step(f.cross_entropy(h, y), params, LR)

    return run


def dezero_step(sizes: list[int], batch: int, activation: str) -> Callable[[], float] | None:
    """The same step in DeZero: `cleargrad`, forward with `F.matmul` + bias, `F.log_softmax`,
    `loss.backward()`, then `p.data -= lr * p.grad.data` (None without DeZero).

    The batch size is divided as np.float32: a Python int would become a 0-d int64 array in
    DeZero and, under NumPy 2, turn the loss and every gradient into float64.
    """
    if dezero is None:
        return None
    arrays, x_np, _, onehot = init(sizes, batch)
    params = [dezero.Parameter(a) for a in arrays]
    x = dezero.Variable(x_np)
    f = dezero.functions
    act = f.tanh if activation == "tanh" else f.relu
    n_layers = len(params) // 2
    scale = np.float32(batch)

    def run() -> float:
        for p in params:
            p.cleargrad()
        h = x
        for i in range(n_layers):
            h = f.matmul(h, params[2 * i]) + params[2 * i + 1]
            if i < n_layers - 1:
                h = act(h)
        loss = -f.sum(f.log_softmax(h, axis=1) * onehot) / scale
        loss.backward()
        for p in params:
            p.data -= LR * p.grad.data
        return float(loss.data)

    return run


def autograd_step(sizes: list[int], batch: int, activation: str) -> Callable[[], float] | None:
    """The same step in HIPS autograd: `value_and_grad` of the loss as a function of the
    parameter list, then new arrays `p - lr * g` (None without autograd).

    ReLU is `h * (h > 0)`, the same gradient as tapegrad's relu: autograd's `np.maximum(h, 0)`
    has a tie-splitting gradient that costs four extra array ops (the wide step takes 2x longer).
    """
    if autograd is None:
        return None
    from autograd.scipy.special import logsumexp

    anp = autograd.numpy
    arrays, x, _, onehot = init(sizes, batch)
    n_layers = len(arrays) // 2
    act = anp.tanh if activation == "tanh" else (lambda h: h * (h > 0))

    def loss(params: list) -> float:
        h = x
        for i in range(n_layers):
            h = anp.dot(h, params[2 * i]) + params[2 * i + 1]
            if i < n_layers - 1:
                h = act(h)
        return -anp.sum(onehot * (h - logsumexp(h, axis=1, keepdims=True))) / batch

    loss_and_grads = autograd.value_and_grad(loss)
    params = list(arrays)

    def run() -> float:
        value, grads = loss_and_grads(params)
        params[:] = [p - LR * g for p, g in zip(params, grads, strict=True)]
        return float(value)

    return run


def mlp_workload(name: str, sizes: list[int], batch: int, activation: str, **extra) -> dict:
    """One training-step workload; each call builds fresh, identical weights for every version."""
    return {
        "name": name,
        "tapegrad": tapegrad_step(sizes, batch, activation),
        "numpy": numpy_step(sizes, batch, activation),
        "torch": torch_step(sizes, batch, activation),
        "dezero": dezero_step(sizes, batch, activation),
        "autograd": autograd_step(sizes, batch, activation),
        "unit": "ms",
        **extra,
    }


SMALL = ([64, 128, 10], 64, "tanh")
WIDE = ([784, 1024, 1024, 10], 256, "relu")

WORKLOADS = [
    mlp_workload("MLP step 64-128-10, batch 64, tanh", *SMALL),
    mlp_workload("MLP step 784-1024-1024-10, batch 256, relu", *WIDE, repeat=20),
]
