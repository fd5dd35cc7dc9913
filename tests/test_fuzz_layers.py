"""Fuzz test of the arguments of every public layer, optimizer, schedule, initializer, regularizer,
metric, loss and callback, and of layer calls and `apply_gradients` (issue 11).

Each public name has a spec: its arguments, each of a *kind*. A kind lists values a Keras user
may pass that Keras accepts (`good`) and values it rejects or that make no sense (`bad`). A call
must succeed when every value is good and raise a TypeError/ValueError/IndexError whose message
names the class or function when one is bad ("clear"); another exception type, or a message
without the name, is "unclear"; a bad value accepted, a good one refused, or a rejected call that
changed a variable, an optimizer slot or `iterations` is "wrong". Goal: 0 unclear, 0 wrong.

The Hypothesis test draws every argument at once (mostly good values, some bad); its example
count is TAPEGRAD_FUZZ_EXAMPLES (default 150, kept small for `make test`). The grid test tries
each bad and good value of each argument once, the others at their defaults. The figures:

    .venv/bin/python tests/test_fuzz_layers.py      # prints calls, ok, clear, unclear, wrong
"""

from __future__ import annotations

import inspect
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tapegrad as tg
from tapegrad import callbacks, losses, metrics, optimizers, schedules
from tapegrad.nn import initializers, regularizers

nan, inf = float("nan"), float("inf")
EXAMPLES = int(os.environ.get("TAPEGRAD_FUZZ_EXAMPLES", "150"))
CLEAR_ERRORS = (TypeError, ValueError, IndexError)


@dataclass(frozen=True)
class Kind:
    good: tuple
    bad: tuple


COUNT = Kind((1, 3, np.int64(2)), (0, -1, 2.5, 2.0, "a", "3", None, nan, inf, True, [2]))
RATE = Kind((0.0, 0.25, np.float32(0.5)), (-0.1, 1.0, 1.5, nan, inf, None, "a"))
LR = Kind((0.01, 0.0, 1, np.float64(0.1), schedules.ExponentialDecay(0.1, 10, 0.9)),
          (-1.0, nan, inf, None, "a", [0.1]))
UNIT = Kind((0.0, 0.5, 1.0), (-0.1, 1.5, nan, None, "a"))  # [0, 1]
BETA = Kind((0.9, 0.0, 0.999), (1.0, 2.0, -0.1, nan, inf, None, "a"))  # [0, 1)
POSITIVE = Kind((1e-3, 1), (0.0, -1e-3, nan, inf, None, "a"))
NONNEG = Kind((1e-7, 0.0, 0.5), (-1.0, nan, inf, None, "a"))
OPT_POSITIVE = Kind((None, 1.0), (0.0, -1.0, nan, inf, "a"))
OPT_NONNEG = Kind((None, 0.0, 0.01), (-1.0, nan, inf, "a"))
FINITE = Kind((0.0, -1.5, 2), (nan, inf, None, "a"))
KERNEL2 = Kind((2, 1, (2, 1), [1, 2]), (0, -1, 2.5, "a", None, (2,), (2, 2, 2), (0, 2), (2.0, 2)))
KERNEL1 = Kind((2, 1, (2,)), (0, -1, 2.5, "a", None, (2, 2)))
STRIDES2 = Kind((1, 2, (1, 2)), (0, -1, 1.5, "a", None, (1,), (0, 1)))
STRIDES1 = Kind((1, 2), (0, -1, 1.5, "a", None, (1, 1)))
POOL2 = Kind((2, (2, 2), (1, 2)), (0, -1, 2.5, "a", None, (2,), (2, 2, 2)))
POOL1 = Kind((2, 3), (0, -1, 2.5, "a", None, (2, 2)))
POOL_STRIDES2 = Kind((None, 1, (1, 2)), (0, -1, 1.5, "a", (1,)))
POOL_STRIDES1 = Kind((None, 1, 2), (0, -1, 1.5, "a"))
PADDING = Kind(("valid", "same"), ("full", None, 3))
DTYPE = Kind((None, "float32", "float64"), ("int32", "bool", "complex64", object, "nope"))
ACTIVATION = Kind((None, "relu", "tanh"), ("nope", 3))
INITIALIZER = Kind(("glorot_uniform", "zeros"), ("nope", 3))
REGULARIZER = Kind((None, "l2"), ("nope", 3))
AXIS = Kind((-1, 1), (1.5, "1", None, True))
SEED = Kind((None, 0, 7), (2.5, "a", -1))
FORMAT = Kind((None, "channels_last"), ("channels_first", 3))
MODE = Kind(("auto", "min", "max"), ("best", None, 3))
MONITOR = Kind(("val_loss", "loss"), (None, 3))
PATIENCE = Kind((0, 3), (-1, 2.5, "a", None))
FILEPATH = Kind(("w.npz", "ck/w.{epoch:02d}.npz"), (None, 3, "w{.npz"))
SEPARATOR = Kind((",", ";"), ("", None, 3, ",,"))
SCHEDULE = Kind((lambda epoch, lr: lr,), (None, 3, "a"))
MERGE = Kind(("concat", "sum", "mul", "ave", None), ("x", 3))
RNN_LAYER = Kind((), (None, "a", 3))  # Bidirectional's layer: the good one is made per call
# TimeDistributed's layer: the good one (a fresh Dense) is made per call; a class is refused too
WRAPPED = Kind((), (None, "a", 3, tg.nn.Dense))
HOOK = Kind((None, lambda *args: None), (3, "a", [len]))  # a LambdaCallback function
DISTRIBUTION = Kind(("truncated_normal", "uniform", "untruncated_normal"), ("x", None, 3))
FAN = Kind(("fan_in", "fan_out", "fan_avg"), ("x", None, 3))
PAIRS = Kind((1, 0, (1, 2), [0, 1], ((1, 0), (2, 1))), (
    -1, 2.5, "a", None, (1, 2, 3), ((1,), (2, 2)), (1.5, 1), ((1, 0), (2, -1))))
