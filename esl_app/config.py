"""esl_app configuration: ``hotline.yaml`` plus ``HOTLINE_*`` environment overrides.

Every problem is a value (:class:`ConfigProblem`) carrying the file and line it came from, so the
CLI can print ``hotline.yaml:12: ...`` and exit 2 instead of a traceback. Unknown keys are problems
too: a misspelt ``deadline_msec`` must not silently leave the default in force.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG_NAME = "hotline.yaml"
TIERS = ("platinum", "gold", "normal")


@dataclass(frozen=True)
class ConfigProblem:
    source: str  # file name or "environment"
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """Raised with every problem found, so one run reports them all."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Config:
    # Outbound Event Socket server (where the dialplan's `socket` app connects).
    esl_host: str = "127.0.0.1"
    esl_port: int = 8084
    max_calls: int = 1000
    command_timeout_ms: int = 5000
    shutdown_grace_s: float = 30.0
    # How variables reach the channel: "api" (one ``api uuid_setvar_multi`` sent together with
    # ``exit``: no app queued, no events; values its splitter would alter go by "set"), "multiset"
    # (one executed app for all, ``^^<delimiter>`` form) or "set" (one executed app per variable).
    set_app: str = "api"
    # The switch's inbound Event Socket: call records and the switch-side cache. Used only when
    # the config has a `freeswitch:` section (or HOTLINE_FS_HOST / HOTLINE_FS_PORT is set).
    fs_enabled: bool = False
    fs_host: str = "127.0.0.1"
    fs_port: int = 8021
    fs_password: str = "ClueCon"
    fs_timeout_ms: int = 5000
    fs_records: bool = True   # one call record per hotline call, from CHANNEL_HANGUP_COMPLETE
    fs_cache: bool = False    # keep routing facts in the switch's mod_hash (flows' `mode: cached`)
    cache_command_bytes: int = 1800  # inserts packed per Event Socket command (see esl_app.cache)
    # Call records the database could not take wait here (JSON lines) until it is back.
    records_spool: str = "var/call-records.spool.jsonl"
    # Database: a peewee URL; sqlite:///path or postgresql://user:pw@127.0.0.1:5432/db.
    db_url: str = "sqlite:///var/hotline.db"
    db_threads: int = 8
    db_query_timeout_ms: int = 2000
    # Lookups.
    lookup_deadline_ms: int = 500
    lookup_modules: list[str] = field(default_factory=list)
    tier_scores: dict[str, int] = field(default_factory=lambda: {"platinum": 3000, "gold": 2000, "normal": 0})
    pin_max_failures: int = 3
    pin_window_minutes: int = 15
    blacklist_action: str = "reject"
    blacklist_notice: str = ""
    default_area_code: str = ""
    log_level: str = "info"
    log_format: str = "json"
    log_summary_s: int = 60  # a lookup summary line this often (0: none); each call's line is debug
    source: str = "<defaults>"


class SettingError(ValueError):
    """A setting's value is unusable; the message says what is expected."""


def _int(minimum: int, maximum: int) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingError(f"must be a whole number, got {value!r}")
        if not minimum <= value <= maximum:
            raise SettingError(f"must be between {minimum} and {maximum}, got {value}")
        return value

    return check


def _number(minimum: float, maximum: float) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingError(f"must be a number, got {value!r}")
        if not minimum <= value <= maximum:
            raise SettingError(f"must be between {minimum} and {maximum}, got {value}")
        return float(value)

    return check


def _text(value: Any) -> Any:
    if isinstance(value, (dict, list)) or value is None:
        raise SettingError(f"must be a text value, got {value!r}")
    return str(value)


