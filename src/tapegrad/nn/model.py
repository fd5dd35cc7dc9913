"""`Model`: a layer that also trains (compile/fit/evaluate/predict from `tapegrad.training`)
and saves; `Sequential`, a model made of a stack of layers.

Three ways to make a model, as in Keras:

- `tg.nn.Sequential([...])`, a stack of layers;
- `tg.nn.Model(inputs, outputs)` on symbolic tensors from `tg.nn.Input` (the functional API,
  see `tapegrad.nn.functional`);
- subclassing `tg.nn.Model` and writing `call`.

>>> import numpy as np, tapegrad as tg
>>> class TwoHeads(tg.nn.Model):
...     def __init__(self, **kwargs):
...         super().__init__(**kwargs)
...         self.body, self.head = tg.nn.Dense(4, activation="relu"), tg.nn.Dense(1)
...     def call(self, x, training=False):
...         return self.head(self.body(x))
>>> TwoHeads()(np.ones((2, 3))).shape
(2, 1)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from tapegrad.nn.module import Module
from tapegrad.nn.symbolic import KerasTensor
from tapegrad.training import Trainable

__all__ = ["Model", "Sequential"]


class Model(Module, Trainable):
    """A layer with `compile`/`fit`/`evaluate`/`predict`/`save`; `Model(inputs, outputs)` makes
    a functional model, a subclass with `call` a subclassed one.

    `input_names`/`output_names` are lists of names for functional models and None for
    Sequential and subclassed models (which take and return single tensors).

    >>> import numpy as np, tapegrad as tg
    >>> x = tg.nn.Input((4,), name="x")
    >>> model = tg.nn.Model(x, tg.nn.Dense(1)(tg.nn.Dense(8, activation="relu")(x)))
    >>> model.compile("adam", "mse")
    >>> model.predict(np.ones((3, 4))).shape, model.input_names
    ((3, 1), ['x'])
    """

    input_names: list[str] | None = None
    output_names: list[str] | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Model:
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from tapegrad.nn.functional import Functional

            return Functional.__new__(Functional, *args, **kwargs)
        return super().__new__(cls, *args, **kwargs)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Module:
        """The layer called `name`, or the one at position `index` of `layers`.

        >>> import tapegrad as tg
        >>> m = tg.nn.Sequential([tg.nn.Dense(2, name="hidden"), tg.nn.Dense(1)])
        >>> m.get_layer("hidden").units, m.get_layer(index=1).units
        (2, 1)
        """
        layers = self.layers
        if (name is None) == (index is None):
            raise ValueError(f"{self.name}.get_layer: give exactly one of name= or index=")
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"{self.name}.get_layer: index {index} is out of range for "
                                 f"{len(layers)} layers")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"{self.name}.get_layer: no layer named {name!r}; the layers are "
                         f"{[layer.name for layer in layers]}")

    def save(self, filepath: str | os.PathLike) -> None:
        """Write architecture (JSON config) and weights to one file, atomically (Keras's
        `model.save`); read it back with `tg.nn.load_model`. See `tapegrad.nn.saving`."""
        from tapegrad.nn.saving import save_model

        save_model(self, filepath)


class Sequential(Model):
    """A stack of layers, each fed the previous one's output.

    Given its input shape (an `Input` first, `input_shape=` on the first layer, or `build`),
    or after its first call, it also has a symbolic graph: `model.input`, `model.output` and
    `layer.output` work as in Keras (e.g. for an intermediate-activations model).

    >>> import numpy as np, tapegrad as tg
    >>> model = tg.nn.Sequential([tg.nn.Dense(8, activation="relu"), tg.nn.Dense(1)])
    >>> model(np.zeros((4, 3))).shape
    (4, 1)
    >>> model.add(tg.nn.Activation("sigmoid")); len(model.layers)
    3
    """

    def __init__(self, layers: Iterable[Any] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._layers: list[Module] = []
        d = self.__dict__  # not tracked as sub-layers:
        d["_input_tensor"] = None  # a KerasTensor, from an Input given as first element
        d["_graph"] = None  # (input, output, nodes made by the last build)
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Module]:
        """The layers, in order."""
        return list(self._layers)

    def add(self, layer: Any) -> None:
        """Append a layer (or, first, an `Input` giving the input shape)."""
        from tapegrad.nn.functional import InputLayer

        if isinstance(layer, InputLayer):
            layer = layer.output
        if isinstance(layer, KerasTensor):
            if not isinstance(layer.node.layer, InputLayer):
                raise TypeError(f"{self.name}.add: a symbolic tensor can only be an Input "
                                f"(tg.nn.Input(shape)); use tg.nn.Model(inputs, outputs) for "
                                f"graphs")
            if self._layers or self._input_tensor is not None:
                raise ValueError(f"{self.name}: an Input can only be the first element")
            self.__dict__["_input_tensor"] = layer
            if layer.dtype.kind == "f" and self._dtype is None:
                self.__dict__["_dtype"] = layer.dtype
            return
        if not isinstance(layer, Module):
            raise TypeError(f"{self.name}.add: expected a layer (tg.nn.Layer), got "
                            f"{type(layer).__name__}")
        self._layers.append(layer)
        self.__dict__["built"] = False
        if self._input_tensor is not None:
            self._build_graph(self._input_tensor.shape, self._input_tensor.dtype)
        else:
            spec = self._layers[0].__dict__.get("_input_shape_arg")
            if spec is not None:
                self.build(spec)

    def pop(self) -> Module:
        """Remove and return the last layer."""
        if not self._layers:
            raise ValueError(f"{self.name}.pop: there are no layers")
        layer = self._layers.pop()
        self.__dict__["built"] = False
        if self._layers and self._graph is not None:
            x = self._graph[0]
            self._build_graph(x.shape, x.dtype)
        return layer

    def build(self, input_shape: Sequence[int | None]) -> None:
        self._build_graph(tuple(input_shape), self.dtype)

    def _build_graph(self, input_shape: tuple, dtype: Any) -> None:
        """Call the layers on a symbolic input (the batch dimension None), as Keras 3 does."""
        from tapegrad.nn.functional import Input

        if not self._layers:
            raise ValueError(f"{self.name}: cannot build a Sequential model without layers")
        if self._graph is not None:  # forget the calls of an earlier build
            for node in self._graph[2]:
                nodes = node.layer._inbound_nodes
                if any(n is node for n in nodes):
                    nodes.remove(node)
        x = self._input_tensor
        if x is None or tuple(x.shape[1:]) != tuple(input_shape[1:]):
            x = Input(batch_shape=(None, *input_shape[1:]), dtype=dtype,
                      name=f"{self.name}_input")
        y, made = x, []
        for layer in self._layers:
            y = layer(y)
            made.append(layer._inbound_nodes[-1])
        self.__dict__["_graph"] = (x, y, made)
        self.__dict__["_build_input_shape"] = tuple(input_shape)
        self.__dict__["_output_shape"] = y.shape if isinstance(y, KerasTensor) else None
        self.__dict__["built"] = True

    def _lazy_build(self, inputs: Any) -> None:
        if not self._layers:
            raise ValueError(f"{self.name}: cannot call a Sequential model without layers")
        shape = tuple(inputs.shape) if hasattr(inputs, "shape") else None
        if shape is None or not shape:
            self.__dict__["built"] = True  # the layers build themselves on the first call
            return
        if self._dtype is None and inputs.dtype.kind == "f":
            self.__dict__["_dtype"] = inputs.dtype
        self._build_graph(shape, inputs.dtype)

    @property
    def input(self) -> KerasTensor:
        """The symbolic input of the built model."""
        return self._graph_part(0, "input")

    @property
    def output(self) -> Any:
        """The symbolic output of the built model."""
        return self._graph_part(1, "output")

    @property
    def inputs(self) -> list[KerasTensor]:
        return [self.input]

    @property
    def outputs(self) -> list[Any]:
        return [self.output]

    def _graph_part(self, i: int, what: str) -> Any:
        if self._graph is None:
            raise AttributeError(f"{self.name}: the model has no {what} yet; give it an Input "
                                 f"first, call it on data, or call build(input_shape)")
        return self._graph[i]

    def call(self, inputs: Any, training: bool = False) -> Any:
        x = inputs
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    def get_config(self) -> dict[str, Any]:
        from tapegrad.nn.saving import serialize_layer

        shape = self._build_input_shape
        x = self._graph[0] if self._graph is not None else None
        return {"name": self.name, "trainable": self.trainable,
                "layers": [serialize_layer(layer) for layer in self._layers],
                "input_shape": None if shape is None else [None, *shape[1:]],
                "input_dtype": None if x is None else str(x.dtype)}

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict | None = None) -> Model:
        from tapegrad.nn.saving import deserialize_layer

        model = cls([deserialize_layer(s, custom_objects) for s in config["layers"]],
                    name=config["name"])
        if config.get("input_shape") is not None and not model.built:
            model._build_graph(tuple(config["input_shape"]), config.get("input_dtype"))
        if not config.get("trainable", True):
            model.trainable = False
        return model
