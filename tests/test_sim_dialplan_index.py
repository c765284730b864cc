"""The dialplan's destination index skips only extensions that provably cannot match.

A hunt looks only at the extensions whose first condition could match the destination
(a literal ``^...$`` on destination_number, no anti-actions, break on-false/always, no time
attributes).  Random contexts -- continue, anti-actions, break modes, inline actions that change
the destination, nested conditions, regex lists, time attributes, ``${}`` fields, captures,
bad regexes, auto_hunt, a destination ending in a newline -- must produce the same trace with
the index as when every extension is evaluated.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fsgen.sim import dialplan
from fsgen.sim.dialplan import CompiledContext, _literal
from fsgen.sim.testing import call, make_conf, simulator

DESTS = ["100", "101", "a.b", "axb", "100\n", "entry", ""]
EXPRS = ["^100$", "^101$", "^a\\.b$", "^a.b$", "^(1)(0)0$", "^1", "^$", "^100\\$", "${x}", "^${dest}$",
         "^entry$", "[", "^(?:100|101)$", "/^100$/i", "^100$", "^a\\\\.b$"]
FIELDS = ["destination_number", "destination_number", "caller_id_number", "${x}", "${dest}"]


def _cond(r: random.Random, depth: int = 0) -> str:
    attrs = []
    kind = r.random()
    if kind < 0.6:
        attrs += [f'field="{r.choice(FIELDS)}"', f'expression="{r.choice(EXPRS)}"']
    elif kind < 0.7:
        attrs.append(f'wday="{r.choice(["1-7", "2", "mon-fri"])}"')
    elif kind < 0.75:
        attrs.append(f'regex="{r.choice(["all", "any", "xor"])}"')
    if r.random() < 0.5:
        attrs.append(f'break="{r.choice(["on-true", "on-false", "always", "never", "bogus"])}"')
    if r.random() < 0.1:
        attrs.append(f'hour="{r.choice(["0-23", "5"])}"')
    body = []
    if "regex=" in " ".join(attrs):
        body += [f'<regex field="{r.choice(FIELDS[:3])}" expression="{r.choice(EXPRS)}"/>'
                 for _ in range(r.randint(1, 3))]
    for _ in range(r.randint(0, 3)):
        inline = r.random() < 0.2
        app = r.choice(["set", "log", "set_profile_var"]) if inline else r.choice(["set", "log"])
        data = r.choice(["v=$1", "x=1", "x=", "y=${x}", "destination_number=101", "destination_number=100",
                         "dest=100"])
        data = "INFO " + data if app == "log" else data
        flag = ' inline="true"' if inline else ""
        body.append(f'<action application="{app}" data="{data}"{flag}/>')
    body += ['<anti-action application="set" data="anti=$1"/>'] * r.choice([0, 0, 1])
    if depth < 2 and r.random() < 0.15:
        body.append(_cond(r, depth + 1))
    return f'<condition {" ".join(attrs)}>{"".join(body)}</condition>'


def _context(r: random.Random, name: str) -> str:
    exts = []
    for i in range(r.randint(1, 8)):
        cont = ' continue="true"' if r.random() < 0.2 else ""
        exts.append(f'<extension name="e{i}"{cont}>{"".join(_cond(r) for _ in range(r.randint(1, 3)))}</extension>')
    return f'<context name="{name}">{"".join(exts)}</context>'


N = 400


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str]]]:
    r = random.Random(20261123)
    calls = [(f"t{i}", r.choice(DESTS)) for i in range(N)]
    root = make_conf(tmp_path_factory.mktemp("index") / "conf", "\n".join(_context(r, c) for c, _ in calls))
    return root, calls


def _traces(root: Path, calls: list[tuple[str, str]]) -> list[list[dict]]:
    sim = simulator(root, start="2026-11-23T10:15:00+00:00")
    out = []
    for context, dest in calls:
        before = len(sim.trace.records)
        variables = {"x": "1", "auto_hunt": "true"} if dest == "101" else {"x": "100"}
        call(sim, dest, context, variables=variables)
        out.append([{k: v for k, v in rec.items() if k != "t"} for rec in sim.trace.records[before:]])
    return out


def test_indexed_hunts_equal_full_hunts(plans: tuple[Path, list[tuple[str, str]]],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root, calls = plans
    indexed = _traces(root, calls)
    skipped = 0
    conf = simulator(root).conf
    for context, dest in calls:
        cc = CompiledContext(conf.contexts[context])
        skipped += len(cc.exts) - len(cc.candidates(dest))
    assert skipped > 50          # the index really skips extensions in these plans
    monkeypatch.setattr(dialplan.CompiledContext, "candidates", lambda self, dest: list(range(len(self.exts))))
    assert _traces(root, calls) == indexed


@pytest.mark.parametrize("pattern,literal", [
    ("^main_menu\\.ask$", "main_menu.ask"), ("^95598$", "95598"), ("^$", ""), ("^a b$", "a b"),
    ("^(1|2)$", None), ("^\\d+$", None), ("^a\\$", None), ("^x{3}$", None), ("^foo", None), ("foo$", None),
    ("^a.b$", None), ("^a\\\\b$", "a\\b"), ("^a\\nb$", None),
])
def test_literal_patterns(pattern: str, literal: str | None) -> None:
    assert _literal(pattern) == literal
