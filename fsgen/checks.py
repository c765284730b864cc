"""Whole-flow and cross-flow rules: references, reachability, stuck loops, overlapping
menu keys, DIDs and mailboxes claimed twice, prompt files on disk.

Runs on the model after the schema check. Whole-graph analysis (unreachable nodes,
loops) is skipped for a file that already has schema errors, because a broken node's
edges are unknown and the results would be noise.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import model as m
from .errors import Loc, Problem, Severity, did_you_mean
from .schema import BUILTIN_LOOKUPS, CACHEABLE_LOOKUPS

RecordingsFor = Callable[[m.Flow], Path]


@dataclass
class FlowSummary:
    """What cross-flow checks and shared files need from a flow (small enough to send between
    processes when flows are compiled in parallel)."""

    name: str
    file: str
    loc: Loc
    timezone: str | None
    nodes: set[str]
    numbers: list[tuple[str, Loc]]
    mailboxes: list[tuple[str, Loc]]
    agents: list[tuple[str, m.Agent]]  # (queue node, agent)
    transfers: list[tuple[str, str, str | None, Loc, Loc]]  # (node, flow, node in that flow, locs)
    dialled: list[tuple[str, str, Loc]] = field(default_factory=list)  # (node, user/extension number, loc)


def summarize(flow: m.Flow) -> FlowSummary:
    transfers = [(n.name, n.flow_target, n.node_target, n.at("flow"), n.at("node"))
                 for n in flow.nodes.values() if isinstance(n, m.Transfer) and n.flow_target]
    dialled = [(n.name, n.target.value, n.target.loc) for n in flow.nodes.values()
               if isinstance(n, m.Transfer) and n.target is not None and n.target.kind in ("user", "extension")
               and "$" not in n.target.value]
    return FlowSummary(
        flow.name, flow.file, flow.loc, flow.settings.timezone, set(flow.nodes) | flow.broken_nodes,
        list(flow.numbers), [(mb.number, mb.loc) for mb in flow.mailboxes.values()],
        [(q.name, a) for q in flow.queues() for a in q.agents], transfers, dialled)


def check_flows(flows: list[m.Flow], recordings_for: RecordingsFor) -> list[Problem]:
    problems: list[Problem] = []
    for flow in flows:
        problems += check_flow(flow, recordings_for(flow))
    return problems + check_across([summarize(f) for f in flows])


def check_across(flows: list[FlowSummary]) -> list[Problem]:
    """Rules between flows: unique names, DIDs, mailbox numbers, agents; transfers to other flows."""
    problems: list[Problem] = []
    by_name: dict[str, FlowSummary] = {}
    for flow in flows:
        if flow.name in by_name:
            first = by_name[flow.name]
            problems.append(Problem.at(flow.loc, f"flow '{flow.name}' is already defined in {first.file}",
                                       hint="flow names must be unique: each is a dialplan context"))
            continue
        by_name[flow.name] = flow
    for flow in flows:
        for node, target, target_node, flow_loc, node_loc in flow.transfers:
            other = by_name.get(target)
            if other is None:
                problems.append(Problem.at(flow_loc, f"undefined flow '{target}'{did_you_mean(target, by_name)}",
                                           node=node))
            elif target_node and target_node not in other.nodes:
                problems.append(Problem.at(node_loc, f"flow '{other.name}' has no node '{target_node}'"
                                                     f"{did_you_mean(target_node, other.nodes)}", node=node))
    problems += _first_claims(((num, f.name, loc) for f in flows for num, loc in f.numbers), "number")
    problems += _first_claims(((num, f.name, loc) for f in flows for num, loc in f.mailboxes), "mailbox number")
    problems += _check_agents(flows)
    problems += _check_dialled_mailboxes(flows)
    return problems


def _check_dialled_mailboxes(flows: list[FlowSummary]) -> list[Problem]:
    """A transfer to a number that is also a voicemail box: on one switch both are directory
    user <number>, so the transfer would ring the mailbox (a warning: the site may mean it)."""
    boxes = {number: (f.name, loc) for f in flows for number, loc in f.mailboxes}
    out: list[Problem] = []
    for flow in flows:
        for node, number, loc in flow.dialled:
            if number in boxes:
                owner, box_loc = boxes[number]
                out.append(Problem.at(loc, f"{number} is also a voicemail box of flow '{owner}' ({box_loc})",
                                      node=node, severity=Severity.WARNING,
                                      hint="give departments and mailboxes separate number ranges"))
    return out


def check_flow(flow: m.Flow, recordings: Path) -> list[Problem]:
    """Rules inside one flow (everything but the cross-flow ones)."""
    out: list[Problem] = []
    node_names = set(flow.nodes) | flow.broken_nodes
    if flow.start not in node_names:
        out.append(Problem.at(flow.start_loc, f"start: undefined node '{flow.start}'"
                                              f"{did_you_mean(flow.start, node_names)}"))
    ref_problems: list[Problem] = []
    # each node's edges and prompt references, worked out once for every rule below
    edges = {name: node.edges() for name, node in flow.nodes.items()}
    prompt_refs = {name: list(node.prompt_refs()) for name, node in flow.nodes.items()}
    prompt_ids = set(flow.prompts) | flow.broken_prompts
    for name, node in flow.nodes.items():
        ref_problems += _check_refs(flow, node, node_names, edges[name], prompt_refs[name], prompt_ids)
        out += _check_node(flow, node)
    out += ref_problems + _check_prompts(flow, recordings, prompt_refs)
    # with a broken node or a dangling reference the graph is unknown: loops and
    # unreachable nodes would only repeat the real error
    if not flow.broken and flow.start in flow.nodes and not any(p.is_error for p in ref_problems):
        out += _check_graph(flow, edges)
    return out


def _err(node: m.Node, loc: Loc, message: str, hint: str | None = None) -> Problem:
    return Problem.at(loc, message, node=node.name, hint=hint)


def _check_refs(flow: m.Flow, node: m.Node, names: set[str], edges: list[m.Edge],
                prompt_refs: list[tuple[str, Loc]], prompt_ids: set[str]) -> list[Problem]:
    out: list[Problem] = []
    for edge in edges:
        target = edge.target
        if target == m.TOP or target == m.HANGUP:
            continue
        if target == m.BACK:
            if not isinstance(node, m.Menu):
                out.append(_err(node, edge.loc, "'back' is only for menus (it returns to the menu that led here)"))
            continue
        if target not in names:
            out.append(_err(node, edge.loc, f"undefined node '{target}'{did_you_mean(target, names)}"))
    for pid, loc in prompt_refs:
        if pid not in prompt_ids:
            out.append(_err(node, loc, f"undefined prompt '{pid}'{did_you_mean(pid, prompt_ids)}"))
    if isinstance(node, m.Voicemail):
        boxes = set(flow.mailboxes) | flow.broken_mailboxes
        if node.mailbox not in boxes:
            out.append(_err(node, node.at("mailbox"), f"undefined mailbox '{node.mailbox}'"
                                                      f"{did_you_mean(node.mailbox, boxes)}",
                            hint="declare it under mailboxes: at the top of the flow"))
    return out


def _check_node(flow: m.Flow, node: m.Node) -> list[Problem]:
    out: list[Problem] = []
    if isinstance(node, m.Menu):
        for key, rule in (("invalid", node.invalid), ("no_input", node.no_input)):
            if rule.then == m.BACK:
                out.append(_err(node, rule.loc or node.loc, f"{key}.then cannot be 'back'; back is a menu option",
                                hint="use top or a node name"))
        seen: list[m.MenuOption] = []
        for opt in node.options:
            for prev in seen:
                if opt.key.overlaps(prev.key):
                    out.append(_err(node, opt.loc, f"option '{opt.key.text}' overlaps option '{prev.key.text}' "
                                                   f"(line {prev.loc.line}): a caller's keys would match both"))
                    break
            seen.append(opt)
            if node.terminator != "none" and any(node.terminator in pos and len(pos) == 1 and len(shape) == 1
                                                 for shape in opt.key.shapes for pos in shape):
                out.append(_err(node, opt.loc, f"option '{opt.key.text}' is the menu's terminator key",
                                hint="set terminator: none (or another key) to use it as an option"))
    elif isinstance(node, m.Collect):
        if node.min > node.max:
            out.append(_err(node, node.at("min"), f"min ({node.min}) is more than max ({node.max})"))
        if node.regex and any(bad in node.regex for bad in (" ", "'", '"', "\\\\")):
            out.append(_err(node, node.at("regex"), f"regex '{node.regex}' cannot contain spaces, quotes or \\\\ "
                                                    "here (play_and_get_digits splits and unescapes its arguments)",
                            hint="write a space as \\x20"))
    elif isinstance(node, m.Play) and node.between:
        if node.between[0] > node.between[1]:
            out.append(_err(node, node.at("between"), f"between: {node.between[0]} is after {node.between[1]}"))
    elif isinstance(node, m.Hours):
        for start, end in node.holidays:
            if start > end:
                out.append(_err(node, node.at("holidays"), f"holiday from {start} is after to {end}"))
    elif isinstance(node, m.Lookup):
        known = set(BUILTIN_LOOKUPS) | set(flow.settings.extra_lookups)
        for name in node.lookups:
            if name not in known:
                close = did_you_mean(name, BUILTIN_LOOKUPS)
                hint = ("built-in lookups: " + ", ".join(BUILTIN_LOOKUPS)
                        + "; declare site lookups under settings.extra_lookups")
                if close:
                    out.append(_err(node, node.at("lookups"), f"unknown lookup '{name}'{close}", hint=hint))
                else:
                    out.append(Problem.at(node.at("lookups"), f"lookup '{name}' is not built in: esl_app must "
                                          "have it registered as a site lookup", node=node.name, hint=hint,
                                          severity=Severity.WARNING))
            if node.mode == "cached" and name not in CACHEABLE_LOOKUPS:
                out.append(_err(node, node.at("mode"), f"lookup '{name}' cannot be cached",
                                hint="mode: cached works for " + ", ".join(CACHEABLE_LOOKUPS)))
    elif isinstance(node, m.Transfer):
        if node.target and node.target.kind == "gateway" and not node.target.number:
            out.append(_err(node, node.loc, "a gateway transfer needs number"))
        if "number" in node.locs and not (node.target and node.target.kind == "gateway"):
            out.append(_err(node, node.at("number"), "number is only used with gateway"))
        if node.node_target and not node.flow_target:
            out.append(_err(node, node.at("node"), "node is only used with flow (a node of another flow)"))
        if node.flow_target:
            for key in ("fallback", "after", "timeout"):
                if key in node.locs:
                    out.append(_err(node, node.at(key), f"{key} does not apply to a transfer to another flow; "
                                                        "the call leaves this flow"))
    elif isinstance(node, m.Conference):
        for target in node.dial:
            if target.kind == "gateway" and not target.number:
                out.append(_err(node, target.loc, "a gateway dial target needs number"))
    elif isinstance(node, m.Queue):
        names: dict[str, m.Agent] = {}
        for agent in node.agents:
            if agent.name in names:
                out.append(_err(node, agent.loc, f"agent '{agent.name}' is listed twice in this queue"))
            names[agent.name] = agent
    return out


def _check_prompts(flow: m.Flow, recordings: Path, prompt_refs: dict[str, list[tuple[str, Loc]]]) -> list[Problem]:
    out: list[Problem] = []
    used = {pid for refs in prompt_refs.values() for pid, _ in refs}
    unrendered: list[tuple[m.Prompt, Path]] = []
    base = os.fspath(recordings)
    for prompt in flow.prompts.values():
        if prompt.id not in used and not flow.broken_nodes:
            out.append(Problem.at(prompt.loc, f"prompt '{prompt.id}' is never used", severity=Severity.WARNING))
        for part in prompt.parts:
            if _is_file(os.path.join(base, part.path)):
                continue
            path = recordings / part.path
            if part.rendered:
                unrendered.append((prompt, path))
            else:
                out.append(Problem.at(prompt.loc, f"prompt '{prompt.id}': file {_display(path)} does not exist",
                                      hint="record it, or give the prompt text and run `fsgen prompts`"))
    if unrendered:
        first_prompt, first_path = unrendered[0]
        count = len(unrendered)
        out.append(Problem.at(
            first_prompt.loc,
            f"{count} text prompt{'s have' if count > 1 else ' has'} not been rendered yet "
            f"(first: {_display(first_path)})",
            hint="run `fsgen prompts` to render them with espeak-ng", severity=Severity.WARNING))
    return out


_MISSING_ERRNOS = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def _is_file(path: str) -> bool:
    """Path.is_file() without building a Path (the same errors are ignored or raised)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError as exc:
        if exc.errno in _MISSING_ERRNOS:
            return False
        raise
    except ValueError:
        return False


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def successors(flow: m.Flow, node: m.Node) -> list[str]:
    """Node names reachable in one step (top = start; hangup and back are not nodes)."""
    return _successors(flow, node.edges())


