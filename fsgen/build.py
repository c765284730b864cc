"""Checked data (validate/schema) -> model dataclasses.

Works on partially valid data: nodes, prompts and mailboxes whose definitions had schema
errors are left out but remembered by name, so later checks don't report references to
them as undefined (the real error was already reported where it is).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import model as m
from .errors import Loc, Problem, Severity
from .validate import Rec


def _locs(rec: Rec) -> dict[str, Loc]:
    return rec.value_locs


def _failure(rec: Rec | None, loc: Loc) -> m.FailureRule:
    if not rec:
        return m.FailureRule(m.HANGUP, 3, None, loc)
    return m.FailureRule(rec["then"], rec.get("max", 3), rec.get("prompt"), rec.vloc("then"))


def _dial(rec: Rec) -> m.DialTarget:
    for kind in ("user", "extension", "gateway"):
        if kind in rec:
            return m.DialTarget(kind, str(rec[kind]), rec.loc, rec.get("number"), rec.get("context", "default"))
    raise ValueError("dial target without user, extension or gateway")  # prevented by the schema


def _menu(d: Rec, base: dict[str, Any]) -> m.Node:
    opts: Rec = d["options"]
    options = [m.MenuOption(opts.parsed_keys[text], target, opts.key_locs[text]) for text, target in opts.items()]
    return m.Menu(
        **base, prompts=list(d["prompts"]), reprompts=list(d.get("reprompts") or []), options=options,
        timeout=d["timeout"], inter_digit_timeout=d["inter_digit_timeout"], barge_in=d["barge_in"],
        terminator=d["terminator"], invalid=_failure(d.get("invalid"), d.loc),
        no_input=_failure(d.get("no_input"), d.loc),
    )


def _hours(d: Rec, base: dict[str, Any]) -> m.Node:
    hours: Rec = d["open"]
    open_ = [m.OpenHours(hours.parsed_keys[k], ranges) for k, ranges in hours.items()]
    holidays = []
    for h in d.get("holidays") or []:
        holidays.append((h["from"], h["to"]) if isinstance(h, dict) else (h, h))
    return m.Hours(**base, open=open_, holidays=holidays, then_open=d["then_open"], then_closed=d["then_closed"])


def _branch(d: Rec, base: dict[str, Any]) -> m.Node:
    cases = []
    for case in d["cases"]:
        tests = [(op, case[op]) for op in ("equals", "regex", "gt", "ge", "lt", "le", "empty") if op in case]
        cases.append(m.Case(tests, case["then"], case.loc))
    return m.Branch(**base, variable=d["variable"], cases=cases, otherwise=d["else"])


def _queue(d: Rec, base: dict[str, Any], flow: str) -> m.Node:
    ann = d.get("announce")
    des = d.get("designated_agent")
    agents = [
        m.Agent(a["name"], a["contact"], a.loc, a["level"], a["position"], a["status"], a["max_no_answer"],
                a["wrap_up_time"], a["reject_delay_time"], a["busy_delay_time"], a["no_answer_delay_time"])
        for a in d.get("agents") or []
    ]
    return m.Queue(
        **base, flow=flow, strategy=d["strategy"], music=d["music"],
        announce_prompt=ann["prompt"] if ann else None, announce_every=ann["every"] if ann else None,
        max_wait=d["max_wait"], max_wait_no_agent=d["max_wait_no_agent"],
        max_wait_no_agent_reached=d["max_wait_no_agent_reached"],
        discard_abandoned_after=d["discard_abandoned_after"], tier_rules_apply=d["tier_rules_apply"],
        designated_variable=des["variable"] if des else None, designated_timeout=des["timeout"] if des else 15,
        agents=agents, on_timeout=d["on_timeout"], on_no_agent=d.get("on_no_agent"), after=d.get("after"),
    )


def _transfer(d: Rec, base: dict[str, Any]) -> m.Node:
    target = None
    if "user" in d:
        target = m.DialTarget("user", str(d["user"]), d.vloc("user"))
    elif "extension" in d:
        target = m.DialTarget("extension", str(d["extension"]), d.vloc("extension"), context=d["context"])
    elif "gateway" in d:
        target = m.DialTarget("gateway", d["gateway"], d.vloc("gateway"), d.get("number"))
    return m.Transfer(**base, target=target, flow_target=d.get("flow"), node_target=d.get("node"),
                      timeout=d["timeout"], fallback=d.get("fallback"), after=d.get("after"))


def _simple(cls: type[m.Node], **keys: str) -> Callable[[Rec, dict[str, Any]], m.Node]:
    def make(d: Rec, base: dict[str, Any]) -> m.Node:
        values: dict[str, Any] = {attr: (list(d[key]) if isinstance(d.get(key), list) else d.get(key))
                  for attr, key in keys.items() if key in d}
        return cls(**base, **values)
    return make


_BUILDERS: dict[str, Callable[[Rec, dict[str, Any]], m.Node]] = {
    "menu": _menu,
    "hours": _hours,
    "branch": _branch,
    "transfer": _transfer,
    "play": _simple(m.Play, prompts="prompts", between="between", next="next"),
    "say": _simple(m.Say, variable="variable", say_as="as", prefix="prefix", suffix="suffix", next="next"),
    "lookup": _simple(m.Lookup, lookups="lookups", mode="mode", next="next"),
    "collect": _simple(m.Collect, prompts="prompts", variable="variable", min="min", max="max", regex="regex",
                       tries="tries", timeout="timeout", inter_digit_timeout="inter_digit_timeout",
                       terminator="terminator", invalid_prompt="invalid_prompt", next="next", failure="failure"),
    "voicemail": _simple(m.Voicemail, mailbox="mailbox", greeting="greeting", next="next"),
    "record": _simple(m.Record, folder="name", prompt="prompt", max_seconds="max_seconds",
                      silence_seconds="silence_seconds", next="next"),
    "survey": _simple(m.Survey, prompts="prompts", thanks="thanks", invalid_prompt="invalid_prompt",
                      tries="tries", timeout="timeout"),
    "hangup": _simple(m.Hangup, cause="cause", prompt="prompt"),
}


def _node(name: str, d: Rec, flow: str) -> m.Node:
    base: dict[str, Any] = {"name": name, "loc": d.loc, "title": d.get("title"), "locs": _locs(d)}
    kind = d["type"]
    if kind == "queue":
        return _queue(d, base, flow)
    if kind == "set":
        return m.SetVars(**base, variables=list(d["variables"].items()), next=d["next"])
    if kind == "conference":
        return m.Conference(**base, room=d.get("room") or name, dial=[_dial(t) for t in d["dial"]],
                            flags=list(d["flags"]), timeout=d["timeout"], after=d.get("after"))
    node = _BUILDERS[kind](d, base)
    if isinstance(node, m.Play) and node.between is not None:
        node.between = (node.between[0], node.between[1])
    return node


def _prompt(pid: str, spec: Rec, flow: str, languages: list[str]) -> m.Prompt:
    if "file" in spec:
        return m.Prompt(pid, spec.loc, [m.PromptPart(spec["file"])])
    parts = []
    for lang in languages:
        entry = spec.get(lang)
        if entry is None:
            continue
        if isinstance(entry, dict):
            parts.append(m.PromptPart(entry["file"], lang, entry.get("text")))
        else:
            parts.append(m.PromptPart(f"{flow}/{pid}.{lang}.wav", lang, entry, rendered=True))
    return m.Prompt(pid, spec.loc, parts)


def build_flow(data: Rec, file: str, had_errors: bool) -> tuple[m.Flow | None, list[Problem]]:
    """Model of one checked file; None when the essentials (flow, start, nodes) are missing."""
    problems: list[Problem] = []
    if not all(k in data for k in ("flow", "start", "nodes")):
        return None, problems
    name = data["flow"]
    # numbers and languages are missing when their values had errors (already reported): the
    # flow then claims no numbers, and takes the languages its prompts are written in (so no
    # prompt is reported for a language the author may well have listed)
    if "languages" in data:
        languages = list(data["languages"])
    else:
        languages = list(dict.fromkeys(lang for spec in (data.get("prompts") or {}).values()
                                       for lang in spec if lang != "file")) or ["zh"]
    numbers = data.get("numbers", [])
    settings_rec = data.get("settings")
    settings = m.Settings()
    if settings_rec:
        esl = settings_rec.get("esl") or {}
        settings = m.Settings(
            timezone=settings_rec.get("timezone"), esl_host=esl.get("host", "127.0.0.1"),
            esl_port=esl.get("port", 8084), record_agent_calls=settings_rec.get("record_agent_calls", False),
            prompt_dir=settings_rec.get("prompt_dir", "$${sounds_dir}/hotline"),
            extra_lookups=list(settings_rec.get("extra_lookups") or []),
        )
    flow = m.Flow(
        name=name, file=file, loc=data.loc, start=data["start"], start_loc=data.vloc("start"),
        title=data.get("title"), numbers=[(str(n), loc) for n, loc in zip(numbers, getattr(numbers, "item_locs", []))],
        languages=languages, settings=settings, broken=had_errors,
    )
    prompts = data.get("prompts") or Rec(data.loc)
    for pid, spec in prompts.items():
        prompt = _prompt(pid, spec, name, languages)
        if not prompt.parts:
            problems.append(Problem.at(spec.loc, f"prompt '{pid}' has none of the flow's languages "
                                                 f"({', '.join(languages)})"))
        unused = [k for k in spec if k != "file" and k not in languages]
        if unused:
            problems.append(Problem.at(spec.key_locs[unused[0]],
                                       f"prompt '{pid}' has '{unused[0]}', which is not in the flow's languages "
                                       f"({', '.join(languages)}); it is never played",
                                       severity=Severity.WARNING))
        flow.prompts[pid] = prompt
    flow.broken_prompts = set(getattr(prompts, "invalid_keys", set()))
    mailboxes = data.get("mailboxes") or Rec(data.loc)
    for mid, mb in mailboxes.items():
        flow.mailboxes[mid] = m.Mailbox(mid, mb.loc, str(mb["number"]), mb.get("name"), mb.get("email"),
                                        mb.get("pin_env"))
    flow.broken_mailboxes = set(getattr(mailboxes, "invalid_keys", set()))
    for node_name, d in data["nodes"].items():
        flow.nodes[node_name] = _node(node_name, d, name)
    flow.broken_nodes = set(data["nodes"].invalid_keys)
    return flow, problems
