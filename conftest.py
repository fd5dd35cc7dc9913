"""Doctests of modules that need an optional extra skip, with the reason, when it is absent
(the tests in tests/ skip themselves with `pytest.importorskip`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SRC = Path(__file__).resolve().parent / "src" / "tapegrad"
NEEDS = {  # module file -> (packages its examples import, the extra that brings them)
    "onnx/__init__.py": (("onnx", "onnxruntime"), "onnx"),
    "onnx/graph.py": (("onnx",), "onnx"),
    "onnx/convert.py": (("onnx",), "onnx"),
    "integrations/tensorboard.py": (("tensorboardX",), "tensorboard"),
    "integrations/optuna.py": (("optuna",), "examples"),
}


def _missing(packages: tuple[str, ...]) -> list[str]:
    return [p for p in packages if importlib.util.find_spec(p) is None]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if type(item).__name__ != "DoctestItem":
            continue
        for rel, (packages, extra) in NEEDS.items():
            if Path(item.path).resolve() == _SRC / rel and _missing(packages):
                item.add_marker(pytest.mark.skip(
                    reason=f"needs {', '.join(_missing(packages))}: pip install "
                           f"'tapegrad[{extra}]'"))
