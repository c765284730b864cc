"""fsgen graph / schema / prompts, and how the CLI fails when a tool is missing."""

from __future__ import annotations

import json
import shutil
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsgen import graph as graph_mod
from fsgen import prompts as prompts_mod
from fsgen.cli import main
from fsgen.schema import NODE_TYPES

FLOW = """\
flow: drawn
title: Drawn "flow" <test>
languages: [zh, en]
start: main
prompts:
  menu: {zh: 请选择, en: Please choose}
nodes:
  main:
    type: menu
    prompts: [menu]
    options: {"1": desk, "2": sub, "9": hangup}
  sub:
    type: menu
    prompts: [menu]
    options: {"*": back, "0": top}
  desk:
    type: queue
    on_timeout: hangup
"""


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    (tmp_path / "recordings").mkdir()
    (tmp_path / "flows").mkdir()
    path = tmp_path / "flows" / "drawn.yaml"
    path.write_text(FLOW, encoding="utf-8")
    return path


def test_graph_prints_mermaid(flow_file: Path) -> None:
    result = CliRunner().invoke(main, ["graph", str(flow_file)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "flowchart TD"
    assert '  entry(["Drawn #quot;flow#quot; #lt;test#gt;"]) --> n_main' in lines
    assert '  n_main -->|"1"| n_desk' in lines
    assert '  n_sub -.->|"*"| x_back' in lines
    assert '  n_sub -.->|"0"| n_main' in lines
    assert '  n_main -->|"9"| x_hangup' in lines
    assert '  x_hangup(("hang up"))' in lines


def test_graph_finds_a_flow_by_name(flow_file: Path) -> None:
    result = CliRunner().invoke(main, ["graph", "drawn", "--flows", str(flow_file.parent)])
    assert result.exit_code == 0 and result.stdout.startswith("flowchart TD")
    result = CliRunner().invoke(main, ["graph", "nope", "--flows", str(flow_file.parent)])
    assert result.exit_code == 2 and "no flow named 'nope'" in result.output


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_svg_with_graphviz(flow_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "flow.svg"
    result = CliRunner().invoke(main, ["graph", str(flow_file), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "<svg" in text and "desk" in text


def test_graph_without_graphviz_says_so(flow_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph_mod.shutil, "which", lambda name: None)
    result = CliRunner().invoke(main, ["graph", str(flow_file), "-o", str(tmp_path / "flow.png")])
    assert result.exit_code == 1
    assert "Graphviz 'dot' is not installed" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "flow.png").exists()


def test_graph_dot_and_mmd_files(flow_file: Path, tmp_path: Path) -> None:
    for name in ("flow.dot", "flow.mmd"):
        result = CliRunner().invoke(main, ["graph", str(flow_file), "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    assert (tmp_path / "flow.dot").read_text().startswith('digraph "drawn" {')
    assert (tmp_path / "flow.mmd").read_text().startswith("flowchart TD")


def test_schema_is_generated_from_the_validator(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["required"] == ["flow", "start", "nodes"]
    assert set(schema["definitions"]) == {"node", *NODE_TYPES}
    menu = schema["definitions"]["menu"]
    assert menu["additionalProperties"] is False
    assert menu["required"] == ["type", "prompts", "options"]
    assert menu["properties"]["barge_in"] == {"type": "boolean", "default": True,
                                              "description": "keys pressed during the prompt are accepted"}
    assert schema["properties"]["nodes"]["additionalProperties"] == {"$ref": "#/definitions/node"}
    dispatch = schema["definitions"]["node"]["allOf"]
    assert {"if": {"properties": {"type": {"const": "queue"}}}, "then": {"$ref": "#/definitions/queue"}} in dispatch
    out = tmp_path / "flow.schema.json"
    assert CliRunner().invoke(main, ["schema", "-o", str(out)]).exit_code == 0
    assert json.loads(out.read_text()) == schema


def test_prompts_without_espeak_say_so(flow_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompts_mod.shutil, "which", lambda name: None)
    result = CliRunner().invoke(main, ["prompts", str(flow_file)])
    assert result.exit_code == 1
    assert "espeak-ng is not installed, so 2 text prompt(s) cannot be rendered" in result.output
    assert "Traceback" not in result.output


def test_prompts_refuse_broken_flows(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: bad\nstart: x\nnodes:\n  x: {type: hangpu}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["prompts", str(bad)])
    assert result.exit_code == 2 and "unknown node type 'hangpu'" in result.output


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
@pytest.mark.parametrize("with_sox", [True, False])
def test_prompts_render_8khz_mono_wavs(flow_file: Path, monkeypatch: pytest.MonkeyPatch, with_sox: bool) -> None:
    if with_sox and shutil.which("sox") is None:
        pytest.skip("sox is not installed")
    if not with_sox:
        real = shutil.which
        monkeypatch.setattr(prompts_mod.shutil, "which", lambda name: None if name == "sox" else real(name))
    result = CliRunner().invoke(main, ["prompts", str(flow_file)])
    assert result.exit_code == 0, result.output
    recordings = flow_file.parent.parent / "recordings" / "drawn"
    assert sorted(p.name for p in recordings.iterdir()) == ["menu.en.wav", "menu.zh.wav"]
    for wav in recordings.iterdir():
        with wave.open(str(wav)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            assert w.getnframes() > 8000 * 0.3  # some speech
    again = CliRunner().invoke(main, ["prompts", str(flow_file)])
    assert again.exit_code == 0 and "0 prompt files rendered" in again.output
    validated = CliRunner().invoke(main, ["validate", str(flow_file)])
    assert validated.exit_code == 0 and "not been rendered" not in validated.output


def test_text_never_reaches_a_command_line(flow_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], bytes]] = []

    def fake_run(args: list[str], input: bytes = b"", **kw: object) -> object:
        calls.append((args, input))
        out = Path(args[args.index("-w") + 1])
        with wave.open(str(out), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(22050)
            w.writeframes(b"\x00\x00" * 22050)

        class Done:
            returncode = 0
            stderr = b""
        return Done()

    monkeypatch.setattr(prompts_mod.shutil, "which", lambda name: "/usr/bin/espeak-ng" if name == "espeak-ng" else None)
    monkeypatch.setattr(prompts_mod.subprocess, "run", fake_run)
    flow_file.write_text(FLOW.replace("Please choose", "--help; rm -rf / `id` $(id)"), encoding="utf-8")
    result = CliRunner().invoke(main, ["prompts", str(flow_file)])
    assert result.exit_code == 0, result.output
    assert [args[:3] for args, _ in calls] == [["/usr/bin/espeak-ng", "-v", "cmn"],
                                              ["/usr/bin/espeak-ng", "-v", "en"]]
    assert calls[1][1] == b"--help; rm -rf / `id` $(id)"
    assert all("--help" not in " ".join(args) for args, _ in calls)
