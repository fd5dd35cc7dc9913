"""The Keras functional API: `Input` makes a symbolic tensor, calling layers on symbolic tensors
records a graph of layer calls, and `Model(inputs, outputs)` replays that graph on real data.

>>> import tapegrad as tg, numpy as np
>>> tg.nn.reset_names()
>>> a, b = tg.nn.Input((3,), name="a"), tg.nn.Input((2,), name="b")
>>> h = tg.nn.Concatenate()([a, tg.nn.Dense(4)(b)])
>>> model = tg.nn.Model([a, b], [tg.nn.Dense(1)(h), tg.nn.Dense(2, activation="softmax")(h)])
>>> [o.shape for o in model([np.ones((5, 3)), np.ones((5, 2))])]
[(5, 1), (5, 2)]
>>> model.input_names, model.output_names
(['a', 'b'], ['dense_1', 'dense_2'])

Shared layers (one instance called on several inputs) share their weights; a model is a layer,
so it can be called on symbolic tensors inside another model. Inputs of a model call may be
given by position or as a dict keyed by input name; outputs come back in the structure given
to `Model` (a tensor, a list or a dict).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad import _args, ops
from tapegrad.nn.model import Model
from tapegrad.nn.module import Module, unique_name
from tapegrad.nn.symbolic import KerasTensor, Node, flatten, map_structure
from tapegrad.tensor import Tensor, as_tensor, get_default_dtype

__all__ = ["Input", "InputLayer", "Functional", "TensorOp"]


class InputLayer(Module):
    """The layer behind `Input`: it has no weights and passes its input through.

    >>> import tapegrad as tg
    >>> tg.nn.InputLayer(shape=(4,), name="x").output.shape
    (None, 4)
    """

    def __init__(self, shape: Sequence[int | None] | None = None, batch_size: int | None = None,
                 dtype: Any = None, name: str | None = None,
                 batch_shape: Sequence[int | None] | None = None, **kwargs: Any):
        super().__init__(name=name or unique_name("input_layer"), **kwargs)
        if batch_shape is None:
            if shape is None:
                raise ValueError("Input: give shape=(...) (without the batch dimension)")
            if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
                shape = (shape,)
            if not isinstance(shape, (list, tuple)):
                raise TypeError(f"Input: shape must be a tuple of ints or None (without the "
                                f"batch dimension), got {shape!r}")
            if batch_size is not None:
                batch_size = _args.count(batch_size, "Input", "batch_size")
            batch_shape = (batch_size, *shape)
        if not isinstance(batch_shape, (list, tuple)) or any(
                s is not None and (isinstance(s, (bool, np.bool_))
                                   or not isinstance(s, (int, np.integer))) for s in batch_shape):
            raise TypeError(f"Input: the shape must hold ints >= 0 or None, got {batch_shape!r}")
        batch_shape = tuple(None if s is None else int(s) for s in batch_shape)
        if any(s is not None and s < 0 for s in batch_shape):
            raise ValueError(f"Input: dimensions must be >= 0 or None, got {batch_shape}")
        self.batch_shape = batch_shape
        self.input_dtype = _input_dtype(dtype) if dtype is not None else get_default_dtype()
        tensor = KerasTensor(batch_shape, self.input_dtype, self.name)
        node = Node(self, (), {}, tensor, None)
        tensor.node = node
        self._inbound_nodes.append(node)
        self.built = True

    def get_config(self) -> dict[str, Any]:
        return {"batch_shape": list(self.batch_shape), "dtype": str(self.input_dtype),
                "name": self.name}

    def call(self, inputs: Any, training: bool = False) -> Any:
        x = _args.layer_input(inputs)
        if len(x.shape) != len(self.batch_shape) or any(
                s is not None and s != n for s, n in zip(self.batch_shape, x.shape)):
            raise ValueError(f"expects inputs of shape {self.batch_shape} (None: any size), "
                             f"got shape {tuple(x.shape)}")
        return x


def _input_dtype(dtype: Any) -> np.dtype:
    """A real (float, int or bool) dtype for an Input; complex, object and unknown refuse."""
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"Input: dtype must be a NumPy dtype such as 'float32' or 'int64', "
                        f"got {dtype!r} ({e})") from e
    if dt.kind not in "fiub":
        raise TypeError(f"Input: dtype must be a float, int or bool dtype, got {dt}")
    return dt


def Input(shape: Sequence[int | None] | None = None, batch_size: int | None = None,
          dtype: Any = None, name: str | None = None,
          batch_shape: Sequence[int | None] | None = None) -> KerasTensor:
    """A symbolic input of `shape` (batch dimension excluded; None for a variable size).

    Start a functional model with it, or give it as the first element of a `Sequential`.

    >>> import tapegrad as tg
    >>> x = tg.nn.Input(shape=(None,), dtype="int64", name="text")
    >>> x.shape, x.dtype.name
    ((None, None), 'int64')
    """
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name,
                       batch_shape=batch_shape)
    return layer.output


_BINARY = {"add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
           "divide": operator.truediv, "power": operator.pow, "matmul": operator.matmul}


class TensorOp(Module):
    """A Python operator on symbolic tensors (`x * 2`, `a + b`, `-x`, `x[:, 0]`) recorded as a
    layer of the functional graph, as Keras 3 records them. `operand` is the constant other
    side (`reverse=True`: it comes first); without it the layer takes a pair `[a, b]`.
    `key` (for "getitem") is in the JSON form of `encode_key`.

    >>> import tapegrad as tg, numpy as np
    >>> x = tg.nn.Input((3,))
    >>> model = tg.nn.Model(x, 1.0 - x[:, :2] * 2)
    >>> model(np.ones((1, 3))).numpy()
    array([[-1., -1.]], dtype=float32)
    """

    def __init__(self, op: str, operand: Any = None, reverse: bool = False, key: Any = None,
                 **kwargs: Any):
        kwargs.setdefault("name", unique_name(op))
        super().__init__(**kwargs)
        if op not in (*_BINARY, "negative", "getitem"):
            raise ValueError(f"TensorOp: unknown op {op!r}")
        self.op, self.reverse, self.key = op, bool(reverse), key
        self.operand = operand if operand is None or isinstance(operand, (int, float)) \
            else np.asarray(operand)

    def call(self, inputs: Any) -> Any:
        if self.op == "negative":
            return -inputs
        if self.op == "getitem":
            return inputs[decode_key(self.key)]
        fn = _BINARY[self.op]
        if self.operand is None:
            a, b = inputs
            return fn(a, b)
        other = self.operand
        return fn(other, inputs) if self.reverse else fn(inputs, other)


def encode_key(key: Any) -> Any:
    """An indexing key (ints, slices, None, Ellipsis, tuples of them) in a JSON-ready form.

    >>> encode_key((slice(None), 0, None, ...))
    [{'slice': [None, None, None]}, 0, None, '...']
    """
    if isinstance(key, tuple):
        return [encode_key(k) for k in key]
    if isinstance(key, slice):
        return {"slice": [key.start, key.stop, key.step]}
    if key is Ellipsis:
        return "..."
    if key is None or isinstance(key, (int, np.integer)):
        return None if key is None else int(key)
    raise TypeError(f"indexing a symbolic tensor takes ints, slices, None and ..., got "
                    f"{key!r}; use tg.nn.Lambda for other keys")


def decode_key(key: Any) -> Any:
    """The inverse of `encode_key`."""
    if isinstance(key, list):
        return tuple(decode_key(k) for k in key)
    if isinstance(key, dict):
        return slice(*key["slice"])
    return Ellipsis if key == "..." else key


def symbolic_op(op: str, x: KerasTensor, other: Any = None, reverse: bool = False) -> Any:
    """Record `x <op> other` (or `other <op> x`) as a `TensorOp` call (KerasTensor operators)."""
    if op == "negative":
        return TensorOp(op)(x)
    if op == "getitem":
        return TensorOp(op, key=encode_key(other))(x)
    if isinstance(other, KerasTensor):
        return TensorOp(op)([other, x] if reverse else [x, other])
    if isinstance(other, Tensor):
        other = other.numpy()
    if not isinstance(other, (int, float, np.ndarray, np.generic, list)):
        raise TypeError(f"cannot combine a symbolic tensor with {type(other).__name__}")
    return TensorOp(op, operand=other, reverse=reverse)(x)


class _Slot(int):
    """Index of a tensor in a running model's value list (inside argument templates)."""


