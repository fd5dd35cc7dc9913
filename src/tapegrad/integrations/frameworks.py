"""Weights to and from PyTorch and Keras for the same architecture, so a model can move on.

Layers are paired in order: the model's layers that have weights (nested Sequentials
flattened) against the other model's modules or layers that have weights. tapegrad's layouts
are Keras's, so `from_keras`/`to_keras` copy arrays after checking names and shapes. PyTorch
stores kernels transposed, convolutions channels-first, GRU gates as (r, z, n) and two RNN
biases; `to_torch_state_dict`/`from_torch` convert. Both need only NumPy here; the other
framework is used through the objects you pass.

>>> import numpy as np, tapegrad as tg
>>> model = tg.nn.Sequential([tg.nn.Dense(3, name="hidden"), tg.nn.Dense(1, name="out")])
>>> _ = model(np.zeros((1, 2), np.float32))
>>> sd = tg.integrations.to_torch_state_dict(model)
>>> [(k, v.shape) for k, v in sd.items()][:2]
[('hidden.weight', (3, 2)), ('hidden.bias', (3,))]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.nn.conv import Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D
from tapegrad.nn.embedding import Embedding
from tapegrad.nn.layers import BatchNormalization, Dense, Flatten, LayerNormalization
from tapegrad.nn.model import Sequential
from tapegrad.nn.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from tapegrad.nn.recurrent import GRU, LSTM, Bidirectional, SimpleRNN

__all__ = ["from_keras", "from_torch", "to_keras", "to_torch_state_dict"]

Arrays = dict[str, np.ndarray]


def weighted_layers(model: Any) -> list[Any]:
    """The layers that own weights, in order: a model's (or a Sequential's) sub-layers are
    walked; a layer is taken whole when it has no sub-layers or wraps RNNs (Bidirectional)."""
    children = [] if isinstance(model, Bidirectional) else list(getattr(model, "layers", []))
    if not children:
        return [model] if model.variables else []
    return [leaf for layer in children for leaf in weighted_layers(layer)]


def _check_flatten(model: Any) -> None:
    """PyTorch flattens channels-first maps: a Dense after Flatten of a conv map would get its
    inputs in another order, so refuse rather than give wrong numbers."""
    if not isinstance(model, Sequential):
        return
    spatial = False
    for layer in model.layers:
        if isinstance(layer, (Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D, MaxPooling1D,
                              MaxPooling2D, AveragePooling1D, AveragePooling2D)):
            spatial = True
        elif isinstance(layer, (GlobalAveragePooling1D, GlobalAveragePooling2D,
                                GlobalMaxPooling1D, GlobalMaxPooling2D)):
            spatial = False
        elif isinstance(layer, Flatten) and spatial:
            raise ValueError(f"{model.name}: {layer.name} flattens a channels-last map, which "
                             f"PyTorch would flatten channels-first; end the convolutions with "
                             f"global pooling, or permute the following Dense kernel's rows")


# -- PyTorch ---------------------------------------------------------------------------------


def _rnn_to(u: int, order: tuple[int, ...]) -> Callable[[np.ndarray], np.ndarray]:
    def reorder(a: np.ndarray) -> np.ndarray:  # gate blocks along the last axis
        return np.concatenate([a[..., i * u:(i + 1) * u] for i in order], axis=-1)

    return reorder


def _torch_arrays(layer: Any) -> Arrays:
    """A layer's weights in PyTorch's names and layouts."""
    def b(v: Any) -> Arrays:
        return {} if v is None else {"bias": v.numpy()}

    if isinstance(layer, Dense):
        return {"weight": layer.kernel.numpy().T, **b(layer.bias)}
    if isinstance(layer, Conv2D):
        return {"weight": layer.kernel.numpy().transpose(3, 2, 0, 1), **b(layer.bias)}
    if isinstance(layer, Conv1D):
        return {"weight": layer.kernel.numpy().transpose(2, 1, 0), **b(layer.bias)}
    if isinstance(layer, DepthwiseConv2D):  # Conv2d(c, c * m, groups=c)
        k = layer.depthwise_kernel.numpy()
        kh, kw, c, m = k.shape
        return {"weight": k.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw), **b(layer.bias)}
    if isinstance(layer, BatchNormalization):
        out = {"weight": layer.gamma.numpy() if layer.gamma is not None else None,
               "bias": layer.beta.numpy() if layer.beta is not None else None,
               "running_mean": layer.moving_mean.numpy(),
               "running_var": layer.moving_variance.numpy()}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(layer, LayerNormalization):
        out = {"weight": layer.gamma.numpy() if layer.gamma is not None else None,
               "bias": layer.beta.numpy() if layer.beta is not None else None}
        return {k: v for k, v in out.items() if v is not None}
    if isinstance(layer, Embedding):
        return {"weight": layer.embeddings.numpy()}
    if isinstance(layer, (SimpleRNN, LSTM, GRU)):
        u = layer.units
        # PyTorch's LSTM gates are (i, f, g, o) like Keras's; its GRU's are (r, z, n).
        reorder = _rnn_to(u, (1, 0, 2) if isinstance(layer, GRU) else
                          tuple(range(4 if isinstance(layer, LSTM) else 1)))
        if isinstance(layer, GRU) and not layer.reset_after:
            raise ValueError(f"{layer.name}: PyTorch's GRU applies the reset gate after the "
                             f"recurrent matmul; only GRU(reset_after=True) converts")
        out = {"weight_ih_l0": reorder(layer.kernel.numpy()).T,
               "weight_hh_l0": reorder(layer.recurrent_kernel.numpy()).T}
        if layer.bias is not None:
            bias = layer.bias.numpy()
            b_ih, b_hh = (bias[0], bias[1]) if isinstance(layer, GRU) else \
                (bias, np.zeros_like(bias))
            out.update(bias_ih_l0=reorder(b_ih), bias_hh_l0=reorder(b_hh))
        return out
    raise ValueError(f"{layer.name}: no PyTorch equivalent is known for "
                     f"{type(layer).__name__} (SeparableConv2D is two torch Conv2d layers)")


def _from_torch_arrays(layer: Any, sd: Arrays) -> list[tuple[Any, np.ndarray]]:
    """(variable, value) pairs setting `layer` from PyTorch-layout arrays."""
    def bias(pairs: list) -> list:
        if layer.bias is not None:
            pairs.append((layer.bias, sd["bias"]))
        return pairs

    if isinstance(layer, Dense):
        return bias([(layer.kernel, sd["weight"].T)])
    if isinstance(layer, Conv2D):
        return bias([(layer.kernel, sd["weight"].transpose(2, 3, 1, 0))])
    if isinstance(layer, Conv1D):
        return bias([(layer.kernel, sd["weight"].transpose(2, 1, 0))])
    if isinstance(layer, DepthwiseConv2D):
        kh, kw, c, m = layer.depthwise_kernel.shape
        w = sd["weight"].reshape(c, m, kh, kw).transpose(2, 3, 0, 1)
        return bias([(layer.depthwise_kernel, w)])
    if isinstance(layer, (BatchNormalization, LayerNormalization)):
        pairs = []
        if layer.gamma is not None:
            pairs.append((layer.gamma, sd["weight"]))
        if layer.beta is not None:
            pairs.append((layer.beta, sd["bias"]))
        if isinstance(layer, BatchNormalization):
            pairs += [(layer.moving_mean, sd["running_mean"]),
                      (layer.moving_variance, sd["running_var"])]
        return pairs
    if isinstance(layer, Embedding):
        return [(layer.embeddings, sd["weight"])]
    if isinstance(layer, (SimpleRNN, LSTM, GRU)):
        u = layer.units
        back = _rnn_to(u, (1, 0, 2) if isinstance(layer, GRU) else
                       tuple(range(4 if isinstance(layer, LSTM) else 1)))  # its own inverse
        pairs = [(layer.kernel, back(sd["weight_ih_l0"].T)),
                 (layer.recurrent_kernel, back(sd["weight_hh_l0"].T))]
        if layer.bias is not None:
            b_ih, b_hh = back(sd["bias_ih_l0"]), back(sd["bias_hh_l0"])
            pairs.append((layer.bias, np.stack([b_ih, b_hh]) if isinstance(layer, GRU)
                          else b_ih + b_hh))
        return pairs
    raise ValueError(f"{layer.name}: no PyTorch equivalent is known for {type(layer).__name__}")


def _torch_modules(module: Any) -> list[tuple[str, Any]]:
    """(name, module) of the torch modules that own parameters directly, in order."""
    return [(name, m) for name, m in module.named_modules()
            if any(True for _ in m.parameters(recurse=False))]


def _pair(ours: list, theirs: list, what: str) -> None:
    if len(ours) != len(theirs):
        raise ValueError(f"{what}: the tapegrad model has {len(ours)} layers with weights "
                         f"({[layer.name for layer in ours]}) but the other has {len(theirs)}")


def to_torch_state_dict(model: Any, torch_module: Any = None) -> dict[str, Any]:
    """The model's weights as a PyTorch state dict. Keys are the tapegrad layer names
    ("dense.weight") or, given `torch_module`, that module's own keys, with torch tensors
    ready for `torch_module.load_state_dict`. Conv weights are for channels-first inputs.

    >>> import numpy as np, tapegrad as tg
    >>> model = tg.nn.Sequential([tg.nn.LSTM(2, name="lstm")])
    >>> _ = model(np.zeros((1, 4, 3), np.float32))
    >>> sd = tg.integrations.to_torch_state_dict(model)
    >>> sd["lstm.weight_ih_l0"].shape  # PyTorch's (4 * units, features)
    (8, 3)
    """
    _check_flatten(model)
    layers = weighted_layers(model)
    if torch_module is None:
        return {f"{layer.name}.{k}": v for layer in layers
                for k, v in _torch_arrays(layer).items()}
    import torch

    modules = _torch_modules(torch_module)
    _pair(layers, modules, "to_torch_state_dict")
    sd = {}
    own = torch_module.state_dict()
    for layer, (name, _) in zip(layers, modules):
        for k, v in _torch_arrays(layer).items():
            key = f"{name}.{k}" if name else k
            if key not in own or tuple(own[key].shape) != v.shape:
                raise ValueError(f"to_torch_state_dict: {layer.name} gives {key} of shape "
                                 f"{v.shape}; the torch module has "
                                 f"{tuple(own[key].shape) if key in own else 'no such key'}")
            sd[key] = torch.from_numpy(np.ascontiguousarray(v)).to(own[key].dtype)
    for key, value in own.items():  # buffers tapegrad has no notion of (num_batches_tracked)
        sd.setdefault(key, value)
    return sd


def _assign(pairs: list[tuple[Any, np.ndarray]], who: str, layer: Any) -> None:
    for var, value in pairs:
        value = np.asarray(value)
        if tuple(var.shape) != value.shape:
            raise ValueError(f"{who}: {var.name} has shape {tuple(var.shape)} but the source "
                             f"gives {value.shape} for {layer.name}")
    for var, value in pairs:
        var.assign(np.asarray(value, dtype=var.dtype))


def from_torch(model: Any, source: Any) -> None:
    """Set the (built) model's weights from a PyTorch module of the same architecture, or from
    a state dict keyed like `to_torch_state_dict(model)`.

    >>> import numpy as np, tapegrad as tg
    >>> model = tg.nn.Sequential([tg.nn.Dense(1, name="d")])
    >>> _ = model(np.zeros((1, 2), np.float32))
    >>> from_torch(model, {"d.weight": np.array([[1.0, 2.0]]), "d.bias": np.array([0.5])})
    >>> model.predict(np.array([[1.0, 1.0]], np.float32))
    array([[3.5]], dtype=float32)
    """
    _check_flatten(model)
    layers = weighted_layers(model)
    if hasattr(source, "named_modules"):
        modules = _torch_modules(source)
        _pair(layers, modules, "from_torch")
        for layer, (_, m) in zip(layers, modules):
            sd = {k: v.detach().cpu().numpy() for k, v in m.state_dict().items()}
            _assign(_from_torch_arrays(layer, sd), "from_torch", layer)
        return
    for layer in layers:
        prefix = f"{layer.name}."
        sd = {k[len(prefix):]: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach")
                                          else v)
              for k, v in source.items() if k.startswith(prefix)}
        try:
            pairs = _from_torch_arrays(layer, sd)
        except KeyError as e:
            raise ValueError(f"from_torch: the state dict has no {prefix}{e.args[0]}") from e
        _assign(pairs, "from_torch", layer)


# -- Keras -----------------------------------------------------------------------------------


def _keras_layers(keras_model: Any) -> list[Any]:
    out = []
    for layer in keras_model.layers:
        if type(layer).__name__ in ("Sequential", "Functional"):
            out += _keras_layers(layer)
        elif layer.weights:
            out.append(layer)
    return out


def _keras_pairs(model: Any, keras_model: Any, who: str) -> list[tuple[Any, Any]]:
    ours, theirs = weighted_layers(model), _keras_layers(keras_model)
    _pair(ours, theirs, who)
    for a, b in zip(ours, theirs):
        if type(a).__name__ != type(b).__name__:
            raise ValueError(f"{who}: layer {a.name} is a {type(a).__name__} but the Keras "
                             f"layer {b.name} is a {type(b).__name__}")
    return list(zip(ours, theirs))


def from_keras(model: Any, keras_model: Any) -> None:
    """Set the (built) model's weights from a Keras model of the same architecture (the same
    layouts: arrays are copied after a shape check). Layers are paired in order and must have
    the same class names ("Dense" and keras.layers.Dense).

    >>> import numpy as np, tapegrad as tg
    >>> class FakeKerasDense:  # anything with .layers, .weights and get_weights(), like Keras
    ...     weights = [0]
    ...     def get_weights(self):
    ...         return [np.ones((2, 1), np.float32), np.zeros(1, np.float32)]
    >>> FakeKerasDense.__name__ = "Dense"
    >>> keras_like = type("Model", (), {"layers": [FakeKerasDense()]})()
    >>> model = tg.nn.Sequential([tg.nn.Dense(1)])
    >>> _ = model(np.zeros((1, 2), np.float32))
    >>> from_keras(model, keras_like)
    >>> model.predict(np.array([[1.0, 2.0]], np.float32))
    array([[3.]], dtype=float32)
    """
    for ours, theirs in _keras_pairs(model, keras_model, "from_keras"):
        weights = [np.asarray(w) for w in theirs.get_weights()]
        if len(weights) != len(ours.variables):
            raise ValueError(f"from_keras: {ours.name} has {len(ours.variables)} weights but the "
                             f"Keras layer {theirs.name} has {len(weights)}")
        _assign(list(zip(ours.variables, weights)), "from_keras", ours)


def to_keras(model: Any, keras_model: Any) -> None:
    """Copy the model's weights into a (built) Keras model of the same architecture (the
    inverse of `from_keras`; tested against Keras 3 in tests/test_interop_weights.py).

    >>> callable(to_keras)
    True
    """
    for ours, theirs in _keras_pairs(model, keras_model, "to_keras"):
        weights = ours.get_weights()
        shapes = [tuple(w.shape) for w in theirs.get_weights()]
        if [w.shape for w in weights] != shapes:
            raise ValueError(f"to_keras: {ours.name} has weights {[w.shape for w in weights]} "
                             f"but the Keras layer {theirs.name} has {shapes}")
        theirs.set_weights(weights)
