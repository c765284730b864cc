"""A flow whose `numbers` or `languages` value is wrong is still checked, never a traceback.

The flow-level record is checked partially (one bad top-level value must not hide the rest
of the file), so the model is built without the values that had errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fsgen.cli import main

FLOW = """flow: desk
numbers: {numbers}
languages: {languages}
start: main
prompts:
  hello: {{zh: 你好, en: Hello}}
nodes:
  main: {{type: play, prompts: [hello], next: gone}}
"""


def _validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, numbers: str, languages: str) -> list[str]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recordings").mkdir()
    (tmp_path / "desk.yaml").write_text(FLOW.format(numbers=numbers, languages=languages), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "desk.yaml"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert result.exit_code == 2, result.output
    return [line for line in result.output.splitlines() if ": error: " in line or ": warning: " in line]


@pytest.mark.parametrize(("numbers", "languages", "schema_error"), [
    ("yes", "[zh, en]", "desk.yaml:2:10: error: expected a list of numbers, got the text 'yes'"),
    ('["95598"]', "5", "desk.yaml:3:12: error: expected a list of languages, got the number 5"),
])
def test_wrong_value_is_reported_and_the_rest_still_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            numbers: str, languages: str, schema_error: str) -> None:
    lines = _validate(tmp_path, monkeypatch, numbers, languages)
    assert [line for line in lines if ": error: " in line] == [
        schema_error,
        "desk.yaml:8:46: error: node 'main': undefined node 'gone'",
    ]
    # nothing is made up about prompts' languages
    assert not [line for line in lines if "languages" in line and ": warning: " in line]
