"""Recurrent layers with Keras's names, defaults, weight layouts and gate orders: SimpleRNN,
LSTM (gates i, f, c, o), GRU (gates z, r, h; reset_after=True by default) and Bidirectional.

Inputs are (batch, time, features). The input projection of all time steps is one matmul. As
Keras uses cuDNN when it can, the default LSTM and GRU cells (tanh and sigmoid; GRU with
reset_after=True) without a mask or recurrent dropout run the whole time loop as one fused op
(`lstm_sequence`, `gru_sequence`) whose gradient rule is backpropagation through time: one
recorded op per sequence, not a dozen per step. Otherwise the time loop runs in Python on tape
ops; per-step slices of the projection are then cut by recursive halving, so their gradients
cost O(size * log T) instead of O(size * T). Dropout masks
(`dropout` on inputs, `recurrent_dropout` on the state fed to the recurrent kernel) are drawn
once per call from `tg.random.generator()` and reused at every step, as Keras does (and as
DLwP 6.3 recommends).

A time-step mask (from `Embedding(mask_zero=True)`, `Masking`, or `mask=`) makes masked steps
keep the previous state exactly (`where(mask, new, old)`), as Keras: the output at a masked step
repeats the last one (zeros inside Bidirectional with return_sequences), and the final state is
that of the last unmasked step. With `return_sequences=True` the mask passes to the next layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad import _args, ops
from tapegrad.nn import activations as _activations
from tapegrad.nn._utils import check_rank, dropout_mask
from tapegrad.nn.masking import check_mask, get_mask, set_mask
from tapegrad.nn.module import Module
from tapegrad.tensor import Tensor, as_tensor

__all__ = ["GRU", "LSTM", "Bidirectional", "SimpleRNN"]


def unstack_time(x: Any) -> list[Any]:
    """The (batch, ...) slices x[:, t] of a (batch, time, ...) tensor, by recursive halving."""
    n = x.shape[1]
    if n <= 4:
        return [x[:, t] for t in range(n)]
    mid = n // 2
    return unstack_time(x[:, :mid]) + unstack_time(x[:, mid:])


class _RNN(Module):
    """Shared machinery: weights (kernel, recurrent_kernel, bias), masks and the time loop."""

    gates = 1
    n_states = 1

    def __init__(self, units: int, activation: Any = "tanh", recurrent_activation: Any = "sigmoid",
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, return_sequences: bool = False,
                 return_state: bool = False, go_backwards: bool = False, stateful: bool = False,
                 unroll: bool = False, zero_output_for_mask: bool = False, **kwargs: Any):
        config = {k: v for k, v in locals().items() if k not in ("self", "kwargs", "__class__")}
        super().__init__(**kwargs)
        who = type(self).__name__
        if stateful:
            raise ValueError(f"{who}: stateful=True is not supported (states are reset at each "
                             f"call); carry states with return_state=True and initial_state=")
        self.__dict__["_config"] = config
        self.units = _args.count(units, who, "units")
        self.activation = _args.resolved(_activations.get, activation, who, "activation")
        self.recurrent_activation = _args.resolved(_activations.get, recurrent_activation, who,
                                                   "recurrent_activation")
        self.use_bias = bool(use_bias)
        self.dropout = _args.probability(dropout, who, "dropout")
        self.recurrent_dropout = _args.probability(recurrent_dropout, who, "recurrent_dropout")
        _args.weight_args(self, kernel_initializer=kernel_initializer,
                          recurrent_initializer=recurrent_initializer,
                          bias_initializer=bias_initializer,
                          kernel_regularizer=kernel_regularizer,
                          recurrent_regularizer=recurrent_regularizer,
                          bias_regularizer=bias_regularizer)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)  # the loop always runs step by step in Python: no effect
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.initializers = (kernel_initializer, recurrent_initializer, bias_initializer)
        self.regularizers = (kernel_regularizer, recurrent_regularizer, bias_regularizer)

    def get_config(self) -> dict:
        """The constructor arguments (without the name): enough to make a twin layer."""
        return dict(self._config)

    def _bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def _bias_init(self) -> Any:
        return self.initializers[2]

    def build(self, input_shape: Sequence[int | None]) -> None:
        check_rank(self, input_shape, 3, "(batch, time, features)")
        width = self.gates * self.units
        k_init, r_init, _ = self.initializers
        k_reg, r_reg, b_reg = self.regularizers
        self.kernel = self.add_weight("kernel", (input_shape[-1], width), k_init, k_reg)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width), r_init,
                                                r_reg)
        self.bias = (self.add_weight("bias", self._bias_shape(), self._bias_init(), b_reg)
                     if self.use_bias else None)

    def _input_bias(self) -> Any:
        return self.bias

    def call(self, inputs: Any, training: bool = False,
             initial_state: Sequence[Any] | None = None, mask: Any = None) -> Any:
        x = _args.layer_input(inputs)  # (a Tensor stays the same object, so keeps its mask)
        mask = check_mask(get_mask(inputs) if mask is None else mask, x.shape, self.name)
        check_rank(self, x.shape, 3, "(batch, time, features)")
        b, t, f = x.shape
        if t == 0:
            raise ValueError(f"{self.name}: inputs have no time steps (shape {x.shape})")
        if mask is not None and mask.all():
            mask_steps = None  # nothing masked: the plain loop gives the same numbers
        else:
            mask_steps = None if mask is None else list(mask[:, :, None].transpose(1, 0, 2))
        dt = x.dtype if x.dtype.kind == "f" else self.dtype
        if training and self.dropout:
            x = x * dropout_mask((b, 1, f), self.dropout, dt)
        states = self._initial_states(initial_state, b, dt)
        rmask = (dropout_mask((b, self.units), self.recurrent_dropout, dt)
                 if training and self.recurrent_dropout else None)
        if mask_steps is None and rmask is None and self.fused():
            xw = self._projection(ops.transpose(x, (1, 0, 2)))  # time-major
            seq, states = self.sequence(ops.flip(xw, axis=0) if self.go_backwards else xw,
                                        states)
            out = ops.transpose(seq, (1, 0, 2)) if self.return_sequences else states[0]
            if mask is not None and self.return_sequences:
                set_mask(out, mask)
            return [out, *states] if self.return_state else out
        steps = unstack_time(self._projection(x))
        if self.go_backwards:
            steps.reverse()
            if mask_steps is not None:
                mask_steps.reverse()
        outputs = []
        zeros = Tensor._wrap(np.zeros((b, self.units), dt))
        for i, xt in enumerate(steps):
            h_proj = states[0] if rmask is None else states[0] * rmask
            new = self.step(xt, h_proj, states)
            if mask_steps is None:
                states = new
                outputs.append(states[0])
                continue
            m = mask_steps[i]  # (batch, 1): True where this step is real
            last = zeros if self.zero_output_for_mask or not outputs else outputs[-1]
            outputs.append(ops.where(m, new[0], last))
            states = [ops.where(m, n, old) for n, old in zip(new, states)]
        if self.return_sequences:
            out = ops.stack(outputs, axis=1)
            if mask is not None:
                set_mask(out, mask)
        else:
            out = states[0] if mask_steps is not None else outputs[-1]
        return [out, *states] if self.return_state else out

    def _projection(self, x: Any) -> Any:
        """x @ kernel + bias for all steps at once, one matmul; keeps x's two leading axes."""
        n, m, f = x.shape
        xw = ops.matmul(ops.reshape(x, (n * m, f)), self.kernel)
        bias = self._input_bias()
        if bias is not None:
            xw = xw + bias
        return ops.reshape(xw, (n, m, self.gates * self.units))

    def _initial_states(self, initial_state: Any, batch: int, dt: np.dtype) -> list[Any]:
        if initial_state is None:
            zeros = Tensor._wrap(np.zeros((batch, self.units), dt))
            return [zeros] * self.n_states
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
            else [initial_state]
        if len(states) != self.n_states or any(tuple(s.shape) != (batch, self.units)
                                               for s in states):
            raise ValueError(f"{self.name}: initial_state must be {self.n_states} tensor(s) of "
                             f"shape {(batch, self.units)}, got "
                             f"{[tuple(np.shape(s)) for s in states]}")
        return [as_tensor(s) for s in states]

    def step(self, xt: Any, h_proj: Any, states: list[Any]) -> list[Any]:
        """One time step: projected input `xt`, state for the recurrent kernel, all states."""
        raise NotImplementedError

    def _default_cell(self) -> bool:
        """tanh and sigmoid, the activations the fused ops compute."""
        return (self.activation is _activations.tanh
                and self.recurrent_activation is _activations.sigmoid)

    def fused(self) -> bool:
        """Does `sequence` run this configuration as one fused op? (Used when there is no
        mask and no recurrent dropout, as Keras's cuDNN conditions; else the step loop runs.)"""
        return False

    def sequence(self, xw: Any, states: list[Any]) -> tuple[Any, list[Any]]:
        """All steps at once, from the time-major projected inputs `xw` (time, batch, gates
        units): the outputs (time, batch, units) and the final states."""
        raise NotImplementedError


class SimpleRNN(_RNN):
    """h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias).

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.SimpleRNN(4, return_sequences=True)(np.zeros((2, 5, 3))).shape
    (2, 5, 4)
    """

    def step(self, xt: Any, h_proj: Any, states: list[Any]) -> list[Any]:
        return [self.activation(xt + ops.matmul(h_proj, self.recurrent_kernel))]


class LSTM(_RNN):
    """Long short-term memory, Keras layout: kernel (features, 4 units), gates i, f, c, o;
    `unit_forget_bias=True` starts the forget-gate bias at 1. States: [h, c].

    >>> import numpy as np, tapegrad as tg
    >>> out, h, c = tg.nn.LSTM(4, return_state=True)(np.zeros((2, 5, 3)))
    >>> out.shape, c.shape
    ((2, 4), (2, 4))
    """

    gates = 4
    n_states = 2

    def __init__(self, units: int, *args: Any, unit_forget_bias: bool = True, **kwargs: Any):
        super().__init__(units, *args, **kwargs)
        self.__dict__["_config"]["unit_forget_bias"] = unit_forget_bias
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_init(self) -> Any:
        if not self.unit_forget_bias:
            return self.initializers[2]
        from tapegrad.nn import initializers

        base, u = initializers.get(self.initializers[2]), self.units

        def init(shape: Sequence[int], dtype: Any = None) -> np.ndarray:
            b = np.array(base(shape, dtype))
            b[u:2 * u] = 1.0
            return b

        return init

    def fused(self) -> bool:
        return self._default_cell()

    def sequence(self, xw: Any, states: list[Any]) -> tuple[Any, list[Any]]:
        hc = ops.lstm_sequence(xw, states[0], states[1], self.recurrent_kernel)
        last = hc[:2, -1]  # h and c after the last step
        return hc[0], [last[0], last[1]]

    def step(self, xt: Any, h_proj: Any, states: list[Any]) -> list[Any]:
        u = self.units
        z = xt + ops.matmul(h_proj, self.recurrent_kernel)
        if self._default_cell():  # (in the loop only with a mask or recurrent dropout)
            hc = ops.lstm_cell(z, states[1])  # fused: one op per step
            return [hc[:, :u], hc[:, u:2 * u]]
        s = self.recurrent_activation(z)
        i, f, o = s[:, :u], s[:, u:2 * u], s[:, 3 * u:]
        c = f * states[1] + i * self.activation(z[:, 2 * u:3 * u])
        return [o * self.activation(c), c]


