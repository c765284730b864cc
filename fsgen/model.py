"""The flow model: what a hotline does, independent of YAML (input) and XML (output).

Checks (`checks.py`), the renderer, the graph and the simulator all read these
dataclasses. Locations (`Loc`) are kept so later stages can still point at the line that
caused a problem.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from .errors import Loc
from .patterns import OptionKey

TOP, BACK, HANGUP = "top", "back", "hangup"


@dataclass
class PromptPart:
    """One recording: `path` is relative to recordings/ (and to settings.prompt_dir on the switch)."""

    path: str
    lang: str | None = None
    text: str | None = None
    rendered: bool = False  # produced by `fsgen prompts` from `text`


@dataclass
class Prompt:
    id: str
    loc: Loc
    parts: list[PromptPart]


@dataclass
class Mailbox:
    id: str
    loc: Loc
    number: str
    name: str | None = None
    email: str | None = None
    pin_env: str | None = None


@dataclass
class Edge:
    """A way from one node to the next: `label` says when (option key, 'timeout'...)."""

    label: str
    target: str
    loc: Loc


@dataclass
class Node:
    name: str
    loc: Loc
    title: str | None = None
    locs: dict[str, Loc] = field(default_factory=dict, repr=False)

    kind: ClassVar[str] = "node"
    #: the caller acts here (keys, speech, talking to an agent): a loop through it is not stuck
    waits_for_caller: ClassVar[bool] = False

    def at(self, key: str) -> Loc:
        return self.locs.get(key, self.loc)

    def edges(self) -> list[Edge]:
        return []

    def prompt_refs(self) -> Iterator[tuple[str, Loc]]:
        return iter(())


def _edge(node: Node, label: str, target: str | None, key: str) -> list[Edge]:
    return [Edge(label, target, node.at(key))] if target else []


@dataclass
class FailureRule:
    then: str
    max: int = 3
    prompt: str | None = None
    loc: Loc | None = None


@dataclass
class MenuOption:
    key: OptionKey
    target: str
    loc: Loc


@dataclass
class Menu(Node):
    prompts: list[str] = field(default_factory=list)
    reprompts: list[str] = field(default_factory=list)
    options: list[MenuOption] = field(default_factory=list)
    timeout: float = 5
    inter_digit_timeout: float = 2
    barge_in: bool = True
    terminator: str = "#"
    invalid: FailureRule = field(default_factory=lambda: FailureRule(HANGUP))
    no_input: FailureRule = field(default_factory=lambda: FailureRule(HANGUP))

    kind = "menu"
    waits_for_caller = True

    def edges(self) -> list[Edge]:
        out = [Edge(o.key.text, o.target, o.loc) for o in self.options]
        out.append(Edge("invalid", self.invalid.then, self.invalid.loc or self.loc))
        out.append(Edge("no input", self.no_input.then, self.no_input.loc or self.loc))
        return out

    def prompt_refs(self) -> Iterator[tuple[str, Loc]]:
        for p in self.prompts:
            yield p, self.at("prompts")
        for p in self.reprompts:
            yield p, self.at("reprompts")
        for rule in (self.invalid, self.no_input):
            if rule.prompt:
                yield rule.prompt, rule.loc or self.loc


@dataclass
class Play(Node):
    prompts: list[str] = field(default_factory=list)
    between: tuple[dt.date, dt.date] | None = None
    next: str = HANGUP

    kind = "play"

    def edges(self) -> list[Edge]:
        return _edge(self, "next", self.next, "next")

    def prompt_refs(self) -> Iterator[tuple[str, Loc]]:
        for p in self.prompts:
            yield p, self.at("prompts")


@dataclass
class Say(Node):
    variable: str = ""
    say_as: str = "number"
    prefix: str | None = None
    suffix: str | None = None
    next: str = HANGUP

    kind = "say"

    def edges(self) -> list[Edge]:
        return _edge(self, "next", self.next, "next")

    def prompt_refs(self) -> Iterator[tuple[str, Loc]]:
        if self.prefix:
            yield self.prefix, self.at("prefix")
        if self.suffix:
            yield self.suffix, self.at("suffix")


@dataclass
class SetVars(Node):
    variables: list[tuple[str, str]] = field(default_factory=list)
    next: str = HANGUP

    kind = "set"

    def edges(self) -> list[Edge]:
        return _edge(self, "next", self.next, "next")


@dataclass
class OpenHours:
    days: list[int]  # 0 = Monday
    ranges: list[tuple[int, int]]  # minutes of day, end exclusive


@dataclass
class Hours(Node):
    open: list[OpenHours] = field(default_factory=list)
    holidays: list[tuple[dt.date, dt.date]] = field(default_factory=list)
    then_open: str = HANGUP
    then_closed: str = HANGUP

    kind = "hours"

    def edges(self) -> list[Edge]:
        return _edge(self, "open", self.then_open, "then_open") + _edge(self, "closed", self.then_closed,
                                                                         "then_closed")


@dataclass
class Case:
    tests: list[tuple[str, object]]  # (equals|regex|gt|ge|lt|le|empty, value)
    then: str
    loc: Loc

    def label(self) -> str:
        words = {"equals": "=", "regex": "~", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
        parts = []
        for op, value in self.tests:
            if op == "empty":
                parts.append("empty" if value else "not empty")
            else:
                parts.append(f"{words[op]} {value}")
        return " and ".join(parts)


@dataclass
class Branch(Node):
    variable: str = ""
    cases: list[Case] = field(default_factory=list)
    otherwise: str = HANGUP

    kind = "branch"

    def edges(self) -> list[Edge]:
        out = [Edge(c.label(), c.then, c.loc) for c in self.cases]
        return out + _edge(self, "else", self.otherwise, "else")


@dataclass
class Lookup(Node):
    lookups: list[str] = field(default_factory=list)
    mode: str = "live"
    next: str = HANGUP

    kind = "lookup"

    def edges(self) -> list[Edge]:
        return _edge(self, "next", self.next, "next")


@dataclass
class Collect(Node):
    prompts: list[str] = field(default_factory=list)
    variable: str = ""
    min: int = 1
    max: int = 1
    regex: str | None = None
    tries: int = 3
    timeout: float = 5
    inter_digit_timeout: float = 3
    terminator: str = "#"
    invalid_prompt: str | None = None
    next: str = HANGUP
    failure: str = HANGUP

    kind = "collect"
    waits_for_caller = True

    def edges(self) -> list[Edge]:
        return _edge(self, "next", self.next, "next") + _edge(self, "failure", self.failure, "failure")

    def prompt_refs(self) -> Iterator[tuple[str, Loc]]:
        for p in self.prompts:
            yield p, self.at("prompts")
        if self.invalid_prompt:
            yield self.invalid_prompt, self.at("invalid_prompt")

    @property
    def digits_regex(self) -> str:
        return self.regex or f"^\\d{{{self.min},{self.max}}}$"


@dataclass
class Agent:
    name: str
    contact: str
    loc: Loc
    level: int = 1
    position: int = 1
    status: str = "Available"
    max_no_answer: int = 3
    wrap_up_time: int = 10
    reject_delay_time: int = 10
    busy_delay_time: int = 60
    no_answer_delay_time: int = 10


@dataclass
class Queue(Node):
    flow: str = ""
    strategy: str = "longest-idle-agent"
    music: str = "local_stream://moh"
    announce_prompt: str | None = None
    announce_every: int | None = None
    max_wait: int = 0
    max_wait_no_agent: int = 0
    max_wait_no_agent_reached: int = 5
    discard_abandoned_after: int = 60
    tier_rules_apply: bool = False
    designated_variable: str | None = None
    designated_timeout: int = 15
    agents: list[Agent] = field(default_factory=list)
    on_timeout: str = HANGUP
    on_no_agent: str | None = None
    after: str | None = None

    kind = "queue"
    waits_for_caller = True

    @property
    def queue_name(self) -> str:
        """The mod_callcenter queue: `<flow>_<node>@default`."""
        return f"{self.flow}_{self.name}@default"

    def edges(self) -> list[Edge]:
        return (
            _edge(self, "answered", self.after or HANGUP, "after")
            + _edge(self, "timeout", self.on_timeout, "on_timeout")
            + _edge(self, "no agent", self.on_no_agent, "on_no_agent")
        )

    def prompt_refs(self) -> Iterator[tuple[str, Loc]]:
        if self.announce_prompt:
            yield self.announce_prompt, self.at("announce")
        if not self.music.startswith("local_stream://"):
            yield self.music, self.at("music")


@dataclass
class DialTarget:
    kind: str  # user | extension | gateway
    value: str
    loc: Loc
    number: str | None = None
    context: str = "default"

    def label(self) -> str:
        if self.kind == "gateway":
            return f"{self.value}/{self.number}"
        return f"{self.kind} {self.value}"


@dataclass
class Transfer(Node):
    target: DialTarget | None = None  # user, extension, gateway
    flow_target: str | None = None
    node_target: str | None = None
    timeout: int = 30
    fallback: str | None = None
    after: str | None = None

    kind = "transfer"
    waits_for_caller = True

    @property
    def bridges(self) -> bool:
        """Bridged (the flow hears the result): users, gateways, and extensions given a timeout,
        fallback or after. Plain extension and flow transfers leave this flow for good."""
        if self.target is None:
            return False
        if self.target.kind == "extension":
            return any(k in self.locs for k in ("timeout", "fallback", "after"))
        return True

    def edges(self) -> list[Edge]:
        if not self.bridges:
            return []
        return _edge(self, "answered", self.after or HANGUP, "after") + _edge(
            self, "failed", self.fallback or HANGUP, "fallback")


@dataclass
class Conference(Node):
    room: str = ""
    dial: list[DialTarget] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    timeout: int = 60
    after: str | None = None

    kind = "conference"
    waits_for_caller = True

    def edges(self) -> list[Edge]:
        return _edge(self, "ended", self.after or HANGUP, "after")


@dataclass
class Voicemail(Node):
    mailbox: str = ""
    greeting: str | None = None
    next: str | None = None

    kind = "voicemail"
    waits_for_caller = True

    def edges(self) -> list[Edge]:
        return _edge(self, "next", self.next or HANGUP, "next")

    def prompt_refs(self) -> Iterator[tuple[str, Loc]]:
        if self.greeting:
            yield self.greeting, self.at("greeting")


@dataclass
class Record(Node):
    folder: str = ""
    prompt: str | None = None
    max_seconds: int = 120
    silence_seconds: int = 5
    next: str = HANGUP

    kind = "record"
    waits_for_caller = True

    def edges(self) -> list[Edge]:
        return _edge(self, "next", self.next, "next")

    def prompt_refs(self) -> Iterator[tuple[str, Loc]]:
        if self.prompt:
            yield self.prompt, self.at("prompt")


@dataclass
class Survey(Node):
    prompts: list[str] = field(default_factory=list)
    thanks: str | None = None
    invalid_prompt: str | None = None
    tries: int = 2
    timeout: float = 5

    kind = "survey"
    waits_for_caller = True

    def prompt_refs(self) -> Iterator[tuple[str, Loc]]:
        for p in self.prompts:
            yield p, self.at("prompts")
        for key in ("thanks", "invalid_prompt"):
            value = getattr(self, key)
            if value:
                yield value, self.at(key)


@dataclass
class Hangup(Node):
    cause: str = "NORMAL_CLEARING"
    prompt: str | None = None

    kind = "hangup"
    waits_for_caller = True

    def prompt_refs(self) -> Iterator[tuple[str, Loc]]:
        if self.prompt:
            yield self.prompt, self.at("prompt")


@dataclass
class Settings:
    timezone: str | None = None
    esl_host: str = "127.0.0.1"
    esl_port: int = 8084
    record_agent_calls: bool = False
    prompt_dir: str = "$${sounds_dir}/hotline"
    extra_lookups: list[str] = field(default_factory=list)


@dataclass
class Flow:
    name: str
    file: str
    loc: Loc
    start: str
    start_loc: Loc
    title: str | None = None
    numbers: list[tuple[str, Loc]] = field(default_factory=list)
    languages: list[str] = field(default_factory=lambda: ["zh"])
    settings: Settings = field(default_factory=Settings)
    prompts: dict[str, Prompt] = field(default_factory=dict)
    mailboxes: dict[str, Mailbox] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    #: names declared in the file whose definition has errors (refs to them are not "undefined")
    broken_nodes: set[str] = field(default_factory=set)
    broken_prompts: set[str] = field(default_factory=set)
    broken_mailboxes: set[str] = field(default_factory=set)
    #: the file had schema errors: whole-flow analysis (reachability, loops) is skipped
    broken: bool = False

    @property
    def context(self) -> str:
        return f"hotline_{self.name}"

    def queues(self) -> list[Queue]:
        return [n for n in self.nodes.values() if isinstance(n, Queue)]
