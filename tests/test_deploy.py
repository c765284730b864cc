"""``fsgen deploy`` against a real ``fsgen sim serve`` process: a good deploy, rejected XML and a
dialplan the switch does not load (both rolled back byte for byte), the switch down (nothing
changed), dry runs, and the files hotline must never touch."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsgen import compiler
from fsgen.deploy import (
    CALLCENTER,
    LOG_NAME,
    MANIFEST,
    DeployError,
    deploy,
    deploy_files,
    plan_deploy,
    queue_actions,
    reload_failed,
    sha256,
)
from fsgen.sim.conf import STOCK_DIR
from tests.sim_serve_support import FLOW, PASSWORD, RawClient, running_switch, write_flow

QUEUE_FLOW = FLOW.replace('      "2": hangup\n', '      "2": hangup\n      "3": desk\n') + """\
  desk:
    type: queue
    max_wait: {max_wait}
    on_timeout: hangup
"""


@pytest.fixture()
def etc(tmp_path: Path) -> Path:
    """A stock conf tree (the simulator's minimal /etc/freeswitch) plus a file of the site's own."""
    conf = tmp_path / "etc_freeswitch"
    shutil.copytree(STOCK_DIR, conf)
    site = conf / "dialplan" / "default" / "00_site.xml"
    site.write_text('<include><extension name="site_echo"><condition field="destination_number" '
                    'expression="^9196$"><action application="answer"/></condition></extension></include>\n',
                    encoding="utf-8")
    return conf


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != LOG_NAME}


def log_entries(conf: Path) -> list[dict]:
    path = conf / LOG_NAME
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_deploy(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(deploy, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_good_deploy_loads_the_flows_and_leaves_other_files_alone(etc: Path, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    write_flow(flows, "esltest", "95001")
    write_flow(flows, "esltwo", "95002")
    stock_cc = (etc / CALLCENTER).read_bytes()
    site = (etc / "dialplan/default/00_site.xml").read_bytes()
    with running_switch(etc) as sw:
        code, out, err = run_deploy("--conf-dir", str(etc), "--esl", sw.esl, "--password", PASSWORD,
                                    "--take-over", CALLCENTER, str(flows))
        assert code == 0, err
        assert "reloadxml: +OK [Success]" in out and "live contexts: hotline_esltest, hotline_esltwo" in out
        assert (etc / "dialplan/hotline_esltest.xml").is_file() and (etc / MANIFEST).is_file()
        assert (etc / (CALLCENTER + ".hotline-orig")).read_bytes() == stock_cc
        assert (etc / "dialplan/default/00_site.xml").read_bytes() == site
        assert not list(etc.glob(".hotline-*"))
        c = RawClient(sw.port)
        try:
            uuid = c.api("originate sim/answer 95002 XML public").split()[1]
            assert c.api(f"uuid_getvar {uuid} hotline_flow") == "esltwo"
            c.api(f"uuid_kill {uuid}")
        finally:
            c.close()
        [entry] = log_entries(etc)
        assert entry["result"] == "deployed" and entry["flows"] == ["esltest", "esltwo"]
        assert entry["manifest_sha256"] == sha256((etc / MANIFEST).read_bytes()) and entry["user"]
        assert entry["previous_manifest_sha256"] is None

        code, out, err = run_deploy("--conf-dir", str(etc), "--esl", sw.esl, "--password", PASSWORD, str(flows))
        assert code == 0 and "nothing to change" in out, err

        (flows / "esltwo.yaml").unlink()
        code, out, err = run_deploy("--conf-dir", str(etc), "--esl", sw.esl, "--password", PASSWORD, str(flows))
        assert code == 0, err
        assert "D dialplan/hotline_esltwo.xml" in out and not (etc / "dialplan/hotline_esltwo.xml").exists()
        assert not (etc / "dialplan/public/hotline_esltwo.xml").exists()
        c = RawClient(sw.port)
        try:
            assert c.api("xml_locate dialplan context name hotline_esltwo") == "can't find anything\n"
        finally:
            c.close()
        assert [e["result"] for e in log_entries(etc)] == ["deployed", "deployed"]
        assert log_entries(etc)[-1]["previous_manifest_sha256"] == entry["manifest_sha256"]


def _deploy_v1(etc: Path, flows: Path, esl: str) -> None:
    code, _, err = run_deploy("--conf-dir", str(etc), "--esl", esl, "--password", PASSWORD,
                              "--take-over", CALLCENTER, str(flows))
    assert code == 0, err


def test_xml_the_switch_rejects_is_rolled_back_byte_identical(etc: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    flows = tmp_path / "flows"
    write_flow(flows)
    with running_switch(etc) as sw:
        _deploy_v1(etc, flows, sw.esl)
        before = snapshot(etc)
        (flows / "esltest.yaml").write_text(
            (flows / "esltest.yaml").read_text(encoding="utf-8").replace("good day", "great day"), encoding="utf-8")
        real_render = compiler.render

        def broken_after_compile(project, env=None):
            files, problems = real_render(project, env)
            rel = "dialplan/hotline_esltest.xml"
            files[rel] = files[rel].replace(b"</context>", b"", 1)
            return files, problems

        monkeypatch.setattr(compiler, "render", broken_after_compile)
        code, out, err = run_deploy("--conf-dir", str(etc), "--esl", sw.esl, "--password", PASSWORD, str(flows))
        assert code == 1
        assert "the switch rejected the new XML: reloadxml said [error near line" in err
        assert "previous files were restored and reloaded" in err and "Traceback" not in err + out
        assert snapshot(etc) == before
        assert not list(etc.glob(".hotline-*"))
        assert [e["result"] for e in log_entries(etc)] == ["deployed", "rolled back"]
        c = RawClient(sw.port)
        try:
            assert c.api("reloadxml") == "+OK [Success]\n"
            uuid = c.api("originate sim/answer 95001 XML public").split()[1]
            assert c.api(f"uuid_getvar {uuid} hotline_flow") == "esltest"
        finally:
            c.close()


def test_a_context_the_switch_does_not_load_is_rolled_back(etc: Path, tmp_path: Path) -> None:
    main = etc / "freeswitch.xml"
    main.write_text(main.read_text(encoding="utf-8").replace(
        '<X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>',
        '<X-PRE-PROCESS cmd="include" data="dialplan/default.xml"/>'), encoding="utf-8")
    flows = tmp_path / "flows"
    write_flow(flows)
    before = snapshot(etc)
    with running_switch(etc) as sw:
        code, _out, err = run_deploy("--conf-dir", str(etc), "--esl", sw.esl, "--password", PASSWORD,
                                    "--take-over", CALLCENTER, str(flows))
    assert code == 1
    assert "no dialplan context 'hotline_esltest'" in err and "restored" in err
    assert snapshot(etc) == before
    assert log_entries(etc)[-1]["result"] == "rolled back"


def test_switch_down_changes_nothing(etc: Path, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    write_flow(flows)
    before = snapshot(etc)
    code, _out, err = run_deploy("--conf-dir", str(etc), "--esl", f"127.0.0.1:{closed_port()}",
                                "--password", PASSWORD, "--take-over", CALLCENTER, str(flows))
    assert code == 1
    assert "cannot reach the switch's Event Socket" in err and "Traceback" not in err
    assert snapshot(etc) == before and not (etc / LOG_NAME).exists()


def test_wrong_password_changes_nothing(etc: Path, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    write_flow(flows)
    before = snapshot(etc)
    with running_switch(etc) as sw:
        code, _, err = run_deploy("--conf-dir", str(etc), "--esl", sw.esl, "--password", "nope",
                                  "--take-over", CALLCENTER, str(flows))
    assert code == 1 and "refused the password" in err
    assert snapshot(etc) == before


def test_dry_run_prints_the_change_with_a_diff_and_touches_nothing(etc: Path, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    write_flow(flows)
    before = snapshot(etc)
    code, out, err = run_deploy("--conf-dir", str(etc), "--esl", f"127.0.0.1:{closed_port()}", "--dry-run",
                                "--take-over", CALLCENTER, str(flows))
    assert code == 0, err
    assert "A dialplan/hotline_esltest.xml" in out and "A dialplan/public/hotline_esltest.xml" in out
    assert f"M {CALLCENTER} (taken over" in out
    assert "+++ b/dialplan/hotline_esltest.xml" in out and '+  <context name="hotline_esltest">' in out
    assert f"--- a/{CALLCENTER}" in out
    assert snapshot(etc) == before and not (etc / LOG_NAME).exists()


def test_files_hotline_did_not_write_are_never_overwritten(etc: Path, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    write_flow(flows)
    before = snapshot(etc)
    code, _, err = run_deploy("--conf-dir", str(etc), "--dry-run", str(flows))
    assert code == 1 and f"hotline did not write them: {CALLCENTER}" in err and "--take-over" in err
    assert snapshot(etc) == before


def test_hand_edits_to_generated_files_need_force(etc: Path, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    write_flow(flows)
    with running_switch(etc) as sw:
        _deploy_v1(etc, flows, sw.esl)
        edited = etc / "dialplan/hotline_esltest.xml"
        edited.write_text(edited.read_text(encoding="utf-8") + "<!-- quick fix -->\n", encoding="utf-8")
        code, _, err = run_deploy("--conf-dir", str(etc), "--esl", sw.esl, "--password", PASSWORD, str(flows))
        assert code == 1 and "edited by hand" in err and "--force" in err
        assert edited.read_text(encoding="utf-8").endswith("<!-- quick fix -->\n")
        code, _out, err = run_deploy("--conf-dir", str(etc), "--esl", sw.esl, "--password", PASSWORD, "--force",
                                    str(flows))
        assert code == 0, err
        assert "quick fix" not in edited.read_text(encoding="utf-8")


def test_changed_queues_are_reloaded_on_the_switch(etc: Path, tmp_path: Path) -> None:
    from fsgen.sim.api import API_COMMANDS
    from fsgen.sim.apps import load_all

    load_all()
    if "callcenter_config" not in API_COMMANDS:
        pytest.skip("the simulator has no mod_callcenter (fsgen/sim/apps/callcenter.py) yet")
    flows = tmp_path / "flows"
    flows.mkdir()
    flow = flows / "esltest.yaml"
    flow.write_text(QUEUE_FLOW.format(name="esltest", number="95001", max_wait=60), encoding="utf-8")
    with running_switch(etc) as sw:
        code, out, err = run_deploy("--conf-dir", str(etc), "--esl", sw.esl, "--password", PASSWORD,
                                    "--take-over", CALLCENTER, str(flows))
        assert code == 0, err
        assert "callcenter: queue load esltest_desk@default: +OK" in out
        flow.write_text(QUEUE_FLOW.format(name="esltest", number="95001", max_wait=90), encoding="utf-8")
        code, out, err = run_deploy("--conf-dir", str(etc), "--esl", sw.esl, "--password", PASSWORD, str(flows))
        assert code == 0, err
        assert "callcenter: queue reload esltest_desk@default: +OK" in out
        c = RawClient(sw.port)
        try:
            assert "esltest_desk@default" in c.api("callcenter_config queue list")
        finally:
            c.close()


# ---- the pieces ---------------------------------------------------------------------------------------
def test_queue_actions_from_two_callcenter_confs() -> None:
    def conf(*queues: tuple[str, str]) -> bytes:
        body = "".join(f'<queue name="{n}"><param name="max-wait-time" value="{v}"/></queue>' for n, v in queues)
        return f'<configuration name="callcenter.conf"><queues>{body}</queues></configuration>'.encode()

    old = conf(("a@default", "60"), ("b@default", "60"), ("c@default", "10"))
    new = conf(("a@default", "60"), ("b@default", "90"), ("d@default", "10"))
    assert queue_actions(old, new) == [("load", "d@default"), ("reload", "b@default"), ("unload", "c@default")]
    assert queue_actions(None, conf(("a@default", "1"))) == [("load", "a@default")]


def test_reload_reply_text_decides_not_the_ok_prefix() -> None:
    assert reload_failed("+OK [Success]\n") is None
    assert reload_failed("+OK [[error near line 12]: unclosed tag <context>]\n") == \
        "[error near line 12]: unclosed tag <context>"
    assert reload_failed("-ERR reloadxml Command not found!\n")


def test_a_tampered_manifest_cannot_reach_outside_the_conf_dir(etc: Path) -> None:
    (etc / MANIFEST).write_text(json.dumps({"files": {"../../outside.xml": "0" * 64}}), encoding="utf-8")
    with pytest.raises(DeployError, match="not a plain path inside the conf dir"):
        plan_deploy(etc, {MANIFEST: b"{}"})


def test_missing_conf_dir_is_a_message(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="no such directory"):
        deploy_files({}, tmp_path / "nope", "127.0.0.1:1", PASSWORD)


def test_queues_loaded_before_a_failed_check_are_unloaded_again(etc: Path, tmp_path: Path) -> None:
    from fsgen.sim.api import API_COMMANDS
    from fsgen.sim.apps import load_all

    load_all()
    if "callcenter_config" not in API_COMMANDS:
        pytest.skip("the simulator has no mod_callcenter (fsgen/sim/apps/callcenter.py) yet")
    main = etc / "freeswitch.xml"
    main.write_text(main.read_text(encoding="utf-8").replace(
        '<X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>',
        '<X-PRE-PROCESS cmd="include" data="dialplan/default.xml"/>'), encoding="utf-8")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "esltest.yaml").write_text(QUEUE_FLOW.format(name="esltest", number="95001", max_wait=60),
                                        encoding="utf-8")
    before = snapshot(etc)
    with running_switch(etc) as sw:
        code, out, err = run_deploy("--conf-dir", str(etc), "--esl", sw.esl, "--password", PASSWORD,
                                    "--take-over", CALLCENTER, str(flows))
        assert code == 1 and "no dialplan context" in err
        assert "callcenter: queue load esltest_desk@default: +OK" in out
        assert "rollback: callcenter_config queue unload esltest_desk@default" in out
        c = RawClient(sw.port)
        try:
            assert "esltest_desk@default" not in c.api("callcenter_config queue list")
        finally:
            c.close()
    assert snapshot(etc) == before
