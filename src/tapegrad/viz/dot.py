"""DOT text building: quoting, attribute lists and nested clusters (pure text, no graphviz).

Everything here is deterministic: attributes keep their insertion order and clusters their order
of first appearance, so the same graph always gives the same text.
"""

from __future__ import annotations

from collections.abc import Sequence

Attrs = dict[str, str]


def quote(value: str) -> str:
    """A DOT value: HTML-like labels (`<...>`) as they are, everything else double-quoted."""
    if value.startswith("<") and value.endswith(">"):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def text_label(lines: Sequence[str], align: str = "center") -> str:
    """A plain multi-line label, each line quoted safely: centred lines (DOT's `\\n` breaks) or,
    with `align="left"`, left-aligned ones (each line ends in `\\l`).

    >>> print(text_label(["a", 'say "hi"'], align="left"))
    "a\\lsay \\"hi\\"\\l"
    """
    safe = [line.replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    if align == "left":
        return '"' + "".join(line + "\\l" for line in safe) + '"'
    if align != "center":
        raise ValueError(f"text_label: align must be 'center' or 'left', got {align!r}")
    return '"' + "\\n".join(safe) + '"'


def attr_list(attrs: Attrs) -> str:
    """`[a="1" b="x"]` in insertion order (empty string for no attributes)."""
    if not attrs:
        return ""
    parts = []
    for k, v in attrs.items():
        if k == "label" and v.startswith('"'):
            parts.append(f"{k}={v}")  # already built by text_label
        else:
            parts.append(f"{k}={quote(v)}")
    return " [" + " ".join(parts) + "]"


def node_line(node_id: str, attrs: Attrs) -> str:
    return f"{node_id}{attr_list(attrs)}"


def edge_line(tail: str, head: str, attrs: Attrs) -> str:
    return f"{tail} -> {head}{attr_list(attrs)}"


def cluster_lines(nodes: Sequence[tuple[tuple[str, ...], str]], labels: dict[tuple, str],
                  style: Attrs) -> list[str]:
    """Lay out `(scope path, node line)` pairs as nested `subgraph cluster_i` blocks.

    Scopes are nested by their path prefixes and ordered by first appearance; the walk uses an
    explicit stack (no recursion), so any depth works.
    """
    children: dict[tuple, list[tuple]] = {(): []}
    members: dict[tuple, list[str]] = {(): []}
    for path, line in nodes:
        for depth in range(1, len(path) + 1):
            prefix = path[:depth]
            if prefix not in children:
                children[prefix] = []
                members[prefix] = []
                children[prefix[:-1]].append(prefix)
        members[path].append(line)
    out: list[str] = list(members[()])
    numbers: dict[tuple, int] = {}
    stack: list[tuple[tuple, bool]] = [(c, True) for c in reversed(children[()])]
    while stack:
        path, opening = stack.pop()
        indent = "\t" * len(path)
        if not opening:
            out.append(indent + "}")
            continue
        numbers[path] = len(numbers)
        out.append(f"{indent}subgraph cluster_{numbers[path]} {{")
        label = labels.get(path, path[-1])
        out.append(f"{indent}\tgraph{attr_list({'label': label, **style})}")
        out.extend(indent + "\t" + line for line in members[path])
        stack.append((path, False))
        stack.extend((c, True) for c in reversed(children[path]))
    return out


def document(name: str, header: Sequence[str], body: Sequence[str]) -> str:
    """The whole DOT text: `digraph name { header... body... }`, one statement per line."""
    lines = [f"digraph {name} {{"]
    lines.extend("\t" + line for line in header)
    lines.extend("\t" + line for line in body)
    lines.append("}")
    return "\n".join(lines) + "\n"
