"""Recurrent training steps: batch 32, 50 steps, 32 features -> LSTM(64) or GRU(64) -> Dense 10,
softmax cross-entropy, backward (through time) and an SGD update.

The tapegrad steps use `tg.nn.LSTM` / `tg.nn.GRU` and `tg.nn.Dense` in a GradientTape; the NumPy
steps are the same cells written by hand (one input matmul, forward loop, backward-through-time
loop); the PyTorch steps (when installed) use `torch.nn.LSTM` / `torch.nn.GRU` with the same
weights (LSTM gates i, f, g, o as Keras; GRU gates reordered from Keras's z, r, h to PyTorch's
r, z, n, the same reset_after=True cell). All start from the same weights and batch, so their
losses agree step by step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import tapegrad as tg
from benchmarks import optional_torch, torch_sgd_step

torch = optional_torch()

LR = 0.1
BATCH, STEPS, FEATURES, UNITS, CLASSES = 32, 50, 32, 64, 10


def init(seed: int = 0, cell: str = "lstm"
         ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Kernel, recurrent kernel, bias (LSTM: forget gate at 1; GRU: input and recurrent biases,
    small random values), dense weights; batch and labels."""
    rng = np.random.default_rng(seed)
    width = (4 if cell == "lstm" else 3) * UNITS

    def uniform(shape: tuple, fan_in: int, fan_out: int) -> np.ndarray:
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape).astype(np.float32)

    if cell == "lstm":
        bias = np.zeros(width, np.float32)
        bias[UNITS:2 * UNITS] = 1.0
    else:
        bias = rng.uniform(-0.1, 0.1, (2, width)).astype(np.float32)
    params = [uniform((FEATURES, width), FEATURES, width), uniform((UNITS, width), UNITS, width),
              bias, uniform((UNITS, CLASSES), UNITS, CLASSES), np.zeros(CLASSES, np.float32)]
    x = rng.standard_normal((BATCH, STEPS, FEATURES)).astype(np.float32)
    labels = rng.integers(0, CLASSES, BATCH)
    return params, x, labels, np.eye(CLASSES, dtype=np.float32)[labels]


def tapegrad_step(cell: str = "lstm") -> Callable[[], float]:
    """One SGD step with `tg.nn.LSTM` (or `tg.nn.GRU`) + `tg.nn.Dense` in a GradientTape."""
    arrays, x_np, _, onehot_np = init(cell=cell)
    rnn, dense = (tg.nn.LSTM if cell == "lstm" else tg.nn.GRU)(UNITS), tg.nn.Dense(CLASSES)
    rnn.build((None, STEPS, FEATURES))
    dense.build((None, UNITS))
    rnn.set_weights(arrays[:3])
    dense.set_weights(arrays[3:])
    params = rnn.trainable_variables + dense.trainable_variables
    x, onehot = tg.tensor(x_np), tg.tensor(onehot_np)

    def run() -> float:
        with tg.GradientTape() as tape:
            logits = dense(rnn(x))
            loss = -tg.sum(onehot * tg.log_softmax(logits, axis=-1)) / BATCH
        grads = tape.gradient(loss, params)
        for v, g in zip(params, grads, strict=True):
            v.assign_sub(LR * g)
        return float(loss)

    return run


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * z) + 0.5