FACTOR = Kind((0.1, 0, (-0.2, 0.3)), ("a", None, nan, inf, (0.3, -0.2), (0.1, 0.2, 0.3)))
BOUNDED_FACTOR = Kind((0.2, (-0.3, 0.1)), ("a", None, nan, 1.5, (0.3, -0.2), (-0.1, 1.2)))
AFFINE = {"fill_mode": Kind(("reflect", "wrap", "nearest", "constant"), ("x", None, 3)),
          "interpolation": Kind(("bilinear", "nearest"), ("x", None, 3)),
          "fill_value": FINITE}


@dataclass
class Spec:
    """How to fuzz one public name: `make(**kwargs)`, the kinds of its arguments, what the
    error must name, and (for layers) a good input and the rank the layer needs."""

    make: Callable[..., Any]
    args: dict[str, Kind]
    who: tuple[str, ...]
    sample: tuple[int, ...] | None = None
    ids: bool = False  # the sample input is integer ids (Embedding)
    rank_strict: bool = False  # inputs of another rank must be refused
    float_out: bool = True  # False: integer inputs may give integer outputs (no weights)
    combo_ok: Callable[[dict], bool] = field(default=lambda kw: True)
    required: dict[str, Any] = field(default_factory=dict)
    many: int = 0  # > 0: the layer takes a list of `many` inputs of shape `sample` (merges)
    exactly: bool = False  # a merge that takes exactly `many` inputs (Subtract, Dot)
    scalar_ok: bool = False  # a scalar input is valid (elementwise layers)


def _layer(cls: type, args: dict[str, Kind], sample: tuple[int, ...], **kw: Any) -> Spec:
    no_weights = cls.__name__.endswith(("Pooling1D", "Pooling2D")) or cls in (
        tg.nn.Activation, tg.nn.Flatten, tg.nn.Dropout, *MOVERS)
    return Spec(cls, {**args, "dtype": DTYPE}, (cls.__name__,), sample,
                float_out=not no_weights, **kw)


nn = tg.nn
# layers that only move, pick or combine values: integer inputs may stay integers
MOVERS = (nn.Add, nn.Subtract, nn.Multiply, nn.Average, nn.Maximum, nn.Minimum, nn.Concatenate,
          nn.Dot, nn.Lambda, nn.Identity, nn.Reshape, nn.Permute, nn.RepeatVector,
          nn.ZeroPadding2D, nn.Cropping2D, nn.UpSampling2D, nn.Masking)
CONV_REQUIRED = {"filters": 2, "kernel_size": 2}
CONV2 = {"filters": COUNT, "kernel_size": KERNEL2, "strides": STRIDES2, "padding": PADDING,
         "activation": ACTIVATION, "kernel_initializer": INITIALIZER,
         "bias_initializer": INITIALIZER, "kernel_regularizer": REGULARIZER,
         "data_format": FORMAT}
RNN = {"units": COUNT, "activation": ACTIVATION, "recurrent_activation": ACTIVATION,
       "dropout": RATE, "recurrent_dropout": RATE, "kernel_initializer": INITIALIZER,
       "recurrent_initializer": INITIALIZER, "bias_regularizer": REGULARIZER}
