"""The README's example runs as written; the demo trains to >= 97% and writes its pictures."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_readme_example_runs_as_written(capsys, tmp_path, monkeypatch):
    """The ten lines, then the drawing block after them, run as written in one namespace."""
    text = (ROOT / "README.md").read_text()
    block, drawing = re.search(r"## Ten lines\n\n```python\n(.*?)```.*?```python\n(.*?)```",
                               text, re.S).groups()
    assert len([line for line in block.splitlines() if line.strip()]) <= 10
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out.strip()
    np.testing.assert_allclose(np.array(printed.strip("[]").split(), float), [1.0, 2.0])
    monkeypatch.chdir(tmp_path)
    exec(compile(drawing, "README.md", "exec"), namespace)
    assert (tmp_path / "step.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


def test_readme_shows_both_setup_commands_first():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```bash")[1].split("```")[0]
    assert "make demo" in first_block and "make test" in first_block


def demo_accuracy(seed):
    """The demo's test accuracy with `--seed seed` (the seed also picks the split)."""
    import tempfile

    from tapegrad.demo import main

    with tempfile.TemporaryDirectory() as tmp:
        return main(["--out", tmp, "--no-progress", "--seed", str(seed)])["test_accuracy"]


@pytest.mark.training
def test_demo_trains_to_97_percent_and_writes_pictures(tmp_path):
    """The README's `make demo` (seed 0) reaches 97%: 0.9756 under OPENBLAS_CORETYPE Haswell,
    SkylakeX and Prescott alike. Over `--seed 0-11`, which also picks the train/test split:
    0.962 / 0.976 / 0.982 (min / median / max, 36 runs), so 97% holds for the default split, not
    for every split (seeds 2 and 6 give 0.962 and 0.969)."""
    from tapegrad.demo import main

    result = main(["--out", str(tmp_path), "--no-progress"])
    assert result["test_accuracy"] >= 0.97
    svg = (tmp_path / "graph.svg").read_text()
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg[:500]
    assert "dense" in svg and "matmul" in svg
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_with_jit_trains_to_the_same_numbers(tmp_path):
    """`--jit` traces the demo's training step (tape, gradients, Adam, dropout) and replays it:
    the learning curves are the eager loop's, number for number."""
    from tapegrad.demo import main

    runs = [main(["--out", str(tmp_path / flag), "--no-progress", "--epochs", "3", *extra])
            for flag, extra in (("eager", []), ("jit", ["--jit"]))]
    assert runs[0]["history"] == runs[1]["history"]


def test_demo_help():
    out = subprocess.run([sys.executable, "-m", "tapegrad", "demo", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--epochs" in out and "--out" in out
