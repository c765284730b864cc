"""One broken flow per kind of validation error (tests/flows_bad/): exact message and location.

`fsgen validate` must print every error of the file as `file:line:col: error: node 'x': ...` and exit 2,
and `fsgen compile` must write nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fsgen.cli import main

ROOT = Path(__file__).resolve().parent.parent
BAD = "tests/flows_bad"

CASES: dict[str, list[str]] = {
    "yaml_syntax.yaml": [
        "6:4: error: YAML syntax error: did not find expected key (while parsing a block mapping)",
    ],
    "unknown_key.yaml": ["9:5: error: node 'main': unknown key 'timout' (did you mean 'timeout'?)"],
    "missing_key.yaml": ["7:5: error: node 'notice': missing key 'next'"],
    "duplicate_key.yaml": ["6:3: error: duplicate key 'main' (first defined at line 4)"],
    "menu_key_twice.yaml": ["11:7: error: duplicate key '1' (first defined at line 10)"],
    "wrong_type.yaml": [
        "8:14: error: node 'main': expected a list of prompt ids, got the text 'menu'",
        "9:14: error: node 'main': expected a number of seconds, got the text 'soon'",
    ],
    "unknown_node_type.yaml": ["5:11: error: node 'main': unknown node type 'hangpu' (did you mean 'hangup'?)"],
    "undefined_start.yaml": ["2:8: error: start: undefined node 'mian' (did you mean 'main'?)"],
    "undefined_node.yaml": ["10:7: error: node 'main': undefined node 'paygin' (did you mean 'paging'?)"],
    "undefined_prompt.yaml": ["8:14: error: node 'notice': undefined prompt 'notise' (did you mean 'notice'?)"],
    "undefined_queue.yaml": ["6:17: error: node 'billing': undefined node 'busines' (did you mean 'business'?)"],
    "undefined_mailbox.yaml": [
        "8:14: error: node 'message': undefined mailbox 'after_hour' (did you mean 'after_hours'?)",
    ],
    "undefined_flow.yaml": ["6:11: error: node 'to_paging': undefined flow 'pagign'"],
    "unreachable.yaml": ["7:5: error: node 'forgotten': unreachable: no path leads here from start 'main'"],
    "stuck_loop.yaml": [
        ("7:5: error: node 'notice': loops forever: notice -> mark -> notice; "
        "no menu, input, agent or hangup can be reached from here"),
    ],
    "menu_overlap.yaml": [
        ("11:7: error: node 'main': option '1050' overlaps option '1000-1099' (line 10): "
        "a caller's keys would match both"),
    ],
    "bad_option_key.yaml": [
        "10:7: error: node 'main': range '100-1099' needs ends of the same length (e.g. 1000-1099)",
        ("11:7: error: node 'main': option '1A' may contain only digits, * and #, ranges like 1000-1099, "
        "or patterns with X (any digit), Z (1-9), N (2-9) and [1-5]"),
    ],
    "terminator_option.yaml": ["11:7: error: node 'main': option '#' is the menu's terminator key"],
    "back_misuse.yaml": [
        "9:11: error: node 'notice': 'back' is only for menus (it returns to the menu that led here)",
    ],
    "bad_regex.yaml": [
        ("8:17: error: node 'check': invalid regex '^(1[3-9]\\d{9}$': missing ), unterminated subpattern "
        "at position 1"),
    ],
    "collect_regex_space.yaml": [
        "10:10: error: node 'account': min (12) is more than max (10)",
        ("12:12: error: node 'account': regex '^\\d{10} ?$' cannot contain spaces, quotes or \\\\ here "
        "(play_and_get_digits splits and unescapes its arguments)"),
    ],
    "bad_time.yaml": [
        "7:16: error: node 'open': '08:30-25:00' is not a time range: write HH:MM-HH:MM, e.g. 08:30-17:30",
        "8:12: error: node 'open': '9:00-12:00' is not a time range: write HH:MM-HH:MM, e.g. 08:30-17:30",
    ],
    "bad_date.yaml": [
        "9:9: error: node 'open': '2025-02-30' is not a date: day is out of range for month",
        "10:32: error: node 'open': '10/07' is not a date: write YYYY-MM-DD, e.g. 2025-10-01",
    ],
    "bad_timezone.yaml": ["4:13: error: unknown time zone 'Asia/Shangai' (did you mean 'Asia/Shanghai'?)"],
    "missing_prompt_file.yaml": [
        "5:5: error: prompt 'notice': file recordings/notices/no_such_notice.wav does not exist",
    ],
    "bad_variable.yaml": [
        ("7:7: error: node 'mark': 'caller-tier' is not a variable name: letters, digits and _, "
        "not starting with a digit"),
        ("11:15: error: node 'readback': '2fast' is not a variable name: letters, digits and _, "
        "not starting with a digit"),
    ],
    "set_api_call.yaml": [
        "8:14: error: node 'mark': '${system(rm -rf /)}': only ${name} references may start with $",
    ],
    "set_newline.yaml": ["7:13: error: node 'mark': a value must be on one line (no newlines)"],
    "unknown_lookup.yaml": ["6:14: error: node 'ident': unknown lookup 'custmer' (did you mean 'customer'?)"],
}

DIR_CASES: dict[str, list[str]] = {
    "did_twice": [
        ("did_twice/second.yaml:2:20: error: number 95598 is already claimed by flow 'first' "
        "(tests/flows_bad/did_twice/first.yaml:2:11)"),
    ],
    "other_flow_node": [
        ("other_flow_node/front.yaml:8:11: error: node 'to_desk': flow 'desk' has no node 'agnets' "
        "(did you mean 'agents'?)"),
    ],
}


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if ": error: " in line]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_flow_is_reported_with_its_location(name: str) -> None:
    result = CliRunner().invoke(main, ["validate", f"{BAD}/{name}"])
    assert result.exit_code == 2, result.output
    assert _errors(result.output) == [f"{BAD}/{name}:{line}" for line in CASES[name]]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", sorted(DIR_CASES))
def test_errors_across_flows(name: str) -> None:
    result = CliRunner().invoke(main, ["validate", f"{BAD}/{name}"])
    assert result.exit_code == 2, result.output
    assert _errors(result.output) == [f"{BAD}/{line}" for line in DIR_CASES[name]]


def test_every_bad_flow_has_a_case() -> None:
    files = {p.name for p in (ROOT / BAD).iterdir()}
    assert files == set(CASES) | set(DIR_CASES)


def test_hints_follow_their_error() -> None:
    result = CliRunner().invoke(main, ["validate", f"{BAD}/set_api_call.yaml"])
    lines = result.output.splitlines()
    i = lines.index(f"{BAD}/set_api_call.yaml:8:14: error: node 'mark': '${{system(rm -rf /)}}': "
                    "only ${name} references may start with $")
    assert lines[i + 1].startswith("    hint: API calls such as ${system ...}")


def test_all_errors_of_all_files_at_once() -> None:
    result = CliRunner().invoke(main, ["validate", BAD])
    assert result.exit_code == 2
    expected = sum(len(v) for v in CASES.values())  # the directories are not read (not recursive)
    assert len(_errors(result.output)) == expected
    assert result.output.rstrip().splitlines()[-1].startswith(f"{expected} errors")


@pytest.mark.parametrize("name", ["stuck_loop.yaml", "yaml_syntax.yaml", "did_twice"])
def test_compile_writes_nothing_when_there_is_an_error(name: str, tmp_path: Path) -> None:
    out = tmp_path / "build"
    result = CliRunner().invoke(main, ["compile", f"{BAD}/{name}", "-o", str(out)])
    assert result.exit_code == 2
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_text_prompt_not_rendered_is_a_warning_not_an_error(tmp_path: Path) -> None:
    flow = tmp_path / "flows" / "ok.yaml"
    flow.parent.mkdir()
    (tmp_path / "recordings").mkdir()
    flow.write_text("flow: ok\nstart: bye\nprompts:\n  thanks: {zh: 谢谢}\nnodes:\n"
                    "  bye: {type: hangup, prompt: thanks}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(flow)])
    assert result.exit_code == 0, result.output
    assert "warning: 1 text prompt has not been rendered yet (first: " in result.output
    assert "run `fsgen prompts`" in result.output


def test_transfer_to_another_flows_mailbox_number_is_a_warning(tmp_path: Path) -> None:
    """Departments and mailboxes on one switch share the directory: 8101 cannot be both."""
    (tmp_path / "power.yaml").write_text(
        'flow: power\nnumbers: ["95598"]\nstart: msg\nmailboxes:\n  desk: {number: "8101"}\n'
        "nodes:\n  msg: {type: voicemail, mailbox: desk}\n", encoding="utf-8")
    (tmp_path / "city.yaml").write_text(
        'flow: city\nnumbers: ["12345"]\nstart: other\nnodes:\n'
        '  other: {type: transfer, extension: "7101", timeout: 20, fallback: dept}\n'
        '  dept: {type: transfer, extension: "8101"}\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "voicemail box" in line]
    assert len(warnings) == 1 and "city.yaml:6:" in warnings[0], result.output
    assert "node 'dept': 8101 is also a voicemail box of flow 'power'" in warnings[0]