LAYERS: dict[str, Spec] = {
    "Dense": _layer(nn.Dense, {"units": COUNT, "activation": ACTIVATION,
                               "kernel_initializer": INITIALIZER, "bias_initializer": INITIALIZER,
                               "kernel_regularizer": REGULARIZER,
                               "bias_regularizer": REGULARIZER,
                               "input_dim": Kind((None, 3), (0, 2.5, "a"))}, (2, 3),
                    required={"units": 2}),
    "Activation": _layer(nn.Activation, {"activation": ACTIVATION}, (2, 3),
                         required={"activation": "relu"}, scalar_ok=True),
    "Flatten": _layer(nn.Flatten, {}, (2, 3, 2)),
    "Dropout": _layer(nn.Dropout, {"rate": RATE, "seed": SEED}, (2, 3),
                      required={"rate": 0.5}, scalar_ok=True),
    "BatchNormalization": _layer(nn.BatchNormalization, {
        "axis": AXIS, "momentum": UNIT, "epsilon": POSITIVE, "gamma_initializer": INITIALIZER,
        "beta_regularizer": REGULARIZER}, (4, 3)),
    "LayerNormalization": _layer(nn.LayerNormalization, {
        "axis": AXIS, "epsilon": POSITIVE, "beta_initializer": INITIALIZER}, (4, 3)),
    "Conv2D": _layer(nn.Conv2D, {**CONV2, "dilation_rate": STRIDES2}, (2, 6, 6, 3),
                     rank_strict=True, required=CONV_REQUIRED),
    "Conv1D": _layer(nn.Conv1D, {**CONV2, "kernel_size": KERNEL1, "strides": STRIDES1,
                                 "dilation_rate": STRIDES1}, (2, 7, 3), rank_strict=True,
                     required=CONV_REQUIRED),
    "DepthwiseConv2D": _layer(nn.DepthwiseConv2D, {
        "kernel_size": KERNEL2, "strides": STRIDES2, "padding": PADDING, "depth_multiplier": COUNT,
        "activation": ACTIVATION, "depthwise_initializer": INITIALIZER, "data_format": FORMAT},
        (2, 6, 6, 3), rank_strict=True, required={"kernel_size": 2}),
    "SeparableConv2D": _layer(nn.SeparableConv2D, {
        "filters": COUNT, "kernel_size": KERNEL2, "strides": STRIDES2, "padding": PADDING,
        "depth_multiplier": COUNT, "activation": ACTIVATION,
        "pointwise_initializer": INITIALIZER, "data_format": FORMAT}, (2, 6, 6, 3),
        rank_strict=True, required=CONV_REQUIRED),
    "MaxPooling2D": _layer(nn.MaxPooling2D, {"pool_size": POOL2, "strides": POOL_STRIDES2,
                                             "padding": PADDING, "data_format": FORMAT},
                           (2, 6, 6, 3), rank_strict=True),
    "AveragePooling2D": _layer(nn.AveragePooling2D, {"pool_size": POOL2,
                                                     "strides": POOL_STRIDES2,
                                                     "padding": PADDING}, (2, 6, 6, 3),
                               rank_strict=True),
    "MaxPooling1D": _layer(nn.MaxPooling1D, {"pool_size": POOL1, "strides": POOL_STRIDES1,
                                             "padding": PADDING}, (2, 7, 3), rank_strict=True),
    "AveragePooling1D": _layer(nn.AveragePooling1D, {"pool_size": POOL1,
                                                     "strides": POOL_STRIDES1,
                                                     "padding": PADDING}, (2, 7, 3),
                               rank_strict=True),
    "GlobalAveragePooling2D": _layer(nn.GlobalAveragePooling2D, {"data_format": FORMAT},
                                     (2, 4, 4, 3), rank_strict=True),
    "GlobalMaxPooling2D": _layer(nn.GlobalMaxPooling2D, {"data_format": FORMAT},
                                 (2, 4, 4, 3), rank_strict=True),
    "GlobalAveragePooling1D": _layer(nn.GlobalAveragePooling1D, {"data_format": FORMAT},
                                     (2, 5, 3), rank_strict=True),
    "GlobalMaxPooling1D": _layer(nn.GlobalMaxPooling1D, {"data_format": FORMAT}, (2, 5, 3),
                                 rank_strict=True),
    "SimpleRNN": _layer(nn.SimpleRNN, RNN, (2, 4, 3), rank_strict=True, required={"units": 2}),
    "LSTM": _layer(nn.LSTM, RNN, (2, 4, 3), rank_strict=True, required={"units": 2}),
    "GRU": _layer(nn.GRU, RNN, (2, 4, 3), rank_strict=True, required={"units": 2}),
    "Embedding": _layer(nn.Embedding, {"input_dim": COUNT, "output_dim": COUNT,
                                       "embeddings_initializer": INITIALIZER,
                                       "input_length": Kind((None, 3), (0, 2.5))}, (2, 3),
                        ids=True,
                        required={"input_dim": 5, "output_dim": 2}),
    "Bidirectional": Spec(lambda layer=RNN_LAYER, **kw: nn.Bidirectional(
        nn.LSTM(2) if layer is RNN_LAYER else layer, **kw),
        {"layer": RNN_LAYER, "merge_mode": MERGE}, ("Bidirectional", "LSTM"), (2, 4, 3),
        rank_strict=True),
    # Keras compares with any number (inf too; NaN equals nothing, so it is left out)
    "Masking": _layer(nn.Masking, {"mask_value": Kind((0.0, -1, np.float32(0.5), inf), (
        None, "a", True, [0.0]))}, (2, 3, 4)),
    "TimeDistributed": Spec(lambda layer=WRAPPED, **kw: nn.TimeDistributed(
        nn.Dense(2) if layer is WRAPPED else layer, **kw),
        {"layer": WRAPPED, "dtype": DTYPE}, ("TimeDistributed", "Dense"), (2, 3, 4),
        rank_strict=True),
    **{cls.__name__: _layer(cls, {}, (2, 3), many=2, exactly=cls is nn.Subtract)
       for cls in (nn.Add, nn.Subtract, nn.Multiply, nn.Average, nn.Maximum, nn.Minimum)},
    "Concatenate": _layer(nn.Concatenate, {"axis": AXIS}, (2, 3), many=2),
    "Dot": _layer(nn.Dot, {"axes": Kind((1, -1, (1, 1), [1, -1]),
                                        (1.5, "1", None, True, (1,), (1, 1, 1), (1.0, 1), "ab")),
                           "normalize": Kind((False, True), ())}, (2, 3), many=2, exactly=True,
                  required={"axes": 1}),
    "Lambda": _layer(nn.Lambda, {"function": Kind((tg.tanh, lambda t: t * 2), (None, 3, "a")),
                                 "output_shape": Kind((None, (3,)), ()),
                                 "arguments": Kind((None, {}), (3, "a", [1]))}, (2, 3),
                     required={"function": tg.tanh}, scalar_ok=True),
    "Identity": _layer(nn.Identity, {}, (2, 3), scalar_ok=True),
    "Reshape": _layer(nn.Reshape, {"target_shape": Kind(((3, 2), (-1,), [6], (2, -1)), (
        None, 3, "a", (2.5, 2), (0, 6), (-1, -1), ("a",), (True, 6)))}, (2, 6),
        rank_strict=True, required={"target_shape": (3, 2)}),
    "Permute": _layer(nn.Permute, {"dims": Kind(((2, 1), [2, 1]), (
        None, 3, "a", (1, 1), (0, 1), (1, 3), (1.5, 2), (1.0, 2.0)))}, (2, 3, 4),
        rank_strict=True, required={"dims": (2, 1)}),
    "RepeatVector": _layer(nn.RepeatVector, {"n": COUNT}, (2, 3), rank_strict=True,
                           required={"n": 2}),
    "ZeroPadding2D": _layer(nn.ZeroPadding2D, {"padding": PAIRS, "data_format": FORMAT},
                            (2, 5, 5, 3), rank_strict=True),
    "Cropping2D": _layer(nn.Cropping2D, {"cropping": PAIRS, "data_format": FORMAT},
                         (2, 5, 5, 3), rank_strict=True),
    "UpSampling2D": _layer(nn.UpSampling2D, {"size": Kind((2, (1, 2), [2, 2]), (
        0, -1, 2.5, "a", None, (2,), (2, 2, 2), (2.0, 2))), "data_format": FORMAT,
        "interpolation": Kind(("nearest",), ("x", None, 3))}, (2, 3, 3, 2), rank_strict=True),
    "Conv2DTranspose": _layer(nn.Conv2DTranspose, {
        **{k: v for k, v in CONV2.items() if k != "kernel_size"}, "kernel_size": KERNEL2,
        "output_padding": Kind((None, 0, (0, 0)), (-1, 2.5, "a", (0,), (0, 0, 0))),
        "dilation_rate": Kind((1, (1, 1)), (0, -1, 1.5, "a", None)),
        "bias_regularizer": REGULARIZER}, (2, 4, 4, 3), rank_strict=True,
        required=CONV_REQUIRED),
    "InputLayer": Spec(nn.InputLayer, {
        "shape": Kind(((3,), [3], 3, (None,)), ("a", (2.5,), (-1,), ("a",), True)),
        "batch_size": Kind((None, 2), (0, -1, 2.5, "a")),
        "dtype": Kind((None, "float32", "float64", "int64"), ("complex64", object, "nope")),
        "name": Kind((None, "x"), (3,))}, ("Input",), (2, 3), rank_strict=True,
        float_out=False, required={"shape": (3,)}),
    **{cls.__name__: _layer(cls, {**args, "seed": SEED}, (2, 5, 5, 2), required=required)
       for cls, args, required in (
           (nn.RandomFlip, {"mode": Kind(("horizontal", "vertical", "horizontal_and_vertical"),
                                         ("x", None, 3))}, {}),
           (nn.RandomRotation, {"factor": FACTOR, **AFFINE}, {"factor": 0.1}),
           (nn.RandomZoom, {"height_factor": BOUNDED_FACTOR,
                            "width_factor": Kind((None, 0.2, (-0.1, 0.1)), ("a", 1.5, nan)),
                            **AFFINE}, {"height_factor": 0.2}),
           (nn.RandomTranslation, {"height_factor": BOUNDED_FACTOR,
                                   "width_factor": BOUNDED_FACTOR, **AFFINE},
            {"height_factor": 0.2, "width_factor": 0.2}),
           (nn.RandomContrast, {"factor": Kind((0.2, 0.0, (0.1, 0.3)), (
               "a", None, 1.5, nan, (0.1, 0.2, 0.3), (1.5, 0.1))),
               "value_range": Kind((None, (0, 255), (0.0, 1.0)), (
                   "a", 3, (1, 0), (0,), (0, nan)))}, {"factor": 0.2}))},
    "Rescaling": _layer(nn.Rescaling, {"scale": Kind((1 / 255, 2, -1.0), (None, "a", nan, inf)),
                                       "offset": FINITE}, (2, 3), required={"scale": 0.5},
                        scalar_ok=True),
    "Resizing": _layer(nn.Resizing, {"height": COUNT, "width": COUNT, "interpolation": Kind(
        ("bilinear", "nearest"), ("x", None, 3)), "crop_to_aspect_ratio": Kind((False, True), ())},
        (2, 5, 5, 2), required={"height": 3, "width": 2}),
}
# Names that are not fuzzed as layers, and why.
NOT_LAYERS = {"Module": "the abstract base", "Layer": "alias of Module", "Model": "alias of Module",
              "Sequential": "a container: its add() is tested in test_nn_module.py",
              "Input": "a function returning InputLayer's symbolic tensor (InputLayer is fuzzed)"}

CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")
OPT_COMMON = {"learning_rate": LR, "clipnorm": OPT_POSITIVE, "clipvalue": OPT_POSITIVE,
              "global_clipnorm": OPT_POSITIVE, "weight_decay": OPT_NONNEG}


def _one_clip(kw: dict) -> bool:
    return sum(kw.get(k) is not None for k in CLIPS) <= 1


def _opt(cls: type, args: dict[str, Kind]) -> Spec:
    common = dict(OPT_COMMON)
    if cls is optimizers.AdamW:
        common["weight_decay"] = NONNEG
    return Spec(cls, {**common, **args}, (cls.__name__,), combo_ok=_one_clip)


OPTIMIZERS: dict[str, Spec] = {
    "SGD": _opt(optimizers.SGD, {"momentum": UNIT}),
    "Momentum": _opt(optimizers.Momentum, {"momentum": UNIT}),
    "Adagrad": _opt(optimizers.Adagrad, {"initial_accumulator_value": NONNEG,
                                         "epsilon": NONNEG}),
    "RMSprop": _opt(optimizers.RMSprop, {"rho": UNIT, "momentum": UNIT, "epsilon": NONNEG}),
    "Adam": _opt(optimizers.Adam, {"beta_1": BETA, "beta_2": BETA, "epsilon": NONNEG}),
    "AdamW": _opt(optimizers.AdamW, {"beta_1": BETA, "beta_2": BETA, "epsilon": NONNEG}),
}

