"""Whole-model saving: `model.save(path)` writes the architecture (a JSON config built from
every layer's `get_config`) and the weights into one `.npz` file, atomically, through
`tapegrad.nn.weights.write_npz`; `load_model(path)` rebuilds the model from the config and
assigns the weights (checked by count and shape before any is assigned). No pickle anywhere:
the config is JSON text, the weights plain arrays.

Layers are found by class name among tapegrad's own; custom layers, models and functions (a
`Lambda`'s function, a custom activation) are registered by name with `register_serializable`
or passed as `custom_objects`, as in Keras.

>>> import os, tempfile, numpy as np, tapegrad as tg
>>> model = tg.nn.Sequential([tg.nn.Input((3,)), tg.nn.Dense(2, activation="tanh")])
>>> path = os.path.join(tempfile.mkdtemp(), "m.tapegrad")
>>> model.save(path)
>>> again = tg.nn.load_model(path)
>>> x = np.ones((1, 3), np.float32)
>>> np.array_equal(again.predict(x), model.predict(x))
True
"""

from __future__ import annotations

import importlib
import json
import os
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.nn.weights import set_weights, write_npz

__all__ = ["save_model", "load_model", "register_serializable", "serialize_layer",
           "deserialize_layer", "serialize_value", "deserialize_value"]

FORMAT = "tapegrad.model"
VERSION = 1
_CONFIG_KEY = "__config__"

_REGISTRY: dict[str, Any] = {}  # registered custom classes and functions, by name


def register_serializable(obj: Any = None, *, name: str | None = None) -> Any:
    """Register a custom layer/model class or a function by name so that saved models using
    it can be loaded (a decorator, like Keras's `register_keras_serializable`).

    >>> import tapegrad as tg
    >>> @tg.nn.register_serializable()
    ... class Double(tg.nn.Layer):
    ...     def call(self, x):
    ...         return x * 2.0
    >>> tg.nn.saving.deserialize_layer(tg.nn.saving.serialize_layer(Double())).__class__
    <class 'tapegrad.nn.saving.Double'>
    """
    def register(target: Any) -> Any:
        key = name or target.__name__
        if key == "<lambda>":
            raise ValueError("register_serializable: a lambda has no name; use def, or pass "
                             "name='...'")
        old = _REGISTRY.get(key)
        if old is not None and old is not target and getattr(old, "__qualname__", None) != \
                getattr(target, "__qualname__", None):
            raise ValueError(f"register_serializable: the name {key!r} is already registered "
                             f"for {old!r}; pass name='...'")
        _REGISTRY[key] = target  # re-running a notebook cell replaces the old definition
        return target

    return register if obj is None else register(obj)


def _registered_name(obj: Any) -> str | None:
    for key, value in _REGISTRY.items():
        if value is obj:
            return key
    return None


def _layer_classes() -> dict[str, type]:
    from tapegrad import nn
    from tapegrad.nn.functional import Functional, TensorOp
    from tapegrad.nn.module import Module

    classes = {k: v for k, v in vars(nn).items() if isinstance(v, type) and issubclass(v, Module)}
    classes["Functional"], classes["TensorOp"] = Functional, TensorOp
    return classes


def _find(name: str, custom_objects: dict | None, what: str) -> Any:
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name in _REGISTRY:
        return _REGISTRY[name]
    if what == "layer":
        found = _layer_classes().get(name)
        if found is not None:
            return found
    raise ValueError(
        f"load_model: unknown {what} {name!r}: it is not one of tapegrad's and was not "
        f"registered. Decorate its definition with @tg.nn.register_serializable() (and run "
        f"that definition before loading), or pass custom_objects={{{name!r}: {name}}} to "
        f"tg.nn.load_model")


# -- values inside configs ------------------------------------------------------------------

def serialize_value(value: Any, where: str) -> Any:
    """A JSON-ready form of a constructor argument: numbers, strings, lists, dicts, layers
    (`{"__layer__": ...}`), tapegrad objects with `get_config` and registered functions.

    >>> serialize_value((3, 3), "conv"), serialize_value(np.float32(0.5), "dropout")
    ([3, 3], 0.5)
    """
    from tapegrad.nn import activations
    from tapegrad.nn.module import Module

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.dtype):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [serialize_value(v, where) for v in value]
    if isinstance(value, dict):
        return {str(k): serialize_value(v, where) for k, v in value.items()}
    if isinstance(value, Module):
        return {"__layer__": serialize_layer(value)}
    registered = _registered_name(value)
    if registered is not None:
        return {"__function__": registered}
    if callable(value) and getattr(value, "__module__", None) == activations.__name__:
        return activations.serialize(value)
    get_config = getattr(value, "get_config", None)
    module = type(value).__module__
    if callable(get_config) and module.startswith("tapegrad."):
        return {"__class__": f"{module}:{type(value).__name__}",
                "config": serialize_value(get_config(), where)}
    if isinstance(value, np.ndarray) and value.size <= 1024:
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    kind = "function" if callable(value) else type(value).__name__
    raise TypeError(
        f"save: cannot save argument {value!r} of {where}: a {kind} that is not registered. "
        f"Give it by name (e.g. activation='relu') or register it with "
        f"@tg.nn.register_serializable() (lambdas cannot be saved: use def)")


