"""Pictures of a flow: Mermaid text (always) and Graphviz SVG/PNG (when `dot` exists)."""

from __future__ import annotations

import shutil
import subprocess

from . import model as m


class GraphvizMissing(Exception):
    pass


def _node_label(node: m.Node) -> str:
    label = f"{node.name}\n{node.kind}"
    if node.title:
        label += f"\n{node.title}"
    if isinstance(node, m.Queue):
        label += f"\n{node.queue_name}"
    if isinstance(node, m.Hangup):
        label += f"\n{node.cause}"
    return label


def _edges(flow: m.Flow) -> list[tuple[str, str, str, bool]]:
    """(from, to, label, dashed) with top -> start, back and hangup as pseudo nodes."""
    out = []
    for node in flow.nodes.values():
        for edge in node.edges():
            target = edge.target
            if target == m.TOP:
                target = flow.start
            out.append((node.name, target, edge.label, edge.target in (m.BACK, m.TOP)))
    return out


def _mm(text: str) -> str:
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("\n", "<br/>"))


def mermaid(flow: m.Flow) -> str:
    lines = ["flowchart TD", f'  entry(["{_mm(flow.title or flow.name)}"]) --> n_{flow.start}']
    for node in flow.nodes.values():
        shape = ('{{"', '"}}') if node.kind in ("branch", "hours") else ('["', '"]')
        lines.append(f"  n_{node.name}{shape[0]}{_mm(_node_label(node))}{shape[1]}")
    used = set()
    for src, dst, label, dashed in _edges(flow):
        arrow = "-.->" if dashed else "-->"
        if dst in (m.HANGUP, m.BACK):
            used.add(dst)
        target = f"x_{dst}" if dst in (m.HANGUP, m.BACK) else f"n_{dst}"
        lines.append(f'  n_{src} {arrow}|"{_mm(label)}"| {target}')
    if m.HANGUP in used:
        lines.append('  x_hangup(("hang up"))')
    if m.BACK in used:
        lines.append('  x_back(["previous menu"])')
    return "\n".join(lines) + "\n"


def _dq(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(flow: m.Flow) -> str:
    lines = [f"digraph {_dq(flow.name)} {{", "  rankdir=TB;", '  node [shape=box, fontname="sans-serif"];',
             f"  entry [shape=oval, label={_dq(flow.title or flow.name)}];", f"  entry -> {_dq(flow.start)};"]
    for node in flow.nodes.values():
        shape = "diamond" if node.kind in ("branch", "hours") else "box"
        lines.append(f"  {_dq(node.name)} [shape={shape}, label={_dq(_node_label(node))}];")
    used = set()
    for src, dst, label, dashed in _edges(flow):
        if dst in (m.HANGUP, m.BACK):
            used.add(dst)
            dst = f"({dst})"
        style = ", style=dashed" if dashed else ""
        lines.append(f"  {_dq(src)} -> {_dq(dst)} [label={_dq(label)}{style}];")
    if m.HANGUP in used:
        lines.append('  "(hangup)" [shape=doublecircle, label="hang up"];')
    if m.BACK in used:
        lines.append('  "(back)" [shape=oval, label="previous menu"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_graphviz(flow: m.Flow, fmt: str) -> bytes:
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissing("Graphviz 'dot' is not installed (apt-get install graphviz); "
                              "`fsgen graph FLOW -o FILE.mmd` writes Mermaid text without it")
    proc = subprocess.run([dot, f"-T{fmt}"], input=to_dot(flow).encode(), capture_output=True, timeout=120,
                          check=False)
    if proc.returncode != 0:
        raise GraphvizMissing(f"dot failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout
