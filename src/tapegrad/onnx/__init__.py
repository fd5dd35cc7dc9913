"""Export models and recorded tape graphs to ONNX (opset 17), checked by `onnx.checker`.

`export(model, path, input_signature)` traces one inference call of the model on a tape.
Each call of a layer with a registered converter (`tapegrad.onnx.layers.LAYER_CONVERTERS`:
Dense, Conv1D/2D, DepthwiseConv2D, SeparableConv2D, pooling, BatchNormalization and
LayerNormalization at inference, Dropout, Flatten, Embedding, SimpleRNN/LSTM/GRU as ONNX's
RNN/LSTM/GRU ops, Bidirectional, Activation) becomes that layer's ONNX nodes; every other
recorded op (the glue in a subclassed model's `call`) is converted by its op converter
(`tapegrad.onnx.ops.OP_CONVERTERS`), and an op without one raises an error naming it.
`export_tape(tape, inputs, outputs, path)` converts a tape's recorded forward graph alone.
Needs the `onnx` extra (`pip install tapegrad[onnx]`: onnx and onnxruntime).

>>> import os, tempfile, numpy as np, tapegrad as tg
>>> model = tg.nn.Sequential([tg.nn.Dense(4, activation="relu"), tg.nn.Dense(2)])
>>> path = os.path.join(tempfile.mkdtemp(), "mlp.onnx")
>>> proto = tg.onnx.export(model, path, (None, 3))
>>> [n.op_type for n in proto.graph.node][:3]
['MatMul', 'Add', 'Relu']
>>> import onnxruntime as ort
>>> x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
>>> y = ort.InferenceSession(path).run(None, {"input": x})[0]
>>> bool(np.allclose(y, model.predict(x), rtol=1e-5, atol=1e-6))
True
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad.onnx.graph import OPSET, GraphBuilder
from tapegrad.onnx.ops import OP_CONVERTERS, register_op, tensor_type

__all__ = ["OPSET", "OP_CONVERTERS", "export", "export_tape", "register_layer", "register_op"]


def register_layer(*classes: type) -> Any:
    """Register an ONNX converter for layer classes (see `tapegrad.onnx.layers`): the function
    gets (graph builder, layer, input name(s), LayerCall) and returns the output name(s).

    >>> import tapegrad as tg
    >>> class Double(tg.nn.Module):
    ...     def call(self, x, training=False):
    ...         return x * 2.0
    >>> @tg.onnx.register_layer(Double)
    ... def _double(g, layer, x, call):
    ...     return g.node("Add", [x, x])
    >>> from tapegrad.onnx.layers import converter_for
    >>> converter_for(Double()) is _double
    True
    """
    from tapegrad.onnx.layers import register_layer as _register

    return _register(*classes)


def _signature(input_signature: Any) -> list[tuple[tuple[int | None, ...], np.dtype, str]]:
    """[(shape with None for free dims, dtype, name)] from a shape, an Input, or a list."""
    from tapegrad.nn.symbolic import KerasTensor

    def one(spec: Any, name: str) -> tuple[tuple[int | None, ...], np.dtype, str]:
        if isinstance(spec, KerasTensor):
            return (tuple(spec.shape), np.dtype(spec.dtype or np.float32), spec.name or name)
        if isinstance(spec, np.ndarray):
            return (tuple(spec.shape), spec.dtype, name)
        if isinstance(spec, (tuple, list)) and all(s is None or isinstance(s, (int, np.integer))
                                                   for s in spec):
            return (tuple(None if s is None else int(s) for s in spec), np.dtype(np.float32),
                    name)
        raise TypeError(f"tapegrad.onnx.export: input_signature must be a shape tuple (None "
                        f"for the batch), a tg.nn.Input, an example array, or a list of those; "
                        f"got {spec!r}")

    if isinstance(input_signature, (tuple, list)) and input_signature and all(
            isinstance(s, (tuple, list, KerasTensor, np.ndarray)) for s in input_signature):
        return [one(s, f"input_{i}") for i, s in enumerate(input_signature)]
    return [one(input_signature, "input")]


def _examples(sig: list, seed: int) -> list[np.ndarray]:
    """Input values for tracing: free dims of size 3, floats random, integers 0 or 1."""
    rng = np.random.default_rng(seed)
    out = []
    for shape, dtype, _ in sig:
        concrete = tuple(3 if s is None else s for s in shape)
        if dtype.kind == "f":
            out.append(rng.normal(size=concrete).astype(dtype))
        else:
            out.append(np.full(concrete, seed % 2, dtype))
    return out


def _trace(model: Any, examples: list[np.ndarray]) -> tuple[Any, list, Any, list]:
    """Run `model` once in inference on a tape, noting each top-level call of a layer that
    has a converter. Returns (tape, calls, output, input tensors)."""
    from tapegrad.nn.module import Module
    from tapegrad.onnx.layers import LayerCall, converter_for
    from tapegrad.tape import GradientTape
    from tapegrad.tensor import Tensor

    calls: list[tuple[int, int, LayerCall]] = []
    depth = [0]
    patched: list[Module] = []

    def wrap(layer: Module) -> None:
        original = layer.call

        def call(inputs: Any, *args: Any, **kwargs: Any) -> Any:
            start = len(tape.ops)
            depth[0] += 1
            try:
                out = original(inputs, *args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0:
                calls.append((start, len(tape.ops), LayerCall(layer, inputs, out, kwargs)))
            return out

        layer.__dict__["call"] = call  # an instance attribute shadows the method while tracing
        patched.append(layer)

    if isinstance(model, Module) and not model.built:
        # Build outside the trace, so that the calls which infer shapes are not exported.
        model(examples[0] if len(examples) == 1 else examples, training=False)
    layers = [model, *model.submodules] if isinstance(model, Module) else []
    for layer in layers:
        if converter_for(layer) is not None:
            wrap(layer)
    xs = [Tensor._wrap(e) for e in examples]
    try:
        with GradientTape() as tape:
            for x in xs:
                if x.dtype.kind == "f":
                    tape.watch(x)
            out = model(xs[0] if len(xs) == 1 else xs, training=False)
    finally:
        for layer in patched:
            del layer.__dict__["call"]
    return tape, calls, out, xs


def _frozen_values(tape: Any, calls: list, g: GraphBuilder) -> dict[tuple[int, int], Any]:
    """Values of op inputs that the exported graph would freeze as constants (computed
    outside the tape, not weights), keyed by (op index, argument index)."""
    from tapegrad.tensor import Tensor, Variable

    inside = {i for start, end, _ in calls for i in range(start, end)}
    produced = {id(op.output) for op in tape.ops}
    frozen = {}
    for k, op in enumerate(tape.ops):
        if k in inside:
            continue
        for j, a in enumerate(op.inputs):
            if isinstance(a, Tensor) and not isinstance(a, Variable) and \
                    id(a) not in produced and g.name_of(a) is None:
                frozen[(k, j)] = a.numpy().copy()
    return frozen


def _build(model: Any, sig: list) -> tuple[GraphBuilder, list[str], Any]:
    from tapegrad.onnx.convert import convert_op, flatten
    from tapegrad.onnx.layers import converter_for

    examples = _examples(sig, 0)
    tape, calls, out, xs = _trace(model, examples)
    g = GraphBuilder()
    g.dynamic_batch = any(shape and shape[0] is None for shape, _, _ in sig)
    for x, (_, _, name) in zip(xs, sig):
        g.bind(x, name)
    frozen = _frozen_values(tape, calls, g)
    if frozen:  # the same constants must come out of a second trace on other inputs
        tape2, calls2, _, xs2 = _trace(model, _examples(sig, 1))
        g2 = GraphBuilder()
        for x, (_, _, name) in zip(xs2, sig):
            g2.bind(x, name)
        again = _frozen_values(tape2, calls2, g2)
        for (k, j), value in frozen.items():
            other = again.get((k, j))
            if other is None or other.shape != value.shape or not np.array_equal(other, value):
                op = tape.ops[k]
                file, line = op.location
                raise ValueError(
                    f"tapegrad.onnx.export: input {j} of the op {op.name}"
                    f"{' in ' + op.scope if op.scope else ''} ({file}:{line}) depends on the "
                    f"model input but "
                    f"was computed outside the tape (a comparison, .numpy() or a NumPy call), "
                    f"so ONNX would freeze it as a constant; compute it with tapegrad ops")
    by_start: dict[int, list] = {}
    for start, end, call in calls:
        by_start.setdefault(start, []).append((end, call))
    ops = tape.ops
    k = 0
    while k <= len(ops):
        jumped = False
        for end, call in by_start.pop(k, []):
            ins = flatten(call.inputs)
            names = [g.name_of(t) or g.const(np.asarray(t.numpy() if hasattr(t, "numpy")
                                                        else t), "const") for t in ins]
            fn = converter_for(call.layer)
            result = fn(g, call.layer, names[0] if len(names) == 1 else names, call)
            results = result if isinstance(result, list) else [result]
            outs = flatten(call.outputs)
            if len(results) != len(outs):
                raise ValueError(f"tapegrad.onnx: the converter of {call.layer.name} made "
                                 f"{len(results)} outputs for {len(outs)} tensors")
            for t, name in zip(outs, results):
                g.bind(t, name)
            if end > k:
                k, jumped = end, True
                break
        if jumped:
            continue
        if k < len(ops):
            convert_op(g, ops[k])
        k += 1
    outputs = []
    for i, t in enumerate(flatten(out)):
        name = g.name_of(t)
        if name is None:
            raise ValueError("tapegrad.onnx.export: a model output does not depend on its "
                             "inputs through recorded ops")
        outputs.append((g.node("Identity", [name], outputs=[
            g.fresh("output" if len(flatten(out)) == 1 else f"output_{i}")]), t))
    return g, outputs, out


def _save(g: GraphBuilder, sig: list, outputs: list, path: str | os.PathLike,
          name: str) -> Any:
    import onnx
    from onnx import helper

    inputs = [helper.make_tensor_value_info(
        n, tensor_type(dt), [("batch" if i == 0 else f"dim_{i}") if s is None else s
                             for i, s in enumerate(shape)]) for shape, dt, n in sig]
    outs = []
    for oname, t in outputs:
        dims: list[Any] = list(t.shape)
        if sig and sig[0][0] and sig[0][0][0] is None and dims:
            dims[0] = "batch"
        outs.append(helper.make_tensor_value_info(oname, tensor_type(t.dtype), dims))
    graph = helper.make_graph(g.nodes, name, inputs, outs, g.initializers)
    proto = helper.make_model(graph, producer_name="tapegrad",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    proto.ir_version = min(proto.ir_version, 8)  # readable by onnxruntime >= 1.13
    onnx.checker.check_model(proto, full_check=True)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".onnx.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(proto.SerializeToString())
        os.replace(tmp, path)  # atomic: a reader never sees half a file
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return proto


def export(model: Any, path: str | os.PathLike, input_signature: Any) -> Any:
    """Write `model`'s inference graph to `path` as ONNX and return the checked ModelProto.

    `input_signature`: the input's shape with the batch included (None for a free size, e.g.
    `(None, 28, 28, 1)`), a `tg.nn.Input` (its dtype too, e.g. integer ids for an Embedding),
    an example array, or a list of these for several inputs. Inputs are named "input" (or
    "input_0", ...), outputs "output" (or "output_0", ...).

    >>> import os, tempfile, tapegrad as tg
    >>> model = tg.nn.Sequential([tg.nn.Conv2D(2, 3, padding="same"),
    ...                           tg.nn.GlobalAveragePooling2D()])
    >>> proto = tg.onnx.export(model, os.path.join(tempfile.mkdtemp(), "cnn.onnx"), (None, 8, 8, 1))
    >>> [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    ['batch', 8, 8, 1]
    """
    sig = _signature(input_signature)
    g, outputs, _ = _build(model, sig)
    return _save(g, sig, outputs, path, getattr(model, "name", "model"))


def export_tape(tape: Any, inputs: Sequence[Any], outputs: Sequence[Any],
                path: str | os.PathLike) -> Any:
    """Write the forward graph a tape recorded from `inputs` to `outputs` as ONNX (shapes as
    recorded); an op without an ONNX converter raises an error naming it.

    >>> import os, tempfile, numpy as np, tapegrad as tg
    >>> x = tg.tensor(np.ones((2, 3), np.float32)); w = tg.Variable(np.ones((3, 1), np.float32))
    >>> with tg.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = tg.tanh(x @ w) + 1.0
    >>> proto = tg.onnx.export_tape(tape, [x], [y], os.path.join(tempfile.mkdtemp(), "t.onnx"))
    >>> [n.op_type for n in proto.graph.node]
    ['MatMul', 'Tanh', 'Add', 'Identity']
    """
    from tapegrad.onnx.convert import convert_op

    g = GraphBuilder()
    sig = []
    for i, x in enumerate(inputs):
        name = "input" if len(inputs) == 1 else f"input_{i}"
        g.bind(x, name)
        sig.append((tuple(x.shape), x.dtype, name))
    for op in tape.ops:
        convert_op(g, op)
    outs = []
    for i, t in enumerate(outputs):
        name = g.name_of(t)
        if name is None:
            raise ValueError(f"tapegrad.onnx.export_tape: output {i} was not recorded on the "
                             f"tape from the given inputs")
        outs.append((g.node("Identity", [name], outputs=[
            g.fresh("output" if len(outputs) == 1 else f"output_{i}")]), t))
    return _save(g, sig, outs, path, "tape")
