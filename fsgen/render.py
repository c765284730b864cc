"""Plans and model -> XML text through the Jinja2 templates in fsgen/templates/.

Autoescape is on for every template, and values that come from flows go through the `attr`
filter, which also turns newlines and tabs into character references: no value (mailbox
names, agent contacts, variable values) can close an attribute, open an element or start a
new line in the generated XML.

A context's extensions (most of the output: hundreds per flow) are plain structure, so they
are built here with string formatting instead of template loops, escaped exactly as the
templates escape (`extensions_xml`); the templates keep the documents' frames.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup, escape

from . import model as m
from .errors import Problem, Severity
from .plan import Action, Condition, ContextPlan, FlowPlanner, public_expression

_ESC = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;", "\n": "&#10;", "\r": "&#13;",
        "\t": "&#9;"}
_ESC_RE = re.compile("[&<>\"'\n\r\t]")


def xml_escape(text: str) -> str:
    return _ESC_RE.sub(lambda mt: _ESC[mt.group()], text)


def _attr(value: Any) -> Markup:
    """Attribute text: markupsafe's (C) escaping, plus newlines and tabs as character references."""
    text = escape(value)
    if "\n" in text or "\r" in text or "\t" in text:
        plain = str(text)  # Markup.replace would escape the references we put in
        text = Markup(plain.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;"))
    return text


def _xmlattrs(attrs: dict[str, str]) -> Markup:
    return Markup("".join([f' {k}="{_attr_text(v)}"' for k, v in attrs.items()]))


def _esc_char(mt: re.Match[str]) -> str:
    return _ESC[mt.group()]


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("fsgen", "templates"),
        autoescape=True,
        auto_reload=False,  # templates are package files: no stat per render
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["xmlattr"] = _xmlattrs
    env.filters["attr"] = _attr
    return env


_ENV: jinja2.Environment | None = None


def _env() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = environment()
    return _ENV


@dataclass
class QueueView:
    flow: str
    name: str
    queue_name: str
    params: list[tuple[str, str]]


def _queue_params(flow: m.Flow, q: m.Queue, files: Any) -> list[tuple[str, str]]:
    music = q.music if q.music.startswith("local_stream://") else files([q.music])
    params = [
        ("strategy", q.strategy),
        ("moh-sound", music),
        ("time-base-score", "system"),
        ("max-wait-time", str(q.max_wait)),
        ("max-wait-time-with-no-agent", str(q.max_wait_no_agent)),
        ("max-wait-time-with-no-agent-time-reached", str(q.max_wait_no_agent_reached)),
        ("tier-rules-apply", "true" if q.tier_rules_apply else "false"),
        ("discard-abandoned-after", str(q.discard_abandoned_after)),
        ("abandoned-resume-allowed", "false"),
    ]
    if q.announce_prompt and q.announce_every:
        params += [("announce-sound", files([q.announce_prompt])), ("announce-frequency", str(q.announce_every))]
    return params


def _text(value: str) -> str:
    """Element and action text as autoescape writes it (markupsafe: &#34; and &#39; for quotes)."""
    return str(escape(value))


def _attr_text(value: str) -> str:
    """An attribute value as the xmlattr filter writes it."""
    return _ESC_RE.sub(_esc_char, value) if _ESC_RE.search(value) else value


def _escaped(name: str, conditions: list[Condition]) -> tuple[str, list[Condition]]:
    """An extension with every value escaped, ready to be written as is."""
    return _text(name), [
        Condition({k: _attr_text(v) for k, v in attrs.items()},
                  [Action(_text(app), None if data is None else _text(data)) for app, data in actions],
                  [Action(_text(app), None if data is None else _text(data)) for app, data in anti_actions])
        for attrs, actions, anti_actions in conditions]


def _extension(name: str, conditions: list[Condition]) -> tuple[str, int]:
    """One <extension> with its values written as they are, and how many of the characters
    escaping could change its own markup holds."""
    parts = [f'    <extension name="{name}">\n']
    tags = 2
    quotes = 2
    for attrs, actions, anti_actions in conditions:
        quotes += 2 * len(attrs)
        a = "".join([f' {k}="{v}"' for k, v in attrs.items()])
        if actions or anti_actions:
            parts.append(f"      <condition{a}>\n")
            for tag, group in (("action", actions), ("anti-action", anti_actions)):
                for app, data in group:
                    if data is None:
                        parts.append(f'        <{tag} application="{app}"/>\n')
                        quotes += 2
                    else:
                        parts.append(f'        <{tag} application="{app}" data="{data}"/>\n')
                        quotes += 4
            parts.append("      </condition>\n")
            tags += 2 + len(actions) + len(anti_actions)
        else:
            parts.append(f"      <condition{a}/>\n")
            tags += 1
    parts.append("    </extension>")
    # a `<`, a `>` and a newline per element (none after the last), two quotes per attribute
    return "".join(parts), 3 * tags - 1 + quotes


#: the characters escaping can change (autoescape: & < > " '; attributes also newline, CR, tab)
_SPECIALS = b"&<>\"'\n\r\t"


def extensions_xml(plan: ContextPlan) -> Markup:
    """The <extension> elements of a context, as context.xml.j2 used to loop over them.

    Almost no value needs escaping, so each extension is first written as is. It is kept when
    it holds exactly as many of the characters escaping could change as its own markup does:
    then no value held one, and escaping would have changed nothing. Otherwise it is written
    again from escaped values."""
    out = []
    for name, conditions in plan.extensions:
        text, own = _extension(name, conditions)
        data = text.encode()
        if len(data) - len(data.translate(None, _SPECIALS)) != own:
            text = _extension(*_escaped(name, conditions))[0]
        out.append(text)
    return Markup("\n".join(out))


def render_context(flow: m.Flow, plan: ContextPlan) -> str:
    return _env().get_template("context.xml.j2").render(flow=flow.name, plan=plan, extensions=extensions_xml(plan))


@dataclass
class FlowOutput:
    """One flow rendered: its own files, and its share of the shared callcenter.conf."""

    files: dict[str, bytes]
    queues: list[QueueView]
    queues_xml: str  # the flow's <queue> elements (rendered here, joined by render_shared)
    agents: list[m.Agent]
    tiers: list[dict[str, Any]]
    problems: list[Problem]


def render_flow(flow: m.Flow, timezones: dict[str, str | None], environ: Mapping[str, str]) -> FlowOutput:
    """Context, public and directory files of one flow (PINs from `environ`)."""
    tpl = _env()
    planner = FlowPlanner(flow, timezones)
    plan = planner.plan()
    out = FlowOutput({f"dialplan/{flow.context}.xml": render_context(flow, plan).encode()}, [], "", [], [], [])
    if flow.numbers:
        text = tpl.get_template("public.xml.j2").render(
            flow=flow, expression=public_expression([n for n, _ in flow.numbers]))
        out.files[f"dialplan/public/{flow.context}.xml"] = text.encode()
    for q in flow.queues():
        out.queues.append(QueueView(flow.name, q.name, q.queue_name, _queue_params(flow, q, planner.files)))
        for a in q.agents:
            out.agents.append(a)
            out.tiers.append({"agent": a.name, "queue": q.queue_name, "level": a.level, "position": a.position})
    if out.queues:
        out.queues_xml = tpl.get_template("callcenter_queues.xml.j2").render(queues=out.queues).rstrip("\n")
    for box in flow.mailboxes.values():
        password = "$${default_password}"
        if box.pin_env:
            pin = environ.get(box.pin_env)
            if pin is None:
                out.problems.append(Problem.at(box.loc, f"mailbox '{box.id}': environment variable {box.pin_env} "
                                                        "is not set; the stock $${default_password} applies",
                                               severity=Severity.WARNING))
            elif not re.fullmatch(r"[0-9]{4,12}", pin):
                out.problems.append(Problem.at(box.loc, f"mailbox '{box.id}': {box.pin_env} must be 4 to 12 "
                                                        "digits"))
            else:
                password = pin
        text = tpl.get_template("directory_user.xml.j2").render(flow=flow, box=box, password=password)
        out.files[f"directory/default/hotline_{box.number}.xml"] = text.encode()
    return out


def render_shared(outputs: Iterable[FlowOutput]) -> dict[str, bytes]:
    """Files made of every flow: callcenter.conf.xml (outputs in flow-name order)."""
    queues: list[Markup] = []
    agents: dict[str, m.Agent] = {}
    tiers: list[dict[str, Any]] = []
    for out in outputs:
        if out.queues_xml:
            queues.append(Markup(out.queues_xml))  # already escaped by its template
        for a in out.agents:
            agents.setdefault(a.name, a)
        tiers += out.tiers
    text = _env().get_template("callcenter.conf.xml.j2").render(
        queues=queues, agents=list(agents.values()), tiers=tiers)
    return {"autoload_configs/callcenter.conf.xml": text.encode()}


def render_project(flows: Iterable[m.Flow], env: Mapping[str, str] | None = None
                   ) -> tuple[dict[str, bytes], list[Problem]]:
    """Every output file (path relative to the conf root -> bytes) and render-time problems.

    `env` supplies mailbox PINs (`pin_env`); it defaults to os.environ.
    """
    environ = os.environ if env is None else env
    ordered = sorted(flows, key=lambda f: f.name)
    timezones = {f.name: f.settings.timezone for f in ordered}
    outputs = [render_flow(f, timezones, environ) for f in ordered]
    files: dict[str, bytes] = {}
    problems: list[Problem] = []
    for out in outputs:
        files.update(out.files)
        problems += out.problems
    files.update(render_shared(outputs))
    return files, problems


def recording_dirs(flows: Iterable[m.Flow]) -> list[str]:
    """Folders under $${recordings_dir} the switch must have (record and record_session)."""
    out = set()
    for flow in flows:
        if flow.settings.record_agent_calls:
            out.add(f"hotline/{flow.name}/calls")
        for node in flow.nodes.values():
            if isinstance(node, m.Record):
                out.add(f"hotline/{flow.name}/{node.folder}")
    return sorted(out)
