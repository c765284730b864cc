"""Compiling: golden XML for every example, well-formed, deterministic, escaped, atomic.

Golden files live in tests/golden/examples; after an intended change regenerate them with
`.venv/bin/python -m tests.update_golden` and review the diff.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from fsgen.cli import main
from fsgen.compiler import compile_to, load_project, render
from fsgen.write import MANIFEST, OutputError, write_tree
from tests.update_golden import GOLDEN, ROOT, compile_examples

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
REGENERATE = "regenerate with `.venv/bin/python -m tests.update_golden` and review the diff"


@pytest.fixture(scope="module")
def compiled() -> dict[str, bytes]:
    return compile_examples()


def _flow_name(path: Path) -> str:
    return str(yaml.safe_load(path.read_text(encoding="utf-8"))["flow"])


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_matches_golden(example: Path, compiled: dict[str, bytes]) -> None:
    name = _flow_name(example)
    for rel in (f"dialplan/hotline_{name}.xml", f"dialplan/public/hotline_{name}.xml"):
        golden = GOLDEN / rel
        if rel not in compiled:
            assert not golden.exists(), f"{rel} is no longer generated; {REGENERATE}"
            continue
        assert golden.exists(), f"no golden file {rel}; {REGENERATE}"
        assert compiled[rel].decode() == golden.read_text(encoding="utf-8"), f"{rel} changed; {REGENERATE}"


def test_whole_tree_matches_golden(compiled: dict[str, bytes]) -> None:
    golden = {p.relative_to(GOLDEN).as_posix(): p.read_bytes() for p in GOLDEN.rglob("*") if p.is_file()}
    assert sorted(compiled) == sorted(golden), REGENERATE
    for rel, content in compiled.items():
        assert content == golden[rel], f"{rel} changed; {REGENERATE}"


def test_every_file_is_well_formed_xml(compiled: dict[str, bytes]) -> None:
    xml_files = [rel for rel in compiled if rel.endswith(".xml")]
    assert len(xml_files) >= 2 * len(EXAMPLES) + 1
    for rel in xml_files:
        root = ET.fromstring(compiled[rel])
        assert root.tag in ("include", "configuration"), rel


def test_manifest_lists_every_file_with_its_sha256(compiled: dict[str, bytes]) -> None:
    manifest = json.loads(compiled[MANIFEST])
    assert set(manifest["files"]) == set(compiled) - {MANIFEST}
    for rel, digest in manifest["files"].items():
        assert hashlib.sha256(compiled[rel]).hexdigest() == digest
    assert manifest["flows"] == {_flow_name(p): f"examples/{p.name}" for p in EXAMPLES}


def test_compile_twice_gives_byte_identical_trees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    for out in ("a", "b"):
        result = runner.invoke(main, ["compile", "examples/", "-o", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    a = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file()}
    b = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()}
    assert a == b
    assert len(a) > 10


def _write(tmp_path: Path, text: str, name: str = "f.yaml") -> Path:
    flows = tmp_path / "flows"
    flows.mkdir(exist_ok=True)
    (tmp_path / "recordings").mkdir(exist_ok=True)
    path = flows / name
    path.write_text(text, encoding="utf-8")
    return path


HOSTILE = """\
flow: hostile
numbers: ["+8657112345"]
start: mark
mailboxes:
  desk: {number: "8999", name: "A&B <desk> \\"quoted\\" 'x' ${hotline_customer_name}"}