class GRU(_RNN):
    """Gated recurrent unit, Keras layout: gates z, r, h; h_t = z * h_{t-1} + (1 - z) * h~.

    With `reset_after=True` (the default, as Keras and cuDNN) the reset gate multiplies the
    recurrent projection and the bias has shape (2, 3 units): input and recurrent biases.

    >>> import numpy as np, tapegrad as tg
    >>> layer = tg.nn.GRU(4)
    >>> layer(np.zeros((2, 5, 3))).shape, layer.bias.shape
    ((2, 4), (2, 12))
    """

    gates = 3

    def __init__(self, units: int, *args: Any, reset_after: bool = True, **kwargs: Any):
        super().__init__(units, *args, **kwargs)
        self.__dict__["_config"]["reset_after"] = reset_after
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _input_bias(self) -> Any:
        if self.bias is None or not self.reset_after:
            return self.bias
        return self.bias[0]

    def fused(self) -> bool:
        return self.reset_after and self._default_cell()

    def sequence(self, xw: Any, states: list[Any]) -> tuple[Any, list[Any]]:
        rb = self._recurrent_bias
        if rb is None:
            rb = Tensor._wrap(np.zeros(3 * self.units, xw.dtype))
        h = ops.gru_sequence(xw, states[0], self.recurrent_kernel, rb)[0]
        return h, [h[-1]]

    def step(self, xt: Any, h_proj: Any, states: list[Any]) -> list[Any]:
        u, h = self.units, states[0]
        ra = self.recurrent_activation
        if self.reset_after:
            hr = ops.matmul(h_proj, self.recurrent_kernel)
            if self.bias is not None:
                hr = hr + self._recurrent_bias
            zr = ra(xt[:, :2 * u] + hr[:, :2 * u])
            z, r = zr[:, :u], zr[:, u:]
            hh = self.activation(xt[:, 2 * u:] + r * hr[:, 2 * u:])
        else:
            zr = ra(xt[:, :2 * u] + ops.matmul(h_proj, self._kernel_zr))
            z, r = zr[:, :u], zr[:, u:]
            hh = self.activation(xt[:, 2 * u:] + ops.matmul(r * h_proj, self._kernel_h))
        return [z * h + (1 - z) * hh]

    def call(self, inputs: Any, training: bool = False,
             initial_state: Sequence[Any] | None = None, mask: Any = None) -> Any:
        # Slices of the weights used at every step are cut once per call, not once per step.
        if self.reset_after:
            rb = self.bias[1] if self.bias is not None else None
            self.__dict__["_recurrent_bias"] = rb
        else:
            self.__dict__["_kernel_zr"] = self.recurrent_kernel[:, :2 * self.units]
            self.__dict__["_kernel_h"] = self.recurrent_kernel[:, 2 * self.units:]
        try:
            return super().call(inputs, training, initial_state, mask)
        finally:
            for k in ("_recurrent_bias", "_kernel_zr", "_kernel_h"):
                self.__dict__.pop(k, None)


