"""Callbacks and converters for other libraries, each imported lazily where used:
TensorBoard event files (tensorboardX), Optuna pruning, DLPack, and weights to and from
PyTorch and Keras.

>>> from tapegrad.integrations import TensorBoard, OptunaPruning
>>> TensorBoard("logs").update_freq
'epoch'
"""

from tapegrad.integrations.optuna import OptunaPruning
from tapegrad.integrations.tensorboard import TensorBoard

__all__ = ["OptunaPruning", "TensorBoard"]
