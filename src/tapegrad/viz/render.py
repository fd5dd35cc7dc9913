"""Rendering DOT text anywhere: a `dot` on PATH, else the `graphviz-pure` binary from its wheel.

`graphviz` (the Python package) is imported lazily, only when a Digraph is asked for. The
Digraph subclass renders with the same binary choice, in scripts and in Jupyter alike.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from tapegrad._files import atomic_write
from tapegrad.viz.style import svg_font_fallbacks

TIMEOUT = 120.0  # seconds; collapsed graphs take under one, 5k ops in full ~1 min (viz docs)

INSTALL_HINT = (
    "no Graphviz renderer found. tapegrad needs a `dot` program: `pip install graphviz-pure` "
    "(a pure wheel, no system packages; normally installed with tapegrad), or install Graphviz "
    "(`apt install graphviz`, `brew install graphviz`, `conda install graphviz`), or set "
    "TAPEGRAD_DOT to a dot binary. Without one you can still write DOT text: "
    "tg.viz.to_dot(tape) or tg.viz.plot(tape, to_file='graph.dot').")


def _pure_candidates() -> list[Path]:
    names = ["graphviz-pure.exe", "graphviz-pure"] if os.name == "nt" else ["graphviz-pure"]
    dirs = [Path(sys.executable).parent]
    scripts = sysconfig.get_path("scripts")
    if scripts:
        dirs.append(Path(scripts))
    return [d / n for d in dirs for n in names]


def find_renderer() -> str:
    """The dot-compatible program to run: $TAPEGRAD_DOT, else `dot` on PATH, else graphviz-pure.

    >>> isinstance(find_renderer(), str)
    True
    """
    env = os.environ.get("TAPEGRAD_DOT")
    if env:
        return env
    dot = shutil.which("dot")
    if dot:
        return dot
    for cand in _pure_candidates():
        if cand.is_file():
            return str(cand)
    pure = shutil.which("graphviz-pure")
    if pure:
        return pure
    raise RuntimeError(INSTALL_HINT)


def run_dot(source: str, fmt: str, engine: str = "dot", timeout: float = TIMEOUT) -> bytes:
    """Lay out and render DOT text to `fmt` (svg, png, ...) with the chosen program."""
    binary = find_renderer()
    cmd = [binary, f"-T{fmt}"]
    if engine and engine != "dot":
        cmd.append(f"-K{engine}")
    try:
        proc = subprocess.run(cmd, input=source.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{binary} took longer than {timeout:.0f} s to lay out the graph; "
                           "draw less: pass collapse=True, max_depth=0 or a smaller "
                           "max_nodes") from None
    except OSError as e:
        raise RuntimeError(f"could not run {binary}: {e}. {INSTALL_HINT}") from None
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode("utf-8", "replace").strip()[-600:]
        hint = ""
        if "not recognized" in err or "Format" in err:
            hint = (f" The program at {binary} cannot write {fmt!r}; use .svg or .png "
                    "(or install Graphviz for pdf).")
        raise RuntimeError(f"{Path(binary).name} -T{fmt} failed (exit {proc.returncode}): "
                           f"{err}{hint}")
    return svg_font_fallbacks(proc.stdout) if fmt == "svg" else proc.stdout


_DIGRAPH_CLASS: Any = None


def digraph_class() -> Any:
    """`TapeDigraph`: a `graphviz.Digraph` whose `pipe`/`render` (and so its Jupyter display)
    use `find_renderer()`. Made on first use so that `import tapegrad` needs no graphviz."""
    global _DIGRAPH_CLASS
    if _DIGRAPH_CLASS is not None:
        return _DIGRAPH_CLASS
    import graphviz

    class TapeDigraph(graphviz.Digraph):
        """A graphviz.Digraph rendered by `dot` on PATH, else by graphviz-pure."""

        def __repr__(self) -> str:
            n = self.source.count("->")
            return f"<tapegrad graph: {n} edges; display it in Jupyter or call .pipe('svg')>"

        def pipe(self, format: str | None = None, renderer: str | None = None,
                 formatter: str | None = None, neato_no_op: Any = None, quiet: bool = False,
                 *, engine: str | None = None, encoding: str | None = None) -> Any:
            fmt = ":".join(f for f in (format or self.format, renderer, formatter) if f)
            data = run_dot(self.source, fmt, engine or self.engine)
            return data.decode(encoding) if encoding else data

        def render(self, filename: Any = None, directory: Any = None, view: bool = False,
                   cleanup: bool = False, format: str | None = None, renderer: Any = None,
                   formatter: Any = None, neato_no_op: Any = None, quiet: bool = False,
                   quiet_view: bool = False, *, outfile: Any = None, engine: Any = None,
                   raise_if_result_exists: bool = False, overwrite_source: bool = False) -> str:
            source_file = None
            if outfile is not None:
                out = Path(outfile)
                fmt = format or out.suffix.lstrip(".") or self.format
            else:
                source_file = Path(self.save(filename, directory))
                fmt = format or self.format
                out = Path(f"{source_file}.{fmt}")
            if raise_if_result_exists and out.exists():
                raise FileExistsError(f"output file exists: {out}")
            data = self.pipe(format=fmt, renderer=renderer, formatter=formatter, engine=engine)
            atomic_write(out, lambda f: f.write(data), kind="plot")
            if cleanup and source_file is not None:
                source_file.unlink()
            if view:
                graphviz.view(str(out), quiet=quiet_view)
            return str(out)

    _DIGRAPH_CLASS = TapeDigraph
    return TapeDigraph


def make_digraph(dot_text: str) -> Any:
    """Wrap DOT text from `to_dot` in a TapeDigraph whose `.source` is exactly that text."""
    lines = dot_text.rstrip("\n").split("\n")
    name = lines[0][len("digraph "):-2].strip()
    body = [line + "\n" for line in lines[1:-1]]
    return digraph_class()(name=name, body=body, format="svg")