nodes:
  mark:
    type: set
    variables:
      note: 'a<b & c>d "q" ''s'' ${hotline_customer_name} end'
    next: check
  check:
    type: branch
    variable: hotline_customer_tier
    cases:
      - {equals: "g<o>l&d\\"", then: msg}
    else: msg
  msg:
    type: voicemail
    mailbox: desk
"""


def test_values_cannot_break_out_of_the_xml(tmp_path: Path) -> None:
    project = load_project([_write(tmp_path, HOSTILE)])
    assert project.ok, [p.format() for p in project.problems]
    files, _ = render(project, env={})
    context = ET.fromstring(files["dialplan/hotline_hostile.xml"])
    datas = [a.get("data") for a in context.iter("action")]
    assert "note=a<b & c>d \"q\" 's' ${hotline_customer_name} end" in datas
    expressions = [c.get("expression") for c in context.iter("condition")]
    assert '^g<o>l&d"$' in expressions
    user = ET.fromstring(files["directory/default/hotline_8999.xml"])
    names = [v.get("value") for v in user.iter("variable") if v.get("name") == "effective_caller_id_name"]
    assert names == ["A&B <desk> \"quoted\" 'x' ${hotline_customer_name}"]
    public = ET.fromstring(files["dialplan/public/hotline_hostile.xml"])
    assert public.find(".//condition").get("expression") == "^(?:\\+8657112345)$"
    # one element per action: nothing opened or closed by the values
    assert len(context.findall(".//extension[@name='mark']/condition/action")) == 2


def test_the_renderer_holds_even_if_validation_were_bypassed(tmp_path: Path) -> None:
    project = load_project([_write(tmp_path, HOSTILE)])
    flow = project.flow("hostile")
    evil = 'x"/><action application="system" data="rm -rf /"/>\n<extension name="owned">'
    flow.nodes["mark"].variables = [("note", evil)]  # type: ignore[attr-defined]
    flow.mailboxes["desk"].name = evil
    files, _ = render(project, env={})
    text = files["dialplan/hotline_hostile.xml"].decode()
    context = ET.fromstring(text)
    assert [a.get("application") for a in context.iter("action")].count("system") == 0
    assert [e.get("name") for e in context.iter("extension")].count("owned") == 0
    assert ("set", "note=" + evil.replace("\n", " ")) in [(a.get("application"), a.get("data"))
                                                          for a in context.iter("action")]
    user = files["directory/default/hotline_8999.xml"].decode()
    assert "&#10;" in user
    names = [v.get("value") for v in ET.fromstring(user).iter("variable") if v.get("name") == "effective_caller_id_name"]
    assert names == [evil]


@pytest.mark.parametrize("value, message", [
    ("${system(id)}", "only ${name} references may start with $"),
    ("$${hold_music}", "only ${name} references may start with $"),
    ("${a${b}}", "only ${name} references may start with $"),
    ("price $5", "only ${name} references may start with $"),
])
def test_set_values_refuse_api_calls(tmp_path: Path, value: str, message: str) -> None:
    text = f"flow: v\nstart: s\nnodes:\n  s:\n    type: set\n    variables: {{x: {json.dumps(value)}}}\n" \
           "    next: hangup\n"
    project = load_project([_write(tmp_path, text)])
    assert not project.ok
    assert any(message in p.message for p in project.problems)


def test_failed_compile_keeps_the_previous_tree(tmp_path: Path) -> None:
    good = _write(tmp_path, "flow: good\nstart: bye\nnodes:\n  bye: {type: hangup}\n")
    out = tmp_path / "out"
    result = compile_to([good], out)
    assert result.ok and (out / MANIFEST).is_file()
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    good.write_text("flow: good\nstart: bye\nnodes:\n  bye: {type: hangpu}\n", encoding="utf-8")
    result = compile_to([good], out)
    assert not result.ok and result.digests == {}
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flows", "out", "recordings"]


def test_output_replaces_old_files_completely(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_tree(out, {"a/x.xml": b"<include/>", MANIFEST: b"{}"})
    write_tree(out, {"b/y.xml": b"<include/>", MANIFEST: b"{}"})
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "b/y.xml", MANIFEST]


def test_refuses_to_replace_a_directory_fsgen_did_not_write(tmp_path: Path) -> None:
    live = tmp_path / "freeswitch"
    live.mkdir()
    (live / "vars.xml").write_text("<include/>")
    with pytest.raises(OutputError, match="not written by fsgen"):
        write_tree(live, {MANIFEST: b"{}"})
    assert (live / "vars.xml").read_text() == "<include/>"
    flow = _write(tmp_path, "flow: good\nstart: bye\nnodes:\n  bye: {type: hangup}\n")
    result = CliRunner().invoke(main, ["compile", str(flow), "-o", str(live)])
    assert result.exit_code == 1
    assert "fsgen: " in result.output and "not written by fsgen" in result.output
    assert "Traceback" not in result.output


def test_mailbox_pin_comes_from_the_environment(tmp_path: Path) -> None:
    text = ("flow: vm\nstart: msg\nmailboxes:\n  desk: {number: '8777', pin_env: HOTLINE_VM_PIN_8777}\n"
            "nodes:\n  msg: {type: voicemail, mailbox: desk}\n")
    project = load_project([_write(tmp_path, text)])
    files, problems = render(project, env={"HOTLINE_VM_PIN_8777": "4096"})
    assert b'name="vm-password" value="4096"' in files["directory/default/hotline_8777.xml"]
    assert problems == []
    files, problems = render(project, env={})
    assert b'value="$${default_password}"' in files["directory/default/hotline_8777.xml"]
    assert [p.message for p in problems] == [
        ("mailbox 'desk': environment variable HOTLINE_VM_PIN_8777 is not set; the stock $${default_password} "
        "applies")]
    files, problems = render(project, env={"HOTLINE_VM_PIN_8777": "12ab"})
    assert problems[0].is_error and "must be 4 to 12 digits" in problems[0].message


def test_parallel_compile_writes_the_same_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    serial = compile_to([Path("examples")], tmp_path / "serial", env={}, jobs=1)
    parallel = compile_to([Path("examples")], tmp_path / "parallel", env={}, jobs=2)
    assert serial.ok and parallel.ok
    assert parallel.digests == serial.digests
    assert parallel.flows == serial.flows

    def tree(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert tree(tmp_path / "parallel") == tree(tmp_path / "serial")
    assert sorted(tree(tmp_path / "serial")) == sorted(serial.digests)


def test_parallel_compile_reports_the_same_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    paths = [Path("tests/flows_bad/did_twice"), Path("tests/flows_bad/other_flow_node"),
             Path("tests/flows_bad/stuck_loop.yaml"), Path("examples")]
    serial = compile_to(paths, tmp_path / "a", jobs=1)
    parallel = compile_to(paths, tmp_path / "b", jobs=2)
    assert not serial.ok
    assert [p.format() for p in parallel.problems] == [p.format() for p in serial.problems]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert list(tmp_path.iterdir()) == []
