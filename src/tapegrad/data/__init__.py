"""Data utilities with scikit-learn / Keras signatures: splits, k-fold, batching, preprocessing,
and `Dataset`, a streaming input pipeline with tf.data's names that `fit` consumes.

>>> import numpy as np, tapegrad as tg
>>> X, y = np.arange(20.0).reshape(10, 2), np.arange(10)
>>> X_train, X_test, y_train, y_test = tg.data.train_test_split(X, y, random_state=0)
>>> X_train.shape, X_test.shape
((7, 2), (3, 2))
"""

from tapegrad.data.adapter import pack_x_y_sample_weight, unpack_x_y_sample_weight
from tapegrad.data.batching import batches
from tapegrad.data.dataset import Dataset
from tapegrad.data.preprocessing import Standardizer, one_hot, pad_sequences
from tapegrad.data.split import KFold, cross_validate, train_test_split

__all__ = [
    "Dataset", "pack_x_y_sample_weight", "unpack_x_y_sample_weight",
    "KFold", "Standardizer", "batches", "cross_validate", "one_hot", "pad_sequences",
    "train_test_split",
]
