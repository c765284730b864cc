"""The compiler's shortcuts give exactly what the general paths give.

fsgen reads most flow files without libyaml's objects (loader._simple_tree), writes a
context's extensions without template loops (render.extensions_xml) and remembers accepted
texts per schema type (validate.Str). Each shortcut is checked here against the general path
it replaces, on real flows and on generated input full of the cases that must not take it.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import jinja2
import pytest

from fsgen import loader
from fsgen.errors import Loc
from fsgen.plan import Action, Condition, ContextPlan, Extension
from fsgen.render import _xmlattrs, extensions_xml
from fsgen.schema import validate_flow

ROOT = Path(__file__).resolve().parent.parent


def _located(node: Any) -> Any:
    """A Y tree as plain data, with every location, raw text, value type and quoting."""
    if isinstance(node, loader.YMap):
        return ("map", node.loc, [(k, kloc, _located(v)) for k, (kloc, v) in node.items.items()])
    if isinstance(node, loader.YSeq):
        return ("seq", node.loc, [_located(v) for v in node.items])
    return ("scalar", node.loc, type(node.value), node.value, node.raw, node.quoted)


def _libyaml(text: str, file: str) -> tuple[Any, list[Any]]:
    try:
        root = loader._Composer(text).get_single_node()
    except Exception as exc:  # noqa: BLE001 - any error means the shortcut must not accept
        return exc, []
    if root is None:
        return None, []
    conv = loader._Converter(file)
    return conv.convert(root), conv.problems


def _same_as_libyaml(text: str) -> bool | None:
    """None: the shortcut declined; else whether it agreed with libyaml."""
    fast = loader._simple_tree(text, "f.yaml")
    if fast is None:
        return None
    tree, problems = _libyaml(text, "f.yaml")
    if tree is None or isinstance(tree, Exception) or problems:
        return False
    return _located(fast) == _located(tree)


def _flow_files() -> list[Path]:
    return sorted((ROOT / "examples").glob("*.yaml")) + sorted((ROOT / "flows").glob("*.yaml"))


@pytest.mark.parametrize("path", _flow_files(), ids=lambda p: p.name)
def test_flows_are_read_the_same_by_the_shortcut(path: Path) -> None:
    assert _same_as_libyaml(path.read_text(encoding="utf-8")) is True


def test_bad_flows_are_never_misread() -> None:
    for path in sorted((ROOT / "tests" / "flows_bad").rglob("*.yaml")):
        assert _same_as_libyaml(path.read_text(encoding="utf-8")) in (None, True), path


# values and keys that the shortcut must either read exactly as libyaml or leave to it
ATOMS = ["a", "play", "9", "-3", "-x", "-", "1.5", ".5", "1e3", "+7", "0755", "true", "True", "yes", "null",
         "~", "", "a b", "a  b", "a,b", "a:b", "a: b", "a:", ":a", "a #c", "a#c", "#c", "a'b", 'a"b', "&a", "*a",
         "!a", "!!str a", "|", ">", "%a", "@a", "`a", "?a", "? a", "a]", "a}", "[a", "{a", "$${dir}/x", "${x}",
         "^\\d{6}$", "08:30-17:30", "2027-01-01", "中文：提示", "\u00a0", "\u3000a", "😀", "1000-1099", "#", "*",
         "\\", "'q'", '"q"', "'it''s'", "'a'b'", '"a\\"b"', '"\\n"', "''", '""', "'#x'", '"a, b"', "a\tb", "a\rb",
         "a\u2028b", "a\x85b", "---", "...", "- a", "[]", "{}", "[a]", "{a: b}", "[a, b]", "[a,b]", "{a:b}",
         "{a: }", "[a, ]", "[, a]", "{a: b,}", "[[a]]", "[{a: b}]", "{a: [b]}", "[a: b]", "{a}", "[ a , b ]",
         "{ a : b }", '{"a": b}', "{'a': b}", '{"a":b}', "[a b, c]", "[a #c]", "[a] #c", "[a]#c", "[a] x",
         "[-1, -a]", "[?a]", "[a:]", "[&a a]", "[*a]", "['a''b']", "[中文, 😀]", "{1: a}", "{a.b: c}", "{a b: c}",
         "{a: b: c}", "{a: [b, {c: d}], e: f}"]
KEYS = ["a", "type", "x.y", "x-y", "1", "1000-1099", "'q'", "'it''s'", '"d"', "''", "a b", "-a", "?a", ":a",
        "a:b", "中文", "#", '"1"', "k" * 1100, "on", "~", "[a]", "{a: b}", "&x a", "!t a", "? a", "- a"]
COMMENTS = [""] * 10 + [" # c", "  #c", "#c", " #", "\t# c", " # a: b"]


def _document(rng: random.Random) -> str:
    atoms = rng.sample(ATOMS, rng.randint(1, 3))
    keys = rng.sample(KEYS, 2)
    lines: list[str] = []
    count = 0

    def block(indent: int, depth: int, seq: bool) -> None:
        nonlocal count
        for _ in range(rng.randint(1, 3)):
            pad = " " * indent
            if rng.random() < 0.03:
                pad = " " * max(0, indent + rng.choice([-1, 1]))
            if rng.random() < 0.08:
                lines.append(pad + rng.choice(["# note", "", "  # deeper", "#"]))
            comment = rng.choice(COMMENTS)
            if seq:
                lines.append(f"{pad}-{rng.choice([' ', ' ', ''])}{rng.choice(atoms)}{comment}")
                continue
            count += 1
            key = rng.choice(keys) if rng.random() < 0.2 else f"k{count}"
            if depth < 3 and rng.random() < 0.2:
                lines.append(f"{pad}{key}:{comment}")
                if rng.random() < 0.85:
                    block(indent + rng.choice([2, 2, 4, 1, 0]), depth + 1, rng.random() < 0.3)
                continue
            lines.append(f"{pad}{key}{rng.choice([': '] * 6 + [':  ', ':', ' : '])}{rng.choice(atoms)}{comment}")
            if rng.random() < 0.04:
                lines.append(" " * (indent + rng.choice([1, 2])) + rng.choice(atoms))

    block(0, 0, False)
    return "\n".join(lines) + rng.choice(["\n", "", "\n\n"])


def test_generated_yaml_is_read_as_libyaml_reads_it() -> None:
    rng = random.Random(20261123)
    taken = 0
    for _ in range(3000):
        text = _document(rng)
        result = _same_as_libyaml(text)
        assert result is not False, text
        taken += result is True
    assert taken > 300  # the shortcut was really exercised


def test_shortcut_locations_of_empty_values_and_flow_items() -> None:
    text = "a:\nb:   # note\nc: {d: [1, 'x''y'], e: \"z\"}  # tail\nf:\n  - -2\n  - 中文: x\n"
    assert _same_as_libyaml(text) is None  # "中文: x" in a sequence is beyond the shortcut
    text = "a:\nb:   # note\nc: {d: [1, 'x''y'], e: \"z\"}  # tail\nf:\n  - -2\n  - 中文\ng:"
    tree = loader._simple_tree(text, "f.yaml")
    assert tree is not None and _same_as_libyaml(text) is True
    assert tree.items["a"][1] == loader.YScalar(Loc("f.yaml", 1, 3), None, "", False)
    assert tree.items["g"][1].loc == Loc("f.yaml", 7, 3)


# ----- extensions -------------------------------------------------------------------------

# the loop context.xml.j2 had before extensions_xml (the reference for its output)
OLD_LOOP = """{% for name, conditions in plan.extensions %}
    <extension name="{{ name }}">
{% for attrs, actions, anti_actions in conditions %}
{% if actions or anti_actions %}
      <condition{{ attrs|xmlattr }}>
{% for app, data in actions %}
        <action application="{{ app }}"{% if data is not none %} data="{{ data }}"{% endif %}/>
{% endfor %}
{% for app, data in anti_actions %}
        <anti-action application="{{ app }}"{% if data is not none %} data="{{ data }}"{% endif %}/>
{% endfor %}
      </condition>
{% else %}
      <condition{{ attrs|xmlattr }}/>
{% endif %}
{% endfor %}
    </extension>
{% endfor %}
"""


def _old_render(plan: ContextPlan) -> str:
    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["xmlattr"] = _xmlattrs
    return env.from_string(OLD_LOOP).render(plan=plan)


def test_extensions_match_the_template_loop_whatever_the_values() -> None:
    rng = random.Random(7)
    texts = ["x", "hotline_flow=a", "^a\\.b$", "${cond(${v} > 1 ? yes : no)}", "a&b", "<x>", 'say "hi"', "it's",
             "line\nbreak", "tab\there", "cr\rhere", "中文", "", "$${domain}", "a=b;c", "&amp;"]
    for _ in range(300):
        extensions = []
        for _ in range(rng.randint(1, 4)):
            conditions = []
            for _ in range(rng.randint(1, 3)):
                attrs = {k: rng.choice(texts) for k in rng.sample(["field", "expression", "break", "wday"],
                                                                  rng.randint(0, 3))}
                actions = [Action(rng.choice(texts), rng.choice(texts + [None])) for _ in range(rng.randint(0, 3))]
                anti = [Action(rng.choice(texts), rng.choice(texts + [None])) for _ in range(rng.randint(0, 2))]
                conditions.append(Condition(attrs, actions, anti))
            extensions.append(Extension(rng.choice(texts), conditions))
        plan = ContextPlan("hotline_x", extensions)
        assert str(extensions_xml(plan)) + "\n" == _old_render(plan)


# ----- remembered texts -------------------------------------------------------------------

def test_remembered_texts_still_report_every_mistake() -> None:
    flow = ("flow: f\nstart: a\nnodes:\n"
            "  a: {type: play, prompts: [p], next: Bad}\n"
            "  b: {type: play, prompts: [p], next: Bad}\n"
            "  c: {type: play, prompts: [p], next: b}\n"
            "  d: {type: set, variables: {x: '1', y: '${system x}'}, next: c}\n"
            "  e: {type: set, variables: {x: '1', y: '${system x}'}, next: c}\n")
    first, _ = loader.load_text(flow, "f.yaml")
    second, _ = loader.load_text(flow, "f.yaml")
    assert first is not None and second is not None
    for tree in (first, second):  # the second time every text has been seen before
        _, problems = validate_flow(tree, "f.yaml")
        assert [(p.line, p.node) for p in problems] == [(4, "a"), (5, "b"), (7, "d"), (8, "e")]


def test_remembered_values_are_not_shared_lists() -> None:
    flow = "flow: f\nstart: h\nnodes:\n  h: {type: hours, open: {mon-fri: '08:00-12:00'}, then_open: h, then_closed: h}\n"
    datas = []
    for _ in range(2):
        tree, _ = loader.load_text(flow, "f.yaml")
        assert tree is not None
        data, problems = validate_flow(tree, "f.yaml")
        assert data is not None and not problems
        datas.append(data)
    one, two = (d["nodes"]["h"]["open"] for d in datas)
    assert one.parsed_keys["mon-fri"] == two.parsed_keys["mon-fri"] == [0, 1, 2, 3, 4]
    assert one.parsed_keys["mon-fri"] is not two.parsed_keys["mon-fri"]
    assert one["mon-fri"] == two["mon-fri"] and one["mon-fri"] is not two["mon-fri"]
