"""Weights I/O: `.npz` files written atomically, checked before loading, never unpickled.

File format: one array per variable in `module.variables` order, keyed `"<position>/<weight>"`
(`"0000/kernel"`, `"0001/bias"`, ...), plus `"__names__"`, the variables' full names as a string
array. Keys never contain the per-process layer counters (`dense_45`), so a freshly built model of
the same architecture loads a file by structure (layer order, the default, as Keras); `by_name=True`
matches the stored names instead. Files of earlier versions (keyed by variable name) load too.

Saving goes through `tapegrad._files.atomic_write` (temporary file, `os.replace`, folder created,
umask honoured, stale temporaries swept). Loading reads and checks every member first (declared
sizes against the file before anything is allocated, no object arrays, names, count and shapes)
and only then assigns: any problem raises ValueError and leaves every variable unchanged.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad._files import atomic_write

__all__ = ["save_weights", "load_weights", "set_weights", "save_variables", "write_npz"]

NAMES_KEY = "__names__"
_MAX_DEFLATE_RATIO = 1100  # deflate cannot expand more than ~1032:1


def save_weights(module: Any, path: str | os.PathLike) -> None:
    """Write every variable of `module` to `path` as `.npz` (see the module doc for the keys).

    >>> import os, tempfile, numpy as np, tapegrad as tg
    >>> m = tg.nn.Dense(2); _ = m(np.ones((1, 3)))
    >>> p = os.path.join(tempfile.mkdtemp(), "w.npz")
    >>> m.save_weights(p); sorted(np.load(p).files)
    ['0000/kernel', '0001/bias', '__names__']
    """
    variables = module.variables
    if not variables:
        raise ValueError(f"save_weights: {module.name} has no variables yet; call the model on "
                         f"a batch or build(input_shape) first")
    save_variables(variables, path)


def save_variables(variables: Sequence[Any], path: str | os.PathLike) -> None:
    """Write `variables` (in order, each under its own key, even if two share a name).

    >>> import os, tempfile, numpy as np, tapegrad as tg
    >>> p = os.path.join(tempfile.mkdtemp(), "v.npz")
    >>> save_variables([tg.Variable(1.0, name="w"), tg.Variable(2.0, name="w")], p)
    >>> [float(np.load(p)[k]) for k in ("0000/w", "0001/w")]
    [1.0, 2.0]
    """
    arrays: dict[str, np.ndarray] = {}
    names = []
    for i, v in enumerate(variables):
        name = v.name or f"variable_{i}"
        names.append(name)
        arrays[f"{i:04d}/{name.rsplit('/', 1)[-1]}"] = v.numpy()
    arrays[NAMES_KEY] = np.array(names, dtype=str)
    write_npz(path, arrays)


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write `arrays` to `path` as `.npz` atomically (a crash never leaves a half-written file;
    the folder is created if needed).

    >>> import os, tempfile, numpy as np
    >>> p = os.path.join(tempfile.mkdtemp(), "a.npz")
    >>> write_npz(p, {"w": np.ones(2)}); np.load(p)["w"]
    array([1., 1.])
    """
    atomic_write(path, lambda f: np.savez(f, **arrays), kind="weights")


def _check_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, file_size: int) -> None:
    """Refuse a member whose declared sizes cannot be true, before allocating its array."""
    if info.compress_size > file_size:
        raise ValueError(f"member {info.filename!r} claims {info.compress_size} bytes, more "
                         f"than the whole file ({file_size})")
    limit = info.compress_size if info.compress_type == zipfile.ZIP_STORED else \
        max(info.compress_size, 64) * _MAX_DEFLATE_RATIO
    if info.file_size > limit:
        raise ValueError(f"member {info.filename!r} claims {info.file_size} bytes from "
                         f"{info.compress_size} stored")
    with zf.open(info) as m:
        version = np.lib.format.read_magic(m)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(m)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(m)
        else:
            raise ValueError(f"member {info.filename!r} has .npy version {version}")
        header = m.tell()
    if dtype.hasobject:
        raise ValueError(f"member {info.filename!r} holds Python objects (dtype {dtype}); "
                         f"weights files are never unpickled")
    need = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if need != info.file_size - header:
        raise ValueError(f"member {info.filename!r} declares shape {shape} of {dtype} "
                         f"({need} bytes) but holds {info.file_size - header} bytes")


def _read(path: str) -> tuple[list[str], list[np.ndarray]]:
    """The keys and arrays of an `.npz` file in stored order, read eagerly and checked, so that
    a corrupted file raises ValueError here."""
    try:
        file_size = os.path.getsize(path)
        with open(path, "rb") as f:
            if f.read(6) == b"\x93NUMPY":
                raise ValueError("not an .npz archive (a single .npy array)")
        keys, arrays = [], []
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"member {info.filename!r} is not an .npy array")
                _check_member(zf, info, file_size)
                with zf.open(info) as m:
                    arrays.append(np.lib.format.read_array(m, allow_pickle=False))
                keys.append(info.filename[:-4])
        return keys, arrays
    except FileNotFoundError:
        raise FileNotFoundError(f"load_weights: no such file: {path!r}") from None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, NotImplementedError,
            RuntimeError, zlib.error, struct.error, OverflowError, SyntaxError) as e:
        raise ValueError(f"load_weights: {path!r} is not a readable .npz weights file "
                         f"(corrupted or of another format): {type(e).__name__}: {e}") from e


