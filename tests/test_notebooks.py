"""Every notebook in notebooks/ runs top to bottom, within its time budget, without an error.

The runner lives in tools/run_notebooks.py (also used to save the notebooks with outputs): a
fresh kernel of this interpreter per notebook, in its own temporary directory, MPLBACKEND=Agg.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER_PATH = ROOT / "tools" / "run_notebooks.py"


def _load_runner():
    spec = importlib.util.spec_from_file_location("tapegrad_run_notebooks", RUNNER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load_runner()
NOTEBOOKS = runner.discover()


def test_notebooks_exist_and_are_numbered():
    assert NOTEBOOKS, "no notebooks found in notebooks/"
    for path in NOTEBOOKS:
        assert path.name[:2].isdigit() and path.name[2] == "_", path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_with_outputs(path):
    """Saved notebooks carry their outputs (so plots and graphs show on GitHub)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and c["source"]]
    assert code, f"{path.name} has no code cells"
    missing = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not missing, (f"{path.name}: code cells {missing} were never executed; run "
                         f"`.venv/bin/python tools/run_notebooks.py {path.relative_to(ROOT)}`")
    errors = [o for c in code for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, f"{path.name} was saved with an error output"
    images = [o for c in code for o in c.get("outputs", [])
              if {"image/png", "image/svg+xml"} & set(o.get("data", {}))]
    assert images, f"{path.name} shows no plot or graph"


# Notebooks that need optional extras (installed by `make`).
NEEDS = {"20_tuning_and_ensembles": ("optuna", "onnx", "onnxruntime")}

# notebooks whose cells assert a trained model's score (re-run by `make test-kernels`)
TRAINING = ("03_perceptrons", "04_mlp_on_digits", "09_cnn_on_digits")


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.training)
                                  if p.stem in TRAINING else p for p in NOTEBOOKS],
                         ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    for package in NEEDS.get(path.stem, ()):
        pytest.importorskip(package, reason=f"{path.name} needs {package}")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    try:
        nb, seconds = runner.execute_notebook(path)
    except runner.NotebookFailed as e:
        pytest.fail(str(e), pytrace=False)
    assert seconds <= runner.time_budget(nb)


def test_runner_reports_errors_and_time_outs(tmp_path):
    """The harness itself: a failing cell and a notebook past its budget both fail."""
    nbformat = pytest.importorskip("nbformat")
    v4 = nbformat.v4
    bad = v4.new_notebook(cells=[v4.new_code_cell("x = 1"), v4.new_code_cell("1 / 0")])
    slow = v4.new_notebook(cells=[v4.new_code_cell("import time\ntime.sleep(60)")])
    slow.metadata["tapegrad"] = {"time_budget": 3}
    for name, nb in (("bad.ipynb", bad), ("slow.ipynb", slow)):
        nbformat.write(nb, tmp_path / name)
    with pytest.raises(runner.NotebookFailed, match="ZeroDivisionError"):
        runner.execute_notebook(tmp_path / "bad.ipynb")
    with pytest.raises(runner.NotebookFailed, match="time budget of 3 s"):
        runner.execute_notebook(tmp_path / "slow.ipynb")
    assert nbformat.read(tmp_path / "bad.ipynb", 4).cells[0].execution_count is None  # unsaved