def _successors(flow: m.Flow, edges: list[m.Edge]) -> list[str]:
    out = []
    for edge in edges:
        target = flow.start if edge.target == m.TOP else edge.target
        if target in flow.nodes:
            out.append(target)
    return out


def _check_graph(flow: m.Flow, edges: dict[str, list[m.Edge]]) -> list[Problem]:
    out: list[Problem] = []
    succ = {name: _successors(flow, edges[name]) for name in flow.nodes}
    seen = {flow.start}
    todo = [flow.start]
    while todo:
        for nxt in succ[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    for name, node in flow.nodes.items():
        if name not in seen:
            out.append(Problem.at(node.loc, f"unreachable: no path leads here from start '{flow.start}'",
                                  node=name, hint="link it from another node, or delete it"))
    # nodes from which the caller can act or the call can end
    exits = {name for name, node in flow.nodes.items()
             if node.waits_for_caller or any(e.target == m.HANGUP for e in edges[name])}
    pred: dict[str, list[str]] = {name: [] for name in flow.nodes}
    for name, nexts in succ.items():
        for nxt in nexts:
            pred[nxt].append(name)
    free = set(exits)
    todo = list(exits)
    while todo:
        for p in pred[todo.pop()]:
            if p not in free:
                free.add(p)
                todo.append(p)
    trapped = [name for name in flow.nodes if name not in free and name in seen]
    reported: set[str] = set()
    for name in trapped:
        if name in reported:
            continue
        cycle = _cycle_from(name, succ, set(trapped))
        reported.update(cycle or [name])
        path = " -> ".join(cycle + cycle[:1]) if cycle else name
        out.append(Problem.at(
            flow.nodes[name].loc,
            f"loops forever: {path}; no menu, input, agent or hangup can be reached from here",
            node=name, hint="give the loop a way out, e.g. a menu, a hangup or a queue",
        ))
    return out


def _cycle_from(start: str, succ: dict[str, list[str]], within: set[str]) -> list[str]:
    """A cycle reached from `start` inside the trapped set, in visiting order."""
    path: list[str] = []
    index: dict[str, int] = {}
    node = start
    while node not in index:
        index[node] = len(path)
        path.append(node)
        nexts = [n for n in succ[node] if n in within]
        if not nexts:
            return []
        node = nexts[0]
    return path[index[node]:]


def _first_claims(items: Iterable[tuple[str, str, Loc]], what: str) -> list[Problem]:
    out: list[Problem] = []
    owner: dict[str, tuple[str, Loc]] = {}
    for key, flow, loc in items:
        if key in owner and owner[key][0] != flow:
            first_flow, first_loc = owner[key]
            out.append(Problem.at(loc, f"{what} {key} is already claimed by flow '{first_flow}' ({first_loc})"))
        else:
            owner.setdefault(key, (flow, loc))
    return out


def _check_agents(flows: list[FlowSummary]) -> list[Problem]:
    out: list[Problem] = []
    contacts: dict[str, m.Agent] = {}
    for flow in flows:
        for queue, agent in flow.agents:
            first = contacts.setdefault(agent.name, agent)
            if first is not agent and first.contact != agent.contact:
                out.append(Problem.at(agent.loc, f"agent '{agent.name}' has contact '{agent.contact}' here "
                                                 f"but '{first.contact}' at {first.loc}",
                                      node=queue, hint="an agent is one person: give one contact"))
    return out
