"""Callbacks and converters for other libraries, each imported lazily where used:
TensorBoard event files (tensorboardX), Optuna pruning, DLPack, and weights to and from
PyTorch and Keras.

>>> from tapegrad.integrations import TensorBoard, OptunaPruning
>>> TensorBoard("logs").update_freq
'epoch'
"""

from tapegrad.integrations.dlpack import from_dlpack
from tapegrad.integrations.frameworks import from_keras, from_torch, to_keras, to_torch_state_dict
from tapegrad.integrations.optuna import OptunaPruning
from tapegrad.integrations.tensorboard import TensorBoard

__all__ = ["OptunaPruning", "TensorBoard", "from_dlpack", "from_keras", "from_torch", "to_keras",
           "to_torch_state_dict"]
