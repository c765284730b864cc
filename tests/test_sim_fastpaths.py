"""Fast paths of the simulator give exactly what the general code gives.

The general code stays the reference: each test runs both (on many random inputs where the
input space is wide) and compares.
"""

from __future__ import annotations

import random

from fsgen.sim.apps.args import _separate_quoted, separate
from fsgen.sim.expand import expand


def test_separate_without_quotes_equals_the_character_loop() -> None:
    r = random.Random(20261123)
    for _ in range(20000):
        text = "".join(r.choice("ab ,/\t'") for _ in range(r.randint(0, 12)))
        sep = r.choice([" ", ",", "/"])
        maxparts = r.choice([0, 0, 1, 2, 3, 4, 8])
        assert separate(text, sep, maxparts) == _separate_quoted(text, sep, maxparts), (text, sep, maxparts)


def _reference_expand(text: str, lookup, api_call, depth: int = 0) -> str:
    """switch_channel_expand_variables' scan, one character at a time (the former code)."""
    from fsgen.sim.expand import _expand_one, _match_brace

    if not text:
        return ""
    if "$" not in text or depth > 20:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "${}\\":
            out.append(text[i + 1])
            i += 2
            continue
        if c == "$" and i + 1 < n and text[i + 1] == "{":
            end = _match_brace(text, i + 1)
            if end < 0:
                out.append(text[i:])
                break
            out.append(_expand_one(text[i + 2:end], lookup, api_call, depth))
            i = end + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def test_expand_equals_the_character_scan() -> None:
    values = {"a": "A$", "b": "${a}", "": "E", "n": "12345"}
    r = random.Random(11)
    for _ in range(20000):
        text = "".join(r.choice(["$", "{", "}", "\\", "a", "b", "n", "(", ")", "x", ":", "1", "-"])
                       for _ in range(r.randint(0, 14)))
        assert (expand(text, values.get, lambda name, args: f"<{name}|{args}>")
                == _reference_expand(text, values.get, lambda name, args: f"<{name}|{args}>")), text


CC_CONF = """<configuration name="callcenter.conf">
  <settings><param name="agent-originate-timeout" value="30"/></settings>
  <queues>
    <queue name="q1@default"><param name="strategy" value="ring-all"/><param name="max-wait-time" value="-5"/>
      <param name="bogus" value="1"/><param name="agent-no-answer-status" value="Sleeping"/></queue>
    <queue name="q2@default"><param name="tier-rules-apply" value="true"/></queue>
    <queue name="q1@default"><param name="strategy" value="random"/></queue>
  </queues>
  <agents>
    <agent name="a1" type="callback" contact="user/1001" status="Available" wrap-up-time="5"/>
    <agent name="a2" type="uuid-standby" status="On Break" max-no-answer="x"/>
    <agent name="a3" contact="user/1003"/>
    <agent name="a4" type="callback" status="Logged Out" busy-delay-time="7"/>
  </agents>
  <tiers>
    <tier queue="q1@default" agent="a1" level="2" position="3"/>
    <tier queue="q2@default" agent="a2"/>
    <tier queue="nope@default" agent="a1"/>
    <tier queue="q1@default" agent="ghost"/>
    <tier queue="q1@default" agent="a1" level="4"/>
  </tiers>
</configuration>"""


def _loaded_module(conf_tree, start: float):
    from fsgen.sim import events as E
    from fsgen.sim.apps.callcenter import module
    from fsgen.sim.sim import Simulator

    sim = Simulator(conf_tree, start_epoch=start)
    before = next(E._seq)
    cc = module(sim)
    taken = next(E._seq) - before - 1
    return sim, cc, taken


def test_callcenter_conf_loaded_again_from_the_recording_equals_a_real_load(tmp_path) -> None:
    from fsgen.sim import conf as _conf
    from fsgen.sim.apps.callcenter import _plan
    from fsgen.sim.testing import make_conf

    root = make_conf(tmp_path / "conf", '<context name="t"/>', files={"autoload_configs/callcenter.conf.xml": CC_CONF})
    tree = _conf.load(root, overlay_on_stock=True)
    other_tree = _conf.load(root, overlay_on_stock=True)
    assert not isinstance(tree, _conf.SimError) and not isinstance(other_tree, _conf.SimError)
    _loaded_module(tree, 1_700_000_000.0)                       # a real load, recorded
    assert _plan(tree.configuration("callcenter.conf")).loaded is not None
    sim, cc, taken = _loaded_module(tree, 1_800_000_123.0)      # replayed
    ref_sim, ref, ref_taken = _loaded_module(other_tree, 1_800_000_123.0)   # a real load, same time
    assert sim.trace.records == ref_sim.trace.records and len(sim.trace.records) > 10
    assert taken == ref_taken > 0
    assert list(cc.queues.items()) == list(ref.queues.items())
    assert list(cc.agents.items()) == list(ref.agents.items())
    assert cc.agents["a1"].last_status_change == 1_800_000_123
    assert cc.tiers == ref.tiers and cc.agent_originate_timeout == ref.agent_originate_timeout == 30
