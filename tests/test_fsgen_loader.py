"""The YAML loader: locations on every node, duplicate keys, strict scalars, syntax errors."""

from __future__ import annotations

from pathlib import Path

from fsgen.loader import YMap, YScalar, YSeq, load_file, load_text, to_python


def test_every_node_knows_its_line_and_column() -> None:
    tree, problems = load_text("flow: x\nnodes:\n  main:\n    type: menu\n    options: {\"1\": a}\n", "f.yaml")
    assert problems == []
    assert isinstance(tree, YMap)
    nodes = tree.get("nodes")
    assert isinstance(nodes, YMap) and nodes.key_loc("main").line == 3
    main = nodes.get("main")
    assert isinstance(main, YMap)
    kind = main.get("type")
    assert isinstance(kind, YScalar) and (kind.loc.line, kind.loc.column) == (4, 11)
    options = main.get("options")
    assert isinstance(options, YMap) and options.key_loc("1").column == 15


def test_duplicate_keys_are_reported_and_the_first_kept() -> None:
    tree, problems = load_text("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert [(p.line, p.column, p.message) for p in problems] == [
        (3, 1, "duplicate key 'a' (first defined at line 1)")]
    assert to_python(tree) == {"a": 1, "b": 2}  # type: ignore[arg-type]


def test_yaml_1_2_scalars() -> None:
    tree, _ = load_text("a: yes\nb: no\nc: true\nd: 9:30\ne: 0755\nf: 1.5\ng: ~\nh: '12'\ni: on\n", "f.yaml")
    data = to_python(tree)  # type: ignore[arg-type]
    assert data == {"a": "yes", "b": "no", "c": True, "d": "9:30", "e": 755, "f": 1.5, "g": None,
                    "h": "12", "i": "on"}
    assert isinstance(tree, YMap)
    e = tree.get("e")
    assert isinstance(e, YScalar) and e.raw == "0755" and not e.quoted
    h = tree.get("h")
    assert isinstance(h, YScalar) and h.quoted


def test_dates_stay_text() -> None:
    tree, _ = load_text("holidays: [2025-10-01]\n", "f.yaml")
    assert isinstance(tree, YMap)
    seq = tree.get("holidays")
    assert isinstance(seq, YSeq) and to_python(seq) == ["2025-10-01"]


def test_syntax_error_is_a_located_problem() -> None:
    tree, problems = load_text("a: [1, 2\nb: 3\n", "f.yaml")
    assert tree is None
    assert len(problems) == 1
    assert problems[0].message.startswith("YAML syntax error: ")
    assert (problems[0].file, problems[0].line) == ("f.yaml", 2)


def test_empty_and_multi_document_files() -> None:
    assert load_text("", "f.yaml")[1][0].message.startswith("the file is empty")
    _, problems = load_text("a: 1\n---\nb: 2\n", "f.yaml")
    assert "expected a single document" in problems[0].message


def test_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"flow: x\ntitle: caf\xe9\n")
    _, problems = load_file(bad, "latin1.yaml")
    assert (problems[0].line, problems[0].message) == (2, "the file is not UTF-8 text")
    _, problems = load_file(tmp_path / "missing.yaml", "missing.yaml")
    assert problems[0].message.startswith("cannot read the file")


def test_unknown_tags_are_refused() -> None:
    _, problems = load_text("a: !vault secret\n", "f.yaml")
    assert problems[0].message == "unsupported YAML tag '!vault'"
