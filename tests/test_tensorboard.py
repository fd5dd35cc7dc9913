"""The TensorBoard callback writes real event files: read back with TensorBoard's own reader
(tags, steps, values), and served by `tensorboard --logdir` over HTTP on 127.0.0.1."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import tapegrad as tg

pytest.importorskip("tensorboardX", reason="the tensorboard extra is not installed")
event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="the tensorboard extra is not installed")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(48, 3)).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)


def load(run_dir):
    acc = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={event_accumulator.HISTOGRAMS: 0,
                                     event_accumulator.SCALARS: 0})
    acc.Reload()
    return acc


def scalars(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def make_model():
    tg.random.seed(0)
    model = tg.nn.Sequential([tg.nn.Dense(4, activation="tanh", name="hidden"),
                              tg.nn.Dense(1, name="out")], name="net")
    model.compile(optimizer=tg.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model


def test_fit_writes_scalars_histograms_and_graph(tmp_path):
    model = make_model()
    tb = tg.callbacks.TensorBoard(tmp_path, sample_inputs=X[:16])
    history = model.fit(X, Y, epochs=3, batch_size=16, verbose=0, validation_split=0.25,
                        callbacks=[tb]).history
    train, val = load(tmp_path / "train"), load(tmp_path / "validation")
    tags = train.Tags()
    assert {"epoch_loss", "epoch_mae", "epoch_learning_rate"} <= set(tags["scalars"])
    for key in ("loss", "mae"):
        steps, values = zip(*scalars(train, f"epoch_{key}"))
        assert steps == (0, 1, 2)
        np.testing.assert_allclose(values, history[key], rtol=1e-6)
        steps, values = zip(*scalars(val, f"epoch_{key}"))
        assert steps == (0, 1, 2)
        np.testing.assert_allclose(values, history[f"val_{key}"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in scalars(train, "epoch_learning_rate")], 0.01)
    hist = set(tags["histograms"])
    for v in ("hidden/kernel", "hidden/bias", "out/kernel", "out/bias"):
        assert f"weights/{v}" in hist and f"gradients/{v}" in hist
    assert {"activations/hidden", "activations/out"} <= hist
    # the last weights histogram describes the final weights
    h = train.Histograms("weights/hidden/kernel")[-1].histogram_value
    kernel = model.layers[0].kernel.numpy()
    assert h.num == kernel.size
    np.testing.assert_allclose([h.min, h.max, h.sum], [kernel.min(), kernel.max(), kernel.sum()],
                               rtol=1e-5)
    # activations: the tanh layer's outputs on the sample batch lie in (-1, 1)
    a = train.Histograms("activations/hidden")[-1].histogram_value
    assert a.num == 16 * 4 and -1 < a.min < a.max < 1
    graph = train.Graph()
    ops = {n.op for n in graph.node}
    assert {"Placeholder", "VariableV2", "matmul", "tanh"} <= ops
    assert any(n.name.startswith("net/hidden/") for n in graph.node)


def test_batch_updates_and_histogram_freq(tmp_path):
    model = make_model()
    tb = tg.callbacks.TensorBoard(tmp_path, histogram_freq=2, write_graph=False,
                                  update_freq="batch")
    with pytest.warns(UserWarning, match="sample_inputs"):
        model.fit(X, Y, epochs=3, batch_size=16, verbose=0, callbacks=[tb])
    train = load(tmp_path / "train")
    steps = [s for s, _ in scalars(train, "batch_loss")]
    assert steps == list(range(1, 10))  # 3 batches a epoch, counted across epochs
    assert [e.step for e in train.Histograms("weights/hidden/kernel")] == [0, 2]
    assert "activations/hidden" not in train.Tags()["histograms"]


def test_hand_written_loop(tmp_path):
    """In a tape loop, CallbackList drives the callback; gradients come from variable hooks."""
    w = tg.Variable(np.zeros((3, 1), np.float32), name="w")
    opt = tg.optimizers.SGD(0.1)
    cbs = tg.callbacks.CallbackList([tg.callbacks.TensorBoard(tmp_path, write_graph=False)],
                                    variables=[w], optimizer=opt)
    losses = []
    with pytest.warns(UserWarning, match="sample_inputs"):
        cbs.on_train_begin()
    for epoch in range(4):
        cbs.on_epoch_begin(epoch)
        with tg.GradientTape() as tape:
            loss = tg.mean((tg.tensor(X) @ w - Y) ** 2)
        grads = tape.gradient(loss, [w])
        opt.apply_gradients(zip(grads, [w]))
        losses.append(float(loss))
        cbs.on_epoch_end(epoch, {"loss": float(loss)})
    cbs.on_train_end()
    train = load(tmp_path / "train")
    np.testing.assert_allclose([v for _, v in scalars(train, "epoch_loss")], losses, rtol=1e-6)
    g = train.Histograms("gradients/w")[-1].histogram_value
    np.testing.assert_allclose(g.sum, float(np.sum(grads[0].numpy())), rtol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="update_freq"):
        tg.callbacks.TensorBoard("logs", update_freq="often")
    with pytest.raises(ValueError, match="histogram_freq"):
        tg.callbacks.TensorBoard("logs", histogram_freq=-1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tensorboard_server_serves_the_scalars(tmp_path):
    """Launch `tensorboard --logdir` on a free local port, fetch the loss curve over HTTP from
    127.0.0.1 (bounded polling), and stop the server."""
    model = make_model()
    history = model.fit(X, Y, epochs=3, verbose=0, callbacks=[
        tg.callbacks.TensorBoard(tmp_path, write_graph=False, histogram_freq=0)]).history
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path), "--host",
         "127.0.0.1", "--port", str(port), "--load_fast", "false", "--reload_interval", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/data/plugin/scalars/scalars?run=train&tag=epoch_loss"
    data = None
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and data is None:
            assert proc.poll() is None, "tensorboard exited early"
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    body = json.loads(r.read())
                if len(body) == 3:
                    data = body
            except (OSError, ValueError):
                pass
            if data is None:
                time.sleep(0.5)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
    assert data is not None, "tensorboard did not serve the scalars within 90 s"
    assert [step for _, step, _ in data] == [0, 1, 2]
    np.testing.assert_allclose([v for _, _, v in data], history["loss"], rtol=1e-6)