def deserialize_value(value: Any, custom_objects: dict | None = None) -> Any:
    """The inverse of `serialize_value` (JSON lists stay lists)."""
    if isinstance(value, list):
        return [deserialize_value(v, custom_objects) for v in value]
    if not isinstance(value, dict):
        return value
    if "__layer__" in value:
        return deserialize_layer(value["__layer__"], custom_objects)
    if "__function__" in value:
        return _find(value["__function__"], custom_objects, "function")
    if "__array__" in value:
        return np.asarray(value["__array__"], dtype=value["dtype"])
    if "__class__" in value:
        module, _, name = value["__class__"].partition(":")
        if not module.startswith("tapegrad."):
            raise ValueError(f"load_model: refusing to import {module!r} from a config")
        cls = getattr(importlib.import_module(module), name)
        config = deserialize_value(value["config"], custom_objects)
        try:
            return cls(**config)
        except TypeError:  # a Configurable whose attributes are not all constructor arguments
            obj = cls.__new__(cls)
            vars(obj).update(config)
            return obj
    return {k: deserialize_value(v, custom_objects) for k, v in value.items()}


# -- layers ---------------------------------------------------------------------------------

def serialize_layer(layer: Any) -> dict[str, Any]:
    """`{"class_name", "config", "build_input_shape"}` of a layer or model."""
    cls = type(layer)
    name = _registered_name(cls) or cls.__name__
    config = {"name": layer.name, "trainable": layer.trainable, **layer.get_config()}
    shape = layer._build_input_shape if layer.built else None
    return {"class_name": name, "module": cls.__module__,
            "config": serialize_value(config, f"layer {layer.name!r} ({cls.__name__})"),
            "build_input_shape": serialize_value(_batch_none(shape), "build shape")}


def _batch_none(shape: Any) -> Any:
    if isinstance(shape, tuple):
        return [None, *shape[1:]] if shape else []
    if isinstance(shape, list):
        return [_batch_none(s) for s in shape]
    if isinstance(shape, dict):
        return {k: _batch_none(s) for k, s in shape.items()}
    return shape


def _shape(spec: Any) -> Any:
    if isinstance(spec, list) and all(s is None or isinstance(s, int) for s in spec):
        return tuple(spec)
    if isinstance(spec, list):
        return [_shape(s) for s in spec]
    if isinstance(spec, dict):
        return {k: _shape(s) for k, s in spec.items()}
    return spec


def deserialize_layer(spec: dict[str, Any], custom_objects: dict | None = None,
                      build: bool = True) -> Any:
    """A new layer from `serialize_layer`'s output, built to its saved input shape (unless
    `build=False`: layers of a functional model are built by the graph's calls)."""
    from tapegrad.nn.functional import Functional
    from tapegrad.nn.model import Sequential

    cls = _find(spec["class_name"], custom_objects, "layer")
    if issubclass(cls, (Functional, Sequential)):
        layer = cls.from_config(spec["config"], custom_objects)
    else:
        layer = cls.from_config(deserialize_value(spec["config"], custom_objects))
    shape = spec.get("build_input_shape")
    if build and not layer.built and shape is not None:
        layer.build(_shape(shape))
    return layer


# -- files ----------------------------------------------------------------------------------

def save_model(model: Any, filepath: str | os.PathLike) -> None:
    """Write `model` (config + weights) to `filepath` atomically; see the module docstring."""
    path = os.fspath(filepath)
    if not model.built:
        raise ValueError(f"save: {model.name} has not been built yet; call it on a batch or "
                         f"build(input_shape) first, so that its weights exist")
    variables = model.variables
    config = {"format": FORMAT, "version": VERSION, "model": serialize_layer(model),
              "weights": [{"name": v.name, "shape": list(v.shape), "dtype": str(v.dtype)}
                          for v in variables]}
    arrays = {_CONFIG_KEY: np.array(json.dumps(config))}
    arrays.update({f"w{i:05d}": v.numpy() for i, v in enumerate(variables)})
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    write_npz(path, arrays)


def _read(path: str) -> tuple[dict, list[np.ndarray]]:
    try:
        with np.load(path, allow_pickle=False) as data:
            if _CONFIG_KEY not in data.files:
                raise ValueError("it holds no model config (a weights file? use "
                                 "model.load_weights)")
            config = json.loads(str(data[_CONFIG_KEY]))
            weights = [np.asarray(data[f"w{i:05d}"]) for i in range(len(config["weights"]))]
    except FileNotFoundError:
        raise FileNotFoundError(f"load_model: no such file: {path!r}") from None
    except (OSError, ValueError, EOFError, KeyError, AttributeError, zipfile.BadZipFile,
            json.JSONDecodeError) as e:
        raise ValueError(f"load_model: {path!r} is not a readable tapegrad model file "
                         f"(corrupted or of another format): {e}") from e
    if config.get("format") != FORMAT or config.get("version") != VERSION:
        raise ValueError(f"load_model: {path!r} has format {config.get('format')!r} version "
                         f"{config.get('version')!r}; this tapegrad reads {FORMAT!r} "
                         f"version {VERSION}")
    return config, weights


def load_model(filepath: str | os.PathLike,
               custom_objects: dict[str, Callable | type] | None = None) -> Any:
    """Rebuild a model saved by `model.save(filepath)` and assign its weights (by order, with
    count and shapes checked first). The model comes back uncompiled: call `compile` to
    train it further.

    >>> import tapegrad as tg
    >>> tg.nn.load_model("no/such/file.tapegrad")
    Traceback (most recent call last):
    FileNotFoundError: load_model: no such file: 'no/such/file.tapegrad'
    """
    path = os.fspath(filepath)
    config, weights = _read(path)
    model = deserialize_layer(config["model"], custom_objects)
    if len(model.variables) != len(weights):
        raise ValueError(f"load_model: {path!r} holds {len(weights)} weights but the rebuilt "
                         f"model {model.name!r} has {len(model.variables)}; its get_config "
                         f"does not recreate the same layers")
    set_weights(model, weights)
    return model
