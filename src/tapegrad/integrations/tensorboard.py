"""`TensorBoard`: a callback writing TensorBoard event files, in `fit` or a hand-written loop.

Writes, as Keras does, `log_dir/train` and `log_dir/validation` runs with scalars
`epoch_loss`, `epoch_<metric>` (validation values in the validation run, so TensorBoard draws
both on one chart) and `epoch_learning_rate`; `batch_<key>` too with `update_freq="batch"` (or
every N batches). Every `histogram_freq` epochs: histograms `weights/<variable>`,
`gradients/<variable>` (the last batch's gradient, observed by hooks on the variables) and, given
`sample_inputs`, `activations/<layer>` (each top-level layer's output on that batch, read from
the ops a tape recorded). With `write_graph` and `sample_inputs` the recorded forward graph is
written too (TensorBoard's Graphs tab, grouped by layer name scope).

The writer is tensorboardX's `FileWriter` and summary builders: maintained, NumPy-only (no
TensorFlow or PyTorch needed), writing TensorBoard's own event format; the `tensorboard` package
reads and serves the files. Both come with `pip install tapegrad[tensorboard]`.

>>> import numpy as np, tempfile, tapegrad as tg
>>> X = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32); Y = X @ np.ones((3, 1))
>>> model = tg.nn.Sequential([tg.nn.Dense(4, activation="tanh"), tg.nn.Dense(1)])
>>> model.compile(optimizer="adam", loss="mse")
>>> tb = tg.callbacks.TensorBoard(tempfile.mkdtemp(), sample_inputs=X[:8])
>>> _ = model.fit(X, Y, epochs=2, verbose=0, callbacks=[tb], validation_split=0.25)
>>> sorted(t.split("/")[0] for t in tb.tags_written if "/" in t)[::4]
['activations', 'gradients', 'weights']
>>> sorted(t for t in tb.tags_written if "/" not in t)
['epoch_learning_rate', 'epoch_loss', 'graph']
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from tapegrad.callbacks import Callback, Logs

__all__ = ["TensorBoard"]


def _variable_name(v: Any, i: int) -> str:
    return getattr(v, "name", None) or f"variable_{i}"


class TensorBoard(Callback):
    """Log scalars, histograms and the graph for TensorBoard (see the module doc).

    `update_freq`: "epoch", "batch", or an int N (batch scalars every N batches).
    `sample_inputs`: a batch of inputs for the activation histograms and the graph.

    >>> import tapegrad as tg
    >>> tb = tg.callbacks.TensorBoard("logs", histogram_freq=2, update_freq=10)
    >>> tb.histogram_freq, tb.update_freq
    (2, 10)
    """

    def __init__(self, log_dir: str | os.PathLike = "logs", histogram_freq: int = 1,
                 write_graph: bool = True, update_freq: str | int = "epoch",
                 sample_inputs: Any = None):
        super().__init__()
        if update_freq not in ("epoch", "batch") and not (
                isinstance(update_freq, int) and update_freq >= 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive "
                             f"int, got {update_freq!r}")
        if not isinstance(histogram_freq, int) or histogram_freq < 0:
            raise ValueError(f"TensorBoard: histogram_freq must be an int >= 0, got "
                             f"{histogram_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = bool(write_graph)
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.sample_inputs = sample_inputs
        self.tags_written: set[str] = set()  # scalar and histogram tags, and "graph"
        self._writers: dict[str, Any] = {}
        self._handles: list[Any] = []
        self._grads: dict[str, np.ndarray] = {}
        self._batches = 0

    # -- writers ---------------------------------------------------------------------------
    def _writer(self, run: str) -> Any:
        if run not in self._writers:
            try:
                from tensorboardX import FileWriter
            except ImportError as e:
                raise ImportError("TensorBoard needs tensorboardX: pip install "
                                  "'tapegrad[tensorboard]'") from e
            self._writers[run] = FileWriter(os.path.join(self.log_dir, run))
        return self._writers[run]

    def _scalar(self, run: str, tag: str, value: float, step: int) -> None:
        from tensorboardX import summary

        self._writer(run).add_summary(summary.scalar(tag, float(value)), step)
        self.tags_written.add(tag)

    def _histogram(self, tag: str, values: Any, step: int) -> None:
        from tensorboardX import summary

        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size == 0 or not np.all(np.isfinite(values)):
            return
        self._writer("train").add_summary(summary.histogram(tag, values, 30), step)
        self.tags_written.add(tag)

    # -- the variables and their gradients -------------------------------------------------
    def _variables(self) -> list[Any]:
        model = self.model
        return list(getattr(model, "trainable_variables", None) or
                    getattr(model, "variables", None) or [])

    def _watch(self) -> None:
        if self._handles or not self.histogram_freq:
            return
        for i, v in enumerate(self._variables()):
            self._handles.append(v.register_hook(self._observer(_variable_name(v, i))))

    def _observer(self, name: str) -> Any:
        def hook(g: Any) -> None:
            self._grads[name] = np.array(g.numpy(), copy=True)

        return hook

    # -- hooks -----------------------------------------------------------------------------
    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._batches = 0
        self._writer("train")
        self._watch()
        if self.sample_inputs is None and (self.write_graph or self.histogram_freq):
            warnings.warn("TensorBoard: pass sample_inputs=<a batch of inputs> to log the "
                          "graph and the activation histograms", stacklevel=2)
        elif self.write_graph and callable(self.model):
            self._write_graph()

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._watch()  # a model built by its first batch has variables from then on

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._watch()
        self._batches += 1
        if self.update_freq != "epoch" and self._batches % self.update_freq == 0:
            for key, value in (logs or {}).items():
                self._scalar("train", f"batch_{key}", value, self._batches)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = dict(logs or {})
        opt = self.optimizer if self.optimizer is not None else \
            getattr(self.model, "optimizer", None)
        if "learning_rate" not in logs and opt is not None:
            logs["learning_rate"] = float(opt.learning_rate)
        for key, value in logs.items():
            if key.startswith("val_"):
                self._scalar("validation", f"epoch_{key[4:]}", value, epoch)
            else:
                self._scalar("train", f"epoch_{key}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for i, v in enumerate(self._variables()):
                self._histogram(f"weights/{_variable_name(v, i)}", v.numpy(), epoch)
            for name, g in self._grads.items():
                self._histogram(f"gradients/{name}", g, epoch)
            if self.sample_inputs is not None and callable(self.model):
                for layer, value in self._activations().items():
                    self._histogram(f"activations/{layer}", value, epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles, self._grads = [], {}
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # -- the recorded forward pass ---------------------------------------------------------
    def _record(self) -> tuple[Any, Any]:
        from tapegrad.tape import GradientTape
        from tapegrad.tensor import as_tensor

        x = as_tensor(self.sample_inputs)
        with GradientTape() as tape:
            if x.dtype.kind == "f":
                tape.watch(x)
            self.model(x, training=False)
        return tape, x

    def _layer_of(self, scope: str) -> str | None:
        """The top-level layer an op belongs to: the scope part after the model's name."""
        parts = scope.split("/") if scope else []
        name = getattr(self.model, "name", None)
        if name in parts:
            i = parts.index(name)
            return parts[i + 1] if i + 1 < len(parts) else None
        return parts[0] if parts else None

    def _activations(self) -> dict[str, np.ndarray]:
        tape, _ = self._record()
        last: dict[str, np.ndarray] = {}
        for op in tape.ops:
            layer = self._layer_of(op.scope)
            if layer is not None:
                last[layer] = op.output.numpy()
        return last

    def _write_graph(self) -> None:
        from tensorboardX.proto.attr_value_pb2 import AttrValue
        from tensorboardX.proto.graph_pb2 import GraphDef
        from tensorboardX.proto.node_def_pb2 import NodeDef
        from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto

        tape, x = self._record()

        def shape_attr(shape: tuple) -> dict[str, Any]:
            dims = [TensorShapeProto.Dim(size=int(d)) for d in shape]
            return {"_output_shapes": AttrValue(list=AttrValue.ListValue(
                shape=[TensorShapeProto(dim=dims)]))}

        nodes = [NodeDef(name="input", op="Placeholder", attr=shape_attr(x.shape))]
        names = {id(x): "input"}
        for k, op in enumerate(tape.ops):
            inputs = []
            for a in op.inputs:
                if id(a) not in names and hasattr(a, "numpy"):
                    vname = getattr(a, "name", None)
                    if vname:  # a weight: a variable node inside its layer's scope
                        short = vname.rsplit("/", 1)[-1]
                        vnode = f"{op.scope}/{short}" if op.scope else vname
                        names[id(a)] = vnode
                        nodes.append(NodeDef(name=vnode, op="VariableV2",
                                             attr=shape_attr(a.shape)))
                if id(a) in names:
                    inputs.append(names[id(a)])
            name = f"{op.scope}/{op.name}_{k}" if op.scope else f"{op.name}_{k}"
            names[id(op.output)] = name
            nodes.append(NodeDef(name=name, op=op.name, input=inputs,
                                 attr=shape_attr(op.output.shape)))
        self._writer("train").add_onnx_graph(GraphDef(node=nodes))
        self.tags_written.add("graph")
