"""Configuration loading: X-PRE-PROCESS, $${} at load, includes, overlay, errors with lines."""

from __future__ import annotations

from pathlib import Path

from fsgen.sim import conf
from fsgen.sim.errors import SimError


def write(root: Path, rel: str, text: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def full_tree(root: Path) -> Path:
    write(root, "freeswitch.xml", """<?xml version="1.0"?>
<document type="freeswitch/xml">
  <X-PRE-PROCESS cmd="include" data="vars.xml"/>
  <section name="configuration">
    <X-PRE-PROCESS cmd="include" data="autoload_configs/*.xml"/>
  </section>
  <section name="dialplan">
    <X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>
  </section>
  <section name="directory">
    <X-PRE-PROCESS cmd="include" data="directory/*.xml"/>
  </section>
</document>
""")
    write(root, "vars.xml", """<include>
  <X-PRE-PROCESS cmd="set" data="domain=$${local_ip_v4}"/>
  <!-- <X-PRE-PROCESS cmd="set" data="domain=commented.example"/> -->
  <X-PRE-PROCESS cmd="set" data="hotline_prompts=/srv/prompts"/>
</include>
""")
    write(root, "dialplan/default.xml", """<include>
  <context name="default">
    <X-PRE-PROCESS cmd="include" data="default/*.xml"/>
  </context>
</include>
""")
    write(root, "dialplan/default/10_water.xml", """<include>
  <extension name="water">
    <condition field="destination_number" expression="^95598$">
      <action application="playback" data="$${hotline_prompts}/welcome.wav"/>
    </condition>
  </extension>
</include>
""")
    write(root, "dialplan/public.xml", """<include><context name="public"/></include>""")
    write(root, "autoload_configs/ivr.conf.xml", """<configuration name="ivr.conf">
  <menus><X-PRE-PROCESS cmd="include" data="../ivr_menus/*.xml"/></menus>
</configuration>
""")
    write(root, "ivr_menus/main.xml", """<include><menu name="main" greet-long="$${hotline_prompts}/m.wav"/></include>""")
    write(root, "directory/default.xml", """<include>
  <domain name="$${domain}">
    <params><param name="dial-string" value="loopback/agent"/></params>
    <groups><group name="default"><users>
      <X-PRE-PROCESS cmd="include" data="default/*.xml"/>
    </users></group></groups>
  </domain>
</include>
""")
    write(root, "directory/default/1001.xml", """<include>
  <user id="1001"><variables><variable name="user_context" value="default"/></variables></user>
</include>
""")
    return root


def test_full_tree_with_includes_and_globals(tmp_path: Path) -> None:
    c = conf.load(full_tree(tmp_path))
    assert not isinstance(c, SimError), c
    assert c.globals["domain"] == "127.0.0.1"  # the commented set was ignored
    assert set(c.contexts) == {"default", "public"}
    ext = c.contexts["default"].find("extension")
    assert ext is not None and ext.file.endswith("10_water.xml") and ext.line == 2
    action = next(ext.iter("action"))
    assert action.get("data") == "/srv/prompts/welcome.wav"
    assert c.menus["main"].get("greet-long") == "/srv/prompts/m.wav"
    user = c.directory_user("1001", "127.0.0.1")
    assert user is not None
    assert user.params["dial-string"] == "loopback/agent"  # inherited from the domain
    assert user.variables["user_context"] == "default"


def test_later_set_does_not_change_earlier_lines(tmp_path: Path) -> None:
    root = full_tree(tmp_path)
    write(root, "vars.xml", """<include>
  <X-PRE-PROCESS cmd="set" data="a=first"/>
</include>
""")
    write(root, "dialplan/default/10_water.xml", """<include>
  <extension name="x"><condition><action application="log" data="$${a}"/></condition></extension>
  <X-PRE-PROCESS cmd="set" data="a=second"/>
  <extension name="y"><condition><action application="log" data="$${a}"/></condition></extension>
</include>
""")
    c = conf.load(root)
    assert not isinstance(c, SimError)
    datas = [a.get("data") for a in c.contexts["default"].iter("action")]
    assert datas == ["first", "second"]


def test_bad_xml_reports_file_and_line(tmp_path: Path) -> None:
    root = full_tree(tmp_path)
    write(root, "dialplan/default/20_broken.xml", """<include>
  <extension name="broken">
    <condition field="destination_number" expression="^1$">
      <action application="answer">
    </condition>
  </extension>
</include>
""")
    err = conf.load(root)
    assert isinstance(err, SimError)
    assert err.file is not None and err.file.endswith("20_broken.xml")
    assert err.line == 5
    assert "XML syntax error" in str(err)


def test_missing_plain_include_is_an_error(tmp_path: Path) -> None:
    root = full_tree(tmp_path)
    write(root, "freeswitch.xml", (root / "freeswitch.xml").read_text().replace("vars.xml", "nope.xml"))
    err = conf.load(root)
    assert isinstance(err, SimError) and "nope.xml" in err.message and err.line == 3


def test_not_a_folder(tmp_path: Path) -> None:
    err = conf.load(tmp_path / "missing")
    assert isinstance(err, SimError) and "not found" in err.message


def test_overlay_on_stock_base(tmp_path: Path) -> None:
    write(tmp_path, "dialplan/ref.xml", """<include><context name="ref_x">
  <extension name="e"><condition field="destination_number" expression="^1$">
    <action application="playback" data="$${ref_sounds}/a.wav"/></condition></extension>
</context></include>""")
    write(tmp_path, "directory/users.xml", """<include><user id="1800">
  <params><param name="vm-password" value="1800"/></params></user></include>""")
    write(tmp_path, "ivr_menus/menus.xml", """<include><menu name="m1" timeout="2000"/></include>""")
    write(tmp_path, "autoload_configs/callcenter.conf.xml", """<configuration name="callcenter.conf">
  <queues><queue name="q@default"/></queues></configuration>""")
    c = conf.load(tmp_path, overlay_on_stock=True, pinned={"ref_sounds": "/snd"})
    assert not isinstance(c, SimError), c
    assert {"default", "public", "ref_x"} <= set(c.contexts)
    assert next(c.contexts["ref_x"].iter("action")).get("data") == "/snd/a.wav"
    assert c.globals["domain"] == "127.0.0.1" and c.globals["hold_music"] == "local_stream://moh"
    assert c.globals["sound_prefix"].endswith("/sounds/en/us/callie")
    assert c.directory_user("1800", "127.0.0.1") is not None
    assert "m1" in c.menus
    cc = c.configuration("callcenter")
    assert cc is not None and cc.file.startswith(str(tmp_path))  # the case's file replaced the stock one
    assert c.configuration("voicemail.conf") is not None  # stock one still there


def test_exec_is_never_run(tmp_path: Path) -> None:
    root = full_tree(tmp_path)
    marker = tmp_path / "pwned"
    write(root, "vars.xml", f"""<include>
  <X-PRE-PROCESS cmd="exec-set" data="x=touch {marker}"/>
</include>
""")
    c = conf.load(root)
    assert not isinstance(c, SimError)
    assert not marker.exists()
    assert any("not run" in w.message for w in c.warnings)
