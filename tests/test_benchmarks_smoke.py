"""Every benchmark workload runs, and its tapegrad, NumPy, PyTorch, DeZero and HIPS autograd
versions agree (the optional ones where installed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import benchmarks  # noqa: E402
from benchmarks import __main__ as runner  # noqa: E402
from benchmarks import bench_core, bench_mlp, bench_rnn  # noqa: E402

DISCOVERED = benchmarks.discover()
WORKLOADS = [(m, w) for m, ws in DISCOVERED if not isinstance(ws, Exception) for w in ws]


def test_every_bench_module_loads_and_follows_the_contract():
    modules = [m for m, _ in DISCOVERED]
    assert modules == sorted(modules) and {"bench_core", "bench_mlp"} <= set(modules)
    broken = [f"{m}: {ws!r}" for m, ws in DISCOVERED if isinstance(ws, Exception)]
    assert not broken, broken
    names = [w["name"] for _, w in WORKLOADS]
    assert len(names) == len(set(names)), "workload names must be unique"


@pytest.mark.parametrize("module,workload", WORKLOADS, ids=[w["name"] for _, w in WORKLOADS])
def test_workload_runs_once(module, workload):
    with np.errstate(under="ignore"):  # long chains' gradients underflow to 0 in float32
        r = benchmarks.run_workload(workload, warmup=0, repeat=1, budget=0.0)
    assert r["tapegrad"]["runs"] == 1 and r["tapegrad"]["median"] > 0
    if workload.get("numpy") is not None:
        assert r["tapegrad/numpy"] > 0
    for impl in benchmarks.PEERS:  # peers that are installed run every workload they have
        if workload.get(impl) is not None:
            assert "error" not in r[impl], r[impl]
            assert r[f"tapegrad/{impl}"] > 0


@pytest.mark.parametrize("n,shape,tensor_operands",
                         [(200, (4,), False), (200, (4,), True), (31, (), False), (1, (), False)])
def test_chain_gradients_agree(n, shape, tensor_operands):
    want = bench_core.numpy_chain(n, shape, tensor_operands)()
    got = bench_core.tapegrad_chain(n, shape, tensor_operands)()
    assert got.shape == shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    if bench_core.torch is not None:
        np.testing.assert_allclose(bench_core.torch_chain(n, shape, tensor_operands)(), want,
                                   rtol=1e-5, atol=1e-7)
    for peer in (bench_core.dezero_chain, bench_core.autograd_chain):
        run = peer(n, shape, tensor_operands)
        if run is not None:  # DeZero's backward runs in float64 (see bench_core): compare values
            got = run()
            assert got.shape == shape
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(run(), got)  # a second call does not accumulate


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_steps_agree(cell):
    """tapegrad's LSTM/GRU step, the NumPy one by hand and PyTorch's give the same losses over
    three SGD steps (so the hand-written backward pass is right too)."""
    steps = {"lstm": (bench_rnn.numpy_step, bench_rnn.torch_step),
             "gru": (bench_rnn.gru_numpy_step, bench_rnn.gru_torch_step)}[cell]
    runs = [bench_rnn.tapegrad_step(cell), *(make() for make in steps)]
    losses = [[run() for _ in range(3)] for run in runs if run is not None]
    for other in losses[1:]:
        np.testing.assert_allclose(other, losses[0], rtol=1e-5)


def test_peers_are_optional_and_never_dependencies(monkeypatch):
    monkeypatch.setenv("TAPEGRAD_BENCH_NO_DEZERO", "1")
    monkeypatch.setenv("TAPEGRAD_BENCH_NO_AUTOGRAD", "1")
    assert benchmarks.optional_dezero() is None and benchmarks.optional_autograd() is None
    assert not hasattr(np, "int"), "optional_dezero must not leave np.int behind"
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; the env checks above ran
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {}).values()
    requirements = " ".join(project.get("dependencies", []) + sum(extras, [])).lower()
    assert "dezero" not in requirements and "autograd" not in requirements


def test_100k_op_chain_has_no_recursion_limit():
    with np.errstate(under="ignore"):
        g = bench_core.tapegrad_chain(100_000, ())()
    assert np.isfinite(g) and g.shape == ()


@pytest.mark.parametrize("sizes,batch,activation",
                         [([64, 128, 10], 64, "tanh"), ([20, 16, 16, 5], 8, "relu")])
def test_mlp_steps_agree_step_by_step(sizes, batch, activation):
    steps = [bench_mlp.tapegrad_step(sizes, batch, activation),
             bench_mlp.numpy_step(sizes, batch, activation)]
    for peer in (bench_mlp.torch_step, bench_mlp.dezero_step, bench_mlp.autograd_step):
        step = peer(sizes, batch, activation)
        if step is not None:
            steps.append(step)
    losses = np.array([[step() for _ in range(3)] for step in steps])
    assert losses[0, 2] < losses[0, 0], "SGD should lower the loss on a fixed batch"
    for other in losses[1:]:
        np.testing.assert_allclose(losses[0], other, rtol=1e-4)


def test_runner_quick_filter_and_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TAPEGRAD_BENCH_NO_TORCH", "")  # restored after --no-torch sets it
    out = tmp_path / "out.json"
    code = runner.main(["--quick", "--no-torch", "--filter", "per-op: 200-op chain, shape",
                        "--json", str(out)])
    assert code == 0
    table = capsys.readouterr().out
    assert "per-op: 200-op chain, shape (4,)" in table and "tg/np" in table
    data = json.loads(out.read_text())
    [result] = data["results"]
    assert result["unit"] == "us/op" and result["torch"] is None
    assert result["tapegrad"]["runs"] == 3
    assert data["environment"]["numpy"] == np.__version__


def test_a_failing_peer_is_recorded_as_fails_not_a_crash(capsys):
    def too_deep():
        raise RecursionError("maximum recursion depth exceeded")

    w = {"name": "fake chain", "tapegrad": lambda: 1.0, "numpy": lambda: 1.0,
         "dezero": too_deep, "autograd": lambda: 1.0, "unit": "us/op", "ops": 10}
    benchmarks.check_workload(w)
    r = benchmarks.run_workload(w, warmup=0, repeat=1, budget=0.0)
    assert r["dezero"] == {"error": "RecursionError: maximum recursion depth exceeded"}
    assert r["tapegrad/dezero"] is None and r["tapegrad/autograd"] > 0
    line = runner.peer_row(r)
    assert line is not None and line[3] == "fails" and line[5] == "-"
    assert runner.failures(r) == ["dezero fails on fake chain: RecursionError: maximum "
                                  "recursion depth exceeded"]
    assert runner.peer_row({**r, "dezero": None, "autograd": None}) is None
    with pytest.raises(ZeroDivisionError):  # tapegrad itself failing is never hidden
        benchmarks.run_workload({**w, "tapegrad": lambda: 1 / 0}, warmup=0, repeat=1)


def test_runner_prints_the_peers_table_and_filters_alternatives(capsys, monkeypatch):
    monkeypatch.setenv("TAPEGRAD_BENCH_NO_TORCH", "")
    code = runner.main(["--quick", "--no-torch", "--filter", "200-op chain, shape|64-128-10"])
    assert code == 0
    out = capsys.readouterr().out
    assert "per-op: 200-op chain, shape (4,)" in out and "MLP step 64-128-10" in out
    assert "tensor operands" not in out
    peers_installed = bench_core.dezero is not None or bench_core.autograd is not None
    assert ("NumPy-based peers" in out) == peers_installed


def test_contract_errors_are_clear():
    with pytest.raises(ValueError, match="callable 'tapegrad'"):
        benchmarks.check_workload({"name": "x", "tapegrad": None})
    with pytest.raises(ValueError, match="needs 'ops'"):
        benchmarks.check_workload({"name": "x", "tapegrad": print, "unit": "us/op"})
    with pytest.raises(ValueError, match="'dezero' must be callable"):
        benchmarks.check_workload({"name": "x", "tapegrad": print, "dezero": 3})
