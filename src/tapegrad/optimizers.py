"""Optimizers with Keras's signatures and defaults: SGD (momentum, Nesterov), Adagrad, RMSprop,
Adam (AMSGrad), AdamW.

Updates run on the variables' NumPy arrays, outside any tape, and re-bind each variable to its new
value (like `Variable.assign`: arrays that earlier tapes recorded are never mutated). Per-variable
state ("slots") lives in a dict keyed by the variable's identity; `iterations` counts the updates.

Common keyword arguments: `clipnorm` (clip each gradient to this L2 norm), `global_clipnorm`
(rescale all gradients together so their joint norm is at most this), `clipvalue` (clip each entry
to [-v, v]); at most one of the three. `weight_decay=wd` applies the decoupled decay
`w <- w - lr*wd*w` before the optimizer's own step. `learning_rate` is a float or any callable of
the step (`tg.schedules`); the step is `iterations` before the update (0 first).

>>> import tapegrad as tg
>>> w = tg.Variable([1.0, -2.0])
>>> opt = tg.optimizers.SGD(learning_rate=0.1)
>>> loss = opt.minimize(lambda: tg.sum(w * w), [w])
>>> w.numpy()
array([ 0.8, -1.6], dtype=float32)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from tapegrad import _args
from tapegrad.config import lookup
from tapegrad.function import host_step
from tapegrad.tape import GradientTape
from tapegrad.tensor import Tensor, Variable

__all__ = ["Optimizer", "SGD", "Momentum", "Adagrad", "RMSprop", "Adam", "AdamW", "get"]

Slots = dict[str, np.ndarray]


def _rebind(var: Variable, value: np.ndarray) -> None:
    """`var.assign(value)` without re-validating: the shape was checked in apply_gradients."""
    if value.dtype != var._value.dtype:
        value = value.astype(var._value.dtype)
    var._value = value
    var._version += 1


def _label(v: Variable) -> str:
    return repr(v.name) if v.name else f"<unnamed, shape {v.shape}>"


class Optimizer:
    """Base class: subclasses define `_new_slots(w)` and `_step(w, g, slots, lr) -> new w`.

    >>> import numpy as np, tapegrad as tg
    >>> class SignSGD(Optimizer):  # slots and steps work on plain ndarrays
    ...     def _step(self, w, g, slots, lr):
    ...         return w - lr * np.sign(g)
    >>> w = tg.Variable([1.0, -1.0])
    >>> SignSGD(0.5).apply_gradients([(tg.tensor([3.0, -0.1]), w)]); w.numpy()
    array([ 0.5, -0.5], dtype=float32)
    """

    def __init__(self, learning_rate: float | Callable[[int], float] = 0.001, *,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, weight_decay: float | None = None,
                 name: str | None = None):
        who = type(self).__name__
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{who}: set at most one of clipnorm, clipvalue and "
                             f"global_clipnorm")
        clip = {kw: None if v is None else _args.number(v, who, kw, 0.0, low_open=True)
                for kw, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                              ("global_clipnorm", global_clipnorm))}
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{who}: name must be a string, got {name!r}")
        self.learning_rate = learning_rate
        self.clipnorm = clip["clipnorm"]
        self.clipvalue = clip["clipvalue"]
        self.global_clipnorm = clip["global_clipnorm"]
        self.weight_decay = (None if weight_decay is None
                             else _args.number(weight_decay, who, "weight_decay", 0.0))
        self.name = name or who.lower()
        self.iterations = 0
        self._slots: dict[int, tuple[Variable, Slots]] = {}

    # -- learning rate -----------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The learning rate for the next update (a schedule is evaluated at `iterations`)."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    @learning_rate.setter
    def learning_rate(self, value: float | Callable[[int], float]) -> None:
        if not callable(value):
            value = _args.number(value, type(self).__name__, "learning_rate", 0.0)
        self._learning_rate = value

    @property
    def schedule(self) -> Callable[[int], float] | None:
        """The learning-rate schedule, or None if the learning rate is a constant."""
        return self._learning_rate if callable(self._learning_rate) else None

    # -- slots -------------------------------------------------------------------------------
    def get_slot(self, var: Variable, name: str) -> np.ndarray:
        """The optimizer state `name` (e.g. "m", "v", "momentum") kept for `var` (read-only)."""
        entry = self._slots.get(id(var))
        if entry is None or name not in entry[1]:
            have = sorted(entry[1]) if entry else []
            raise KeyError(f"{type(self).__name__} has no slot {name!r} for variable "
                           f"{var.name!r} (slots: {have})")
        return entry[1][name]

    def _new_slots(self, w: np.ndarray) -> Slots:
        return {}

    def _step(self, w: np.ndarray, g: np.ndarray, slots: Slots, lr: float) -> np.ndarray:
        raise NotImplementedError

    # -- the update --------------------------------------------------------------------------
    @host_step
    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Variable]]) -> None:
        """Apply one update from `(gradient, variable)` pairs, e.g. `zip(grads, model_vars)`.

        None gradients are skipped with a warning naming the variables; if every gradient is
        None this raises ValueError (the loss does not depend on the variables). Every pair is
        checked before anything changes: a rejected call leaves variables, slots and
        `iterations` as they were. Only floating Variables can be trained (an int Variable
        would be silently truncated): others raise TypeError.
        """
        where = f"{type(self).__name__}.apply_gradients"
        if grads_and_vars is None or isinstance(grads_and_vars, (str, bytes, dict, Tensor,
                                                                 np.ndarray)):
            raise TypeError(f"{where}: expected an iterable of (gradient, Variable) pairs such "
                            f"as zip(grads, model.trainable_variables), got "
                            f"{type(grads_and_vars).__name__}")
        pairs = list(grads_and_vars)
        grads, vars_, missing = [], [], []
        for pair in pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"{where}: expected (gradient, Variable) pairs, got "
                                f"{type(pair).__name__} {pair!r:.60}")
            g, v = pair
            if not isinstance(v, Variable):
                raise TypeError(f"{where}: expected (gradient, Variable) pairs, got a "
                                f"{type(v).__name__} where the variable should be")
            if g is None:
                missing.append(v)
                continue
            if v._value.dtype.kind != "f":
                raise TypeError(f"{where}: variable {_label(v)} has dtype {v.dtype}; only "
                                f"floating Variables can be trained (create it from floats, "
                                f"e.g. tg.Variable([1.0, 2.0]), or with dtype='float32')")
            g = self._gradient_array(g, v, where)
            grads.append(g)
            vars_.append(v)
        if not grads:
            names = [v.name for v in missing]
            raise ValueError(f"{type(self).__name__}.apply_gradients: no gradient for any "
                             f"variable ({len(pairs)} given: {names}); does the loss depend "
                             f"on them (and was it computed inside the tape)?")
        if missing:
            names = [v.name or f"<unnamed {v.shape}>" for v in missing]
            warnings.warn(f"Gradients do not exist for variables {names} when minimizing the "
                          f"loss; they were not updated.", stacklevel=2)
        lr = self.learning_rate
        if callable(self._learning_rate):
            lr = _args.number(lr, type(self).__name__, "learning_rate (from the schedule at "
                              f"step {self.iterations})", 0.0)
        grads = self._clip(grads)
        wd = self.weight_decay
        slots_of = self._slots
        for g, v in zip(grads, vars_):
            entry = slots_of.get(id(v))
            if entry is None:
                entry = slots_of[id(v)] = (v, self._new_slots(v._value))
            w = v._value
            if wd:
                w = w - (lr * wd) * w
            _rebind(v, self._step(w, g, entry[1], lr))
        self.iterations += 1

    @staticmethod
    def _gradient_array(g: Any, v: Variable, where: str) -> np.ndarray:
        """The gradient as an ndarray of the variable's shape and dtype, or a clear error."""
        if isinstance(g, Tensor):
            g = g._value
        else:
            try:
                g = np.asarray(g)
            except ValueError as e:
                raise ValueError(f"{where}: the gradient of {_label(v)} is ragged (nested lists "
                                 f"of different lengths): {e}") from e
        if g.dtype.kind not in "fiub":
            raise TypeError(f"{where}: the gradient of {_label(v)} has dtype {g.dtype}; expected "
                            f"numbers (a float array or Tensor)")
        if g.shape != v._value.shape:
            raise ValueError(f"{where}: gradient of shape {g.shape} does not match variable "
                             f"{_label(v)} of shape {v.shape}")
        return g.astype(v._value.dtype) if g.dtype != v._value.dtype else g

    def _clip(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        if self.clipnorm is not None:
            c = self.clipnorm
            out = []
            for g in grads:
                n = math.sqrt(float(np.vdot(g, g)))
                out.append(g * (c / n) if n > c else g)
            return out
        if self.global_clipnorm is not None:
            c = self.global_clipnorm
            n = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
            return [g * (c / n) for g in grads] if n > c else grads
        if self.clipvalue is not None:
            c = self.clipvalue
            return [np.clip(g, -c, c) for g in grads]
        return grads

    def minimize(self, loss: Any, var_list: Any, tape: GradientTape | None = None) -> Tensor:
        """Record `loss()` on a new tape, take its gradient and apply it; returns the loss.

        `var_list` is a list of Variables or a callable returning one (evaluated after the
        loss, for lazily built models). With `tape=`, `loss` is an already recorded Tensor.

        >>> import tapegrad as tg
        >>> x = tg.Variable(3.0)
        >>> float(tg.optimizers.SGD(0.5).minimize(lambda: x * x, [x])), float(x)
        (9.0, 0.0)
        """
        if tape is None:
            if not callable(loss):
                raise TypeError(f"{type(self).__name__}.minimize: loss must be a callable "
                                f"returning the loss (or pass the tape that recorded it)")
            with GradientTape() as tape:
                if not callable(var_list):
                    tape.watch(list(var_list))
                value = loss()
        else:
            value = loss
        variables = list(var_list() if callable(var_list) else var_list)
        grads = tape.gradient(value, variables)
        self.apply_gradients(zip(grads, variables))
        return value

    def __repr__(self) -> str:
        return f"<tg.optimizers.{type(self).__name__} lr={self._learning_rate!r} " \
               f"iterations={self.iterations}>"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Without momentum `w <- w - lr*g`. With momentum m: `v <- m*v - lr*g`, `w <- w + v`;
    Nesterov: `v <- m*v - lr*g`, `w <- w + m*v - lr*g` (Keras's formulation). v starts at 0.

    >>> SGD(learning_rate=0.1, momentum=0.9)
    <tg.optimizers.SGD lr=0.1 iterations=0>
    """

    def __init__(self, learning_rate: float | Callable = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.momentum = _args.number(momentum, type(self).__name__, "momentum", 0.0, 1.0)
        self.nesterov = bool(nesterov)

    def _new_slots(self, w: np.ndarray) -> Slots:
        return {"momentum": np.zeros_like(w)} if self.momentum else {}

    def _step(self, w: np.ndarray, g: np.ndarray, slots: Slots, lr: float) -> np.ndarray:
        m = self.momentum
        if not m:
            return w - lr * g
        v = slots["momentum"]
        v *= m
        v -= lr * g
        if self.nesterov:
            return w + (m * v - lr * g)
        return w + v


class Momentum(SGD):
    """SGD with momentum (default 0.9): `v <- m*v - lr*g`, `w <- w + v`; see `SGD`.

    >>> Momentum(0.1).momentum
    0.9
    """

    def __init__(self, learning_rate: float | Callable = 0.01, momentum: float = 0.9,
                 nesterov: bool = False, **kwargs: Any):
        super().__init__(learning_rate, momentum=momentum, nesterov=nesterov, **kwargs)


class Adagrad(Optimizer):
    """Adagrad: `h <- h + g^2`, `w <- w - lr*g/(sqrt(h) + eps)`, h starts at
    `initial_accumulator_value`.

    (tf.keras 2 places eps outside the square root, as here; Keras 3 uses `sqrt(h + eps)`. With
    the default eps=1e-7 and h >= 0.1 the two differ by under 1e-6 relative.)

    >>> Adagrad().learning_rate
    0.001
    """

    def __init__(self, learning_rate: float | Callable = 0.001,
                 initial_accumulator_value: float = 0.1, epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = _args.number(initial_accumulator_value, "Adagrad",
                                                      "initial_accumulator_value", 0.0)
        self.epsilon = _args.number(epsilon, "Adagrad", "epsilon", 0.0)

    def _new_slots(self, w: np.ndarray) -> Slots:
        return {"accumulator": np.full_like(w, self.initial_accumulator_value)}

    def _step(self, w: np.ndarray, g: np.ndarray, slots: Slots, lr: float) -> np.ndarray:
        h = slots["accumulator"]
        h += g * g
        return w - lr * g / (np.sqrt(h) + self.epsilon)


class RMSprop(Optimizer):
    """RMSprop: `h <- rho*h + (1-rho)*g^2`, `w <- w - lr*g/sqrt(h + eps)` (eps inside the
    square root, as in Keras 2 and 3). h starts at 0.

    With momentum m: `u <- m*u + lr*g/sqrt(h + eps)`, `w <- w - u`. With `centered=True` the
    mean gradient `a <- rho*a + (1-rho)*g` is tracked and `h - a^2` replaces h.

    >>> RMSprop(rho=0.95).rho
    0.95
    """

    def __init__(self, learning_rate: float | Callable = 0.001, rho: float = 0.9,
                 momentum: float = 0.0, epsilon: float = 1e-7, centered: bool = False,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        self.rho = _args.number(rho, "RMSprop", "rho", 0.0, 1.0)
        self.momentum = _args.number(momentum, "RMSprop", "momentum", 0.0, 1.0)
        self.epsilon = _args.number(epsilon, "RMSprop", "epsilon", 0.0)
        self.centered = bool(centered)

    def _new_slots(self, w: np.ndarray) -> Slots:
        slots = {"velocity": np.zeros_like(w)}
        if self.momentum:
            slots["momentum"] = np.zeros_like(w)
        if self.centered:
            slots["average_gradient"] = np.zeros_like(w)
        return slots

    def _step(self, w: np.ndarray, g: np.ndarray, slots: Slots, lr: float) -> np.ndarray:
        rho = self.rho
        h = slots["velocity"]
        h *= rho
        h += (1 - rho) * (g * g)
        denom = h + self.epsilon
        if self.centered:
            a = slots["average_gradient"]
            a *= rho
            a += (1 - rho) * g
            denom -= a * a
        increment = lr * g / np.sqrt(denom)
        if self.momentum:
            u = slots["momentum"]
            u *= self.momentum
            u += increment
            return w - u
        return w - increment


class Adam(Optimizer):
    """Adam (Kingma & Ba, Algorithm 1), in Keras's "epsilon hat" form.

    At step t = iterations + 1: `m <- b1*m + (1-b1)*g`, `v <- b2*v + (1-b2)*g^2`,
    `alpha = lr * sqrt(1 - b2^t) / (1 - b1^t)`, `w <- w - alpha * m / (sqrt(v) + eps)`.
    This is the paper's "epsilon hat" form: `eps` is added to sqrt(v) before bias correction,
    which equals Algorithm 1's `w <- w - lr * m_hat / (sqrt(v_hat) + eps_1)` with
    `m_hat = m/(1-b1^t)`, `v_hat = v/(1-b2^t)` and `eps_1 = eps / sqrt(1 - b2^t)`.
    With `amsgrad=True`, `vmax <- max(vmax, v)` (of the raw v) replaces v in the denominator.

    >>> Adam().epsilon
    1e-07
    """

    def __init__(self, learning_rate: float | Callable = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                 **kwargs: Any):
        super().__init__(learning_rate, **kwargs)
        who = type(self).__name__
        self.beta_1 = _args.number(beta_1, who, "beta_1", 0.0, 1.0, high_open=True)
        self.beta_2 = _args.number(beta_2, who, "beta_2", 0.0, 1.0, high_open=True)
        self.epsilon = _args.number(epsilon, who, "epsilon", 0.0)
        self.amsgrad = bool(amsgrad)

    def _new_slots(self, w: np.ndarray) -> Slots:
        slots = {"m": np.zeros_like(w), "v": np.zeros_like(w)}
        if self.amsgrad:
            slots["vhat"] = np.zeros_like(w)
        return slots

    def _step(self, w: np.ndarray, g: np.ndarray, slots: Slots, lr: float) -> np.ndarray:
        b1, b2 = self.beta_1, self.beta_2
        t = self.iterations + 1
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m, v = slots["m"], slots["v"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        if self.amsgrad:
            vhat = slots["vhat"]
            np.maximum(vhat, v, out=vhat)
            v = vhat
        return w - (alpha * m) / (np.sqrt(v) + self.epsilon)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): `w <- w - lr*wd*w` is applied
    first, then the `Adam` step on the decayed weights.

    >>> AdamW().weight_decay
    0.004
    """

    def __init__(self, learning_rate: float | Callable = 0.001, weight_decay: float = 0.004,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 amsgrad: bool = False, **kwargs: Any):
        if weight_decay is None:
            raise TypeError("AdamW: weight_decay must be a number (use Adam for no decay)")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, weight_decay=weight_decay, **kwargs)


_BY_NAME: dict[str, type[Optimizer]] = {
    "sgd": SGD, "momentum": Momentum, "adagrad": Adagrad, "rmsprop": RMSprop, "adam": Adam,
    "adamw": AdamW,
}


def get(identifier: str | Optimizer | type[Optimizer]) -> Optimizer:
    """An optimizer from a name ("adam", "sgd", ...; case-insensitive, Keras defaults), a class,
    or an instance (returned as is).

    >>> get("Adam")
    <tg.optimizers.Adam lr=0.001 iterations=0>
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str):
        return lookup("optimizer", _BY_NAME, identifier.lower())()
    raise TypeError(f"expected an optimizer name or Optimizer, got {type(identifier).__name__}")
