"""tapegrad's ops: the registry (`primitive`) and one module per family.

Every differentiable op is a `Primitive` in `REGISTRY`, declared once in its family module with
its gradient rules and what it is (elementwise, phrase, batched or joint rule). The exports here
are generated from each family's `__all__`, so adding an op touches its family file only.
"""

from tapegrad.ops import conv, elementwise, indexing, linalg, nn_ops, reduce, shape
from tapegrad.ops.primitive import REGISTRY, Primitive, nondifferentiable, primitive

FAMILIES = (elementwise, reduce, shape, linalg, indexing, nn_ops, conv)

for _family in FAMILIES:
    globals().update({_name: getattr(_family, _name) for _name in _family.__all__})

__all__ = ["REGISTRY", "Primitive", "primitive", "nondifferentiable",
           *(name for family in FAMILIES for name in family.__all__)]
