"""Repository hygiene: no tracked file is matched by .gitignore, and no tool output is committed."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (or git is not installed)")
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line]


def test_no_tracked_file_is_ignored():
    """A tracked file that .gitignore matches (docs/design.md was) is missed by `git add -A`."""
    assert _git("ls-files", "--cached", "--ignored", "--exclude-standard") == []


def test_no_coverage_data_or_caches_are_tracked():
    tracked = _git("ls-files")
    bad = [p for p in tracked if Path(p).name.startswith(".coverage")
           or "__pycache__" in p or ".pytest_cache" in p or ".hypothesis" in p]
    assert bad == []
    # .coverage is ignored, docs/design.md is not ("::" marks a path that no pattern matches)
    verdicts = _git("check-ignore", "--no-index", "--verbose", "--non-matching",
                    ".coverage", "docs/design.md")
    assert not verdicts[0].startswith("::") and verdicts[1].startswith("::"), verdicts
