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


# ----- the common case, without libyaml's objects ------------------------------------------
# Flow files are nearly always written in a small part of YAML: block mappings, block
# sequences of one-line items, one-line flow collections, one-line plain and quoted scalars,
# comments. `_simple_tree` reads exactly that part line by line and builds the same Y nodes
# (values, raw text, marks) as the libyaml path, several times faster. Anything else -
# anchors, tags, block scalars, multi-line scalars or collections, escapes, tabs, unusual
# characters, duplicate keys, anything libyaml might reject - makes it give up (None), and
# the file is read by libyaml, so problems and their locations always come from there.

_tuple_new = tuple.__new__
_NOT_SIMPLE = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
_KEY = re.compile(r"""(?:([A-Za-z0-9_][A-Za-z0-9_.-]*+)|'((?:[^']|'')*)'|"([^"\\]*)"):(?= |$)""")
_SQ = re.compile(r"'((?:[^']|'')*)'")
_DQ = re.compile(r'"([^"\\]*)"')
_PLAIN_START = re.compile(r"[^\s\[\]{},:#'\"&*!|>%@`?-]|-[0-9.A-Za-z]")
# The tokens of a one-line flow collection, each with the spaces before it:
#   a `key: scalar` pair, with the comma after it if any
#   a `key: ` before a nested collection
#   a scalar item, with the comma after it if any
#   an opening bracket, a closing bracket, a lone comma,
#   anything else (not simple).
# Every character belongs to some token, so positions add up.
_WORD = r"[A-Za-z0-9_][A-Za-z0-9_.-]*+"  # possessive: a shorter word never fits where it did not
_QUOTED = r"'(?:[^']|'')*'|\"[^\"\\]*\""
_SCALAR = (rf"{_QUOTED}|{_WORD}(?= *[,\]}}])"
           r"|(?:[^\s\[\]{},:#'\"&*!|>%@`?-]|-[0-9.])[^\[\]{},:#'\"]*?(?= *[,\]}])")
_AFTER = r"( *)(,|(?=[\]}]))"
_FLOW = re.compile(rf"( *)(?:({_WORD}|{_QUOTED}):( +)({_SCALAR}){_AFTER}"
                   rf"|({_WORD}|{_QUOTED}):( +)(?=[\[{{])"
                   rf"|({_SCALAR}){_AFTER}"
                   r"|([\[{])|([\]}])|(,)|(.))")
_SIMPLE_DEPTH = 48
_MAX_KEY = 1000
_PLAIN_VALUES: dict[str, Any] = {}  # plain text -> typed value (the same words recur in every flow)
_NOT_FOUND: Any = object()


class _NotSimple(Exception):
    pass


def _plain_value(raw: str) -> Any:
    value = _PLAIN_VALUES.get(raw, _NOT_FOUND)
    if value is _NOT_FOUND:
        if len(_PLAIN_VALUES) > 8192:
            _PLAIN_VALUES.clear()
        value = _PLAIN_VALUES[raw] = _resolve_plain(raw)
    return value


def _tail_ok(s: str, end: int) -> bool:
    """After a value: nothing, spaces, or spaces then a comment."""
    rest = s[end:]
    if not rest:
        return True
    stripped = rest.lstrip(" ")
    return not stripped or (stripped[0] == "#" and len(stripped) < len(rest))


def _inline(s: str, file: str, line: int, col: int) -> YNode:
    """The value written after `key: ` or `- `; `s` starts at 1-based column `col`."""
    first = s[0]
    if first == "[" or first == "{":
        node, end = _flow(s, file, line, col)
        if not _tail_ok(s, end):
            raise _NotSimple
        return node
    if first == "'" or first == '"':
        m = (_SQ if first == "'" else _DQ).match(s)
        if m is None or not _tail_ok(s, m.end()):
            raise _NotSimple
        text = m.group(1)
        if first == "'":
            text = text.replace("''", "'")
        return _tuple_new(YScalar, (_tuple_new(Loc, (file, line, col)), text, text, True))
    if _PLAIN_START.match(s) is None:
        raise _NotSimple
    cut = s.find(" #")
    text = (s if cut < 0 else s[:cut]).rstrip(" ")
    if ": " in text or text[-1] == ":":
        raise _NotSimple
    return _tuple_new(YScalar, (_tuple_new(Loc, (file, line, col)), _plain_value(text), text, False))


def _unquote(token: str) -> str:
    if token[0] == "'":
        return token[1:-1].replace("''", "'")
    return token[1:-1]