class Bidirectional(Module):
    """Run a recurrent layer forwards and a twin of it backwards over time and merge the two
    outputs (merge_mode "concat" (default), "sum", "mul", "ave" or None for a list).

    >>> import numpy as np, tapegrad as tg
    >>> tg.nn.Bidirectional(tg.nn.LSTM(4, return_sequences=True))(np.zeros((2, 5, 3))).shape
    (2, 5, 8)
    """

    def __init__(self, layer: _RNN, merge_mode: str | None = "concat",
                 backward_layer: _RNN | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if not isinstance(layer, _RNN):
            raise TypeError(f"Bidirectional: layer must be a SimpleRNN, LSTM or GRU layer, "
                            f"got {type(layer).__name__}")
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(f"Bidirectional: merge_mode must be 'concat', 'sum', 'mul', 'ave' "
                             f"or None, got {merge_mode!r}")
        if backward_layer is None:
            config = layer.get_config()
            config["go_backwards"] = not layer.go_backwards
            backward_layer = type(layer)(**config, name=f"backward_{layer.name}")
        if not layer.built:
            layer.__dict__["name"] = f"forward_{layer.name}"
        self.forward_layer, self.backward_layer = layer, backward_layer
        for rnn in (layer, backward_layer):  # padded steps output zeros in both directions
            rnn.zero_output_for_mask = rnn.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state

    def get_config(self) -> dict:
        """The constructor arguments, with the wrapped layer under its own name (before the
        `forward_` prefix), so that a layer made from this config has the same names."""
        config = super().get_config()
        layer = self.forward_layer
        name = layer.name[len("forward_"):] if layer.name.startswith("forward_") else layer.name
        config["layer"] = type(layer)(**{**layer.get_config(), "name": name})
        return config

    def call(self, inputs: Any, training: bool = False,
             initial_state: Sequence[Any] | None = None, mask: Any = None) -> Any:
        fs = bs = None
        if initial_state is not None:
            half = len(initial_state) // 2
            fs, bs = initial_state[:half], initial_state[half:]
        if mask is None:
            mask = get_mask(inputs)
        fwd = self.forward_layer(inputs, training=training, initial_state=fs, mask=mask)
        bwd = self.backward_layer(inputs, training=training, initial_state=bs, mask=mask)
        states: list[Any] = []
        if self.return_state:
            (fwd, *f_states), (bwd, *b_states) = fwd, bwd
            states = [*f_states, *b_states]
        if self.return_sequences:
            bwd = ops.flip(bwd, axis=1)  # back in input order
        if self.merge_mode == "concat":
            out = ops.concatenate([fwd, bwd], axis=-1)
        elif self.merge_mode == "sum":
            out = fwd + bwd
        elif self.merge_mode == "mul":
            out = fwd * bwd
        elif self.merge_mode == "ave":
            out = (fwd + bwd) / 2
        else:
            out = [fwd, bwd]
        if mask is not None and self.return_sequences and not isinstance(out, list):
            set_mask(out, mask)
        if not self.return_state:
            return out
        return [*(out if isinstance(out, list) else [out]), *states]