SEEDED = {"seed": SEED}
OTHERS: dict[str, Spec] = {
    "ExponentialDecay": Spec(schedules.ExponentialDecay, {
        "initial_learning_rate": NONNEG, "decay_steps": COUNT, "decay_rate": POSITIVE},
        ("ExponentialDecay",), required={"initial_learning_rate": 0.1, "decay_steps": 10,
                                         "decay_rate": 0.9}),
    "PiecewiseConstantDecay": Spec(
        lambda pieces=([10], [0.1, 0.01]): schedules.PiecewiseConstantDecay(*pieces),
        {"pieces": Kind((([10], [0.1, 0.01]), ([], [0.5]), ([5, 10], [1, 0.5, 0.1])),
                        (([10], [0.1]), ([10, 5], [1, 2, 3]), ([1.5], [1, 2]), ([10], ["a", 1]),
                         ([10], [nan, 1]), (None, None), (3, 4)))},
        ("PiecewiseConstantDecay",)),
    "Zeros": Spec(initializers.Zeros, {}, ("Zeros",)),
    "Ones": Spec(initializers.Ones, {}, ("Ones",)),
    "Constant": Spec(initializers.Constant, {"value": FINITE}, ("Constant",)),
    "RandomNormal": Spec(initializers.RandomNormal, {"mean": FINITE, "stddev": NONNEG,
                                                     **SEEDED}, ("RandomNormal",)),
    "RandomUniform": Spec(initializers.RandomUniform, {"minval": Kind((-0.05, -1), (nan, None,
                                                                                    "a")),
                                                       "maxval": Kind((0.05, 1), (inf, None,
                                                                                  "a")),
                                                       **SEEDED}, ("RandomUniform",)),
    "TruncatedNormal": Spec(initializers.TruncatedNormal, {"mean": FINITE, "stddev": NONNEG,
                                                           **SEEDED}, ("TruncatedNormal",)),
    "VarianceScaling": Spec(initializers.VarianceScaling, {
        "scale": POSITIVE, "mode": FAN, "distribution": DISTRIBUTION, **SEEDED},
        ("VarianceScaling",)),
    "Orthogonal": Spec(initializers.Orthogonal, {"gain": FINITE, **SEEDED}, ("Orthogonal",)),
    **{name: Spec(getattr(initializers, name), SEEDED, (name,)) for name in (
        "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform")},
    "L1": Spec(regularizers.L1, {"l1": NONNEG}, ("L1",)),
    "L2": Spec(regularizers.L2, {"l2": NONNEG}, ("L2",)),
    "L1L2": Spec(regularizers.L1L2, {"l1": NONNEG, "l2": NONNEG}, ("L1L2",)),
    "EarlyStopping": Spec(callbacks.EarlyStopping, {
        "monitor": MONITOR, "min_delta": FINITE, "patience": PATIENCE, "mode": MODE},
        ("EarlyStopping",)),
    "ModelCheckpoint": Spec(callbacks.ModelCheckpoint, {
        "filepath": FILEPATH, "monitor": MONITOR, "mode": MODE}, ("ModelCheckpoint",),
        required={"filepath": "w.npz"}),
    "LearningRateScheduler": Spec(callbacks.LearningRateScheduler, {"schedule": SCHEDULE},
                                  ("LearningRateScheduler",),
                                  required={"schedule": SCHEDULE.good[0]}),
    "CSVLogger": Spec(callbacks.CSVLogger, {"filename": Kind(("log.csv",), (None, 3)),
                                            "separator": SEPARATOR}, ("CSVLogger",),
                      required={"filename": "log.csv"}),
    "CallbackList": Spec(callbacks.CallbackList, {
        "callbacks": Kind((None, [callbacks.History()]), (3, "a", [3]))}, ("CallbackList",)),
    "GradientNormLogger": Spec(callbacks.GradientNormLogger, {
        "variables": Kind((None,), ("a", 3))}, ("GradientNormLogger",)),
    "History": Spec(callbacks.History, {}, ("History",)),
    "TensorBoard": Spec(callbacks.TensorBoard, {
        "log_dir": Kind(("logs", "runs/a"), ()), "histogram_freq": Kind((0, 1, 2), (
            -1, 2.5, "a", None)), "write_graph": Kind((True, False), ()),
        "update_freq": Kind(("epoch", "batch", 10), ("x", 0, -1, 2.5, None))},
        ("TensorBoard",)),
    "PruneLowMagnitude": Spec(callbacks.PruneLowMagnitude, {"schedule": Kind((
        tg.pruning.ConstantSparsity(0.5), tg.pruning.PolynomialDecay(0.0, 0.5, 0, 10),
        lambda step: (False, 0.0)), (None, 3, "a", 0.5))}, ("PruneLowMagnitude",),
        required={"schedule": tg.pruning.ConstantSparsity(0.5)}),
    "TerminateOnNaN": Spec(callbacks.TerminateOnNaN, {}, ("TerminateOnNaN",)),
    "ReduceLROnPlateau": Spec(callbacks.ReduceLROnPlateau, {
        "monitor": MONITOR, "mode": MODE, "patience": PATIENCE, "cooldown": PATIENCE,
        "factor": Kind((0.1, 0.5, np.float32(0.5)), (1.0, 1.5, 0.0, -0.1, nan, inf, None, "a")),
        "min_delta": FINITE, "min_lr": NONNEG,
        "verbose": Kind((0, 1, True), (-1, 2.5, "a", None))}, ("ReduceLROnPlateau",)),
    "LambdaCallback": Spec(callbacks.LambdaCallback, {
        h: HOOK for h in ("on_epoch_begin", "on_epoch_end", "on_batch_begin", "on_batch_end",
                          "on_train_begin", "on_train_end", "on_train_batch_begin",
                          "on_train_batch_end")}, ("LambdaCallback",),
        # on_batch_begin and its Keras 3 name on_train_batch_begin together are ambiguous
        combo_ok=lambda kw: all(kw.get(a) is None or kw.get(f"on_train_{a[3:]}") is None
                                for a in ("on_batch_begin", "on_batch_end"))),
    **{cls.__name__: Spec(cls, {"from_logits": Kind((False, True), ())}, (cls.__name__,))
       for cls in (losses.BinaryCrossentropy, losses.CategoricalCrossentropy,
                   losses.SparseCategoricalCrossentropy)},
    "MeanSquaredError": Spec(losses.MeanSquaredError, {}, ("MeanSquaredError",)),
    "MeanAbsoluteError": Spec(losses.MeanAbsoluteError, {}, ("MeanAbsoluteError",)),
    "Huber": Spec(losses.Huber, {"delta": POSITIVE}, ("Huber",)),
    "KLDivergence": Spec(losses.KLDivergence, {}, ("KLDivergence",)),
}

# (y_true, y_pred) pairs for the metric and loss functions.
BINARY = ([1.0, 0.0, 1.0], [0.9, 0.2, 0.4])
ONE_HOT = ([[0.0, 1.0], [1.0, 0.0]], [[0.3, 0.7], [0.4, 0.6]])
SPARSE = ([1, 0], [[0.3, 0.7], [0.4, 0.6]])
BAD_PAIRS = (({}, {}), (None, [0.5]), ("ab", "cd"), ([[1.0], [1.0, 2.0]], [[1.0], [1.0, 2.0]]),
             ([1.0, 2.0], np.array([1j, 2j])), ([1.0, 0.0, 1.0], [0.5, 0.5]))
