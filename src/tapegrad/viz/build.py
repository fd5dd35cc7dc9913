"""Tape records -> DOT text: op and tensor nodes, layer clusters, collapsing, gradient colours.

Pure: no graphviz import. Node ids are assigned in order of first appearance (`t0`, `op0`, ...),
never from `id()`, so the same computation always gives the same text. One forward pass over
the records, no recursion, so 10,000-op tapes are fast (and get collapsed past `max_nodes`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tapegrad.tape import GradientTape, OpRecord, tape_of
from tapegrad.tensor import Tensor
from tapegrad.viz import style as st
from tapegrad.viz.backward import all_gradients, leads_to, records_of
from tapegrad.viz.dot import attr_list, cluster_lines, document, edge_line, node_line, text_label

VIEWS = ("forward", "backward", "both")
RANKDIRS = ("TB", "LR", "BT", "RL")
BLOCKS = 24  # how many blocks an auto-collapsed long run of ops becomes
RULE_LABEL_LIMIT = 40  # rule phrases on backward edges only when at most this many ops are drawn


def resolve(tape_or_tensor: Any, target: Tensor | None) -> tuple[GradientTape, Tensor | None]:
    """The tape to draw and the target: a tape as given, or an active tape tracking a tensor."""
    if isinstance(tape_or_tensor, GradientTape):
        return tape_or_tensor, target
    if isinstance(tape_or_tensor, Tensor):
        tape = tape_of(tape_or_tensor)  # the last live tape that recorded it
        if tape is not None:
            return tape, tape_or_tensor
        raise ValueError(
            "no live tape holds the ops that made this tensor (references go tape -> tensors, "
            "and a non-persistent tape frees its records in gradient()): keep the tape and use "
            "GradientTape(persistent=True) or tape.retain_gradients() before tape.gradient, or "
            "pass the tape: tg.viz.graph(tape, target=y)")
    raise TypeError(f"expected a GradientTape or a Tensor, got {type(tape_or_tensor).__name__}")


_TITLES = {"variable": "Variable", "watched": "watched input", "constant": "constant"}


class _Unit:
    """One drawn box: a single op, a collapsed layer (group) or an auto-collapsed block."""

    __slots__ = ("kind", "recs", "key", "node")

    def __init__(self, kind: str, recs: list[int], key: tuple):
        self.kind, self.recs, self.key, self.node = kind, recs, key, ""


class _TensorNode:
    __slots__ = ("tensor", "kind", "node", "producer", "consumers")

    def __init__(self, tensor: Tensor, kind: str):
        self.tensor, self.kind = tensor, kind
        self.node = ""
        self.producer: int | None = None
        self.consumers: list[int] = []


def _group_key(scope: tuple, collapse: Any, max_depth: int | None,
               parents: set[tuple]) -> tuple | None:
    if not scope:
        return None
    if collapse is True:  # innermost layers become nodes; an outer layer's own ops (a residual
        return None if scope in parents else scope  # block's add) stay ops in its cluster
    if collapse:
        for j in range(len(scope)):
            if scope[j] in collapse or "/".join(scope[: j + 1]) in collapse:
                return scope[: j + 1]
    if max_depth is not None and len(scope) > max_depth:
        return scope[: max_depth + 1]
    return None


def _units(records: list[OpRecord], collapse: Any, max_depth: int | None
           ) -> tuple[list[_Unit], list[int]]:
    units: list[_Unit] = []
    of_rec: list[int] = []
    groups: dict[tuple, int] = {}
    parents = {rec.scopes[:j] for rec in records for j in range(1, len(rec.scopes))}
    for i, rec in enumerate(records):
        key = _group_key(rec.scopes, collapse, max_depth, parents)
        if key is None:
            of_rec.append(len(units))
            units.append(_Unit("op", [i], rec.scopes))
        else:
            if key not in groups:
                groups[key] = len(units)
                units.append(_Unit("group", [], key))
            units[groups[key]].recs.append(i)
            of_rec.append(groups[key])
    return units, of_rec


def _blocks(units: list[_Unit], of_rec: list[int], n_blocks: int
            ) -> tuple[list[_Unit], list[int]]:
    size = math.ceil(len(units) / n_blocks)
    blocks = [_Unit("block", [], ()) for _ in range(math.ceil(len(units) / size))]
    for u_index, u in enumerate(units):
        blocks[u_index // size].recs.extend(u.recs)
    for b in blocks:
        b.recs.sort()
    new_of = [of_rec[i] // size for i in range(len(of_rec))]
    return blocks, new_of


def _param_text(v: Any) -> str | None:
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        text = repr(v)
    elif isinstance(v, float):
        text = st.num(v)
    elif isinstance(v, tuple) and all(isinstance(x, int) for x in v):
        text = str(v)
    elif isinstance(v, slice):
        text = ":".join("" if x is None else str(x) for x in (v.start, v.stop, v.step)).rstrip(":")
        text = text or ":"
    else:
        return None
    return text if len(text) <= 24 else None


def _op_label(rec: OpRecord) -> list[str]:
    lines = [rec.name]
    params = [f"{k}={t}" for k, v in rec.params.items()
              if v is not None and v is not False and (t := _param_text(v)) is not None]
    if params:
        lines.append(" ".join(params))
    return lines


def _summary(names: list[str], limit: int = 4) -> str:
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    parts = [f"{n} x{c}" if c > 1 else n for n, c in counts.items()]
    more = len(parts) - limit
    return ", ".join(parts[:limit]) + (f", +{more} more" if more > 0 else "")


class _Builder:
    def __init__(self, tape: GradientTape, opts: dict[str, Any], highlight: int | None,
                 grads: dict[int, Any] | None):
        self.tape = tape
        self.opts = opts
        self.highlight = highlight
        self.notes: list[str] = []
        records = records_of(tape)
        target = opts["target"]
        self.rec_index = list(range(len(records)))
        if target is not None:
            keep = leads_to(tape, target)
            self.rec_index = [i for i in range(len(records)) if keep[i]]
            if not self.rec_index and not any(t is target for t in tape.watched):
                raise ValueError("graph: the target was not computed by an op on this tape")
        self.all_records = records
        self.records = [records[i] for i in self.rec_index]
        self.final = target if target is not None else (records[-1].output if records else None)
        self.grads = self._gradients(grads)

    # -- gradients --------------------------------------------------------------------------
    def _gradients(self, grads: dict[int, Any] | None) -> dict[int, Any] | None:
        o = self.opts
        if not (o["show_grads"] or o["view"] != "forward"):
            return None
        if grads is not None:
            return grads
        kept = self.tape.retained_gradients
        if kept:
            return {k: v._value for k, v in kept.items()}
        if self.final is None:
            return {}
        self.notes.append("gradients of the last output computed for this picture "
                          "(tape.gradient has not kept any)")
        return all_gradients(self.tape, self.final)

    # -- structure --------------------------------------------------------------------------
    def structure(self) -> None:
        o = self.opts
        units, of_rec = _units(self.records, o["collapse"], o["max_depth"])
        n_ops = len(self.records)
        auto = o["collapse"] is False and o["max_depth"] is None
        if auto and len(units) > o["max_nodes"]:
            for coll, depth in ((True, None), (False, 0)):
                units, of_rec = _units(self.records, coll, depth)
                if len(units) <= o["max_nodes"] and any(u.kind == "group" for u in units):
                    self.notes.append(f"{n_ops} ops: more than max_nodes={o['max_nodes']}, "
                                      f"so each layer is collapsed into one node")
                    break
        if len(units) > o["max_nodes"]:
            units, of_rec = _blocks(units, of_rec, min(BLOCKS, o["max_nodes"]))
            self.notes.append(f"{n_ops} ops: more than max_nodes={o['max_nodes']}, so runs "
                              f"of consecutive ops are collapsed into {len(units)} blocks")
        self.units, self.of_rec = units, of_rec
        watched = {id(t) for t in self.tape.watched}
        tensors: dict[int, _TensorNode] = {}
        for r, rec in enumerate(self.records):
            u = of_rec[r]
            for a in rec.inputs:
                if not isinstance(a, Tensor):
                    continue
                tn = tensors.get(id(a))
                if tn is None:
                    kind = "variable" if a._is_variable else (
                        "watched" if id(a) in watched else "constant")
                    tn = tensors[id(a)] = _TensorNode(a, kind)
                if not tn.consumers or tn.consumers[-1] != u:
                    tn.consumers.append(u)
            out = rec.output
            if id(out) not in tensors:
                tensors[id(out)] = _TensorNode(out, "intermediate")
            tensors[id(out)].producer = u
        if not self.records and self.final is not None:
            tensors[id(self.final)] = _TensorNode(self.final, "watched")
        self.tensors = tensors

    def cluster_of_unit(self, u: _Unit) -> tuple:
        if not self.opts["group_by_layer"]:
            return ()
        if u.kind == "op":
            return u.key
        return u.key[:-1] if u.kind == "group" else ()

    def cluster_of_tensor(self, tn: _TensorNode) -> tuple:
        if not self.opts["group_by_layer"] or tn.kind == "watched":
            return ()
        if tn.producer is not None:
            return self.cluster_of_unit(self.units[tn.producer])
        paths = [self.cluster_of_unit(self.units[c]) for c in tn.consumers]
        return paths[0] if paths and all(p == paths[0] for p in paths) else ()

    # -- output -----------------------------------------------------------------------------
    def dot(self) -> str:
        self.structure()
        o = self.opts
        nodes: list[tuple[tuple, str]] = []
        edges: list[str] = []
        shown: dict[int, str] = {}  # tensor id -> node id, in order of first appearance
        counters = {"t": 0, "op": 0, "g": 0, "c": 0}
        n_drawn_ops = sum(1 for u in self.units if u.kind == "op")
        rule_labels = o["view"] != "forward" and n_drawn_ops <= RULE_LABEL_LIMIT

        def new_id(prefix: str) -> str:
            counters[prefix] += 1
            return f"{prefix}{counters[prefix] - 1}"

        def tensor_node(tn: _TensorNode) -> str:
            key = id(tn.tensor)
            if key not in shown:
                shown[key] = tn.node = new_id("t")
                line = node_line(tn.node, self.tensor_attrs(tn))
                nodes.append((self.cluster_of_tensor(tn), line))
            return shown[key]

        def edge(tail: str, head: str, tensor: Tensor | None, phrase: str | None,
                 bold: bool = False) -> None:
            g = self.grads.get(id(tensor)) if (self.grads is not None and tensor is not None) \
                else None
            fwd: dict[str, str] = {}
            bwd: dict[str, str] = {"dir": "back"}
            if g is not None:
                colour = st.GradStats(g).colours()[1]
                bwd.update(color=colour, fontcolor=colour)
            else:
                bwd.update(color="#bbbbbb", style="dotted")
            if rule_labels and phrase and g is not None:
                bwd["label"] = phrase
            if bold:
                fwd["penwidth"] = bwd["penwidth"] = "2.5"
            if o["view"] == "forward":
                edges.append(edge_line(tail, head, fwd))
            elif o["view"] == "backward":
                edges.append(edge_line(tail, head, bwd))
            else:
                edges.append(edge_line(tail, head, fwd))
                if g is not None:
                    bwd.update(constraint="false", style="dashed")
                    edges.append(edge_line(tail, head, bwd))

        # nodes and edges, unit by unit (units are in order of their first op)
        for u_index, u in enumerate(self.units):
            if u.kind == "op":
                r = u.recs[0]
                rec = self.records[r]
                u.node = new_id("op")
                hl = self.rec_index[r] == self.highlight
                nodes.append((self.cluster_of_unit(u), node_line(u.node, self.op_attrs(rec, hl))))
                for i, a in enumerate(rec.inputs):
                    phrase = rec.op.phrase(i)
                    if isinstance(a, Tensor):
                        edge(tensor_node(self.tensors[id(a)]), u.node, a, phrase, hl)
                    else:
                        c = new_id("c")
                        nodes.append((self.cluster_of_unit(u),
                                      node_line(c, self.scalar_attrs(rec.values[i]))))
                        edges.append(edge_line(c, u.node, {"style": "dashed",
                                                           "color": "#999999"}))
                out = rec.output
                edge(u.node, tensor_node(self.tensors[id(out)]), out, None, hl)
                continue
            ins, params, outs = self.boundary(u_index)
            u.node = new_id("g")
            nodes.append((self.cluster_of_unit(u), node_line(u.node,
                                                             self.group_attrs(u, ins, params,
                                                                              outs))))
            for tn in ins:
                edge(tensor_node(tn), u.node, tn.tensor, None)
            for tn in outs:
                edge(u.node, tensor_node(tn), tn.tensor, None)
        if self.final is not None and id(self.final) not in shown and id(self.final) in \
                self.tensors:
            tensor_node(self.tensors[id(self.final)])

        header = [f"graph{attr_list(self.graph_attrs())}",
                  f"node{attr_list({'fontname': st.FONT, 'fontsize': '11'})}",
                  f"edge{attr_list({'fontname': st.FONT, 'fontsize': '9'})}"]
        if self.grads is not None:
            header.append(node_line("legend", {"shape": "plain", "label": st.legend_label()}))
        labels = {}
        body = cluster_lines(nodes, labels, {"style": "rounded,filled",
                                             "fillcolor": st.CLUSTER_FILL, "color": "#999999",
                                             "fontname": st.FONT, "fontsize": "12"})
        return document("tape", header, body + edges)

    def boundary(self, u_index: int) -> tuple[list[_TensorNode], list[_TensorNode],
                                             list[_TensorNode]]:
        """A collapsed unit's inputs from outside, its own parameters and its outputs."""
        u = self.units[u_index]
        ins: list[_TensorNode] = []
        params: list[_TensorNode] = []
        outs: list[_TensorNode] = []
        seen: set[int] = set()
        for r in u.recs:
            rec = self.records[r]
            for a in rec.inputs:
                if not isinstance(a, Tensor) or id(a) in seen:
                    continue
                seen.add(id(a))
                tn = self.tensors[id(a)]
                if tn.producer == u_index:
                    continue
                if tn.producer is None and tn.kind == "variable" and tn.consumers == [u_index]:
                    params.append(tn)
                else:
                    ins.append(tn)
        for r in u.recs:
            out = self.records[r].output
            tn = self.tensors[id(out)]
            if out is self.final or not tn.consumers or any(c != u_index for c in tn.consumers):
                if id(out) not in seen:
                    seen.add(id(out))
                    outs.append(tn)
        return ins, params, outs

    # -- attributes -------------------------------------------------------------------------
    def graph_attrs(self) -> dict[str, str]:
        o = self.opts
        attrs = {"rankdir": o["rankdir"], "fontname": st.FONT, "fontsize": "12",
                 "nodesep": "0.25", "ranksep": "0.35"}
        if o["dpi"]:
            attrs["dpi"] = str(o["dpi"])
        lines = ([o["title"]] if o["title"] else []) + self.notes
        if o["view"] == "backward":
            lines.append("backward view: arrows point the way gradients flow")
        if lines:
            attrs.update(label=text_label(lines, align="left"), labelloc="t", labeljust="l")
        return attrs

    def op_attrs(self, rec: OpRecord, highlight: bool) -> dict[str, str]:
        file, line = rec.location
        scope = "/".join(rec.scopes)
        tip = f"{rec.name} at {file.replace(chr(92), '/').rsplit('/', 1)[-1]}:{line}"
        attrs = {"label": text_label(_op_label(rec)), "shape": "box",
                 "style": "rounded,filled", "fillcolor": st.OP_FILL, "color": "#5b7fa6",
                 "tooltip": tip + (f" in {scope}" if scope else "")}
        if highlight:
            attrs.update(fillcolor=st.HIGHLIGHT_FILL, penwidth="3", color="#b8860b")
        return attrs

    def scalar_attrs(self, value: Any) -> dict[str, str]:
        shown = st.values(np.asarray(value), 4)
        text = shown if shown is not None else st.shape_text(np.shape(value))
        return {"label": text_label([text]), "shape": "box", "style": "dashed,filled",
                "fillcolor": st.KIND_FILL["constant"], "fontsize": "10", "height": "0.3",
                "color": "#999999", "fontcolor": "#555555"}

    def tensor_attrs(self, tn: _TensorNode) -> dict[str, str]:
        t = tn.tensor
        o = self.opts
        title = t.name if t._is_variable and t.name else _TITLES.get(tn.kind, "")
        desc = f"{st.shape_text(t.shape)} {t.dtype}"
        attrs = {"shape": "box", "style": "filled", "fillcolor": st.KIND_FILL[tn.kind],
                 "color": "#777777"}
        if tn.kind == "variable":
            attrs.update(style="filled,bold", color="#c77800")
        elif tn.kind == "constant":
            attrs.update(style="filled,dashed", fontcolor="#555555")
        elif tn.kind == "watched":
            attrs.update(color="#3c8c3c")
        if t is self.final:
            attrs["penwidth"] = "2.5"
            title = title or "output"
        limit = o["show_values"] if o["show_values"] is not True else 6
        value_text = st.values(t._value, limit) if limit else None
        g = None if self.grads is None else self.grads.get(id(t))
        show_g = self.grads is not None and o["show_grads"] is not False
        if value_text is None and not show_g:
            lines = [title, desc] if title else [desc]
            attrs["label"] = text_label(lines)
            if tn.kind == "intermediate" and t is not self.final:
                attrs.update(fontsize="9", height="0.3", color="#aaaaaa")
            return attrs
        small = f'<FONT POINT-SIZE="9" COLOR="#555555">{st.html_escape(desc)}</FONT>'
        rows = [f"<B>{st.html_escape(title)}</B><BR/>{small}" if title else small]
        cells = [f"<TD>{r}</TD>" for r in rows]
        if value_text is not None:
            cells.append(f"<TD>data {st.html_escape(value_text)}</TD>")
        if show_g:
            if g is not None:
                stats = st.GradStats(g)
                fill, _, _ = stats.colours()
                font = "white" if fill in st.DARK_FILLS else "black"
                text = "<BR/>".join(st.html_escape(s) for s in stats.lines(limit or 1))
                cells.append(f'<TD BGCOLOR="{fill}"><FONT COLOR="{font}">{text}</FONT></TD>')
            elif tn.kind in ("variable", "watched") and self.highlight is not None:
                cells.append('<TD><FONT COLOR="#888888">not reached yet</FONT></TD>')
            elif tn.kind in ("variable", "watched"):
                cells.append('<TD BGCOLOR="#ffffff"><FONT COLOR="#b2182b">grad None '
                             "(unconnected)</FONT></TD>")
                attrs.update(color="#b2182b", style="filled,dashed")
            elif tn.kind == "intermediate":
                cells.append('<TD><FONT COLOR="#888888">no grad</FONT></TD>')
        if value_text is not None and len(cells) <= 3:  # micrograd style: name | data | grad
            inner, rules = "<TR>" + "".join(cells) + "</TR>", 'COLUMNS="*"'
        else:
            inner, rules = "".join(f"<TR>{c}</TR>" for c in cells), 'ROWS="*"'
        attrs["label"] = (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="4" '
                          f"{rules}>{inner}</TABLE>>")
        attrs["margin"] = "0"
        return attrs

    def group_attrs(self, u: _Unit, ins: list[_TensorNode], params: list[_TensorNode],
                    outs: list[_TensorNode]) -> dict[str, str]:
        names = [self.records[r].name for r in u.recs]
        n_params = sum(tn.tensor.size for tn in params if tn.kind == "variable")
        in_shapes = ", ".join(st.shape_text(tn.tensor.shape) for tn in ins
                              if tn.kind != "variable") or "-"
        out_shapes = ", ".join(st.shape_text(tn.tensor.shape) for tn in outs) or "-"
        if u.kind == "group":
            title = u.key[-1]
            layer = self.opts["layer_types"].get("/".join(u.key))
            if layer:
                title += f" ({layer})"
        else:
            first, last = self.rec_index[u.recs[0]], self.rec_index[u.recs[-1]]
            title = f"ops {first}..{last}"
        lines = [title, f"{len(names)} op{'s' if len(names) != 1 else ''}: {_summary(names)}",
                 f"in {in_shapes} -> out {out_shapes}"]
        if n_params:
            lines.append(f"params {n_params:,}")
        fill = st.GROUP_FILL if u.kind == "group" else st.BLOCK_FILL
        grads = [self.grads[id(tn.tensor)] for tn in params
                 if self.grads is not None and id(tn.tensor) in self.grads]
        if grads:  # colour the layer by its parameters' gradient
            stats = st.GradStats(np.concatenate([np.ravel(g) for g in grads]))
            fill = stats.colours()[0]
            lines.append(f"param grad RMS {st.num(stats.rms)}")
        attrs = {"label": text_label(lines), "shape": "box", "style": "rounded,filled",
                 "fillcolor": fill, "color": "#7b5aa6" if u.kind == "group" else "#a67b2e"}
        if fill in st.DARK_FILLS:
            attrs["fontcolor"] = "white"
        if self.highlight is not None and self.highlight in [self.rec_index[r] for r in u.recs]:
            attrs.update(fillcolor=st.HIGHLIGHT_FILL, penwidth="3")
        return attrs