def _choice(*allowed: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        text = str(value).lower()
        if text not in allowed:
            raise SettingError(f"must be one of {', '.join(allowed)}, got {value!r}")
        return text

    return check


def _bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise SettingError(f"must be true or false, got {value!r}")


def _module_list(value: Any) -> Any:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SettingError("must be a list of Python module names, e.g. [mysite.lookups]")
    return list(value)


def _tier_scores(value: Any) -> Any:
    if not isinstance(value, dict):
        raise SettingError("must map tiers to scores, e.g. {platinum: 3000, gold: 2000, normal: 0}")
    scores = {"platinum": 3000, "gold": 2000, "normal": 0}
    for tier, score in value.items():
        if tier not in TIERS:
            raise SettingError(f"unknown tier {tier!r} (tiers: {', '.join(TIERS)})")
        if isinstance(score, bool) or not isinstance(score, int) or score < 0:
            raise SettingError(f"score for {tier} must be a whole number >= 0, got {score!r}")
        scores[tier] = score
    return scores


def _area_code(value: Any) -> Any:
    text = str(value).strip().lstrip("0")
    if text and not (text.isdigit() and 2 <= len(text) <= 3):
        raise SettingError(f"must be a Chinese area code such as 755 or 010, got {value!r}")
    return text


# (section, key) -> (Config attribute, validator)
_SCHEMA: dict[tuple[str, str], tuple[str, Callable[[Any], Any]]] = {
    ("esl", "host"): ("esl_host", _text),
    ("esl", "port"): ("esl_port", _int(0, 65535)),
    ("esl", "max_calls"): ("max_calls", _int(1, 100000)),
    ("esl", "command_timeout_ms"): ("command_timeout_ms", _int(100, 600000)),
    ("esl", "shutdown_grace_s"): ("shutdown_grace_s", _number(0, 3600)),
    ("esl", "set_app"): ("set_app", _choice("api", "set", "multiset")),
    ("freeswitch", "host"): ("fs_host", _text),
    ("freeswitch", "port"): ("fs_port", _int(1, 65535)),
    ("freeswitch", "password"): ("fs_password", _text),
    ("freeswitch", "timeout_ms"): ("fs_timeout_ms", _int(100, 600000)),
    ("freeswitch", "records"): ("fs_records", _bool),
    ("freeswitch", "cache"): ("fs_cache", _bool),
    ("freeswitch", "cache_command_bytes"): ("cache_command_bytes", _int(100, 10_000_000)),
    ("records", "spool"): ("records_spool", _text),
    ("database", "url"): ("db_url", _text),
    ("database", "path"): ("db_url", _text),  # converted to sqlite:/// below
    ("database", "threads"): ("db_threads", _int(1, 256)),
    ("database", "query_timeout_ms"): ("db_query_timeout_ms", _int(50, 600000)),
    ("lookups", "deadline_ms"): ("lookup_deadline_ms", _int(10, 60000)),
    ("lookups", "modules"): ("lookup_modules", _module_list),
    ("lookups", "tier_scores"): ("tier_scores", _tier_scores),
    ("pin", "max_failures"): ("pin_max_failures", _int(1, 100)),
    ("pin", "window_minutes"): ("pin_window_minutes", _int(1, 100000)),
    ("blacklist", "action"): ("blacklist_action", _choice("reject", "notice")),
    ("blacklist", "notice"): ("blacklist_notice", _text),
    ("phone", "default_area_code"): ("default_area_code", _area_code),
    ("logging", "level"): ("log_level", _choice("debug", "info", "warning", "error")),
    ("logging", "format"): ("log_format", _choice("json", "kv")),
    ("logging", "summary_s"): ("log_summary_s", _int(0, 86400)),
}

_ENV: dict[str, tuple[str, str]] = {
    "HOTLINE_DB_URL": ("database", "url"),
    "HOTLINE_ESL_HOST": ("esl", "host"),
    "HOTLINE_ESL_PORT": ("esl", "port"),
    "HOTLINE_ESL_PASSWORD": ("freeswitch", "password"),
    "HOTLINE_FS_HOST": ("freeswitch", "host"),
    "HOTLINE_FS_PORT": ("freeswitch", "port"),
    "HOTLINE_FS_CACHE": ("freeswitch", "cache"),
    "HOTLINE_LOOKUP_DEADLINE_MS": ("lookups", "deadline_ms"),
    "HOTLINE_BLACKLIST_ACTION": ("blacklist", "action"),
    "HOTLINE_LOG_LEVEL": ("logging", "level"),
    "HOTLINE_LOG_FORMAT": ("logging", "format"),
}


def _env_value(text: str) -> Any:
    """Environment values are text; numbers are read as numbers so the same checks apply."""
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)
    except ValueError:
        return text


def _sqlite_url(path: str, base: Path) -> str:
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = base / p
    return "sqlite:///" + str(p)