def _flow(s: str, file: str, line: int, col: int) -> tuple[YNode, int]:
    """The flow collection opening at s[0]: (node, index after its closing bracket)."""
    root: Any = None
    stack: list[tuple[Any, bool]] = []
    items: Any = None
    is_map = False
    key = ""
    kloc: Loc | None = None
    node: Any
    # 0: after the opening bracket, 1: after a comma, 3: after a key (its collection comes next),
    # 4: after an entry
    state = 0
    pos = 0
    plain_values = _PLAIN_VALUES
    for (spaces, pair_key, pair_spaces, pair_value, pair_tail, pair_comma, open_key, open_spaces,
         item, item_tail, item_comma, opening, closing, comma, bad) in _FLOW.findall(s):
        if spaces:
            pos += len(spaces)
        if pair_key or open_key:
            token = pair_key or open_key
            if not is_map or state == 3 or state == 4:
                raise _NotSimple
            key = token if token[0] != "'" and token[0] != '"' else _unquote(token)
            if key in items or len(key) > _MAX_KEY:
                raise _NotSimple
            kloc = _tuple_new(Loc, (file, line, col + pos))
            if open_key:
                pos += len(open_key) + 1 + len(open_spaces)
                state = 3
                continue
            pos += len(pair_key) + 1 + len(pair_spaces)
            scalar, tail, after = pair_value, pair_tail, pair_comma
        elif item:
            if is_map or state > 1:
                raise _NotSimple
            scalar, tail, after = item, item_tail, item_comma
        elif closing:
            if state != 0 and state != 4 or closing != ("}" if is_map else "]"):
                raise _NotSimple
            pos += 1
            if not stack:
                return root, pos
            items, is_map = stack.pop()
            state = 4
            continue
        elif opening:
            if (state != 3) if is_map else (state > 1):
                raise _NotSimple
            child: Any = {} if opening == "{" else []
            node = _tuple_new(YMap if opening == "{" else YSeq, (_tuple_new(Loc, (file, line, col + pos)), child))
            pos += 1
            if root is None:
                root = node
            else:
                if is_map:
                    items[key] = (kloc, node)
                else:
                    items.append(node)
                stack.append((items, is_map))
                if len(stack) > _SIMPLE_DEPTH:
                    raise _NotSimple
            items, is_map, state = child, opening == "{", 0
            continue
        elif comma:
            if state != 4:
                raise _NotSimple
            pos += 1
            state = 1
            continue
        else:
            raise _NotSimple
        # a scalar: a pair's value or a sequence item
        loc = _tuple_new(Loc, (file, line, col + pos))
        first = scalar[0]
        if first == "'" or first == '"':
            text = _unquote(scalar)
            node = _tuple_new(YScalar, (loc, text, text, True))
        else:
            value = plain_values.get(scalar, _NOT_FOUND)
            if value is _NOT_FOUND:
                value = _plain_value(scalar)
            node = _tuple_new(YScalar, (loc, value, scalar, False))
        if is_map:
            items[key] = (kloc, node)
        else:
            items.append(node)
        pos += len(scalar) + len(tail)
        if after:
            pos += 1
            state = 1
        else:
            state = 4
    raise _NotSimple


def _simple_tree(text: str, file: str) -> YMap | None:
    """The tree of `text` if it is written in the simple part of YAML, else None."""
    if _NOT_SIMPLE.search(text) is not None:
        return None
    try:
        return _simple_block(text, file)
    except _NotSimple:
        return None


def _simple_block(text: str, file: str) -> YMap | None:
    root: YMap | None = None
    stack: list[tuple[int, Any, bool]] = []  # open block collections: (indent, items, is mapping)
    pending: tuple[dict[str, Any], str, Loc, int, Loc] | None = None  # a `key:` awaiting its value
    inline_indent = -1  # indent of the last entry whose value was on its own line (-1: none)
    key_match = _KEY.match
    n = 0
    for line in text.split("\n"):
        n += 1
        stripped = line.lstrip(" ")
        if not stripped:
            continue
        indent = len(line) - len(stripped)
        if stripped[0] == "#":
            if inline_indent >= 0 and indent > inline_indent:
                raise _NotSimple
            continue
        if pending is not None:
            items, key, kloc, key_indent, empty_loc = pending
            pending = None
            if indent > key_indent:
                loc = _tuple_new(Loc, (file, n, indent + 1))
                if stripped[0] == "-":
                    seq: list[YNode] = []
                    items[key] = (kloc, _tuple_new(YSeq, (loc, seq)))
                    stack.append((indent, seq, False))
                else:
                    nested: dict[str, Any] = {}
                    items[key] = (kloc, _tuple_new(YMap, (loc, nested)))
                    stack.append((indent, nested, True))
                if len(stack) > _SIMPLE_DEPTH:
                    raise _NotSimple
            else:
                if indent == key_indent and stripped[0] == "-":
                    raise _NotSimple
                items[key] = (kloc, _tuple_new(YScalar, (empty_loc, None, "", False)))
        elif inline_indent >= 0 and indent > inline_indent:
            raise _NotSimple  # a scalar continued on the next line
        while stack and stack[-1][0] > indent:
            stack.pop()
        if not stack:
            if root is not None or indent:
                raise _NotSimple
            items = {}
            root = _tuple_new(YMap, (_tuple_new(Loc, (file, n, 1)), items))
            stack.append((0, items, True))
        top_indent, container, is_map = stack[-1]
        if top_indent != indent:
            raise _NotSimple
        if is_map:
            m = key_match(stripped)
            if m is None:
                raise _NotSimple
            key = m.group(1)
            if key is None:
                key = m.group(2)
                key = m.group(3) if key is None else key.replace("''", "'")
            end = m.end()
            if key in container or end > _MAX_KEY:
                raise _NotSimple
            kloc = _tuple_new(Loc, (file, n, indent + 1))
            rest = stripped[end:]
            value = rest.lstrip(" ")
            if not value or value[0] == "#":
                pending = (container, key, kloc, indent, _tuple_new(Loc, (file, n, indent + end + 1)))
                inline_indent = -1
            else:
                col = indent + end + len(rest) - len(value) + 1
                container[key] = (kloc, _inline(value, file, n, col))
                inline_indent = indent
        else:
            if stripped[0] != "-" or len(stripped) < 3 or stripped[1] != " ":
                raise _NotSimple
            value = stripped[2:].lstrip(" ")
            if not value or value[0] == "#":
                raise _NotSimple
            container.append(_inline(value, file, n, indent + len(stripped) - len(value) + 1))
            inline_indent = indent
    if pending is not None:
        items, key, kloc, _, empty_loc = pending
        items[key] = (kloc, _tuple_new(YScalar, (empty_loc, None, "", False)))
    return root


def load_text(text: str, file: str) -> tuple[YNode | None, list[Problem]]:
    """Parse one YAML document; syntax errors come back as problems, never raised."""
    simple = _simple_tree(text, file)
    if simple is not None:
        return simple, []
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
