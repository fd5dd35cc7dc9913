"""Local gradient rules in words, for edge labels and `backward_steps`.

Each op declares its phrases where it is declared (`primitive(..., phrase=...)`), written with
the op's own variable names: `d(x*y)/dx = y`. Ops without one get a generic phrase, so every
recorded op can be explained.
"""

from __future__ import annotations

from typing import Any

_INPUT_NAMES = ("x", "y", "z")


def input_name(op: str, i: int) -> str:
    """The variable name an op's phrase uses for input `i` (x, y, ... ; w for matmul's second)."""
    if op == "matmul" and i == 1:
        return "w"
    if op == "where":
        return ("c", "x", "y")[i] if i < 3 else f"x{i}"
    return _INPUT_NAMES[i] if i < len(_INPUT_NAMES) else f"x{i}"


def rule_phrase(op: Any, i: int) -> str:
    """The local rule for input `i` of `op` (a Primitive, or a registered op's name) in words.

    >>> rule_phrase("multiply", 0)
    'd(x*y)/dx = y'
    >>> rule_phrase("my_op", 1)
    "my_op's gradient rule for input 1"
    """
    from tapegrad.ops.primitive import REGISTRY

    prim = REGISTRY.get(op) if isinstance(op, str) else op
    if prim is None:
        return f"{op}'s gradient rule for input {i}"
    return prim.phrase(i)