EMPTY = ([], [])  # metrics refuse it; losses give NaN, as Keras's mean of nothing
FUNCTIONS: dict[str, tuple[Callable, tuple, tuple[str, ...]]] = {
    "metrics.accuracy": (metrics.accuracy, SPARSE, ("accuracy",)),
    "metrics.binary_accuracy": (metrics.binary_accuracy, BINARY, ("binary_accuracy",)),
    "metrics.categorical_accuracy": (metrics.categorical_accuracy, ONE_HOT,
                                     ("categorical_accuracy",)),
    "metrics.sparse_categorical_accuracy": (metrics.sparse_categorical_accuracy, SPARSE,
                                            ("sparse_categorical_accuracy",)),
    "metrics.mean_absolute_error": (metrics.mean_absolute_error, BINARY,
                                    ("mean_absolute_error", "mae")),
    "metrics.mean_squared_error": (metrics.mean_squared_error, BINARY,
                                   ("mean_squared_error", "mse")),
    "losses.mean_squared_error": (losses.mean_squared_error, BINARY,
                                  ("mean_squared_error", "mse")),
    "losses.mean_absolute_error": (losses.mean_absolute_error, BINARY,
                                   ("mean_absolute_error", "mae")),
    "losses.huber": (losses.huber, BINARY, ("huber",)),
    "losses.kl_divergence": (losses.kl_divergence, ONE_HOT, ("kl_divergence",)),
    "losses.binary_crossentropy": (losses.binary_crossentropy, BINARY, ("binary_crossentropy",)),
    "losses.categorical_crossentropy": (losses.categorical_crossentropy, ONE_HOT,
                                        ("categorical_crossentropy",)),
    "losses.sparse_categorical_crossentropy": (losses.sparse_categorical_crossentropy, SPARSE,
                                               ("sparse_categorical_crossentropy",)),
}


# -- running one call ------------------------------------------------------------------------
class Tally(Counter):
    """Outcomes of fuzz calls: ok, clear, unclear, wrong (with the first few wrong/unclear)."""

    def __init__(self) -> None:
        super().__init__()
        self.examples: list[str] = []

    def add(self, outcome: str, what: str) -> str:
        self[outcome] += 1
        if outcome in ("unclear", "wrong") and len(self.examples) < 400:
            self.examples.append(f"{outcome}: {what}")
        return outcome


def _names(e: BaseException, who: tuple[str, ...]) -> bool:
    return any(w in str(e) for w in who)


def outcome(fn: Callable[[], Any], valid: bool, who: tuple[str, ...],
            state: Callable[[], Any] | None = None) -> tuple[str, str]:
    """Run `fn` and classify it; `state()` is compared before and after a rejected call."""
    before = state() if state is not None else None
    try:
        fn()
    except CLEAR_ERRORS as e:
        if valid:
            return "wrong", f"refused a valid call: {type(e).__name__}: {e}"
        if state is not None and not _same(before, state()):
            return "wrong", f"rejected call changed state: {type(e).__name__}: {e}"
        if not _names(e, who):
            return "unclear", f"{type(e).__name__} without {who[0]}: {e}"
        return "clear", ""
    except Exception as e:  # noqa: BLE001 - classifying every failure is the point
        return ("wrong" if valid else "unclear"), f"{type(e).__name__}: {str(e)[:200]}"
    if not valid:
        return "wrong", "accepted"
    return "ok", ""


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    return a == b


def _is_good(kind: Kind, value: Any) -> bool:
    return any(value is g for g in kind.good)


def construct_case(name: str, spec: Spec, kwargs: dict, tally: Tally) -> str:
    valid = all(_is_good(spec.args[k], v) for k, v in kwargs.items() if k in spec.args)
    valid = valid and spec.combo_ok(kwargs)
    full = {**spec.required, **kwargs}
    kind, why = outcome(lambda: spec.make(**full), valid, spec.who)
    return tally.add(kind, f"{name}({_show(full)}): {why}")


def _show(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r:.40}" for k, v in kwargs.items())


def _good_input(spec: Spec, dtype: Any = np.float32) -> Any:
    if spec.ids:
        return np.arange(int(np.prod(spec.sample))).reshape(spec.sample) % 3
    if spec.many:
        rng = np.random.default_rng(0)
        return [rng.normal(size=spec.sample).astype(dtype) for _ in range(spec.many)]
    return np.random.default_rng(0).normal(size=spec.sample).astype(dtype)


def merge_inputs(spec: Spec) -> list[tuple[Any, bool, str]]:
    """(inputs, valid, label) for a layer that takes a list of tensors."""
    a, b = _good_input(spec)[:2]
    other = np.zeros((3, *spec.sample[1:]), np.float32)  # another batch size: no shape matches
    return [
        ([a, b], True, "two float32"), ((a, b), True, "a tuple"),
        ([a.astype(np.float64), b.astype(np.float64)], True, "two float64"),
        ([tg.tensor(a), tg.tensor(b)], True, "two Tensors"), ([a, tg.tensor(b)], True, "mixed"),
        ([np.round(a * 3).astype(np.int64), np.round(b * 3).astype(np.int64)], True, "two int"),
        ([a, b, a], not spec.exactly, "three"),
        (a, False, "one array, not a list"), ([a], False, "a list of one"), ([], False, "[]"),
        ("abc", False, "str"), (None, False, "None"), ({}, False, "dict"),
        ([a, None], False, "a None in the list"), ([a, "abc"], False, "a str in the list"),
        ([a, b.astype(np.complex64)], False, "a complex input"),
        ([a, other], False, "mismatched shapes"),
    ]


