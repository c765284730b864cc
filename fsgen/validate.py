"""The flow language's schema, as classes, checked in one pass.

Each `Type` knows how to check a located YAML node, convert it to a Python value and
describe itself as JSON Schema (`fsgen schema` is generated from these same objects, so
the editor and the compiler can never disagree). Checking never stops at the first
mistake: every problem goes into the context, the value becomes `INVALID`, and the caller
keeps going, so a file with five typos shows five messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import Loc, Problem, Severity, did_you_mean
from .loader import YMap, YNode, YScalar, YSeq


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"

    def __bool__(self) -> bool:
        return False


INVALID: Any = _Invalid()


class Rec(dict):  # type: ignore[type-arg]
    """A checked mapping: a dict that remembers where it and each of its values came from."""

    __slots__ = ("invalid_keys", "key_locs", "loc", "parsed_keys", "value_locs")

    loc: Loc
    key_locs: dict[str, Loc]
    value_locs: dict[str, Loc]
    invalid_keys: set[str]
    parsed_keys: dict[str, Any]

    def __init__(self, loc: Loc) -> None:
        self.loc = loc
        self.key_locs = {}
        self.value_locs = {}
        self.invalid_keys = set()
        self.parsed_keys = {}

    def vloc(self, key: str) -> Loc:
        return self.value_locs.get(key, self.key_locs.get(key, self.loc))


class LList(list):  # type: ignore[type-arg]
    """A checked list that remembers the location of each item."""

    __slots__ = ("item_locs", "loc")

    loc: Loc
    item_locs: list[Loc]

    def __init__(self, loc: Loc) -> None:
        self.loc = loc
        self.item_locs = []


@dataclass
class Ctx:
    """Where problems go while checking one file; `node` names the node being checked."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    node: str | None = None

    def error(self, loc: Loc, message: str, hint: str | None = None) -> Any:
        self.problems.append(Problem.at(loc, message, node=self.node, hint=hint))
        return INVALID

    def warn(self, loc: Loc, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem.at(loc, message, node=self.node, hint=hint, severity=Severity.WARNING))


def describe(y: YNode) -> str:
    if isinstance(y, YMap):
        return "a mapping"
    if isinstance(y, YSeq):
        return "a list"
    v = y.value
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return f"'{y.raw}' (true/false)"
    if isinstance(v, (int, float)):
        return f"the number {y.raw}"
    return f"the text '{_short(v)}'"


def _short(text: str, limit: int = 40) -> str:
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Type:
    """Base of all schema types: check a node, produce a value, describe as JSON Schema."""

    what = "a value"

    def check(self, y: YNode, ctx: Ctx) -> Any:
        raise NotImplementedError

    def json(self) -> dict[str, Any]:
        return {}

    def wrong(self, y: YNode, ctx: Ctx, what: str | None = None) -> Any:
        return ctx.error(y.loc, f"expected {what or self.what}, got {describe(y)}")


_MISS: Any = object()
#: results remembered per type for texts already accepted (names, node types, values repeat a lot)
_MEMO_LIMIT = 4096


