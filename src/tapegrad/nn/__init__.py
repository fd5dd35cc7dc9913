"""Keras-style layers and models on the GradientTape: `tg.nn.Module`, `Sequential`, `Dense`, ...

>>> import numpy as np, tapegrad as tg
>>> model = tg.nn.Sequential([tg.nn.Dense(4, activation="tanh"), tg.nn.Dense(1)])
>>> x = tg.tensor(np.ones((2, 3)))
>>> with tg.GradientTape() as tape:
...     loss = tg.mean(model(x, training=True) ** 2)
>>> len(tape.gradient(loss, model.trainable_variables))
4

Every layer subclasses `Layer` (= `Module`, see `tapegrad.nn.module` for the contract); a
`Model` is a layer that also trains and saves (`tapegrad.nn.model`), built as a `Sequential`,
from `Input`s with the functional API (`tapegrad.nn.functional`) or by subclassing.
"""

from tapegrad.nn import activations, initializers, masking, regularizers
from tapegrad.nn.augmentation import (
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
    Resizing,
)
from tapegrad.nn.conv import Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D
from tapegrad.nn.conv_transpose import Conv2DTranspose
from tapegrad.nn.embedding import Embedding
from tapegrad.nn.functional import Input, InputLayer
from tapegrad.nn.layers import (
    Activation,
    BatchNormalization,
    Dense,
    Dropout,
    Flatten,
    LayerNormalization,
)
from tapegrad.nn.masking import Masking
from tapegrad.nn.merge import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract
from tapegrad.nn.model import Model, Sequential
from tapegrad.nn.module import Layer, Module, reset_names
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
from tapegrad.nn.reshaping import (
    Cropping2D,
    Identity,
    Lambda,
    Permute,
    RepeatVector,
    Reshape,
    UpSampling2D,
    ZeroPadding2D,
)
from tapegrad.nn.saving import load_model, register_serializable
from tapegrad.nn.weights import load_weights, save_weights
from tapegrad.nn.wrappers import TimeDistributed
from tapegrad.pruning import prune

__all__ = [
    "Activation", "BatchNormalization", "Dense", "Dropout", "Flatten", "Input", "Layer",
    "LayerNormalization", "Model", "Module", "Sequential", "activations", "initializers",
    "load_weights", "prune", "regularizers", "reset_names", "save_weights",
]
__all__ += [  # convolution, pooling, embedding and recurrent layers
    "AveragePooling1D", "AveragePooling2D", "AvgPool1D", "AvgPool2D", "Bidirectional",
    "Conv1D", "Conv2D", "DepthwiseConv2D", "Embedding", "GRU", "GlobalAveragePooling1D",
    "GlobalAveragePooling2D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D",
    "GlobalMaxPool2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "LSTM", "MaxPool1D",
    "MaxPool2D", "MaxPooling1D", "MaxPooling2D", "SeparableConv2D", "SimpleRNN",
]
__all__ += [  # the functional API, merging and reshaping layers, whole-model saving
    "Add", "Average", "Concatenate", "Conv2DTranspose", "Cropping2D", "Dot", "Identity",
    "InputLayer", "Lambda", "Maximum", "Minimum", "Multiply", "Permute", "RepeatVector",
    "Reshape", "Subtract", "UpSampling2D", "ZeroPadding2D", "load_model",
    "register_serializable",
]
__all__ += ["RandomContrast", "RandomFlip", "RandomRotation", "RandomTranslation",  # augmentation
            "RandomZoom", "Rescaling", "Resizing"]
__all__ += ["Masking", "TimeDistributed", "masking"]