def _path(path: str, base: Path) -> str:
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else base / p)


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[tuple[str, ...], int], list[ConfigProblem]]:
    """Parse a YAML file into data plus the line of every key (section, key)."""
    src = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, {}, [ConfigProblem(src, None, "config file not found; create it or pass --config")]
    except (OSError, UnicodeDecodeError) as exc:
        return {}, {}, [ConfigProblem(src, None, f"cannot read config file: {exc}")]
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else {}
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        return {}, {}, [ConfigProblem(src, line, f"not valid YAML: {exc.problem}")]
    except yaml.YAMLError as exc:
        return {}, {}, [ConfigProblem(src, None, f"not valid YAML: {exc}")]
    if data is None:
        return {}, {}, []
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        return {}, {}, [ConfigProblem(src, 1, "the config must be a mapping of sections (esl:, database:, ...)")]
    lines: dict[tuple[str, ...], int] = {}
    for key_node, value_node in node.value:
        section = str(key_node.value)
        lines[(section,)] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.MappingNode):
            for sub_key, _sub_value in value_node.value:
                lines[(section, str(sub_key.value))] = sub_key.start_mark.line + 1
    return data, lines, []


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Build the configuration from defaults, then the YAML file (if any), then the environment.

    Raises :class:`ConfigError` listing every problem with its file and line.
    """
    env = os.environ if env is None else env
    config = Config()
    problems: list[ConfigProblem] = []
    base = Path.cwd()
    if path is not None:
        cfg_path = Path(path)
        base = cfg_path.resolve().parent
        config.source = str(cfg_path)
        data, lines, problems = _read_yaml(cfg_path)
        src = str(cfg_path)
        for section, body in data.items():
            sline = lines.get((str(section),))
            if not any(s == section for s, _ in _SCHEMA):
                known = sorted({s for s, _ in _SCHEMA})
                problems.append(ConfigProblem(src, sline, f"unknown section {section!r} (known: {', '.join(known)})"))
                continue
            if section == "freeswitch":
                config.fs_enabled = True
            if body is None:
                continue
            if not isinstance(body, dict):
                problems.append(ConfigProblem(src, sline, f"section {section!r} must be a mapping of settings"))
                continue
            for key, value in body.items():
                kline = lines.get((str(section), str(key)), sline)
                spec = _SCHEMA.get((section, str(key)))
                if spec is None:
                    known = sorted(k for s, k in _SCHEMA if s == section)
                    problems.append(ConfigProblem(
                        src, kline, f"unknown setting {section}.{key} (known: {', '.join(known)})"))
                    continue
                attr, check = spec
                try:
                    checked = check(value)
                except ValueError as exc:
                    problems.append(ConfigProblem(src, kline, f"{section}.{key} {exc}"))
                    continue
                if (section, key) == ("database", "path"):
                    checked = _sqlite_url(checked, base)
                if (section, key) == ("records", "spool"):
                    checked = _path(checked, base)
                setattr(config, attr, checked)

    for var, (section, key) in _ENV.items():
        if var not in env:
            continue
        attr, check = _SCHEMA[(section, key)]
        if section == "freeswitch" and key in ("host", "port"):
            config.fs_enabled = True
        raw: Any = _env_value(env[var])
        try:
            setattr(config, attr, check(raw))
        except ValueError as exc:
            problems.append(ConfigProblem("environment", None, f"{var} {exc}"))

    config.records_spool = _path(config.records_spool, base)
    if config.db_url.startswith("sqlite:///") and not config.db_url.startswith("sqlite:////"):
        rel = config.db_url[len("sqlite:///"):]
        if rel and rel != ":memory:":
            config.db_url = _sqlite_url(rel, base)
    if config.blacklist_action == "notice" and not config.blacklist_notice:
        problems.append(ConfigProblem(config.source, None,
                                      "blacklist.action is notice but blacklist.notice names no sound file"))
    if problems:
        raise ConfigError(problems)
    return config


def find_config(explicit: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The config file to use: --config, else $HOTLINE_CONFIG, else ./hotline.yaml when present."""
    env = os.environ if env is None else env
    if explicit:
        return explicit
    if env.get("HOTLINE_CONFIG"):
        return env["HOTLINE_CONFIG"]
    if Path(DEFAULT_CONFIG_NAME).exists():
        return DEFAULT_CONFIG_NAME
    return None