class Str(Type):
    """Text on one line; `pattern` (a full match) and `explain` say what shape is allowed."""

    def __init__(
        self,
        what: str = "a text",
        pattern: str | None = None,
        explain: str | None = None,
        *,
        multiline: bool = False,
        accept_numbers: bool = False,
        max_len: int = 500,
        extra: Callable[[str, Loc, Ctx], Any] | None = None,
    ) -> None:
        self.what = what
        self.pattern = re.compile(pattern) if pattern else None
        self.explain = explain
        self.multiline = multiline
        self.accept_numbers = accept_numbers
        self.max_len = max_len
        self.extra = extra
        self.accepted: dict[str, Any] = {}  # text -> value, for texts that passed every rule

    def check(self, y: YNode, ctx: Ctx) -> Any:
        # the rules below depend only on the text once the scalar's kind is allowed, so a
        # text seen before gives the same value again
        if y.__class__ is YScalar:
            cls = y.value.__class__  # type: ignore[union-attr]
            if cls is str or ((cls is int or cls is float) and (self.accept_numbers or y.quoted)):  # type: ignore[union-attr]
                hit = self.accepted.get(y.raw, _MISS)  # type: ignore[union-attr]
                if hit is not _MISS:
                    return hit.copy() if hit.__class__ is list else hit
        return self._remember(y, ctx)

    def check_key(self, key: str, loc: Loc, ctx: Ctx) -> Any:
        """A mapping key (always text) checked as this type."""
        hit = self.accepted.get(key, _MISS)
        if hit is not _MISS:
            return hit.copy() if hit.__class__ is list else hit
        return self._remember(YScalar(loc, key, key, True), ctx)

    def _remember(self, y: YNode, ctx: Ctx) -> Any:
        before = len(ctx.problems)
        value = self._check(y, ctx)
        if value is not INVALID and len(ctx.problems) == before:
            accepted = self.accepted
            if len(accepted) >= _MEMO_LIMIT:
                accepted.clear()
            accepted[y.raw] = value.copy() if value.__class__ is list else value  # type: ignore[union-attr]
        return value

    def _check(self, y: YNode, ctx: Ctx) -> Any:
        if y.__class__ is not YScalar:
            return self.wrong(y, ctx)
        assert isinstance(y, YScalar)
        if y.value.__class__ is not str:
            if y.value is None or isinstance(y.value, bool):
                return self.wrong(y, ctx)
            if isinstance(y.value, (int, float)) and not (self.accept_numbers or y.quoted):
                return self.wrong(y, ctx)
        text = y.raw
        if not self.multiline and ("\n" in text or "\r" in text):
            return ctx.error(y.loc, f"{self.what} must be on one line")
        if len(text) > self.max_len:
            return ctx.error(y.loc, f"{self.what} is longer than {self.max_len} characters")
        if self.pattern and not self.pattern.fullmatch(text):
            return ctx.error(y.loc, f"'{_short(text)}' is not {self.what}" + (f": {self.explain}" if self.explain else ""))
        if self.extra:
            return self.extra(text, y.loc, ctx)
        return text

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": ["string", "number"] if self.accept_numbers else "string"}
        if self.pattern and not self.accept_numbers:
            out["pattern"] = "^(?:" + self.pattern.pattern + ")$"
        return out


class Enum(Type):
    def __init__(self, choices: Iterable[str], what: str | None = None) -> None:
        self.choices = list(choices)
        self.what = what or "one of " + ", ".join(self.choices)

    def check(self, y: YNode, ctx: Ctx) -> Any:
        if not isinstance(y, YScalar) or y.value is None or isinstance(y.value, bool):
            return self.wrong(y, ctx)
        if y.raw in self.choices:
            return y.raw
        return ctx.error(
            y.loc, f"'{_short(y.raw)}' is not {self.what}{did_you_mean(y.raw, self.choices)}"
        )

    def json(self) -> dict[str, Any]:
        return {"enum": self.choices}


class Int(Type):
    def __init__(self, minimum: int | None = None, maximum: int | None = None, what: str = "a whole number") -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.what = what

    def check(self, y: YNode, ctx: Ctx) -> Any:
        if not isinstance(y, YScalar) or isinstance(y.value, bool) or not isinstance(y.value, (int, float)):
            return self.wrong(y, ctx)
        if isinstance(y.value, float) and not y.value.is_integer():
            return ctx.error(y.loc, f"expected {self.what}, got {y.raw}")
        value = int(y.value)
        return self._range(value, y, ctx)

    def _range(self, value: Any, y: YNode, ctx: Ctx) -> Any:
        if self.minimum is not None and value < self.minimum:
            return ctx.error(y.loc, f"{_num(value)} is too small (at least {self.minimum})")
        if self.maximum is not None and value > self.maximum:
            return ctx.error(y.loc, f"{_num(value)} is too large (at most {self.maximum})")
        return value

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


class Number(Int):
    """Seconds and amounts: integers or decimals."""

    def __init__(
        self, minimum: float | None = None, maximum: float | None = None, what: str = "a number",
        *, positive: bool = False,
    ) -> None:
        super().__init__(None, None, what)
        self.fmin = minimum
        self.fmax = maximum
        self.positive = positive

    def check(self, y: YNode, ctx: Ctx) -> Any:
        if not isinstance(y, YScalar) or isinstance(y.value, bool) or not isinstance(y.value, (int, float)):
            return self.wrong(y, ctx)
        value = y.value
        if self.positive and value <= 0:
            return ctx.error(y.loc, f"{y.raw} must be more than 0")
        if self.fmin is not None and value < self.fmin:
            return ctx.error(y.loc, f"{y.raw} is too small (at least {_num(self.fmin)})")
        if self.fmax is not None and value > self.fmax:
            return ctx.error(y.loc, f"{y.raw} is too large (at most {_num(self.fmax)})")
        return value

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "number"}
        if self.positive:
            out["exclusiveMinimum"] = 0
        if self.fmin is not None:
            out["minimum"] = self.fmin
        if self.fmax is not None:
            out["maximum"] = self.fmax
        return out


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class Bool(Type):
    what = "true or false"

    def check(self, y: YNode, ctx: Ctx) -> Any:
        if isinstance(y, YScalar) and isinstance(y.value, bool):
            return y.value
        return self.wrong(y, ctx)

    def json(self) -> dict[str, Any]:
        return {"type": "boolean"}


