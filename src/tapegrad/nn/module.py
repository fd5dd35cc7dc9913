"""Layer (= Module): the Keras-style base of every layer and model: weights, tracking, names,
lazy build, symbolic calls (the functional API) and configs. Layers do not train: `Model`
(`tapegrad.nn.model`) is the layer that adds compile/fit/evaluate/predict and save.

Writing a layer (the contract other layers build on)::

    class Scale(tg.nn.Module):
        def __init__(self, units, name=None, **kwargs):
            super().__init__(name=name, **kwargs)        # name, dtype, trainable, input_shape
            self.units = units

        def build(self, input_shape):                    # called once, before the first call
            self.w = self.add_weight("w", (input_shape[-1], self.units),
                                     initializer="glorot_uniform", regularizer=None,
                                     trainable=True)      # Variable named "scale/w"

        def call(self, inputs, training=False):
            return inputs @ self.w

- `__call__` builds lazily from the first input's shape (batch dimension included) unless
  `build(input_shape)` was called first, then runs `call` inside `tg.name_scope(self.name)`, so
  every op the layer records on a tape carries its scope. `build` methods of subclasses are
  wrapped so that `self.built` is set after them; calling `super().build(shape)` is allowed.
- Weights come from `add_weight(name, shape, initializer, regularizer, trainable, dtype)`. Their
  dtype is the layer's `dtype` argument, else the first input's float dtype, else
  `tg.get_default_dtype()` (so float64 inputs give float64 weights for gradient checks).
- Sub-modules and Variables assigned as attributes, directly or inside lists, tuples and dicts,
  are tracked in assignment order (own `add_weight` weights first). Unnamed attribute Variables
  get the name `"<module>/<attr>"` when first listed.
- `training=None` (the default) inherits the value of the enclosing layer's call, so a custom
  model only has to pass `training` to its outermost call. `call` may omit the parameter.
- Names are unique per process: `dense`, `dense_1`, ... (`tg.nn.reset_names()` restarts them);
  handing them out is thread-safe.
- Called on symbolic tensors (`tg.nn.Input`), a layer records a node of the functional graph
  instead of computing (see `tapegrad.nn.symbolic`); `layer.output` is the result of its
  first such call.
- `get_config()` returns the constructor arguments (captured when the layer is made), so
  `type(layer).from_config(layer.get_config())` makes a twin; layers whose constructor does
  more than store its arguments override both (see `tapegrad.nn.saving`).
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from tapegrad import _args
from tapegrad.nn import symbolic
from tapegrad.state import STATE
from tapegrad.tensor import Tensor, Variable, as_tensor, get_default_dtype

__all__ = ["Module", "Layer", "reset_names", "unique_name"]

_name_counts: dict[str, int] = {}  # automatic names handed out so far (bounded by the
_name_lock = threading.Lock()      # number of distinct layer types); guarded by the lock


def reset_names() -> None:
    """Restart automatic layer names (`dense`, `dense_1`, ...), like Keras's `clear_session`.

    >>> import tapegrad as tg
    >>> tg.nn.reset_names(); tg.nn.Dense(2).name
    'dense'
    """
    with _name_lock:
        _name_counts.clear()


def _snake_case(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(base: str) -> str:
    """`base`, then `base_1`, `base_2`, ... on later requests (thread-safe).

    >>> reset_names(); unique_name("block"), unique_name("block")
    ('block', 'block_1')
    """
    with _name_lock:
        n = _name_counts.get(base, 0)
        _name_counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


class _CallContext(threading.local):
    training = False  # the `training` flag of the innermost running layer call


_CTX = _CallContext()
_TAKES_TRAINING: dict[type, bool] = {}
_TRACKABLE = (Variable, list, tuple, dict)


def _takes_training(cls: type) -> bool:
    v = _TAKES_TRAINING.get(cls)
    if v is None:
        params = inspect.signature(cls.call).parameters
        v = "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
        _TAKES_TRAINING[cls] = v
    return v


def _input_shape(inputs: Any) -> Any:
    if hasattr(inputs, "shape"):
        return tuple(inputs.shape)
    if isinstance(inputs, (list, tuple)):
        return [_input_shape(x) for x in inputs]
    if isinstance(inputs, dict):
        return {k: _input_shape(v) for k, v in inputs.items()}
    return tuple(np.shape(inputs))


def _first_float_dtype(inputs: Any) -> np.dtype | None:
    if isinstance(inputs, (Tensor, np.ndarray)):
        return inputs.dtype if inputs.dtype.kind == "f" else None
    if isinstance(inputs, (list, tuple)):
        for x in inputs:
            dt = _first_float_dtype(x)
            if dt is not None:
                return dt
    return None


def _output_shape(out: Any) -> Any:
    if hasattr(out, "shape"):
        return tuple(out.shape)
    if isinstance(out, (list, tuple)):
        return [_output_shape(o) for o in out]
    return None


def _wrap_build(build: Callable) -> Callable:
    def wrapped(self: Module, input_shape: Any) -> None:
        if self._in_build:  # super().build(...) from inside another wrapped build
            build(self, input_shape)
            return
        object.__setattr__(self, "_in_build", True)
        try:
            build(self, input_shape)
        finally:
            object.__setattr__(self, "_in_build", False)
        object.__setattr__(self, "_build_input_shape", input_shape)
        object.__setattr__(self, "built", True)

    wrapped.__name__ = wrapped.__qualname__ = build.__name__
    wrapped.__doc__ = build.__doc__
    wrapped.__wrapped__ = build  # type: ignore[attr-defined]
    return wrapped


class Module:
    """Base class of layers and models: subclass it and implement `call(inputs, training=False)`.

    >>> import tapegrad as tg
    >>> class TwoLayer(tg.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = tg.nn.Dense(4, activation="tanh")
    ...         self.out = tg.nn.Dense(1)
    ...     def call(self, x, training=False):
    ...         return self.out(self.hidden(x))
    >>> m = TwoLayer()
    >>> m(tg.tensor([[1.0, 2.0]])).shape
    (1, 1)
    >>> [v.shape for v in m.trainable_variables]
    [(2, 4), (4,), (4, 1), (1,)]
    """

    _own_build = False  # True in subclasses that define build()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            cls.build = _wrap_build(cls.__dict__["build"])  # type: ignore[method-assign]
            cls._own_build = True

    def __new__(cls, *args: Any, **kwargs: Any) -> Module:
        self = super().__new__(cls)
        d = self.__dict__
        d["_tracked"] = []  # attribute names holding Modules/Variables/containers, in order
        d["_weights"] = []  # Variables made by add_weight, in order
        d["_regularizers"] = []  # (regularizer, variable) pairs
        d["_in_build"] = False
        d["_build_input_shape"] = None
        d["_output_shape"] = None
        d["_dtype"] = None
        d["built"] = False
        d["trainable"] = True
        d["name"] = None
        d["_pass_training"] = _takes_training(cls)
        d["_init_args"] = (args, kwargs)  # the constructor call, for the default get_config
        d["_inbound_nodes"] = []  # symbolic calls (functional API), in call order
        return self

    def __init__(self, name: str | None = None, dtype: Any = None, trainable: bool = True,
                 input_shape: Sequence[int] | None = None, **kwargs: Any):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword arguments "
                            f"{sorted(kwargs)}")
        d = self.__dict__
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string, got {name!r}")
        d["name"] = name or d["name"] or unique_name(_snake_case(type(self).__name__))
        d["_dtype"] = _args.float_dtype(dtype, type(self).__name__) if dtype is not None else None
        d["trainable"] = bool(trainable)
        d["_input_shape_arg"] = None if input_shape is None else (None, *input_shape)

    # -- attribute tracking ---------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if name == "trainable":  # as in Keras: freezing a model freezes every layer inside
            for m in (self, *self.submodules):
                m.__dict__["trainable"] = bool(value)
            return
        tracked = self.__dict__["_tracked"]
        if isinstance(value, (Module, *_TRACKABLE)):
            if name not in tracked:
                tracked.append(name)
        elif name in tracked:
            tracked.remove(name)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        tracked = self.__dict__["_tracked"]
        if name in tracked:
            tracked.remove(name)
        object.__delattr__(self, name)

    def _children(self) -> Iterator[tuple[str, Any]]:
        """(path, value) of own weights, then tracked attributes flattened, in order."""
        for v in self._weights:
            yield v.name or "", v
        d = self.__dict__
        for attr in self._tracked:
            yield from _flatten_attr(attr, d.get(attr))

    def _walk(self, seen: set[int], trainable: bool = True) -> Iterator[tuple[Module, Any, bool]]:
        """Depth-first (owner, Variable, effective trainable) over this module and its children."""
        seen.add(id(self))
        trainable = trainable and self.trainable
        for path, x in self._children():
            if id(x) in seen:
                continue
            if isinstance(x, Module):
                yield from x._walk(seen, trainable)
            elif isinstance(x, Variable):
                seen.add(id(x))
                if x.name is None:
                    x.name = f"{self.name}/{path}"
                yield self, x, trainable and x.trainable

    # -- public views ---------------------------------------------------------------------
    @property
    def variables(self) -> list[Variable]:
        """All Variables of this module and its sub-modules, in tracking order."""
        return [v for _, v, _ in self._walk(set())]

    weights = variables

    @property
    def trainable_variables(self) -> list[Variable]:
        """Variables a training step updates (trainable ones of trainable modules)."""
        return [v for _, v, t in self._walk(set()) if t]

    trainable_weights = trainable_variables

    @property
    def non_trainable_variables(self) -> list[Variable]:
        """Variables not updated by gradients (e.g. batch-norm moving statistics)."""
        return [v for _, v, t in self._walk(set()) if not t]

    non_trainable_weights = non_trainable_variables

    @property
    def layers(self) -> list[Module]:
        """Direct sub-modules, in tracking order."""
        out: list[Module] = []
        seen = {id(self)}
        for _, x in self._children():
            if isinstance(x, Module) and id(x) not in seen:
                seen.add(id(x))
                out.append(x)
        return out

    @property
    def submodules(self) -> list[Module]:
        """All nested sub-modules, depth first."""
        out: list[Module] = []
        seen = {id(self)}
        stack = [self._children()]  # iterators, not a recursive closure: no reference cycle
        while stack:
            for _, x in stack[-1]:
                if isinstance(x, Module) and id(x) not in seen:
                    seen.add(id(x))
                    out.append(x)
                    stack.append(x._children())
                    break
            else:
                stack.pop()
        return out

    @property
    def losses(self) -> list[Tensor]:
        """Regularization losses of every weight, computed from the current values on each read
        (so reading them inside a tape records them)."""
        out = []
        for m in [self, *self.submodules]:
            for reg, v in m._regularizers:
                out.append(reg(v))
        return out

    @property
    def dtype(self) -> np.dtype:
        """The dtype of new weights: given, else the first input's float dtype, else default."""
        return self._dtype if self._dtype is not None else get_default_dtype()

    def count_params(self) -> int:
        """Number of scalars in all variables."""
        return int(sum(v.size for v in self.variables))

    # -- weights ------------------------------------------------------------------------------
    def add_weight(self, name: str, shape: Sequence[int], initializer: Any = "glorot_uniform",
                   regularizer: Any = None, trainable: bool = True,
                   dtype: Any = None) -> Variable:
        """Create a Variable named `"<layer>/<name>"`, tracked by this module (call in `build`).

        `initializer` is a name, an initializer object or any `f(shape, dtype) -> array`;
        `regularizer` a name or `f(variable) -> scalar Tensor` collected into `.losses`.
        """
        from tapegrad.nn import initializers, regularizers

        shape = tuple(int(s) for s in shape)
        dt = np.dtype(dtype) if dtype is not None else self.dtype
        init = initializers.get(initializer)
        value = np.asarray(init(shape, dt), dtype=dt)
        if value.shape != shape:
            raise ValueError(f"{self.name}.add_weight({name!r}): initializer returned shape "
                             f"{value.shape}, expected {shape}")
        v = Variable(value, trainable=trainable, name=f"{self.name}/{name}")
        self._weights.append(v)
        reg = regularizers.get(regularizer)
        if reg is not None:
            self._regularizers.append((reg, v))
        return v

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all variable values, in `variables` order."""
        return [np.array(v.numpy(), copy=True) for v in self.variables]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Assign values in `variables` order; count and shapes are checked before any assign."""
        from tapegrad.nn.weights import set_weights

        set_weights(self, weights)

    def save_weights(self, path: str) -> None:
        """Write all variables to an `.npz` file, in order (atomically; see nn.weights)."""
        from tapegrad.nn.weights import save_weights

        save_weights(self, path)

    def load_weights(self, path: str, **options: Any) -> None:
        """Read weights saved by `save_weights`; options and defaults are those of
        `tapegrad.nn.weights.load_weights`."""
        from tapegrad.nn.weights import load_weights

        load_weights(self, path, **options)

    # -- building and calling ---------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Create weights for inputs of `input_shape` (batch dimension first, may be None).

        Layers override this. On a module without its own `build` (a model of sub-layers),
        calling it runs a dummy batch through `call` so that every sub-layer gets built.
        """
        if self._in_build or self._own_build:
            return
        self._dummy_call(input_shape)
        object.__setattr__(self, "_build_input_shape", input_shape)
        object.__setattr__(self, "built", True)

    def _dummy_call(self, input_shape: Any) -> None:
        """Run a zero batch (None dimensions become 1) through `call`, without recording."""
        def zeros(shape: Any) -> Any:
            if isinstance(shape, list):
                return [zeros(s) for s in shape]
            return Tensor._wrap(np.zeros(tuple(1 if s is None else s for s in shape),
                                         self.dtype))

        st = STATE
        saved = st.recorders
        st.recorders = []
        try:
            with np.errstate(all="ignore"):  # zeros may divide by zero; only shapes matter
                out = self._call_in_scope(zeros(input_shape), False)
        finally:
            st.recorders = saved
        self.__dict__["_output_shape"] = _output_shape(out)

    def _lazy_build(self, inputs: Any) -> None:
        if self.name is None:
            self.__dict__["name"] = unique_name(_snake_case(type(self).__name__))
        if self._dtype is None:
            self.__dict__["_dtype"] = _first_float_dtype(inputs)
        if self._own_build:
            self.build(_input_shape(inputs))
        else:
            self.__dict__["_build_input_shape"] = _input_shape(inputs)
        self.__dict__["built"] = True

    def _call_in_scope(self, inputs: Any, training: Any, **kwargs: Any) -> Any:
        st = STATE
        ctx = _CTX
        old_scope, old_training = st.scope, ctx.training
        st.scope = old_scope + (self.name,)
        ctx.training = training
        try:
            if self._pass_training:
                return self.call(inputs, training=training, **kwargs)
            return self.call(inputs, **kwargs)
        except (ValueError, TypeError, IndexError) as e:
            if getattr(e, "_names_layer", False) or type(e) not in (ValueError, TypeError,
                                                                     IndexError):
                raise
            err = type(e)(f"{self.name} ({type(self).__name__}): {e}")
            err._names_layer = True  # type: ignore[attr-defined]
            # the original traceback (down to the failing line in `call`) stays the traceback
            raise err.with_traceback(e.__traceback__) from None
        finally:
            st.scope = old_scope
            ctx.training = old_training

    def __call__(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        if not isinstance(inputs, Tensor) and (symbolic.is_symbolic(inputs)
                                               or kwargs and symbolic.is_symbolic(kwargs)):
            return self._symbolic_call(inputs, training, kwargs)
        if training is None:
            training = _CTX.training
        if inputs is None or isinstance(inputs, (str, bytes)):  # before build guesses a shape
            raise TypeError(f"{self.name} ({type(self).__name__}): inputs must be a tensor or "
                            f"array of numbers, got {type(inputs).__name__}")
        if isinstance(inputs, np.ndarray):
            inputs = Tensor._wrap(inputs)
        elif isinstance(inputs, (list, tuple)) and not any(
                isinstance(x, (Tensor, np.ndarray)) for x in inputs):
            try:  # nested lists of numbers are one input, not several
                inputs = as_tensor(inputs)
            except (TypeError, ValueError) as e:
                raise type(e)(f"{self.name} ({type(self).__name__}): inputs: {e}") from e
        if self.built:
            return self._call_in_scope(inputs, training, **kwargs)
        self._lazy_build(inputs)
        out = self._call_in_scope(inputs, training, **kwargs)
        self.__dict__["_output_shape"] = _output_shape(out)
        return out

    def _symbolic_call(self, inputs: Any, training: bool | None, kwargs: dict) -> Any:
        """Call on KerasTensors: run on zero batches (every None dimension 2, then 3) without
        recording, mark output dimensions that changed as None, and record a `Node`."""
        def concrete(fill: int) -> Any:
            def leaf(t: Any) -> Any:
                return Tensor._wrap(t.zeros(fill)) if isinstance(t, symbolic.KerasTensor) else t
            return symbolic.map_structure(leaf, inputs), symbolic.map_structure(leaf, kwargs)

        st = STATE
        saved = st.recorders
        st.recorders = []
        try:
            runs = []
            with np.errstate(all="ignore"):  # only shapes matter: 1 / 0 on zeros is no error
                for fill in (2, 3):
                    args, kw = concrete(fill)
                    runs.append(self(args, training=False, **kw))  # no statistics updates
        finally:
            st.recorders = saved
        flat2, flat3 = list(symbolic.flatten(runs[0])), list(symbolic.flatten(runs[1]))
        outs = []
        for i, (a, b) in enumerate(zip(flat2, flat3)):
            if not isinstance(a, Tensor):
                raise TypeError(f"{self.name} ({type(self).__name__}): called on symbolic "
                                f"inputs, call returned {type(a).__name__} (output {i}); "
                                f"layers of a functional model must return tensors")
            shape = tuple(None if m != n else m for m, n in zip(a.shape, b.shape))
            name = self.name if len(flat2) == 1 else f"{self.name}_{i}"
            outs.append(symbolic.KerasTensor(shape, a.dtype, name))
        it = iter(outs)
        outputs = symbolic.map_structure(lambda _: next(it), runs[0])
        node = symbolic.Node(self, inputs, kwargs, outputs, training)
        for i, t in enumerate(outs):
            t.node, t.index = node, i
        self._inbound_nodes.append(node)
        return outputs

    def _node_attribute(self, what: str) -> Any:
        if not self._inbound_nodes:
            raise AttributeError(f"{self.name}: the layer has never been called on a symbolic "
                                 f"input (tg.nn.Input) and thus has no defined {what}")
        node = self._inbound_nodes[0]
        if what == "output":
            return node.outputs
        return node.inputs[0] if len(node.inputs) == 1 else node.inputs

    @property
    def output(self) -> Any:
        """The symbolic output of the layer's first call on symbolic inputs (Keras's
        `layer.output`), e.g. to build an intermediate-activations model."""
        return self._node_attribute("output")

    @property
    def input(self) -> Any:
        """The symbolic input of the layer's first call on symbolic inputs."""
        return self._node_attribute("input")

    def call(self, inputs: Any, training: bool = False) -> Any:
        """The forward computation; subclasses implement it with tapegrad ops."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(inputs, training)")

    # -- configuration (saving) ------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments that recreate this layer (`type(self)(**config)`), as Keras.

        The default returns the arguments the layer was constructed with, plus its `name`,
        `trainable` and `dtype`; layers whose constructor does more than store arguments
        override it (and `from_config`).

        >>> import tapegrad as tg
        >>> tg.nn.Dense(3, activation="relu", name="hidden").get_config()
        {'units': 3, 'activation': 'relu', 'name': 'hidden', 'trainable': True}
        """
        args, kwargs = self._init_args
        signature = inspect.signature(type(self).__init__)
        config: dict[str, Any] = {}
        for key, value in list(signature.bind_partial(self, *args, **kwargs).arguments.items())[1:]:
            kind = signature.parameters[key].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                config.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                if value:
                    raise TypeError(f"{self.name}: get_config cannot name the *{key} arguments "
                                    f"of {type(self).__name__}; override get_config (and "
                                    f"from_config)")
            else:
                config[key] = value
        config["name"] = self.name
        config["trainable"] = self.trainable
        if self._dtype is not None:
            config["dtype"] = str(self._dtype)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Module:
        """A new layer from `get_config()`'s output; `name`, `trainable` and `dtype` are set
        afterwards when the constructor does not take them.

        >>> import tapegrad as tg
        >>> tg.nn.Dense.from_config({"units": 3, "name": "head"}).name
        'head'
        """
        config = dict(config)
        params = inspect.signature(cls.__init__).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        late = {k: config.pop(k) for k in ("name", "trainable", "dtype")
                if k in config and not takes_any and k not in params}
        layer = cls(**config)
        if "name" in late:
            layer.__dict__["name"] = late["name"]
        if "dtype" in late and late["dtype"] is not None:
            layer.__dict__["_dtype"] = np.dtype(late["dtype"])
        if "trainable" in late:
            layer.trainable = late["trainable"]
        return layer

    # -- display ------------------------------------------------------------------------------
    def summary(self, print_fn: Callable[[str], Any] | None = None) -> None:
        """Print a Keras-style table: layer (type), output shape and parameter count."""
        from tapegrad.nn.summary import summary

        summary(self, print_fn=print_fn)

    def __repr__(self) -> str:
        """The layer and, indented below it, its direct sub-layers (as PyTorch prints modules).

        >>> import tapegrad as tg
        >>> tg.nn.reset_names()
        >>> print(tg.nn.Sequential([tg.nn.Dense(2), tg.nn.Dropout(0.5)]))
        <Sequential name='sequential' built=False>
          (0) <Dense name='dense' built=False>
          (1) <Dropout name='dropout' built=False>
        """
        lines = [f"<{type(self).__name__} name={self.name!r} built={self.built}>"]
        for i, layer in enumerate(self.layers):
            lines += ["  " + (f"({i}) " if j == 0 else "    ") + line
                      for j, line in enumerate(repr(layer).splitlines())]
        return "\n".join(lines)


def _flatten_attr(path: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, (Module, Variable)):
        yield path, value
    elif isinstance(value, (list, tuple)):
        for i, x in enumerate(value):
            if isinstance(x, (Module, *_TRACKABLE)):
                yield from _flatten_attr(f"{path}/{i}", x)
    elif isinstance(value, dict):
        for k, x in value.items():
            if isinstance(x, (Module, *_TRACKABLE)):
                yield from _flatten_attr(f"{path}/{k}", x)


Layer = Module
