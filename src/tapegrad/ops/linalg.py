"""Matrix products: matmul (with NumPy's 1-D and batch-broadcast rules), dot and einsum."""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from tapegrad.ops.elementwise import multiply
from tapegrad.ops.primitive import primitive
from tapegrad.ops.shape import _shape_of, broadcast_to, expand_dims, reshape, sum_to, swapaxes
from tapegrad.state import STATE
from tapegrad.tensor import Tensor, _to_array


def _mT(a: Any) -> Any:
    """Swap the last two axes (a.T for matrices)."""
    return a.T if len(_shape_of(a)) == 2 else swapaxes(a, -1, -2)


def _matmul_vjp_x(g, ans, x, y):
    xs, ys = _shape_of(x), _shape_of(y)
    if len(ys) == 1:
        return g * y if len(xs) == 1 else sum_to(expand_dims(g, -1) * y, xs)
    if len(xs) == 1:
        return reshape(sum_to(matmul(expand_dims(g, -2), _mT(y)), (1,) + xs), xs)
    return sum_to(matmul(g, _mT(y)), xs)


def _matmul_vjp_y(g, ans, x, y):
    xs, ys = _shape_of(x), _shape_of(y)
    if len(xs) == 1:
        return g * x if len(ys) == 1 else sum_to(expand_dims(x, -1) * expand_dims(g, -2), ys)
    if len(ys) == 1:
        return reshape(sum_to(matmul(_mT(x), expand_dims(g, -1)), ys + (1,)), ys)
    return sum_to(matmul(_mT(x), g), ys)


_matmul = primitive(np.matmul, name="matmul",
                    phrase=("d(x@w)/dx = g @ w.T", "d(x@w)/dw = x.T @ g"), doc="""
Matrix product x @ y, the primitive behind `matmul` (which checks the shapes first).

>>> import tapegrad as tg
>>> (tg.tensor([[1.0, 2.0]]) @ tg.tensor([[3.0], [4.0]])).numpy()
array([[11.]], dtype=float32)
""").defvjp(_matmul_vjp_x, _matmul_vjp_y)


def _batched_matmul(i, g, x, y):
    """matmul's rules for a batch of upstream gradients (leading axis), for 1-d and 2-d
    operands; None (row by row) for stacks of matrices."""
    if x.ndim > 2 or y.ndim > 2:
        return None
    if i == 0:
        if y.ndim == 1:
            return g[:, None] * y if x.ndim == 1 else g[..., None] * y
        return g @ y.T
    if x.ndim == 1:
        return g[:, None] * x if y.ndim == 1 else x[:, None] * g[:, None, :]
    return g @ x if y.ndim == 1 else x.T @ g


_matmul.defbatched(lambda i, g, ans, x, y: _batched_matmul(i, g, x, y))


def matmul(x: Any, y: Any) -> Tensor:
    """Matrix product `x @ y` with NumPy semantics (1-D operands, broadcast batch dimensions).

    >>> import tapegrad as tg
    >>> tg.matmul(tg.tensor([[1.0, 2.0], [3.0, 4.0]]), tg.tensor([1.0, 1.0])).numpy()
    array([3., 7.], dtype=float32)
    """
    if STATE.raw:
        return np.matmul(x, y)
    xs, ys = _shape_of(x), _shape_of(y)
    if len(xs) == 2 and len(ys) == 2 and xs[1] == ys[0]:  # the common case, checked at once
        return _matmul(x, y)
    if not xs or not ys:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes {xs} "
                         f"and {ys} (use multiply for scalars)")
    k1, k2 = xs[-1], ys[-2] if len(ys) > 1 else ys[0]
    if k1 != k2:
        raise ValueError(f"matmul: shapes {xs} and {ys} are not aligned: the last dimension of "
                         f"x ({k1}) must equal the {'second-to-last' if len(ys) > 1 else 'only'} "
                         f"dimension of y ({k2})")
    return _matmul(x, y)