class Scalar(Type):
    """Any one-line text, number or true/false, kept as the text FreeSWITCH will see."""

    what = "a text, number or true/false"

    def __init__(self, what: str | None = None, extra: Callable[[str, Loc, Ctx], Any] | None = None) -> None:
        if what:
            self.what = what
        self.extra = extra

    def check(self, y: YNode, ctx: Ctx) -> Any:
        if not isinstance(y, YScalar) or y.value is None:
            return self.wrong(y, ctx)
        if isinstance(y.value, bool):
            text = "true" if y.value else "false"
        else:
            text = y.raw
        if "\n" in text or "\r" in text:
            return ctx.error(y.loc, "a value must be on one line (no newlines)")
        return self.extra(text, y.loc, ctx) if self.extra else text

    def json(self) -> dict[str, Any]:
        return {"type": ["string", "number", "boolean"]}


class ListOf(Type):
    def __init__(self, item: Type, what: str | None = None, *, min_items: int = 0, max_items: int | None = None,
                 unique: bool = False) -> None:
        self.item = item
        self.what = what or f"a list of {item.what}"
        self.min_items = min_items
        self.max_items = max_items
        self.unique = unique

    def check(self, y: YNode, ctx: Ctx) -> Any:
        if not isinstance(y, YSeq):
            return self.wrong(y, ctx)
        out = LList(y.loc)
        ok = True
        seen: dict[Any, Loc] = {}
        for item in y.items:
            value = self.item.check(item, ctx)
            if value is INVALID:
                ok = False
                continue
            if self.unique and isinstance(value, (str, int)):
                if value in seen:
                    ctx.error(item.loc, f"'{value}' is listed twice (first at line {seen[value].line})")
                    ok = False
                    continue
                seen[value] = item.loc
            out.append(value)
            out.item_locs.append(item.loc)
        if len(y.items) < self.min_items:
            return ctx.error(y.loc, f"expected at least {self.min_items} item{'s' if self.min_items > 1 else ''}"
                             f" in {self.what}")
        if self.max_items is not None and len(y.items) > self.max_items:
            return ctx.error(y.loc, f"expected at most {self.max_items} items in {self.what}")
        return out if ok else INVALID

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array", "items": self.item.json()}
        if self.min_items:
            out["minItems"] = self.min_items
        if self.max_items is not None:
            out["maxItems"] = self.max_items
        if self.unique:
            out["uniqueItems"] = True
        return out


class MapOf(Type):
    """A mapping with free keys (node names, prompt ids, variables...) of one value type."""

    def __init__(self, key: Str, value: Type, what: str | None = None, *, min_items: int = 0,
                 node_scope: bool = False, partial: bool = False) -> None:
        self.key = key
        self.value = value
        self.what = what or f"a mapping of {key.what} to {value.what}"
        self.min_items = min_items
        self.node_scope = node_scope
        self.partial = partial

    def check(self, y: YNode, ctx: Ctx) -> Any:
        if not isinstance(y, YMap):
            return self.wrong(y, ctx)
        out = Rec(y.loc)
        ok = True
        outer = ctx.node
        node_scope = self.node_scope
        check_key = self.key.check_key
        check_value = self.value.check
        parsed_keys = out.parsed_keys
        key_locs = out.key_locs
        value_locs = out.value_locs
        for key, (kloc, vnode) in y.items.items():
            if node_scope:
                ctx.node = key
            parsed_key = check_key(key, kloc, ctx)
            if parsed_key is INVALID:
                out.invalid_keys.add(key)
                ok = False
                ctx.node = outer
                continue
            parsed_keys[key] = parsed_key
            value = check_value(vnode, ctx)
            ctx.node = outer
            key_locs[key] = kloc
            value_locs[key] = vnode.loc
            if value is INVALID:
                out.invalid_keys.add(key)
                ok = False
                continue
            out[key] = value
        if len(y.items) < self.min_items:
            return ctx.error(y.loc, f"expected at least {self.min_items} entr{'ies' if self.min_items > 1 else 'y'}"
                             f" in {self.what}")
        return out if ok or self.partial else INVALID

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object", "additionalProperties": self.value.json()}
        if self.key.pattern:
            out["propertyNames"] = {"pattern": "^(?:" + self.key.pattern.pattern + ")$"}
        if self.min_items:
            out["minProperties"] = self.min_items
        return out