DEFAULTS: dict[str, Any] = {
    "target": None, "view": "forward", "show_values": False, "show_grads": False,
    "group_by_layer": True, "max_depth": None, "collapse": False, "rankdir": "TB",
    "max_nodes": 300, "title": None, "dpi": None, "layer_types": {},
}


def check_options(options: dict[str, Any]) -> dict[str, Any]:
    """Fill in defaults and validate the drawing options (errors name the option)."""
    unknown = [k for k in options if k not in DEFAULTS]
    if unknown:
        raise TypeError(f"graph: unknown option(s) {', '.join(unknown)}; "
                        f"valid options are {', '.join(DEFAULTS)}")
    o = {**DEFAULTS, **options}
    if o["view"] not in VIEWS:
        raise ValueError(f"graph: view must be one of {VIEWS}, got {o['view']!r}")
    if o["rankdir"] not in RANKDIRS:
        raise ValueError(f"graph: rankdir must be one of {RANKDIRS}, got {o['rankdir']!r}")
    if o["max_depth"] is not None and (not isinstance(o["max_depth"], int) or o["max_depth"] < 0):
        raise ValueError(f"graph: max_depth must be an int >= 0 or None, got {o['max_depth']!r}")
    if not isinstance(o["max_nodes"], int) or o["max_nodes"] < 1:
        raise ValueError(f"graph: max_nodes must be a positive int, got {o['max_nodes']!r}")
    sv = o["show_values"]
    if not isinstance(sv, (bool, int, np.integer)) or (not isinstance(sv, bool) and sv < 0):
        raise (ValueError if isinstance(sv, (int, np.integer)) else TypeError)(
            f"graph: show_values must be True, False or the largest array size whose values "
            f"are printed (an int >= 0), got {sv!r}")
    for name in ("show_grads", "group_by_layer"):
        if not isinstance(o[name], (bool, np.bool_)):
            raise TypeError(f"graph: {name} must be True or False, got {o[name]!r}")
    if o["title"] is not None and not isinstance(o["title"], str):
        raise TypeError(f"graph: title must be a str or None, got {type(o['title']).__name__}")
    dpi = o["dpi"]
    if dpi is not None and (isinstance(dpi, bool) or not isinstance(dpi, (int, float))
                            or not 0 < dpi < 10_000):
        raise ValueError(f"graph: dpi must be a positive number (e.g. 110) or None, got {dpi!r}")
    if isinstance(o["collapse"], str):
        o["collapse"] = (o["collapse"],)
    elif o["collapse"] not in (True, False):
        o["collapse"] = tuple(o["collapse"])
    if o["target"] is not None and not isinstance(o["target"], Tensor):
        raise TypeError(f"graph: target must be a Tensor, got {type(o['target']).__name__}")
    if o["view"] != "forward" and o["show_grads"] is False and "show_grads" not in options:
        o["show_grads"] = True
    return o


def build_dot(tape: GradientTape, highlight: int | None = None,
              grads: dict[int, Any] | None = None, **options: Any) -> str:
    """DOT text for `tape` with validated options (the engine behind `to_dot` and `graph`)."""
    opts = check_options(options)
    return _Builder(tape, opts, highlight, grads).dot()


def scopes(tape: GradientTape) -> list[str]:
    """The name scopes on the tape, in order of first appearance."""
    out: dict[str, None] = {}
    for rec in tape.ops:
        if rec.scopes:
            out.setdefault("/".join(rec.scopes), None)
    return list(out)


def layer_collapse(tape: GradientTape, layer_names: Sequence[str]) -> tuple[str, ...]:
    """Scope paths to collapse so that each named layer becomes one node."""
    names = set(layer_names)
    result: dict[str, None] = {}
    for path in scopes(tape):
        parts = path.split("/")
        for j, p in enumerate(parts):
            if p in names:
                result.setdefault("/".join(parts[: j + 1]), None)
                break
    return tuple(result)
