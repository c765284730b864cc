"""hotline.yaml + HOTLINE_* environment: defaults, overrides, and errors with file:line."""

import pytest

from esl_app.config import ConfigError, load_config


def test_defaults_are_safe():
    config = load_config(None, env={})
    assert (config.esl_host, config.esl_port) == ("127.0.0.1", 8084)
    assert config.lookup_deadline_ms == 500
    assert (config.pin_max_failures, config.pin_window_minutes) == (3, 15)
    assert config.blacklist_action == "reject"
    assert config.db_url.startswith("sqlite:////") and config.db_url.endswith("var/hotline.db")
    assert config.tier_scores == {"platinum": 3000, "gold": 2000, "normal": 0}


def test_file_then_environment(tmp_path):
    path = tmp_path / "hotline.yaml"
    path.write_text(
        "esl:\n  port: 9000\n"
        "database:\n  path: data/h.db\n"
        "lookups:\n  deadline_ms: 300\n  tier_scores: {gold: 2500}\n"
        "pin: {max_failures: 5, window_minutes: 30}\n"
        "blacklist: {action: notice, notice: /sounds/blocked.wav}\n", encoding="utf-8")
    config = load_config(path, env={"HOTLINE_ESL_PORT": "9100", "HOTLINE_ESL_PASSWORD": "s3cret"})
    assert config.esl_port == 9100  # environment wins
    assert config.fs_password == "s3cret"
    assert config.db_url == f"sqlite:///{tmp_path}/data/h.db"  # relative to the config file
    assert config.lookup_deadline_ms == 300
    assert config.tier_scores == {"platinum": 3000, "gold": 2500, "normal": 0}
    assert (config.pin_max_failures, config.pin_window_minutes) == (5, 30)
    assert (config.blacklist_action, config.blacklist_notice) == ("notice", "/sounds/blocked.wav")


def test_db_url_from_environment(tmp_path):
    config = load_config(None, env={"HOTLINE_DB_URL": "postgresql://u:p@127.0.0.1:5432/hotline"})
    assert config.db_url == "postgresql://u:p@127.0.0.1:5432/hotline"


def test_every_problem_has_file_and_line(tmp_path):
    path = tmp_path / "hotline.yaml"
    path.write_text(
        "esl:\n"
        "  port: eighty\n"          # line 2
        "lookups:\n"
        "  deadline_msec: 300\n"    # line 4
        "blacklist:\n"
        "  action: shout\n"         # line 6
        "colour: blue\n", encoding="utf-8")  # line 7
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    messages = [str(p) for p in err.value.problems]
    assert messages[0].startswith(f"{path}:2: esl.port must be a whole number")
    assert any(m.startswith(f"{path}:4: unknown setting lookups.deadline_msec") for m in messages)
    assert any(m.startswith(f"{path}:6: blacklist.action must be one of reject, notice") for m in messages)
    assert any(m.startswith(f"{path}:7: unknown section 'colour'") for m in messages)


def test_yaml_syntax_error_has_a_line(tmp_path):
    path = tmp_path / "hotline.yaml"
    path.write_text("esl:\n  port: 8084\n  host: [127.0.0.1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert str(err.value.problems[0]).startswith(f"{path}:")
    assert "not valid YAML" in str(err.value)


def test_notice_needs_a_sound_and_bad_env_is_reported():
    with pytest.raises(ConfigError) as err:
        load_config(None, env={"HOTLINE_BLACKLIST_ACTION": "notice", "HOTLINE_LOOKUP_DEADLINE_MS": "fast"})
    text = str(err.value)
    assert "HOTLINE_LOOKUP_DEADLINE_MS must be a whole number" in text
    assert "blacklist.notice names no sound file" in text


def test_missing_file_is_a_problem_not_a_traceback(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.yaml", env={})
    assert "config file not found" in str(err.value)


def test_example_config_loads_and_matches_the_defaults():
    from pathlib import Path

    import esl_app

    example = Path(esl_app.__file__).parent / "hotline.example.yaml"
    config = load_config(example, env={})
    defaults = load_config(None, env={})
    for attr in ("esl_host", "esl_port", "lookup_deadline_ms", "pin_max_failures", "pin_window_minutes",
                 "blacklist_action", "tier_scores", "set_app", "db_threads", "command_timeout_ms"):
        assert getattr(config, attr) == getattr(defaults, attr), attr
    assert config.db_url == f"sqlite:///{example.parent}/var/hotline.db"