def _stored(path: str) -> tuple[list[str], list[np.ndarray]]:
    """(names, arrays) in saved order, for files of either format."""
    keys, arrays = _read(path)
    if NAMES_KEY not in keys:  # an earlier version's file: keyed by variable name, in order
        return keys, arrays
    by_key = dict(zip(keys, arrays))
    names = [str(n) for n in by_key.pop(NAMES_KEY).reshape(-1)]

    def position(key: str) -> int:
        head = key.split("/", 1)[0]
        if not head.isdigit():
            raise ValueError(f"load_weights: {path!r} has an unexpected key {key!r}")
        return int(head)

    ordered = sorted(by_key, key=position)
    if [position(k) for k in ordered] != list(range(len(names))):
        raise ValueError(f"load_weights: {path!r} is inconsistent: {len(names)} names for keys "
                         f"{ordered[:8]}")
    return names, [by_key[k] for k in ordered]


def load_weights(module: Any, path: str | os.PathLike, by_name: bool = False) -> None:
    """Assign the arrays in `path` to the variables of `module`, all or nothing.

    By default arrays are matched by structure: the i-th saved array goes to the i-th variable
    (as Keras), so any model of the same architecture loads the file whatever its layers are
    called; count and shapes are checked. With `by_name=True` the stored variable names must be
    exactly the model's (useful when layers were added or reordered but keep their names).

    >>> import os, tempfile, numpy as np, tapegrad as tg
    >>> a, b = tg.nn.Dense(2), tg.nn.Dense(2); _ = a(np.ones((1, 3))), b(np.ones((1, 3)))
    >>> p = os.path.join(tempfile.mkdtemp(), "w.npz"); save_weights(a, p)
    >>> load_weights(b, p); np.array_equal(a.kernel.numpy(), b.kernel.numpy())
    True
    """
    path = os.fspath(path)
    variables = module.variables
    if not variables:
        raise ValueError(f"load_weights: {module.name} has no variables yet; build it first "
                         f"(call it on a batch or build(input_shape)) so shapes can be checked")
    names, arrays = _stored(path)
    if by_name:
        pairs = _pairs_by_name(module, variables, names, arrays, path)
    else:
        if len(arrays) != len(variables):
            raise ValueError(f"load_weights: {path!r} holds {len(arrays)} arrays but "
                             f"{module.name} has {len(variables)} variables (nothing was "
                             f"loaded; is it the same architecture?)")
        pairs = [(v, a, f"#{i} ({n})") for i, (v, a, n) in enumerate(zip(variables, arrays,
                                                                          names))]
    _check_and_assign(pairs, f"load_weights({path!r})")


def _pairs_by_name(module: Any, variables: list[Any], names: list[str],
                   arrays: list[np.ndarray], path: str) -> list[tuple[Any, np.ndarray, str]]:
    named: dict[str, Any] = {}
    for v in variables:
        if v.name in named:
            raise ValueError(f"load_weights(by_name=True): two variables of {module.name} are "
                             f"named {v.name!r}; give the layers distinct names (name=...) or "
                             f"load by structure (by_name=False)")
        named[v.name] = v
    stored = dict(zip(names, arrays))
    if len(stored) != len(names):
        raise ValueError(f"load_weights(by_name=True): {path!r} holds two arrays of the same "
                         f"name; load it by structure (by_name=False)")
    missing = [k for k in named if k not in stored]
    extra = [k for k in stored if k not in named]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing from the file: {missing}")
        if extra:
            parts.append(f"in the file but not in the model: {extra}")
        raise ValueError(f"load_weights: {path!r} does not match {module.name}: "
                         + "; ".join(parts) + " (nothing was loaded; by_name=False matches "
                         "by layer order if only the names differ)")
    return [(named[k], stored[k], k) for k in named]


def set_weights(module: Any, weights: Sequence[Any]) -> None:
    """Assign `weights` (arrays in `module.variables` order), checking all before assigning."""
    variables = module.variables
    weights = list(weights)
    if len(weights) != len(variables):
        raise ValueError(f"set_weights: {module.name} has {len(variables)} variables, got "
                         f"{len(weights)} arrays")
    pairs = [(v, np.asarray(w), f"#{i} ({v.name})")
             for i, (v, w) in enumerate(zip(variables, weights))]
    _check_and_assign(pairs, "set_weights")


def _check_and_assign(pairs: list[tuple[Any, np.ndarray, str]], where: str) -> None:
    for v, a, key in pairs:
        if a.shape != v.shape:
            raise ValueError(f"{where}: shape mismatch for {key}: the file/array has "
                             f"{a.shape}, the variable {v.name!r} has {v.shape} "
                             f"(nothing was loaded)")
        if a.dtype.kind not in "fiub":
            raise ValueError(f"{where}: {key} has non-numeric dtype {a.dtype} "
                             f"(nothing was loaded)")
    for v, a, _ in pairs:
        v.assign(a.astype(v.dtype, copy=False))
