"""YAML loading that keeps a location on every node and refuses duplicate keys.

PyYAML's constructors silently keep the last of two equal keys and forget where values
came from, and YAML 1.1 turns `no` into False and `9:30` into 570. Flows are read with
the plain composer instead (libyaml when available) and turned into small `Y*` nodes:
every mapping, sequence and scalar knows its file, line and column, scalars keep their
raw text (so `"0755"` and `0755` both stay digit strings where digits are expected), and
only `true`/`false`, `null`, integers and decimals get a type, as in YAML 1.2.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

from .errors import Loc, Problem

try:  # libyaml is ~10x faster; the pure-Python parser gives the same nodes and marks
    from yaml.cyaml import CParser as _Parser  # type: ignore[attr-defined]

    class _Composer(_Parser, BaseResolver):  # type: ignore[misc,valid-type]
        def __init__(self, stream: str) -> None:
            _Parser.__init__(self, stream)
            BaseResolver.__init__(self)

        def resolve(self, kind: type, value: Any, implicit: Any) -> str:
            return _DEFAULT_TAGS[kind]

        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            pass

        def ascend_resolver(self) -> None:
            pass

except ImportError:  # pragma: no cover - libyaml is part of the pinned wheel
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Composer(Reader, Scanner, Parser, Composer, BaseResolver):  # type: ignore[no-redef,misc]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)
            BaseResolver.__init__(self)

        def resolve(self, kind: type, value: Any, implicit: Any) -> str:
            return _DEFAULT_TAGS[kind]

        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            pass

        def ascend_resolver(self) -> None:
            pass


# every scalar is text to the composer; _resolve_plain types plain scalars afterwards (YAML 1.2 style)
_DEFAULT_TAGS = {ScalarNode: BaseResolver.DEFAULT_SCALAR_TAG, SequenceNode: BaseResolver.DEFAULT_SEQUENCE_TAG,
                 MappingNode: BaseResolver.DEFAULT_MAPPING_TAG}
_NULL = {"", "~", "null", "Null", "NULL"}
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+\.[0-9]*)([eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+")
_MAX_DEPTH = 64


# Named tuples, not dataclasses: a flow has hundreds of nodes and a project thousands of flows.

class YScalar(NamedTuple):
    loc: Loc
    value: Any
    raw: str
    quoted: bool = False


class YSeq(NamedTuple):
    loc: Loc
    items: list[YNode]


class YMap(NamedTuple):
    """A mapping; `items` keeps file order, keys are the raw key text."""

    loc: Loc
    items: dict[str, tuple[Loc, YNode]]

    def get(self, key: str) -> YNode | None:
        entry = self.items.get(key)
        return entry[1] if entry else None

    def key_loc(self, key: str) -> Loc:
        entry = self.items.get(key)
        return entry[0] if entry else self.loc


YNode = YScalar | YSeq | YMap


def to_python(node: YNode) -> Any:
    """Plain Python data (dicts, lists, scalars) from a Y node, for tests and tools."""
    if isinstance(node, YMap):
        return {k: to_python(v) for k, (_, v) in node.items.items()}
    if isinstance(node, YSeq):
        return [to_python(v) for v in node.items]
    return node.value


def _resolve_plain(text: str) -> Any:
    if text in _NULL:
        return None
    if text in _BOOL:
        return _BOOL[text]
    first = text[0]
    if first.isdigit() or first in "+-.":
        if _INT.fullmatch(text):
            return int(text)
        if _FLOAT.fullmatch(text):
            return float(text)
    return text


class _Converter:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def loc(self, node: Node) -> Loc:
        mark = node.start_mark
        return Loc(self.file, mark.line + 1, mark.column + 1)

    def convert(self, node: Node, depth: int = 0) -> YNode:
        mark = node.start_mark
        loc = Loc(self.file, mark.line + 1, mark.column + 1)
        tag = node.tag
        if tag[0] == "!" and not tag.startswith("!!"):
            self.problems.append(Problem.at(loc, f"unsupported YAML tag '{tag}'"))
        cls = node.__class__
        if cls is ScalarNode:
            text = node.value
            # plain scalar: style None from the Python parser, "" from libyaml
            if not node.style:  # type: ignore[attr-defined]
                return YScalar(loc, _resolve_plain(text), text, False)
            return YScalar(loc, text, text, True)
        if depth > _MAX_DEPTH:
            self.problems.append(Problem.at(loc, f"nesting deeper than {_MAX_DEPTH} levels"))
            return YScalar(loc, None, "")
        if cls is SequenceNode:
            return YSeq(loc, [self.convert(item, depth + 1) for item in node.value])
        items: dict[str, tuple[Loc, YNode]] = {}
        result = YMap(loc, items)
        for key_node, value_node in node.value:
            kmark = key_node.start_mark
            key_loc = Loc(self.file, kmark.line + 1, kmark.column + 1)
            if key_node.__class__ is not ScalarNode:
                self.problems.append(Problem.at(key_loc, "a mapping key must be a plain value, not a list or mapping"))
                continue
            key = key_node.value
            if key in items:
                first = items[key][0]
                self.problems.append(
                    Problem.at(key_loc, f"duplicate key '{key}' (first defined at line {first.line})")
                )
                continue
            items[key] = (key_loc, self.convert(value_node, depth + 1))
        return result


def load_text(text: str, file: str) -> tuple[YNode | None, list[Problem]]:
    """Parse one YAML document; syntax errors come back as problems, never raised."""
    try:
        root = _Composer(text).get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Loc(file, mark.line + 1, mark.column + 1) if mark else Loc(file, 1, 1)
        what = exc.problem or exc.context or "unreadable YAML"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        return None, [Problem.at(loc, f"YAML syntax error: {what}{context}",
                                 hint="check the indentation here (spaces, the same depth for keys of one "
                                      "mapping) and quote values containing ': ' or '#'")]
    except yaml.YAMLError as exc:  # pragma: no cover - reader errors without marks
        return None, [Problem.at(Loc(file, 1, 1), f"YAML syntax error: {exc}")]
    if root is None:
        return None, [Problem.at(Loc(file, 1, 1), "the file is empty; a flow needs at least flow, start and nodes")]
    conv = _Converter(file)
    tree = conv.convert(root)
    return tree, conv.problems


def load_file(path: Path, display: str | None = None) -> tuple[YNode | None, list[Problem]]:
    name = display or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [Problem.at(Loc(name), f"cannot read the file: {exc.strerror or exc}")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [Problem.at(Loc(name, line, 1), "the file is not UTF-8 text", hint="save it as UTF-8")]
    return load_text(text, name)