def _softmax_xent(h: np.ndarray, wd: np.ndarray, bd: np.ndarray, onehot: np.ndarray
                  ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Dense + softmax cross-entropy on the last state: loss, dwd, dbd and dh."""
    logits = h @ wd + bd
    zl = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(zl)
    ssum = e.sum(axis=1, keepdims=True)
    loss = -np.sum(onehot * (zl - np.log(ssum))) / BATCH
    d = (e / ssum - onehot) / BATCH
    return loss, h.T @ d, d.sum(axis=0), d @ wd.T


def numpy_step() -> Callable[[], float]:
    """The LSTM step by hand: forward, softmax cross-entropy, BPTT, SGD in place."""
    params, x, _, onehot = init()
    u = UNITS

    def run() -> float:
        w, r, b, wd, bd = params
        xw = (x.reshape(-1, FEATURES) @ w + b).reshape(BATCH, STEPS, 4 * u)
        h = np.zeros((BATCH, u), np.float32)
        c = np.zeros((BATCH, u), np.float32)
        cache = []
        for t in range(STEPS):
            z = xw[:, t] + h @ r
            s = _sigmoid(z)
            i, f, o, g = s[:, :u], s[:, u:2 * u], s[:, 3 * u:], np.tanh(z[:, 2 * u:3 * u])
            c_prev, h_prev = c, h
            c = f * c + i * g
            tc = np.tanh(c)
            h = o * tc
            cache.append((h_prev, c_prev, i, f, g, o, tc))
        loss, dwd, dbd, dh = _softmax_xent(h, wd, bd, onehot)
        dc = np.zeros_like(c)
        dxw = np.empty_like(xw)
        dr = np.zeros_like(r)
        for t in reversed(range(STEPS)):
            h_prev, c_prev, i, f, g, o, tc = cache[t]
            dc = dc + dh * o * (1 - tc * tc)
            dz = dxw[:, t]
            dz[:, :u] = dc * g * i * (1 - i)
            dz[:, u:2 * u] = dc * c_prev * f * (1 - f)
            dz[:, 2 * u:3 * u] = dc * i * (1 - g * g)
            dz[:, 3 * u:] = dh * tc * o * (1 - o)
            dc = dc * f
            dr += h_prev.T @ dz
            dh = dz @ r.T
        dxw2 = dxw.reshape(-1, 4 * u)
        dw, db = x.reshape(-1, FEATURES).T @ dxw2, dxw2.sum(axis=0)
        for p, gp in zip(params, (dw, dr, db, dwd, dbd), strict=True):
            p -= LR * gp
        return float(loss)

    return run


def gru_numpy_step() -> Callable[[], float]:
    """The GRU step by hand (Keras's reset_after=True cell): forward, loss, BPTT, SGD."""
    params, x, _, onehot = init(cell="gru")
    u = UNITS

    def run() -> float:
        w, r, b, wd, bd = params
        xw = (x.reshape(-1, FEATURES) @ w + b[0]).reshape(BATCH, STEPS, 3 * u)
        h = np.zeros((BATCH, u), np.float32)
        cache = []
        for t in range(STEPS):
            hr = h @ r + b[1]
            zr = _sigmoid(xw[:, t, :2 * u] + hr[:, :2 * u])
            z, rr, hn = zr[:, :u], zr[:, u:], hr[:, 2 * u:]
            hh = np.tanh(xw[:, t, 2 * u:] + rr * hn)
            cache.append((h, z, rr, hh, hn))
            h = z * h + (1 - z) * hh
        loss, dwd, dbd, dh = _softmax_xent(h, wd, bd, onehot)
        dxw = np.empty_like(xw)
        dr, dbr = np.zeros_like(r), np.zeros_like(b[1])
        for t in reversed(range(STEPS)):
            h_prev, z, rr, hh, hn = cache[t]
            da = dh * (1 - z) * (1 - hh * hh)  # the candidate's pre-activation
            dx = dxw[:, t]
            dx[:, :u] = dh * (h_prev - hh) * z * (1 - z)
            dx[:, u:2 * u] = da * hn * rr * (1 - rr)
            dx[:, 2 * u:] = da
            dhr = dx.copy()
            dhr[:, 2 * u:] = da * rr
            dr += h_prev.T @ dhr
            dbr += dhr.sum(axis=0)
            dh = dh * z + dhr @ r.T
        dxw2 = dxw.reshape(-1, 3 * u)
        dw, db = x.reshape(-1, FEATURES).T @ dxw2, np.stack([dxw2.sum(axis=0), dbr])
        for p, gp in zip(params, (dw, dr, db, dwd, dbd), strict=True):
            p -= LR * gp
        return float(loss)

    return run


def torch_step() -> Callable[[], float] | None:
    """The same step with `torch.nn.LSTM` (weights transposed; one bias) and a manual SGD."""
    if torch is None:
        return None
    (w, r, b, wd, bd), x_np, labels, _ = init()
    lstm = torch.nn.LSTM(FEATURES, UNITS, batch_first=True)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(w.T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(r.T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b))
        lstm.bias_hh_l0.zero_()
    lstm.bias_hh_l0.requires_grad_(False)  # one bias, as Keras
    wd_t, bd_t = torch.tensor(wd, requires_grad=True), torch.tensor(bd, requires_grad=True)
    params = [*(p for p in lstm.parameters() if p.requires_grad), wd_t, bd_t]
    x, y = torch.from_numpy(x_np), torch.from_numpy(labels)

    def run() -> float:
        out, _ = lstm(x)
        loss = torch.nn.functional.cross_entropy(out[:, -1] @ wd_t + bd_t, y)
        return torch_sgd_step(loss, params, LR)

    return run


def gru_torch_step() -> Callable[[], float] | None:
    """The GRU step with `torch.nn.GRU` (gate blocks reordered z, r, h -> r, z, n)."""
    if torch is None:
        return None
    (w, r, b, wd, bd), x_np, labels, _ = init(cell="gru")
    u = UNITS

    def rz_n(a: np.ndarray) -> np.ndarray:  # Keras's column blocks z, r, h as PyTorch's r, z, n
        return np.ascontiguousarray(np.concatenate([a[..., u:2 * u], a[..., :u], a[..., 2 * u:]],
                                                   axis=-1))

    gru = torch.nn.GRU(FEATURES, UNITS, batch_first=True)
    with torch.no_grad():
        gru.weight_ih_l0.copy_(torch.from_numpy(rz_n(w).T.copy()))
        gru.weight_hh_l0.copy_(torch.from_numpy(rz_n(r).T.copy()))
        gru.bias_ih_l0.copy_(torch.from_numpy(rz_n(b[0])))
        gru.bias_hh_l0.copy_(torch.from_numpy(rz_n(b[1])))
    wd_t, bd_t = torch.tensor(wd, requires_grad=True), torch.tensor(bd, requires_grad=True)
    params = [*gru.parameters(), wd_t, bd_t]
    x, y = torch.from_numpy(x_np), torch.from_numpy(labels)

    def run() -> float:
        out, _ = gru(x)
        loss = torch.nn.functional.cross_entropy(out[:, -1] @ wd_t + bd_t, y)
        return torch_sgd_step(loss, params, LR)

    return run


WORKLOADS = [
    {"name": "LSTM step batch 32, 50 steps, 32 -> 64 units, Dense 10",
     "tapegrad": tapegrad_step(), "numpy": numpy_step(), "torch": torch_step(), "unit": "ms",
     "repeat": 20},
    {"name": "GRU step batch 32, 50 steps, 32 -> 64 units, Dense 10",
     "tapegrad": tapegrad_step("gru"), "numpy": gru_numpy_step(), "torch": gru_torch_step(),
     "unit": "ms", "repeat": 20},
]