def dot(x: Any, y: Any) -> Tensor:
    """`numpy.dot`: multiply for scalars, matmul for 1-D/2-D, sum over last/second-to-last axes.

    >>> import tapegrad as tg
    >>> tg.dot(tg.tensor([1.0, 2.0]), tg.tensor([3.0, 4.0])).numpy()
    array(11., dtype=float32)
    """
    xs, ys = _shape_of(x), _shape_of(y)
    if not xs or not ys:
        return multiply(x, y)
    if len(xs) <= 2 and len(ys) <= 2 or len(ys) == 1:
        return matmul(x, y)
    letters = string.ascii_letters
    a = letters[:len(xs)]
    b = letters[len(xs):len(xs) + len(ys)]
    b = b[:-2] + a[-1] + b[-1]
    return einsum(f"{a},{b}->{a[:-1] + b[:-2] + b[-1]}", x, y)


# -- einsum --------------------------------------------------------------------------------


def _parse(subscripts: str, shapes: list[tuple]) -> tuple[list[str], str]:
    """Explicit subscripts: '...' replaced by letters, the output written out."""
    subscripts = subscripts.replace(" ", "")
    if "->" in subscripts:
        ins, out = subscripts.split("->")
    else:
        ins, out = subscripts, None
    parts = ins.split(",")
    if len(parts) != len(shapes):
        raise ValueError(f"einsum: {len(parts)} operand subscripts for {len(shapes)} operands")
    used = set(subscripts) - set(".,->")
    spare = [c for c in string.ascii_letters if c not in used]
    n_ell = max((len(s) - len(p.replace("...", "")) for p, s in zip(parts, shapes)
                 if "..." in p), default=0)
    ell = "".join(spare[:n_ell])
    expanded = []
    for p, s in zip(parts, shapes):
        if "..." in p:
            k = len(s) - len(p.replace("...", ""))
            p = p.replace("...", ell[n_ell - k:] if k else "")
        if len(p) != len(s):
            raise ValueError(f"einsum: subscripts {p!r} do not match an operand of shape {s}")
        expanded.append(p)
    if out is None:
        counts = {c: "".join(expanded).count(c) for c in "".join(expanded)}
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    else:
        out = out.replace("...", ell)
    return expanded, out


@primitive(name="einsum", phrase="einsum of g with the other operands")
def _einsum(*operands, subscripts):
    return np.einsum(subscripts, *operands)


def _einsum_vjp(i, g, ans, *ops, subscripts):
    ins, out = subscripts.split("->")
    parts = ins.split(",")
    mine = parts[i]
    shape = _shape_of(ops[i])
    others = [p for j, p in enumerate(parts) if j != i]
    other_ops = [o for j, o in enumerate(ops) if j != i]
    available = set(out) | set("".join(others))
    unique = "".join(dict.fromkeys(mine))
    sizes = {c: shape[mine.index(c)] for c in unique}
    core_letters = "".join(c for c in unique if c in available)
    core = _einsum(g, *other_ops, subscripts=",".join([out, *others]) + "->" + core_letters)
    if core_letters != unique:  # letters summed only inside this operand: broadcast back
        core = reshape(core, tuple(sizes[c] if c in core_letters else 1 for c in unique))
        core = broadcast_to(core, tuple(sizes[c] for c in unique))
    if unique != mine:  # repeated letters (diagonals): put the gradient back on the diagonal
        spare = [c for c in string.ascii_letters if c not in subscripts]
        target, eyes, seen = "", [], set()
        for c in mine:
            if c in seen:
                d = spare.pop()
                eyes.append((c + d, np.eye(sizes[c], dtype=np.result_type(ans))))
                target += d
            else:
                seen.add(c)
                target += c
        core = _einsum(core, *[e for _, e in eyes],
                       subscripts=",".join([unique, *[s for s, _ in eyes]]) + "->" + target)
    return sum_to(core, shape) if _shape_of(core) != shape else core


_einsum.defvjp_argnum(_einsum_vjp)


def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation as `numpy.einsum` (explicit or implicit output, '...' supported).

    >>> import tapegrad as tg
    >>> x = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> tg.einsum('ij,j->i', x, tg.tensor([1.0, 0.0])).numpy(), tg.einsum('ii', x).numpy()
    (array([1., 3.], dtype=float32), array(5., dtype=float32))
    """
    ops = [o if isinstance(o, (Tensor, np.ndarray)) else _to_array(o, where="einsum")
           for o in operands]
    parts, out = _parse(subscripts, [_shape_of(o) for o in ops])
    return _einsum(*ops, subscripts=",".join(parts) + "->" + out)


__all__ = [  # the public ops of this family (tapegrad.ops exports exactly these)
    "dot", "einsum", "matmul"
]
