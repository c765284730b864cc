"""Checking a call script's ``expect:`` against what the replay observed.

Lists (prompts heard, menus, nodes) are compared as an ordered subsequence by default -- the
expected items appear in this order, others may come between -- or exactly (``{exact: [...]}``
or ``exact: true`` for every list of the script).  Every failure comes back as a value with the
script location of the expectation and a diff a person can act on; nothing here raises.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..errors import Loc
from .script import CallScript, ListExpect
from .transcript import Heard, Observation


@dataclass
class Failure:
    what: str
    loc: Loc
    message: str
    diff: list[str] = field(default_factory=list)

    def format(self) -> str:
        text = f"{self.loc}: expected {self.what}: {self.message}"
        return text + "".join("\n    " + line for line in self.diff)


def _matches_prompt(expected: str, heard: Heard) -> bool:
    if expected == heard.id:
        return True
    return any(expected == os.path.basename(f) or f.endswith("/" + expected) for f in heard.files)


def _subsequence(expected: Sequence[str], observed: Sequence[object],
                 same: Callable[[str, object], bool]) -> int | None:
    """Index in ``expected`` of the first item that could not be found in order (None: all found)."""
    pos = 0
    for i, item in enumerate(expected):
        while pos < len(observed) and not same(item, observed[pos]):
            pos += 1
        if pos >= len(observed):
            return i
        pos += 1
    return None


def _list_failure(what: str, exp: ListExpect, observed: list[object], shown: list[str],
                  same: Callable[[str, object], bool]) -> Failure | None:
    if exp.exact:
        ok = len(exp.items) == len(observed) and all(same(e, o) for e, o in zip(exp.items, observed))
        if ok:
            return None
        diff = [line for line in difflib.ndiff(exp.items, shown) if not line.startswith("?")]
        return Failure(what, exp.loc, "exactly these, in this order (- expected, + observed)", diff)
    missing = _subsequence(exp.items, observed, same)
    if missing is None:
        return None
    after = f" after {exp.items[missing - 1]}" if missing else ""
    return Failure(what, exp.loc, "these in this order (others may come between)", [
        "expected: " + ", ".join(exp.items),
        "observed: " + (", ".join(shown) or "(none)"),
        f"missing:  {exp.items[missing]}{after}",
    ])


def check(script: CallScript, obs: Observation, steps_missed: list[str]) -> list[Failure]:
    """Every expectation of ``script`` that ``obs`` does not meet, plus steps that never ran
    and simulator errors (a call the simulator could not replay faithfully never passes)."""
    out: list[Failure] = []
    for msg in steps_missed:
        out.append(Failure("every step to run", script.loc, msg))
    for err in obs.errors:
        out.append(Failure("no simulator error", script.loc, err))
    ex = script.expect
    if ex is None:
        return out

    def at(key: str) -> Loc:
        return ex.locs.get(key, ex.loc)

    if ex.heard is not None:
        f = _list_failure("prompts heard", ex.heard, list(obs.heard), obs.heard_ids(),
                          lambda e, o: _matches_prompt(e, o))  # type: ignore[arg-type]
        if f:
            out.append(f)
    for name in ex.not_heard:
        hits = [h for h in obs.heard if _matches_prompt(name, h)]
        if hits:
            out.append(Failure("not to hear " + name, at("not_heard"), f"heard it at {hits[0].t:.1f} s"))
    names_menus = [n for _, n in obs.menus]
    names_nodes = [n for _, n in obs.nodes]
    if ex.menus is not None:
        f = _list_failure("menus entered", ex.menus, list(names_menus), names_menus, lambda e, o: e == o)
        if f:
            out.append(f)
    if ex.nodes is not None:
        f = _list_failure("nodes visited", ex.nodes, list(names_nodes), names_nodes, lambda e, o: e == o)
        if f:
            out.append(f)
    for name in ex.not_visited:
        if name in names_nodes:
            t = next(t for t, n in obs.nodes if n == name)
            out.append(Failure("not to visit " + name, at("not_visited"), f"node {name} ran at {t:.1f} s"))
    for var, want in ex.variables.items():
        got = obs.variables.get(var)
        if want is None and got is not None:
            out.append(Failure(f"variable {var} unset", at("variables"), f"it is '{got}'"))
        elif want is not None and got != want:
            shown = "unset" if got is None else f"'{got}'"
            out.append(Failure(f"variable {var} = '{want}'", at("variables"), f"it is {shown}"))
    if ex.queue is False and obs.queues:
        out.append(Failure("no queue", at("queue"), f"joined {obs.queues[0].queue} at {obs.queues[0].t:.1f} s"))
    elif isinstance(ex.queue, str):
        joins = [q for q in obs.queues if ex.queue in (q.queue, q.queue.split("@")[0], q.node)]
        if not joins:
            seen = ", ".join(q.queue for q in obs.queues) or "none"
            out.append(Failure(f"queue {ex.queue}", at("queue"), f"queues joined: {seen}"))
        elif ex.queue_position is not None and joins[0].position != ex.queue_position:
            out.append(Failure(f"position {ex.queue_position} in {ex.queue}", at("queue"),
                               f"joined at position {joins[0].position}"))
    if ex.bridged_to is False and obs.bridges:
        out.append(Failure("no bridge", at("bridged_to"), f"bridged to {obs.bridges[0].party}"))
    elif isinstance(ex.bridged_to, str):
        want = ex.bridged_to
        if not any(want in (br.party, br.party.split("/")[-1]) or want in br.channel for br in obs.bridges):
            seen = ", ".join(f"{br.party} ({br.channel})" for br in obs.bridges) or "nobody"
            out.append(Failure(f"a bridge to {want}", at("bridged_to"), f"bridged to: {seen}"))
    left = [box for _, box, recorded in obs.voicemails if recorded]
    if ex.voicemail is False and left:
        out.append(Failure("no voicemail", at("voicemail"), f"a message was left in box {left[0]}"))
    elif isinstance(ex.voicemail, str) and ex.voicemail not in left:
        tried = ", ".join(f"{box} ({'message recorded' if rec else 'no message'})" for _, box, rec in obs.voicemails)
        out.append(Failure(f"a message in box {ex.voicemail}", at("voicemail"), f"voicemail: {tried or 'none'}"))
    if ex.recording is True and not obs.recordings:
        out.append(Failure("a recording", at("recording"), "nothing was recorded"))
    elif ex.recording is False and obs.recordings:
        out.append(Failure("no recording", at("recording"), f"recorded {obs.recordings[0][1]}"))
    elif isinstance(ex.recording, str) and not any(ex.recording in f for _, f in obs.recordings):
        seen = ", ".join(f for _, f in obs.recordings) or "none"
        out.append(Failure(f"a recording matching '{ex.recording}'", at("recording"), f"recordings: {seen}"))
    if ex.hangup is not None and obs.hangup != ex.hangup:
        out.append(Failure(f"hangup cause {ex.hangup}", at("hangup"), f"the call ended with {obs.hangup}"))
    return out
