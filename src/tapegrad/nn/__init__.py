"""Keras-style layers and models on the GradientTape: `tg.nn.Module`, `Sequential`, `Dense`, ...

>>> import numpy as np, tapegrad as tg
>>> model = tg.nn.Sequential([tg.nn.Dense(4, activation="tanh"), tg.nn.Dense(1)])
>>> x = tg.tensor(np.ones((2, 3)))
>>> with tg.GradientTape() as tape:
...     loss = tg.mean(model(x, training=True) ** 2)
>>> len(tape.gradient(loss, model.trainable_variables))
4

Layers written elsewhere (convolution, pooling, recurrent) subclass `Module` (see
`tapegrad.nn.module` for the contract) and are exported here.
"""

from tapegrad.nn import activations, initializers, masking, regularizers
from tapegrad.nn.conv import Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D
from tapegrad.nn.embedding import Embedding
from tapegrad.nn.layers import (
    Activation,
    BatchNormalization,
    Dense,
    Dropout,
    Flatten,
    LayerNormalization,
    Sequential,
)
from tapegrad.nn.masking import Masking
from tapegrad.nn.module import Input, Layer, Model, Module, reset_names
from tapegrad.nn.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AvgPool1D,
    AvgPool2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPool1D,
    MaxPool2D,
    MaxPooling1D,
    MaxPooling2D,
)
from tapegrad.nn.recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from tapegrad.nn.weights import load_weights, save_weights
from tapegrad.nn.wrappers import TimeDistributed

__all__ = [
    "Activation", "BatchNormalization", "Dense", "Dropout", "Flatten", "Input", "Layer",
    "LayerNormalization", "Model", "Module", "Sequential", "activations", "initializers",
    "load_weights", "regularizers", "reset_names", "save_weights",
]
__all__ += [  # convolution, pooling, embedding and recurrent layers (issue 5)
    "AveragePooling1D", "AveragePooling2D", "AvgPool1D", "AvgPool2D", "Bidirectional",
    "Conv1D", "Conv2D", "DepthwiseConv2D", "Embedding", "GRU", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D",
    "GlobalMaxPool2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "LSTM", "MaxPool1D",
    "MaxPool2D", "MaxPooling1D", "MaxPooling2D", "SeparableConv2D", "SimpleRNN",
]
__all__ += ["Masking", "TimeDistributed", "masking"]