def layer_inputs(spec: Spec) -> list[tuple[Any, bool, str]]:
    """(input, valid, label) for calling a built layer."""
    if spec.many:
        return merge_inputs(spec)
    good = _good_input(spec)
    cases: list[tuple[Any, bool, str]] = [
        (good, True, "float32"), (good.astype(np.float64), True, "float64"),
        (good.tolist(), True, "nested list"), (tg.tensor(good), True, "Tensor"),
        ("abc", False, "str"), (None, False, "None"), ({}, False, "dict"),
        (good.astype(np.complex64), False, "complex"), (np.array(["a", "b"]), False, "str array"),
        ([[1.0], [1.0, 2.0]], False, "ragged list")]
    if spec.ids:
        cases += [(good + 100, False, "ids out of range"), (good - 5, False, "negative ids"),
                  (good + 0.5, False, "non-integer ids"), (good.astype(np.float32), True,
                                                           "integral float ids")]
    else:
        cases.append((np.round(good * 3).astype(np.int64), True, "int"))
    if spec.rank_strict:
        cases += [(3.0, False, "scalar"), (np.zeros(spec.sample[:-1], np.float32), False,
                                           "rank - 1"),
                  (np.zeros((*spec.sample, 2), np.float32), False, "rank + 1")]
    elif not spec.ids and not spec.scalar_ok:
        cases.append((3.0, False, "scalar"))
    return cases


def layer_call_case(name: str, spec: Spec, inputs: Any, valid: bool, label: str,
                    tally: Tally) -> str:
    layer = spec.make(**spec.required)
    layer(_good_input(spec))  # built by a good batch first

    def weights() -> list[np.ndarray]:
        return [np.array(v.numpy()) for v in layer.variables]

    def call() -> None:
        out = layer(inputs)
        if not isinstance(out, tg.Tensor) or out.dtype.kind not in (
                "f" if spec.float_out else "fiub"):
            raise AssertionError(f"output {out!r:.60} is not a {'float ' * spec.float_out}Tensor")

    kind, why = outcome(call, valid, spec.who, weights)
    return tally.add(kind, f"{name}()({label}): {why}")


def gradient_cases() -> list[tuple[Callable[[Any], Any], bool, str]]:
    """(make grads_and_vars from a float Variable w, valid, label) for apply_gradients."""
    return [
        (lambda w: [(np.ones(2), w)], True, "ndarray gradient"),
        (lambda w: [(tg.tensor([1.0, 1.0]), w)], True, "Tensor gradient"),
        (lambda w: [([1, 1], w)], True, "int list gradient"),
        (lambda w: None, False, "None"),
        (lambda w: "ab", False, "a string"),
        (lambda w: [w], False, "a Variable instead of a pair"),
        (lambda w: [(np.ones(2), w, 1)], False, "a triple"),
        (lambda w: [([[1.0], [1.0, 2.0]], w)], False, "a ragged gradient"),
        (lambda w: [(np.ones(3), w)], False, "a gradient of the wrong shape"),
        (lambda w: [(np.array(["a", "b"]), w)], False, "a string gradient"),
        (lambda w: [(np.ones(2) * 1j, w)], False, "a complex gradient"),
        (lambda w: [(np.ones(2), np.ones(2))], False, "an array instead of a Variable"),
        (lambda w: [(np.ones(2), tg.Variable(np.array([1, 2])))], False, "an int Variable"),
        (lambda w: [(np.ones(2), w), (np.ones(3), w)], False, "a bad second pair"),
        (lambda w: [(None, w)], False, "no gradient at all"),
    ]


def apply_case(name: str, spec: Spec, make_pairs: Callable, valid: bool, label: str,
               tally: Tally) -> str:
    import warnings

    opt = spec.make()
    w = tg.Variable([1.0, 2.0], name="w")
    opt.apply_gradients([(np.ones(2), w)])  # slots exist
    slot_names = [n for n in ("momentum", "m", "v", "velocity", "accumulator")
                  if _has_slot(opt, w, n)]

    def state() -> list[Any]:
        return [w.numpy().copy(), opt.iterations,
                [np.array(opt.get_slot(w, n)) for n in slot_names]]

    def call() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt.apply_gradients(make_pairs(w))

    kind, why = outcome(call, valid, (f"{spec.who[0]}.apply_gradients",), state)
    return tally.add(kind, f"{name}.apply_gradients({label}): {why}")


def _has_slot(opt: Any, w: Any, n: str) -> bool:
    try:
        opt.get_slot(w, n)
    except KeyError:
        return False
    return True


INIT_SHAPES = (((2, 3), True), ((3, 3, 2, 4), True), ((2, -1), False), ((2.5, 1), False),
               ("a", False), (None, False), ((2, "3"), False))
INIT_DTYPES = ((None, True), ("float32", True), ("float64", True), ("complex64", False),
               ("nope", False), (object, False))


def initializer_case(name: str, spec: Spec, shape: Any, dtype: Any, shape_ok: bool,
                     dtype_ok: bool, tally: Tally) -> str:
    init = spec.make()
    if isinstance(init, initializers.Constant | initializers.Zeros | initializers.Ones):
        dtype_ok = dtype_ok or dtype == "int32"  # constant values may be integers (Keras too)
    valid = shape_ok and dtype_ok
    rng = tg.random.generator()

    def state() -> Any:
        return repr(rng.bit_generator.state)

    kind, why = outcome(lambda: np.asarray(init(shape, dtype)), valid, spec.who, state)
    return tally.add(kind, f"{name}()({shape!r}, {dtype!r}): {why}")


INITIALIZERS = sorted(n for n, sp in OTHERS.items() if isinstance(sp.make, type)
                      and issubclass(sp.make, initializers.Initializer))


def function_case(name: str, fn: Callable, pair: tuple, valid: bool, who: tuple[str, ...],
                  tally: Tally) -> str:
    kind, why = outcome(lambda: fn(*pair), valid, who)
    return tally.add(kind, f"{name}{tuple(pair)!r:.80}: {why}")


ALL_SPECS = {**LAYERS, **OPTIMIZERS, **OTHERS}


