"""Flow model -> dialplan plan: contexts of extensions, conditions and actions.

This is where the language's meaning on FreeSWITCH lives (flows/README.md "How it
compiles"); `render.py` only turns the plan into XML through the templates. The plan is
plain data, so tests can assert on it without parsing XML, and the simulator could run it.

Conventions: one extension per node (destination number = node name); helper extensions
are named `<node>.<step>`, which node names cannot be (no dots). Extensions that need a
second test start with a bare destination condition and carry no actions before the
deciding condition, so when the test fails FreeSWITCH goes on hunting (fs-reference 05,
15); anti-actions are only used with break="never", where the extension matches anyway.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import NamedTuple

from . import model as m
from .patterns import menu_regex
from .schema import EXTENSION

PAGD_NO_FILE = "silence_stream://100"  # pagd needs a "bad input" file; we play our own prompts
SAY = {"number": ("NUMBER", "pronounced"), "currency": ("CURRENCY", "pronounced"), "digits": ("NUMBER", "iterated")}
SAFE_AGENT = r"^[A-Za-z0-9_.-]+$"
NUMERIC = r"^-?\d+(?:\.\d+)?$"
HANGUP_EXT = "hotline.hangup"


class Action(NamedTuple):
    app: str
    data: str | None = None


# Every transfer takes one from max_forwards and FreeSWITCH hangs up EXCHANGE_ROUTING_ERROR at 0
# (switch_ivr_session_transfer), and a menu visit is three or four transfers: a caller who
# browses for a while would be cut off. A key the caller chose (or digits they entered) gives
# back the count the call arrived with; loops that need no caller input stay bounded.
RESTORE_FORWARDS = Action("set", "max_forwards=${hotline_max_forwards}")


class Condition(NamedTuple):
    attrs: dict[str, str]
    actions: list[Action] = []  # noqa: RUF012 - never mutated in place: actions are set whole
    anti_actions: list[Action] = []  # noqa: RUF012


class Extension(NamedTuple):
    name: str
    conditions: list[Condition]


@dataclass
class ContextPlan:
    name: str
    extensions: list[Extension]


def one_line(text: str) -> str:
    """Flow values are validated to one line; this keeps the XML single-line even if not."""
    if "\n" in text or "\r" in text:
        return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return text


def pcre_escape(text: str) -> str:
    return re.sub(r"([\\^$.|?*+()\[\]{}/])", r"\\\1", text)


def _num(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _ms(seconds: float) -> str:
    return str(round(seconds * 1000))


def _fs_wday(day: int) -> int:
    """model weekday (0 = Monday) -> FreeSWITCH wday (1 = Sunday)."""
    return (day + 1) % 7 + 1


def _runs(values: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for v in sorted(set(values)):
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def _span(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def date_windows(start: dt.date, end: dt.date) -> list[dict[str, str]]:
    """Inclusive date range -> time-condition attributes (year + yday), evaluated by
    FreeSWITCH in the channel's `timezone` (date-time would use the server's zone)."""
    out = []
    for year in range(start.year, end.year + 1):
        first = start if year == start.year else dt.date(year, 1, 1)
        last = end if year == end.year else dt.date(year, 12, 31)
        lo, hi = first.timetuple().tm_yday, last.timetuple().tm_yday
        attrs = {"year": str(year)}
        if not (lo == 1 and last == dt.date(year, 12, 31)):
            attrs["yday"] = _span(lo, hi)
        out.append(attrs)
    return out


_tuple_new = tuple.__new__


def dest(name: str) -> dict[str, str]:
    # node and helper names are [a-z0-9_.]: only the dot needs escaping
    return {"field": "destination_number", "expression": "^" + name.replace(".", "\\.") + "$"}


class FlowPlanner:
    def __init__(self, flow: m.Flow, timezones: dict[str, str | None]) -> None:
        """`timezones`: every flow's time zone (a transfer straight to another flow's node sets it)."""
        self.flow = flow
        self.timezones = timezones
        self.ctx = flow.context
        self.exts: list[Extension] = []
        self.uses_back = any(o.target == m.BACK for n in flow.nodes.values() if isinstance(n, m.Menu)
                             for o in n.options)
        self.need_hangup_ext = False
        self._xfers: dict[str, Action] = {}

    # ----- helpers ----------------------------------------------------------------------

    def files(self, prompt_ids: list[str], lang: str | None = None, dedupe: bool = False) -> str:
        """playback/pagd argument for prompts, languages in flow order (file_string:// for several)."""
        ids = [p for i, p in enumerate(prompt_ids) if not (dedupe and i and prompt_ids[i - 1] == p)]
        paths = []
        base = self.flow.settings.prompt_dir.rstrip("/")
        for pid in ids:
            prompt = self.flow.prompts[pid]
            for part in prompt.parts:
                if lang is None or part.lang in (None, lang):
                    paths.append(f"{base}/{part.path}")
        if len(paths) == 1:
            return paths[0]
        return "file_string://" + "!".join(paths)

    def xfer(self, ext: str) -> Action:
        action = self._xfers.get(ext)
        if action is None:
            action = self._xfers[ext] = Action("transfer", f"{ext} XML {self.ctx}")
        return action

    def goto(self, target: str) -> list[Action]:
        if target == m.HANGUP:
            return [Action("hangup", "NORMAL_CLEARING")]
        if target == m.TOP:
            reset = [Action("set", "hotline_menu_from=")] if self.uses_back else []
            return reset + [self.xfer(self.flow.start)]
        return [self.xfer(target)]

    def failure_ext(self, target: str) -> str:
        """Extension name for play_and_get_digits' transfer-on-failure argument."""
        if target == m.HANGUP:
            self.need_hangup_ext = True
            return HANGUP_EXT
        return self.flow.start if target == m.TOP else target

    # the plan's tuples are built with tuple.__new__ in these helpers: a NamedTuple's own
    # constructor is a Python function, and a flow makes hundreds of them
    def ext(self, name: str, *conditions: Condition) -> None:
        self.exts.append(_tuple_new(Extension, (name, list(conditions))))

    def simple(self, name: str, actions: list[Action], ext_name: str | None = None) -> None:
        condition = _tuple_new(Condition, (dest(name), actions, []))
        self.exts.append(_tuple_new(Extension, (ext_name or name, [condition])))

    def pagd(self, *, min_digits: int, max_digits: int, tries: int, timeout: float, terminator: str,
             prompt: str, bad: str | None, var: str, regex: str, digit_timeout: float,
             failure: str | None = None) -> Action:
        args = [str(min_digits), str(max_digits), str(tries), _ms(timeout), terminator, prompt,
                bad or PAGD_NO_FILE, var, regex, _ms(digit_timeout)]
        if failure:
            args += [failure, "XML", self.ctx]
        return Action("play_and_get_digits", " ".join(args))

    # ----- flow -------------------------------------------------------------------------

    def plan(self) -> ContextPlan:
        flow = self.flow
        entry = [Action("set", f"hotline_flow={flow.name}"), Action("set", "hotline_max_forwards=${max_forwards}"),
                 Action("answer")]
        if flow.settings.timezone:
            entry.append(Action("set", f"timezone={flow.settings.timezone}"))
        else:  # a call transferred from another flow may carry that flow's zone
            entry.append(Action("unset", "timezone"))
        if flow.settings.record_agent_calls:
            entry += [
                Action("set", "RECORD_BRIDGE_REQ=true"),
                Action("record_session", f"$${{recordings_dir}}/hotline/{flow.name}/calls/${{uuid}}.wav"),
            ]
        entry.append(self.xfer(flow.start))
        self.simple("hotline_entry", entry)
        for node in flow.nodes.values():
            getattr(self, "node_" + node.kind)(node)
        if self.need_hangup_ext:
            self.simple(HANGUP_EXT, [Action("hangup", "NORMAL_CLEARING")])
        return ContextPlan(self.ctx, self.exts)

    # ----- nodes ------------------------------------------------------------------------

    def node_menu(self, n: m.Menu) -> None:
        name = n.name
        inv, noi = f"hotline_{name}_invalid", f"hotline_{name}_noinput"
        reset = [Action("set", f"{inv}="), Action("set", f"{noi}="), self.xfer(f"{name}.ask")]
        has_back = any(o.target == m.BACK for o in n.options)
        if has_back:
            self.ext(name,
                     Condition(dest(name)),
                     Condition({"field": "${hotline_menu_from}", "expression": f"^{name}$", "break": "never"},
                               anti_actions=[Action("set", f"hotline_{name}_back=${{hotline_menu_from}}")]),
                     Condition(dest(name), reset))
        else:
            self.simple(name, reset)
        if self.uses_back:
            self.simple(f"{name}.back", reset)
        regex = menu_regex([o.key for o in n.options])
        max_len = max(max(o.key.lengths) for o in n.options)
        reprompts = n.reprompts or n.prompts

        def ask(prompts: list[str]) -> list[Action]:
            files = self.files(prompts, dedupe=True)
            actions = []
            if not n.barge_in:
                actions += [Action("set", "playback_terminators=none"), Action("playback", files),
                            Action("unset", "playback_terminators")]
                files = "silence"
            actions.append(self.pagd(min_digits=1, max_digits=max_len, tries=1, timeout=n.timeout,
                                     terminator=n.terminator, prompt=files, bad=None, var="hotline_digits",
                                     regex=regex, digit_timeout=n.inter_digit_timeout))
            return actions + [self.xfer(f"{name}.route")]

        self.simple(f"{name}.ask", ask(n.prompts))
        for step, rule, counter in (("invalid", n.invalid, inv), ("no_input", n.no_input, noi)):
            ext = f"{name}.{step}"
            self.ext(f"{ext}.max", Condition(dest(ext)),
                     Condition({"field": f"${{{counter}}}", "expression": f"^x{{{rule.max},}}$"},
                               self.goto(rule.then)))
            self.simple(ext, ask(([rule.prompt] if rule.prompt else []) + reprompts))
        route = f"{name}.route"
        for i, opt in enumerate(n.options, 1):
            digits = {"field": "${hotline_digits}", "expression": f"^(?:{opt.key.regex})$"}
            if opt.target == m.BACK:
                self.ext(f"{route}.{i}", Condition(dest(route)), Condition(digits),
                         Condition({"field": f"${{hotline_{name}_back}}", "expression": "^([a-z][a-z0-9_]*)$"},
                                   [RESTORE_FORWARDS, self.xfer("$1.back")]))
                self.ext(f"{route}.{i}.top", Condition(dest(route)),
                         Condition(digits, [RESTORE_FORWARDS, *self.goto(m.TOP)]))
                continue
            actions = self.goto(opt.target)
            if self.uses_back and opt.target not in (m.TOP, m.HANGUP):
                actions = [Action("set", f"hotline_menu_from={name}")] + actions
            self.ext(f"{route}.{i}", Condition(dest(route)), Condition(digits, [RESTORE_FORWARDS, *actions]))
        self.ext(f"{route}.invalid", Condition(dest(route)),
                 Condition({"field": "${hotline_digits_invalid}", "expression": "^.+$"},
                           [Action("set", f"{inv}=${{{inv}}}x"), self.xfer(f"{name}.invalid")]))
        self.simple(route, [Action("set", f"{noi}=${{{noi}}}x"), self.xfer(f"{name}.no_input")],
                    f"{route}.no_input")

    def node_play(self, n: m.Play) -> None:
        play = [Action("playback", self.files(n.prompts))] + self.goto(n.next)
        if n.between is None:
            self.simple(n.name, play)
            return
        for i, attrs in enumerate(date_windows(*n.between), 1):
            self.ext(f"{n.name}.window{i}", Condition(dest(n.name)), Condition(attrs, play))
        self.simple(n.name, self.goto(n.next))

    def node_say(self, n: m.Say) -> None:
        kind, method = SAY[n.say_as]
        actions: list[Action] = []
        for lang in self.flow.languages:
            if n.prefix:
                actions.append(Action("playback", self.files([n.prefix], lang)))
            actions.append(Action("say", f"{lang} {kind} {method} ${{{n.variable}}}"))
            if n.suffix:
                actions.append(Action("playback", self.files([n.suffix], lang)))
        self.simple(n.name, actions + self.goto(n.next))

    def node_set(self, n: m.SetVars) -> None:
        self.simple(n.name, [Action("set", one_line(f"{k}={v}")) for k, v in n.variables] + self.goto(n.next))

    def node_hours(self, n: m.Hours) -> None:
        closed = self.goto(n.then_closed)
        i = 0
        for start, end in n.holidays:
            for attrs in date_windows(start, end):
                i += 1
                self.ext(f"{n.name}.holiday{i}", Condition(dest(n.name)), Condition(attrs, closed))
        i = 0
        for rule in n.open:
            for lo, hi in _runs([_fs_wday(d) for d in rule.days]):
                for start_min, end_min in rule.ranges:
                    i += 1
                    attrs = {"wday": _span(lo, hi), "time-of-day": f"{_hhmm(start_min)}-{_hhmm(end_min)}"}
                    self.ext(f"{n.name}.open{i}", Condition(dest(n.name)), Condition(attrs, self.goto(n.then_open)))
        self.simple(n.name, closed)

    def node_branch(self, n: m.Branch) -> None:
        var = f"${{{n.variable}}}"
        for i, case in enumerate(n.cases, 1):
            tests: list[dict[str, str]] = []
            for op, value in case.tests:
                if op == "equals":
                    tests.append({"field": var, "expression": f"^{pcre_escape(one_line(str(value)))}$"})
                elif op == "regex":
                    tests.append({"field": var, "expression": one_line(str(value))})
                elif op == "empty":
                    tests.append({"field": var, "expression": "^$" if value else "^.+$"})
                else:
                    sign = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[op]
                    tests.append({"field": var, "expression": NUMERIC})
                    tests.append({"field": f"${{cond({var} {sign} {_num(value)} ? yes : no)}}",
                                  "expression": "^yes$"})
            conds = [Condition(dest(n.name))] + [Condition(t) for t in tests[:-1]]
            conds.append(Condition(tests[-1], self.goto(case.then)))
            self.ext(f"{n.name}.case{i}", *conds)
        self.simple(n.name, self.goto(n.otherwise))

    def _socket(self, node: str, lookup: str) -> list[Action]:
        s = self.flow.settings
        return [
            Action("set", f"hotline_node={node}"),
            Action("set", f"hotline_lookup={lookup}"),
            Action("set", "hotline_lookup_status=failed"),
            Action("socket", f"{s.esl_host}:{s.esl_port} async full"),
        ]

    def node_lookup(self, n: m.Lookup) -> None:
        if n.mode == "cached":
            # One mod_hash value per caller holds every routing fact; its key and format belong to
            # esl_app's cache module, which fills it (flows/README.md "Lookups").
            from esl_app.cache import CACHED_VARIABLES, DIALPLAN_FIELD, VALUE_EXPRESSION

            actions = [Action("set", f"{var}={value}") for lookup in n.lookups
                       for var, value in CACHED_VARIABLES[lookup]]
            self.ext(f"{n.name}.cached", Condition(dest(n.name)), Condition(
                {"field": DIALPLAN_FIELD, "expression": VALUE_EXPRESSION},
                actions + [Action("set", "hotline_lookup_status=ok")] + self.goto(n.next)))
        self.simple(n.name, self._socket(n.name, ",".join(n.lookups)) + self.goto(n.next))

    def node_collect(self, n: m.Collect) -> None:
        bad = self.files([n.invalid_prompt]) if n.invalid_prompt else None
        self.simple(n.name, [
            self.pagd(min_digits=n.min, max_digits=n.max, tries=n.tries, timeout=n.timeout,
                      terminator=n.terminator, prompt=self.files(n.prompts), bad=bad, var=n.variable,
                      regex=n.digits_regex, digit_timeout=n.inter_digit_timeout,
                      failure=self.failure_ext(n.failure)),
            RESTORE_FORWARDS,
        ] + self.goto(n.next))

    def _callcenter(self, n: m.Queue) -> list[Action]:
        return [Action("set", "hangup_after_bridge=false"), Action("callcenter", n.queue_name),
                self.xfer(f"{n.name}.result")]

    def node_queue(self, n: m.Queue) -> None:
        name = n.name
        if n.designated_variable:
            var = f"${{{n.designated_variable}}}"
            self.ext(f"{name}.designated", Condition(dest(name)), Condition(
                {"field": var, "expression": SAFE_AGENT},
                [Action("set", "continue_on_fail=true"), Action("set", "hangup_after_bridge=false"),
                 Action("set", f"call_timeout={n.designated_timeout}"),
                 Action("bridge", f"user/{var}@${{domain}}"), self.xfer(f"{name}.designated_result")]))
            self.ext(f"{name}.designated_result.answered", Condition(dest(f"{name}.designated_result")),
                     Condition({"field": "${originate_disposition}", "expression": "^SUCCESS$"},
                               self.goto(n.after or m.HANGUP)))
            self.simple(f"{name}.designated_result", self._callcenter(n))
        self.simple(name, self._callcenter(n))
        result = f"{name}.result"
        self.ext(f"{result}.answered", Condition(dest(result)),
                 Condition({"field": "${cc_cause}", "expression": "^(?:answered|terminated)$"},
                           self.goto(n.after or m.HANGUP)))
        self.ext(f"{result}.no_agent", Condition(dest(result)),
                 Condition({"field": "${cc_cancel_reason}", "expression": "^NO_AGENT_TIMEOUT$"},
                           self.goto(n.on_no_agent or n.on_timeout)))
        self.simple(result, self.goto(n.on_timeout), f"{result}.timeout")

    def dial_string(self, t: m.DialTarget) -> str:
        if t.kind == "user":
            return f"user/{t.value}@${{domain}}"
        if t.kind == "gateway":
            return f"sofia/gateway/{t.value}/{t.number}"
        return f"loopback/{t.value}/{t.context}"

    def node_transfer(self, n: m.Transfer) -> None:
        if n.flow_target:
            actions = [Action("set", f"hotline_flow={n.flow_target}")]
            if n.node_target:
                tz = self.timezones.get(n.flow_target)
                actions.append(Action("set", f"timezone={tz}") if tz else Action("unset", "timezone"))
                actions.append(Action("transfer", f"{n.node_target} XML hotline_{n.flow_target}"))
            else:
                actions.append(Action("transfer", f"hotline_entry XML hotline_{n.flow_target}"))
            self.simple(n.name, actions)
            return
        assert n.target is not None
        if n.bridges:
            result = f"{n.name}.result"
            actions = [
                Action("set", "continue_on_fail=true"), Action("set", "hangup_after_bridge=false"),
                Action("set", f"call_timeout={n.timeout}"), Action("bridge", self.dial_string(n.target)),
                self.xfer(result),
            ]
            self.ext(f"{result}.answered", Condition(dest(result)),
                     Condition({"field": "${originate_disposition}", "expression": "^SUCCESS$"},
                               self.goto(n.after or m.HANGUP)))
            self.simple(result, self.goto(n.fallback or m.HANGUP), f"{result}.failed")
        else:
            actions = [Action("transfer", f"{n.target.value} XML {n.target.context}")]
        if n.target.value.startswith("${"):
            # a caller- or lookup-supplied extension: only dial it when it is a plain extension
            self.ext(f"{n.name}.checked", Condition(dest(n.name)),
                     Condition({"field": n.target.value, "expression": f"^{EXTENSION}$"}, actions))
            self.simple(n.name, self.goto(n.fallback or m.HANGUP))
        else:
            self.simple(n.name, actions)

    def node_conference(self, n: m.Conference) -> None:
        actions = [Action("set", f"conference_auto_outcall_timeout={n.timeout}")]
        actions += [Action("conference_set_auto_outcall", self.dial_string(t)) for t in n.dial]
        flags = f"++flags{{{'|'.join(n.flags)}}}" if n.flags else ""
        room = f"hotline_{self.flow.name}_{n.room}-${{uuid}}"
        actions.append(Action("conference", f"{room}@default{flags}"))
        self.simple(n.name, actions + self.goto(n.after or m.HANGUP))

    def node_voicemail(self, n: m.Voicemail) -> None:
        actions = []
        if n.greeting:
            actions += [Action("playback", self.files([n.greeting])), Action("set", "skip_greeting=true"),
                        Action("set", "skip_instructions=true")]
        box = self.flow.mailboxes[n.mailbox]
        actions.append(Action("voicemail", f"default $${{domain}} {box.number}"))
        self.simple(n.name, actions + self.goto(n.next or m.HANGUP))

    def node_record(self, n: m.Record) -> None:
        actions = [Action("playback", self.files([n.prompt]))] if n.prompt else []
        path = (f"$${{recordings_dir}}/hotline/{self.flow.name}/{n.folder}/"
                f"${{strftime(%Y%m%d-%H%M%S)}}-${{uuid}}.wav")
        actions += [
            Action("set", f"hotline_recording={path}"),
            Action("set", "playback_terminators=#"),
            Action("record", f"${{hotline_recording}} {n.max_seconds} 200 {n.silence_seconds}"),
            Action("unset", "playback_terminators"),
        ]
        self.simple(n.name, actions + self.goto(n.next))

    def node_survey(self, n: m.Survey) -> None:
        bad = self.files([n.invalid_prompt]) if n.invalid_prompt else None
        save = f"{n.name}.save"
        self.simple(n.name, [
            self.pagd(min_digits=1, max_digits=1, tries=n.tries, timeout=n.timeout, terminator="#",
                      prompt=self.files(n.prompts), bad=bad, var="hotline_survey_score", regex="^[1-5]$",
                      digit_timeout=n.timeout),
            self.xfer(save),
        ])
        thanks = [Action("playback", self.files([n.thanks]))] if n.thanks else []
        self.ext(f"{save}.scored", Condition(dest(save)), Condition(
            {"field": "${hotline_survey_score}", "expression": "^[1-5]$"},
            self._socket(n.name, "survey") + thanks + [Action("hangup", "NORMAL_CLEARING")]))
        self.simple(save, [Action("hangup", "NORMAL_CLEARING")], f"{save}.none")

    def node_hangup(self, n: m.Hangup) -> None:
        actions = [Action("playback", self.files([n.prompt]))] if n.prompt else []
        self.simple(n.name, actions + [Action("hangup", n.cause)])


def plan_flow(flow: m.Flow, timezones: dict[str, str | None]) -> ContextPlan:
    return FlowPlanner(flow, timezones).plan()


def public_expression(numbers: list[str]) -> str:
    return "^(?:" + "|".join(pcre_escape(n) for n in numbers) + ")$"