_MISSING: Any = object()


@dataclass
class Field:
    type: Type
    required: bool = False
    default: Any = _MISSING
    doc: str = ""


class Record(Type):
    """A mapping with a fixed set of keys: unknown keys and missing required keys are errors."""

    def __init__(self, fields: Mapping[str, Field], what: str = "a mapping", *,
                 one_of: Iterable[tuple[str, ...]] = (), name: str | None = None, partial: bool = False) -> None:
        self.fields = dict(fields)
        self.what = what
        self.one_of = [tuple(group) for group in one_of]
        self.name = name
        self.partial = partial
        self._absent = [(k, f.required, f.default, f.doc) for k, f in self.fields.items()
                        if f.required or f.default is not _MISSING]
        self._checks = {k: f.type.check for k, f in self.fields.items()}

    def check(self, y: YNode, ctx: Ctx) -> Any:
        if y.__class__ is not YMap:
            return self.wrong(y, ctx)
        assert isinstance(y, YMap)
        out = Rec(y.loc)
        ok = True
        checks = self._checks
        key_locs = out.key_locs
        value_locs = out.value_locs
        items = y.items
        for key, (kloc, vnode) in items.items():
            check = checks.get(key)
            if check is None:
                ctx.error(kloc, f"unknown key '{key}'{did_you_mean(key, self.fields)}",
                          hint=self.known_keys_hint())
                ok = False
                continue
            value = check(vnode, ctx)
            key_locs[key] = kloc
            value_locs[key] = vnode.loc
            if value is INVALID:
                out.invalid_keys.add(key)
                ok = False
                continue
            out[key] = value
        for key, required, default, doc in [entry for entry in self._absent if entry[0] not in items]:
            if required:
                ctx.error(y.loc, f"missing key '{key}'" + (f" ({doc})" if doc else ""))
                ok = False
            elif default is not _MISSING:
                out[key] = default
        for group in self.one_of:
            present = [k for k in group if k in y.items]
            if len(present) != 1:
                names = ", ".join(group[:-1]) + " or " + group[-1]
                what = "needs one of" if not present else "takes only one of"
                ctx.error(y.loc, f"{self.what} {what} {names}")
                ok = False
        return out if ok or self.partial else INVALID

    def known_keys_hint(self) -> str:
        return "known keys: " + ", ".join(self.fields)

    def json(self) -> dict[str, Any]:
        props = {}
        for key, spec in self.fields.items():
            schema = dict(spec.type.json())
            if spec.doc:
                schema["description"] = spec.doc
            if spec.default is not _MISSING and isinstance(spec.default, (str, int, float, bool)):
                schema["default"] = spec.default
            props[key] = schema
        out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        required = [k for k, s in self.fields.items() if s.required]
        if required:
            out["required"] = required
        if self.one_of:
            out["allOf"] = [{"oneOf": [{"required": [k]} for k in group]} for group in self.one_of]
        return out


class Either(Type):
    """Different shapes accepted by YAML kind: e.g. a date, or {from, to}."""

    def __init__(self, scalar: Type | None = None, mapping: Type | None = None, what: str | None = None) -> None:
        self.scalar = scalar
        self.mapping = mapping
        parts = [t.what for t in (scalar, mapping) if t]
        self.what = what or " or ".join(parts)

    def check(self, y: YNode, ctx: Ctx) -> Any:
        if isinstance(y, YMap) and self.mapping:
            return self.mapping.check(y, ctx)
        if isinstance(y, YScalar) and self.scalar:
            return self.scalar.check(y, ctx)
        return self.wrong(y, ctx)

    def json(self) -> dict[str, Any]:
        return {"oneOf": [t.json() for t in (self.scalar, self.mapping) if t]}