def _graph(outputs: list[KerasTensor], inputs: list[KerasTensor], where: str) -> list[Node]:
    """The nodes between `inputs` and `outputs` in an execution order (iterative DFS)."""
    input_ids = {id(t) for t in inputs}
    order: list[Node] = []
    done: set[int] = set()
    for out in outputs:
        if id(out) in input_ids:
            continue
        stack: list[tuple[Node, bool]] = [(out.node, False)]
        while stack:
            node, expanded = stack.pop()
            if id(node) in done:
                continue
            if expanded:
                done.add(id(node))
                order.append(node)
                continue
            if isinstance(node.layer, InputLayer):
                raise ValueError(
                    f"{where}: graph disconnected: an output depends on input "
                    f"{node.layer.name!r}, which is not among the model's inputs "
                    f"{[t.name for t in inputs]}; add it to inputs=[...]")
            stack.append((node, True))
            for t in reversed(node.inputs):
                if id(t) not in input_ids and id(t.node) not in done:
                    stack.append((t.node, False))
    return order


class Functional(Model):
    """A model defined by a graph of layer calls, from `tg.nn.Model(inputs, outputs)`."""

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None,
                 trainable: bool = True, **kwargs: Any):
        super().__init__(name=name, trainable=trainable, **kwargs)
        where = f"Model {self.name!r}"
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(outputs, tuple):
            outputs = list(outputs)
        flat_in, flat_out = list(flatten(inputs)), list(flatten(outputs))
        for what, flat in (("inputs", flat_in), ("outputs", flat_out)):
            bad = [type(t).__name__ for t in flat if not isinstance(t, KerasTensor)]
            if bad or not flat:
                raise TypeError(f"{where}: {what} must be symbolic tensors (from tg.nn.Input "
                                f"and layer calls on them), or lists/dicts of them; got "
                                f"{bad or 'nothing'}")
        nodes = _graph(flat_out, flat_in, where)
        layers: list[Module] = []
        for t in flat_in:
            if isinstance(t.node.layer, InputLayer) and t.node.layer not in layers:
                layers.append(t.node.layer)
        for node in nodes:
            if all(node.layer is not x for x in layers):
                layers.append(node.layer)
        names = [layer.name for layer in layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"{where}: layer names must be unique within a model, {dup} "
                             f"appear(s) more than once; pass name=... to the layers")
        self._model_layers = layers  # tracked: the weights of the model, in layer order
        d = self.__dict__  # graph bookkeeping, not tracked as sub-layers
        d["_input_struct"], d["_output_struct"] = inputs, outputs
        d["_model_nodes"] = [t.node for t in flat_in if isinstance(t.node.layer, InputLayer)]
        d["_model_nodes"] += nodes
        d["inputs"], d["outputs"] = flat_in, flat_out
        d["input_names"] = (list(inputs) if isinstance(inputs, dict)
                            else [t.name for t in flat_in])
        d["output_names"] = (list(outputs) if isinstance(outputs, dict)
                             else [t.node.layer.name for t in flat_out])
        d["_plan"] = self._compile_plan(flat_in, flat_out, nodes)
        self.__dict__["_dtype"] = next((t.dtype for t in flat_in if t.dtype.kind == "f"), None)
        self.__dict__["_build_input_shape"] = map_structure(lambda t: t.shape, inputs)
        self.__dict__["_output_shape"] = map_structure(lambda t: t.shape, outputs)
        self.__dict__["built"] = True

    # -- execution plan: each tensor gets a slot in a list, each node reads and fills slots --
    def _compile_plan(self, flat_in: list, flat_out: list, nodes: list[Node]) -> list[tuple]:
        slots: dict[int, int] = {}
        for t in flat_in:
            slots.setdefault(id(t), len(slots))
        plan = []
        for node in nodes:
            def slot(x: Any) -> Any:
                return _Slot(slots[id(x)]) if isinstance(x, KerasTensor) else x
            single = (slots[id(node.args)] if isinstance(node.args, KerasTensor)
                      and not node.kwargs else None)
            args = None if single is not None else map_structure(slot, node.args)
            kwargs = None if single is not None else map_structure(slot, node.kwargs)
            out_slots = []
            for t in node.flat_outputs:
                slots[id(t)] = len(slots)
                out_slots.append(slots[id(t)])
            plan.append((node.layer, single, args, kwargs, out_slots, node.training,
                         isinstance(node.outputs, KerasTensor)))
        d = self.__dict__
        d["_n_slots"] = len(slots)
        d["_input_slots"] = [slots[id(t)] for t in flat_in]
        d["_output_slots"] = [slots[id(t)] for t in flat_out]
        return plan

    @property
    def layers(self) -> list[Module]:
        """The model's layers (InputLayers first), each once, in execution order."""
        return list(self._model_layers)

    @property
    def nodes(self) -> list[Node]:
        """The layer calls of this model in execution order (InputLayer nodes first)."""
        return list(self._model_nodes)

    @property
    def input(self) -> Any:
        """The symbolic input (a list or dict for several inputs), as given to `Model`."""
        return self._input_struct

    @property
    def output(self) -> Any:
        """The symbolic output (a list or dict for several outputs), as given to `Model`."""
        return self._output_struct

    def _flat_inputs(self, inputs: Any) -> list[Any]:
        where = f"{self.name}"
        n = len(self.inputs)
        if isinstance(inputs, dict):
            names = self.input_names
            missing = [k for k in names if k not in inputs]
            extra = [k for k in inputs if k not in names]
            if missing or extra:
                raise ValueError(f"{where}: the input dict must have the keys {names}; "
                                 f"missing {missing}, unexpected {extra}")
            flat = [inputs[k] for k in names]
        elif isinstance(inputs, (list, tuple)) and (n > 1 or len(inputs) == 1 and isinstance(
                inputs[0], (Tensor, np.ndarray))):
            flat = list(inputs)
        else:
            flat = [inputs]
        if len(flat) != n:
            raise ValueError(f"{where}: expects {n} input(s) {self.input_names}, got "
                             f"{len(flat)}")
        out = []
        for value, spec in zip(flat, self.inputs):
            t = value if isinstance(value, Tensor) else as_tensor(value)
            shape = t.shape
            if len(shape) != len(spec.shape) or any(
                    s is not None and s != d for s, d in zip(spec.shape, shape)):
                raise ValueError(f"{where}: input {spec.name!r} expects shape {spec.shape} "
                                 f"(None: any size), got {tuple(shape)}")
            if spec.dtype.kind == "f" and t.dtype != spec.dtype and t.dtype.kind in "fiub":
                t = ops.astype(t, spec.dtype)  # as Keras: inputs take the Input's dtype
            out.append(t)
        return out

    def call(self, inputs: Any, training: bool = False) -> Any:
        vals: list[Any] = [None] * self._n_slots
        for slot, value in zip(self._input_slots, self._flat_inputs(inputs)):
            vals[slot] = value

        def fill(x: Any) -> Any:
            return vals[x] if isinstance(x, _Slot) else x

        for layer, single, args, kwargs, out_slots, fixed, one_out in self._plan:
            tr = training if fixed is None else fixed
            if single is not None:
                out = layer(vals[single], training=tr)
            else:
                out = layer(map_structure(fill, args), training=tr,
                            **map_structure(fill, kwargs))
            if one_out:
                vals[out_slots[0]] = out
            else:
                for s, o in zip(out_slots, flatten(out)):
                    vals[s] = o
        it = iter([vals[s] for s in self._output_slots])
        return map_structure(lambda _: next(it), self._output_struct)

    # -- configuration --------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Layers (with their configs) and the graph of calls, for `tg.nn.load_model`."""
        from tapegrad.nn.saving import serialize_layer, serialize_value

        local: dict[int, tuple[str, int]] = {}  # id(KerasTensor) -> (layer name, node index)
        counts: dict[str, int] = {}
        calls = []
        for node in self._model_nodes:
            name = node.layer.name
            index = counts.get(name, 0)
            counts[name] = index + 1
            for t in node.flat_outputs:
                local[id(t)] = (name, index)
            if isinstance(node.layer, InputLayer):
                continue

            def ref(x: Any, where: str = f"the call of {name}") -> Any:
                if isinstance(x, KerasTensor):
                    return {"__tensor__": [*local[id(x)], x.index]}
                return serialize_value(x, where)
            calls.append({"layer": name, "args": map_structure(ref, node.args),
                          "kwargs": map_structure(ref, node.kwargs),
                          "training": node.training})

        def tensor_ref(t: KerasTensor) -> dict:
            return {"__tensor__": [*local[id(t)], t.index]}
        return {"name": self.name, "trainable": self.trainable,
                "layers": [serialize_layer(layer) for layer in self._model_layers],
                "calls": calls,
                "inputs": map_structure(tensor_ref, self._input_struct),
                "outputs": map_structure(tensor_ref, self._output_struct)}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict | None = None) -> Model:
        from tapegrad.nn.saving import deserialize_layer, deserialize_value

        layers = {}
        for spec in config["layers"]:
            layer = deserialize_layer(spec, custom_objects, build=False)
            layers[layer.name] = layer
        made: dict[tuple, Any] = {}
        counts: dict[str, int] = {}
        for name, layer in layers.items():
            if isinstance(layer, InputLayer):
                made[(name, 0)] = layer.output
                counts[name] = 1

        def unpack(x: Any) -> Any:  # JSON structure -> call arguments with tensors
            if isinstance(x, dict) and set(x) == {"__tensor__"}:
                name, node, index = x["__tensor__"]
                return list(flatten(made[(name, node)]))[index]
            if isinstance(x, list):
                return [unpack(v) for v in x]
            if isinstance(x, dict) and not any(k.startswith("__") for k in x):
                return {k: unpack(v) for k, v in x.items()}  # a dict argument, not a value
            return deserialize_value(x, custom_objects)

        for call in config["calls"]:
            layer = layers[call["layer"]]
            out = layer(unpack(call["args"]), training=call["training"],
                        **unpack(call["kwargs"]))
            index = counts.get(layer.name, 0)
            counts[layer.name] = index + 1
            made[(layer.name, index)] = out
        model = cls(unpack(config["inputs"]), unpack(config["outputs"]), name=config["name"])
        if not config.get("trainable", True):
            model.trainable = False
        return model