# -- the grid: every value of every argument once ---------------------------------------------
def run_grid(tally: Tally) -> Tally:
    for name, spec in ALL_SPECS.items():
        construct_case(name, spec, {}, tally)
        for arg, kind in spec.args.items():
            for value in (*kind.good, *kind.bad):
                construct_case(name, spec, {arg: value}, tally)
    for name, spec in LAYERS.items():
        for inputs, valid, label in layer_inputs(spec):
            layer_call_case(name, spec, inputs, valid, label, tally)
    for name, spec in OPTIMIZERS.items():
        for make_pairs, valid, label in gradient_cases():
            apply_case(name, spec, make_pairs, valid, label, tally)
    for name in INITIALIZERS:
        for shape, shape_ok in INIT_SHAPES:
            for dtype, dtype_ok in (*INIT_DTYPES, ("int32", False)):
                initializer_case(name, OTHERS[name], shape, dtype, shape_ok, dtype_ok, tally)
    for name, (fn, good, who) in FUNCTIONS.items():
        function_case(name, fn, good, True, who, tally)
        for pair in BAD_PAIRS:
            function_case(name, fn, pair, False, who, tally)
        if name.startswith("metrics."):
            function_case(name, fn, EMPTY, False, who, tally)
    return tally


def test_every_argument_value_gives_a_valid_object_or_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # CSVLogger/ModelCheckpoint never write here, but be safe
    tally = run_grid(Tally())
    assert tally["unclear"] == 0 and tally["wrong"] == 0, "\n".join(tally.examples[:40])
    assert tally["clear"] > 500 and tally["ok"] > 300  # the grid really ran


# -- Hypothesis: all arguments drawn together ---------------------------------------------------
def _value(kind: Kind) -> st.SearchStrategy:
    good = st.sampled_from(kind.good) if kind.good else st.nothing()
    if not kind.bad:
        return good
    return st.one_of(good, good, good, st.sampled_from(kind.bad))


@st.composite
def constructions(draw: Any) -> tuple[str, Spec, dict]:
    name = draw(st.sampled_from(sorted(ALL_SPECS)))
    spec = ALL_SPECS[name]
    chosen = draw(st.lists(st.sampled_from(sorted(spec.args)), unique=True)) if spec.args else []
    return name, spec, {k: draw(_value(spec.args[k])) for k in chosen}


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=constructions())
def test_drawn_constructor_arguments(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name, spec, kwargs = case
    tally = Tally()
    construct_case(name, spec, kwargs, tally)
    assert not tally.examples, tally.examples[0]


@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.data())
def test_drawn_layer_initializer_and_optimizer_calls(data):
    tally = Tally()
    what = data.draw(st.sampled_from(["layer", "optimizer", "initializer"]), label="what")
    if what == "layer":
        name = data.draw(st.sampled_from(sorted(LAYERS)), label="layer")
        spec = LAYERS[name]
        inputs, valid, label = data.draw(st.sampled_from(layer_inputs(spec)), label="input")
        layer_call_case(name, spec, inputs, valid, label, tally)
    elif what == "initializer":
        name = data.draw(st.sampled_from(INITIALIZERS), label="initializer")
        shape, shape_ok = data.draw(st.sampled_from(INIT_SHAPES), label="shape")
        dtype, dtype_ok = data.draw(st.sampled_from((*INIT_DTYPES, ("int32", False))))
        initializer_case(name, OTHERS[name], shape, dtype, shape_ok, dtype_ok, tally)
    else:
        name = data.draw(st.sampled_from(sorted(OPTIMIZERS)), label="optimizer")
        make_pairs, valid, label = data.draw(st.sampled_from(gradient_cases()), label="grads")
        apply_case(name, OPTIMIZERS[name], make_pairs, valid, label, tally)
    assert not tally.examples, tally.examples[0]


# -- discovery: a new public class needs a spec ----------------------------------------------
def _public_classes(module: Any, base: type) -> set[str]:
    names = getattr(module, "__all__", dir(module))
    out = set()
    for n in names:
        obj = getattr(module, n, None)
        if inspect.isclass(obj) and issubclass(obj, base) and obj.__name__ == n:
            out.add(n)
    return out


@pytest.mark.parametrize("module, base, exempt", [
    (tg.nn, tg.nn.Module, set(NOT_LAYERS)),
    (optimizers, optimizers.Optimizer, {"Optimizer"}),
    (schedules, schedules.LearningRateSchedule, {"LearningRateSchedule"}),
    (initializers, initializers.Initializer, {"Initializer"}),
    (regularizers, regularizers.Regularizer, {"Regularizer"}),
    (callbacks, callbacks.Callback, {"Callback"}),
    (losses, losses.Loss, {"Loss"}),
])
def test_every_public_class_has_a_fuzz_spec(module, base, exempt):
    missing = _public_classes(module, base) - set(ALL_SPECS) - exempt
    assert not missing, f"add a Spec to tests/test_fuzz_layers.py for {sorted(missing)}"


def test_every_public_metric_and_loss_function_has_a_fuzz_spec():
    skip = ("get", "sigmoid_cross_entropy_with_logits")  # a lookup; an op tested with the ops
    fns = {f"{m.__name__.rsplit('.', 1)[-1]}.{n}" for m in (metrics, losses)
           for n in m.__all__ if inspect.isfunction(getattr(m, n))
           and getattr(m, n).__name__ == n and n not in skip}
    assert fns <= set(FUNCTIONS), f"add them to FUNCTIONS: {sorted(fns - set(FUNCTIONS))}"


if __name__ == "__main__":  # the figures of the grid, for the before/after report
    import tempfile
    import warnings

    os.chdir(tempfile.mkdtemp())
    warnings.simplefilter("ignore")
    result = run_grid(Tally())
    calls = sum(result[k] for k in ("ok", "clear", "unclear", "wrong"))
    print(f"calls {calls}: ok {result['ok']}, clear {result['clear']}, "
          f"unclear {result['unclear']}, wrong {result['wrong']}")
    for line in result.examples:
        print("  ", line[:220])
