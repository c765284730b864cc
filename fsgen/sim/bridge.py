"""Originating legs (dial strings, endpoints) and bridging two channels.

Endpoints:

- ``loopback/DEST[/CONTEXT[/DIALPLAN]]``: a pair as mod_loopback makes it -- ``DEST-a`` is the
  leg the originator gets (no dialplan), ``DEST-b`` runs the dialplan for DEST in CONTEXT;
  answering/hanging up one leg does the same to the other, DTMF sent to one arrives on the
  other ``DTMF_LATENCY`` later.
- ``error/CAUSE``: fails at once with CAUSE (``error/user_busy`` -> USER_BUSY).
- ``user/ID[@DOMAIN]``: the directory user's ``dial-string`` (domain default from the stock
  directory: ``${sofia_contact(...)}``, i.e. USER_NOT_REGISTERED unless the simulator has a
  registration for the user); an unknown user fails SUBSCRIBER_ABSENT.
- ``sofia/...``: a scripted remote party (:class:`fsgen.sim.sim.RemoteParty`): rings, then
  answers or fails, and hangs up after its talk time.

Dial strings: ``{global=vars}``, ``[per-leg=vars]``, ``,`` rings legs together (first
answer wins), ``|`` tries groups one after another.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .api import api_command
from .channel import CallerProfile, Channel, Endpoint
from .cstr import atoi, is_true
from .engine import TIMEOUT, Sleep, Wait

if TYPE_CHECKING:  # pragma: no cover
    from .sim import RemoteParty, Simulator

DTMF_LATENCY = 0.035
UNBRIDGE_DELAY = 0.02
KNOWN_CAUSES = {
    "UNALLOCATED_NUMBER", "NO_ROUTE_TRANSIT_NET", "NO_ROUTE_DESTINATION", "CHANNEL_UNACCEPTABLE",
    "CALL_AWARDED_DELIVERED", "NORMAL_CLEARING", "USER_BUSY", "NO_USER_RESPONSE", "NO_ANSWER",
    "SUBSCRIBER_ABSENT", "CALL_REJECTED", "NUMBER_CHANGED", "REDIRECTION_TO_NEW_DESTINATION",
    "EXCHANGE_ROUTING_ERROR", "DESTINATION_OUT_OF_ORDER", "INVALID_NUMBER_FORMAT", "FACILITY_REJECTED",
    "RESPONSE_TO_STATUS_ENQUIRY", "NORMAL_UNSPECIFIED", "NORMAL_CIRCUIT_CONGESTION", "NETWORK_OUT_OF_ORDER",
    "NORMAL_TEMPORARY_FAILURE", "SWITCH_CONGESTION", "ACCESS_INFO_DISCARDED", "REQUESTED_CHAN_UNAVAIL",
    "PRE_EMPTED", "FACILITY_NOT_SUBSCRIBED", "OUTGOING_CALL_BARRED", "INCOMING_CALL_BARRED",
    "BEARERCAPABILITY_NOTAUTH", "BEARERCAPABILITY_NOTAVAIL", "SERVICE_UNAVAILABLE", "BEARERCAPABILITY_NOTIMPL",
    "CHAN_NOT_IMPLEMENTED", "FACILITY_NOT_IMPLEMENTED", "SERVICE_NOT_IMPLEMENTED", "INVALID_CALL_REFERENCE",
    "INCOMPATIBLE_DESTINATION", "INVALID_MSG_UNSPECIFIED", "MANDATORY_IE_MISSING", "MESSAGE_TYPE_NONEXIST",
    "WRONG_MESSAGE", "IE_NONEXIST", "INVALID_IE_CONTENTS", "WRONG_CALL_STATE", "RECOVERY_ON_TIMER_EXPIRE",
    "MANDATORY_IE_LENGTH_ERROR", "PROTOCOL_ERROR", "INTERWORKING", "SUCCESS", "ORIGINATOR_CANCEL", "CRASH",
    "SYSTEM_SHUTDOWN", "LOSE_RACE", "MANAGER_REQUEST", "BLIND_TRANSFER", "ATTENDED_TRANSFER",
    "ALLOTTED_TIMEOUT", "USER_CHALLENGE", "MEDIA_TIMEOUT", "PICKED_OFF", "USER_NOT_REGISTERED",
    "PROGRESS_TIMEOUT", "GATEWAY_DOWN",
}


#: endpoint technologies added by other modules (``sim/`` scripted parties, see fsgen.sim.serve):
#: tech -> start(sim, rest_of_target, variables, cid_num, cid_name) -> new Channel or fail cause
EndpointStart = Callable[["Simulator", str, dict[str, str], str, str], "Channel | str"]
ENDPOINTS: dict[str, EndpointStart] = {}


# ---- dial strings ----------------------------------------------------------------------------
def _split_top(s: str, seps: str) -> list[tuple[str, str]]:
    """Split at separators outside {} [] <> and quotes; returns (part, separator-before)."""
    parts: list[tuple[str, str]] = []
    depth = 0
    quote = False
    cur: list[str] = []
    sep_before = ""
    for ch in s:
        if ch == "'":
            quote = not quote
        elif not quote and ch in "{[<":
            depth += 1
        elif not quote and ch in "}]>":
            depth -= 1
        if ch in seps and depth == 0 and not quote:
            parts.append(("".join(cur), sep_before))
            cur = []
            sep_before = ch
            continue
        cur.append(ch)
    parts.append(("".join(cur), sep_before))
    return parts


def parse_vars(body: str) -> dict[str, str]:
    """``a=b,c='x,y'`` (or ``^^:a=b:c=d``) -> dict."""
    sep = ","
    if body.startswith("^^") and len(body) > 2:
        sep, body = body[2], body[3:]
    out: dict[str, str] = {}
    for item, _ in _split_top(body, sep):
        k, eq, v = item.partition("=")
        if eq and k.strip():
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] == "'":
                v = v[1:-1]
            out[k.strip()] = v
    return out


def _take_prefix(s: str, opener: str, closer: str) -> tuple[dict[str, str], str]:
    s = s.strip()
    if s.startswith(opener):
        depth = 0
        for i, ch in enumerate(s):
            if ch == opener:
                depth += 1
            elif ch == closer:
                depth -= 1
                if depth == 0:
                    return parse_vars(s[1:i]), s[i + 1:].strip()
    return {}, s


@dataclass
class DialGroup:
    legs: list[tuple[dict[str, str], str]]   # (per-leg vars, target)


def parse_dial_string(s: str) -> tuple[dict[str, str], list[DialGroup]]:
    global_vars, rest = _take_prefix(s, "{", "}")
    groups: list[DialGroup] = []
    for seq_part, _ in _split_top(rest, "|"):
        legs = []
        for leg, _ in _split_top(seq_part, ","):
            if not leg.strip():
                continue
            local, target = _take_prefix(leg, "[", "]")
            legs.append((local, target.strip()))
        if legs:
            groups.append(DialGroup(legs))
    return global_vars, groups


# ---- endpoints ---------------------------------------------------------------------------------
class LoopbackEndpoint(Endpoint):
    def on_answer(self, chan: Channel) -> None:
        if chan.partner is not None:
            chan.partner.answer()

    def on_pre_answer(self, chan: Channel) -> None:
        if chan.partner is not None:
            chan.partner.pre_answer()

    def on_ring(self, chan: Channel) -> None:
        if chan.partner is not None:
            chan.partner.ring_ready()

    def on_hangup(self, chan: Channel, cause: str) -> None:
        if chan.partner is not None and not chan.partner.hungup:
            chan.partner.hangup(cause)

    def on_dtmf_sent(self, chan: Channel, digit: str) -> None:
        partner = chan.partner
        if partner is not None:
            chan.sim.engine.call_later(DTMF_LATENCY, partner.receive_dtmf, digit)


class RemoteEndpoint(Endpoint):
    """A far end we only script (SIP phone, gateway): DTMF sent to it is dropped."""


def new_profile(sim: Simulator, dest: str, context: str, cid_num: str, cid_name: str,
                **extra: str) -> CallerProfile:
    return CallerProfile(destination_number=dest, context=context, caller_id_number=cid_num,
                         caller_id_name=cid_name, ani=cid_num, dialplan="XML",
                         network_addr="127.0.0.1", source="mod_loopback", **extra)


def loopback_pair(sim: Simulator, dest: str, context: str, cid_num: str, cid_name: str,
                  variables: dict[str, str] | None = None, *, harness: bool = False,
                  a_uuid: str | None = None, start_b: bool = True) -> tuple[Channel, Channel]:
    """Create ``loopback/DEST-a`` and ``-b``; ``-b`` starts routing the dialplan."""
    ep = LoopbackEndpoint()
    variables = dict(variables or {})
    a = Channel(sim, f"loopback/{dest}-a", new_profile(sim, dest, context, cid_num, cid_name),
                uuid=a_uuid, variables=variables, harness=harness, endpoint=ep, direction="outbound")
    sim.add_channel(a)
    a.emit("route", dest=dest, context=context, dialplan="xml")
    bvars = dict(variables)
    bvars.pop("origination_uuid", None)
    b = Channel(sim, f"loopback/{dest}-b", new_profile(sim, dest, context, cid_num, cid_name),
                variables=bvars, endpoint=ep)
    a.partner, b.partner = b, a
    a.variables["other_loopback_leg_uuid"] = b.uuid
    b.variables["other_loopback_leg_uuid"] = a.uuid
    sim.add_channel(b)
    if start_b:
        sim.start_dialplan(b)
    return a, b


def _remote_script(sim: Simulator, chan: Channel, rp: RemoteParty) -> Generator[Any, Any, None]:
    if rp.ring:
        yield Sleep(rp.ring)
    if not rp.answer:
        chan.hangup(rp.cause)
        return
    chan.answer()
    if rp.talk is not None:
        yield Sleep(rp.talk)
        chan.hangup("NORMAL_CLEARING")
        return
    yield Wait(("never",))


def _sofia_leg(sim: Simulator, target: str, cid_num: str, cid_name: str,
               variables: dict[str, str]) -> Channel:
    # sofia/<profile>/sip:user@host:port  or sofia/gateway/<gw>/<number>
    parts = target.split("/", 2)
    profile = parts[1] if len(parts) > 1 else "internal"
    rest = parts[2] if len(parts) > 2 else ""
    if profile == "gateway":
        gw, _, number = rest.partition("/")
        name = f"sofia/gateway/{gw}/{number}"
        dest = number
    else:
        uri = rest.removeprefix("sip:")
        name = f"sofia/{profile}/{uri}"
        dest = uri.split("@")[0]
    rp = sim.remote_party_for(target)
    chan = Channel(sim, name, new_profile(sim, rp.dest or dest, "default", cid_num, cid_name),
                   variables=variables, endpoint=RemoteEndpoint(), direction="outbound")
    sim.add_channel(chan)
    chan.emit("route", dest=chan.profile.destination_number, context="default", dialplan=None)
    chan.task = sim.engine.spawn(_remote_script(sim, chan, rp), "remote:" + name, chan)
    return chan


def _caller_id(caller: Channel | None, variables: dict[str, str], sim: Simulator) -> tuple[str, str]:
    num = variables.get("origination_caller_id_number")
    name = variables.get("origination_caller_id_name")
    if caller is not None:
        num = num or caller.var("effective_caller_id_number") or caller.profile.caller_id_number
        name = name or caller.var("effective_caller_id_name") or caller.profile.caller_id_name
    return (num or sim.globals.get("outbound_caller_id", "0000000000"),
            name or sim.globals.get("outbound_caller_name", "FreeSWITCH"))


def start_leg(sim: Simulator, target: str, variables: dict[str, str], caller: Channel | None,
              depth: int = 0) -> tuple[Channel | None, str, list[Channel]]:
    """Begin calling ``target``; returns (channel to bridge to, fail cause, extra legs)."""
    if depth > 5:
        return None, "CHAN_NOT_IMPLEMENTED", []
    tech, _, rest = target.partition("/")
    cid_num, cid_name = _caller_id(caller, variables, sim)
    if tech == "error":
        # error_outgoing_channel: switch_channel_str2cause(dest), DESTINATION_OUT_OF_ORDER if unknown
        return None, str2cause(rest) or "DESTINATION_OUT_OF_ORDER", []
    if tech == "loopback":
        bits = rest.split("/")
        dest = bits[0]
        context = bits[1] if len(bits) > 1 and bits[1] else "default"
        a, _b = loopback_pair(sim, dest, context, cid_num, cid_name, variables,
                              a_uuid=variables.get("origination_uuid"))
        return a, "", []
    if tech == "user":
        user, _, domain = rest.partition("@")
        domain = domain or sim.globals.get("domain", "")
        entry = sim.conf.directory_user(user, domain)
        if entry is None:
            return None, "SUBSCRIBER_ABSENT", []
        dial = entry.params.get("dial-string", "")
        if not dial:
            return None, "USER_NOT_REGISTERED", []
        merged = dict(entry.variables)
        merged.update(variables)
        merged.update({"dialed_user": user, "dialed_domain": domain})
        probe = Channel(sim, "user/" + user, CallerProfile(), variables=merged)
        expanded = sim.expand(dial, probe)
        gvars, groups = parse_dial_string(expanded)
        merged.update(gvars)
        if not groups:
            return None, "USER_NOT_REGISTERED", []
        local, tgt = groups[0].legs[0]
        leg_vars = dict(merged)
        leg_vars.update(local)
        chan, why, more = start_leg(sim, tgt, leg_vars, caller, depth + 1)
        if chan is not None and caller is None:
            # user_outgoing_channel with no session originates the user's dial-string itself, for
            # call_timeout (else leg_timeout) of the variables it was given, 60 s by default
            raw = variables.get("call_timeout")
            if raw is None:
                raw = variables.get("leg_timeout")
            chan.user_timelimit = atoi(raw) if atoi(raw) > 0 else 60
        return chan, why, more
    if tech == "sofia":
        return _sofia_leg(sim, target, cid_num, cid_name, variables), "", []
    extra = ENDPOINTS.get(tech)
    if extra is not None:
        made = extra(sim, rest, variables, cid_num, cid_name)
        return (made, "", []) if isinstance(made, Channel) else (None, made, [])
    sim.trace.error(caller, "unknown_endpoint", f"endpoint {target!r} is not simulated", target=target)
    return None, "CHAN_NOT_IMPLEMENTED", []


#: FreeSWITCH's own cause codes (switch_types.h switch_call_cause_t) beyond Q.850
FS_CAUSE_CODES = {
    "SUCCESS": 142, "ORIGINATOR_CANCEL": 487, "LOSE_RACE": 502, "MANAGER_REQUEST": 503,
    "BLIND_TRANSFER": 600, "ATTENDED_TRANSFER": 601, "ALLOTTED_TIMEOUT": 602, "USER_CHALLENGE": 603,
    "MEDIA_TIMEOUT": 604, "PICKED_OFF": 605, "USER_NOT_REGISTERED": 606, "PROGRESS_TIMEOUT": 607,
    "GATEWAY_DOWN": 609, "CRASH": 700, "SYSTEM_SHUTDOWN": 701,
}


def cause_code(cause: str) -> int:
    """The number of a cause name (switch_channel_cause2str's table read backwards); 0 if unknown."""
    from .causes import CAUSE_BY_CODE
    for code, name in CAUSE_BY_CODE.items():
        if name == cause:
            return code
    return FS_CAUSE_CODES.get(cause, 0)


def str2cause(text: str) -> str | None:
    """switch_channel_str2cause: a number (``17``) or a name in any case; None if unknown."""
    from .causes import CAUSE_BY_CODE
    t = text.strip()
    if t[:1].isdigit():
        code = atoi(t)
        by_code = {v: k for k, v in FS_CAUSE_CODES.items()}
        return CAUSE_BY_CODE.get(code) or by_code.get(code)
    t = t.upper()
    return t if t in KNOWN_CAUSES else None


#: caller channel variables switch_ivr_originate copies into the originate variables when the
#: dial string does not set them ("Copy all the missing applicable channel variables from A-leg")
_INHERITED = (
    "group_confirm_key", "group_confirm_file", "group_confirm_read_timeout", "group_confirm_cancel_timeout",
    "group_confirm_timeout", "forked_dial", "fail_on_single_reject", "hangup_on_single_reject",
    "ignore_early_media", "bridge_early_media", "originate_continue_on_timeout", "ignore_ring_ready",
    "monitor_early_media_ring", "monitor_early_media_ring_total", "monitor_early_media_fail",
    "return_ring_ready", "ring_ready", "instant_ringback", "progress_timeout", "language",
)

#: DIALSTATUS for a failed originate (switch_ivr_originate); other causes give their own name
_DIALSTATUS = {"ORIGINATOR_CANCEL": "CANCEL", "USER_BUSY": "BUSY", "NO_ANSWER": "NOANSWER",
               "DESTINATION_OUT_OF_ORDER": "INVALIDARGS", "INVALID_PROFILE": "INVALIDARGS",
               "CALL_REJECTED": "DONTCALL"}


def _floor_epoch(sim: Simulator) -> int:
    """switch_epoch_time_now(): whole seconds of the wall clock now."""
    import math
    return math.floor(sim.start_epoch + sim.engine.now + 1e-6)


def originate(sim: Simulator, dial_string: str, caller: Channel | None = None,
              timeout: float | None = None, variables: dict[str, str] | None = None
              ) -> Generator[Any, Any, tuple[Channel | None, str]]:
    """Call ``dial_string`` and wait for an answer: returns (answered channel, "") or (None, cause).

    As switch_ivr_originate: the time limit is ``timeout`` (or 60), replaced by the caller's
    ``call_timeout`` and then by ``originate_timeout`` of the dial string's variables (whole
    seconds, atoi); it counts whole wall-clock seconds from the start of each ``|`` group, so it
    ends when the epoch second has advanced that many times.  A leg's ``leg_timeout`` hangs that
    leg up ALLOTTED_TIMEOUT one second later than the same number would end the group.  Early
    media wins like an answer (``early_ok``) unless ``ignore_early_media``/``bridge_early_media``.
    A group that times out ends the originate (no further ``|`` group) unless
    ``originate_continue_on_timeout``.  With a caller, ``originate_disposition`` and ``DIALSTATUS``
    are set on it.
    """
    gvars, groups = parse_dial_string(dial_string)
    base: dict[str, str] = {}
    if caller is not None:
        for name in (caller.var("export_vars") or "").split(","):
            if name.strip() and caller.var(name.strip()) is not None:
                base[name.strip()] = caller.var(name.strip()) or ""
        base.update(caller.exported)
    base.update(variables or {})
    base.update(gvars)
    if caller is not None:
        for name in _INHERITED:
            if name not in base and caller.var(name) is not None:
                base[name] = caller.var(name) or ""
        caller.set_var("originate_disposition", "failure")
        caller.set_var("DIALSTATUS", "INVALIDARGS")
    limit = int(timeout) if timeout is not None else 0
    if caller is not None and caller.var("call_timeout") is not None:
        limit = atoi(caller.var("call_timeout"))
    if limit <= 0:
        limit = 60
    if atoi(base.get("originate_timeout")) > 0:
        limit = atoi(base.get("originate_timeout"))
    continue_on_timeout = is_true(base.get("originate_continue_on_timeout"))
    iem = base.get("ignore_early_media")
    early_ok = not (is_true(iem) or iem in ("consume", "ring_ready") or is_true(base.get("bridge_early_media"))
                    or "monitor_early_media_ring" in base or "monitor_early_media_fail" in base)
    clobber = is_true(base.get("local_var_clobber"))

    peer, cause = None, ""
    if not groups:
        # "No origination URL specified!": no leg, no reason -> the caller's (none) -> ORIGINATOR_CANCEL
        cause = "ORIGINATOR_CANCEL" if caller is not None else "DESTINATION_OUT_OF_ORDER"
    for group in groups:
        peer, cause, timed_out = yield from _originate_group(sim, group, base, caller, limit, early_ok, clobber)
        if peer is not None or (timed_out and not continue_on_timeout):
            break
        if caller is not None and caller.hungup:
            break
    if caller is not None and not caller.hungup:
        if peer is not None:
            caller.set_var("originate_disposition", "SUCCESS")
            caller.set_var("DIALSTATUS", "SUCCESS")
        else:
            caller.set_var("originate_disposition", cause)
            caller.set_var("DIALSTATUS", _DIALSTATUS.get(cause, cause))
    return peer, cause


def _originate_group(sim: Simulator, group: DialGroup, base: dict[str, str], caller: Channel | None,
                     limit: int, early_ok: bool, clobber: bool
                     ) -> Generator[Any, Any, tuple[Channel | None, str, bool]]:
    """One ``,`` group of switch_ivr_originate: (winner, "", False) or (None, cause, timed out)."""
    legs: list[Channel] = []
    reason = ""
    for local, target in group.legs:
        if clobber:
            v = dict(base)
            v.update(local)
        else:   # the [] variables are set on the channel first, the {} ones after them
            v = dict(local)
            v.update(base)
        leg, why, _ = start_leg(sim, target, v, caller)
        if leg is None:
            reason = why
            continue
        legs.append(leg)
        if caller is not None:
            _watch_partner(leg, caller)
    if not legs:
        return None, reason or "DESTINATION_OUT_OF_ORDER", False
    start = _floor_epoch(sim)
    deadline = start + limit - sim.start_epoch
    leg_deadline: dict[Channel, tuple[float, str]] = {}
    for leg in legs:
        lt = atoi(leg.var("leg_timeout"))
        if lt > 0:    # check_per_channel_timeouts: elapsed > leg_timeout
            leg_deadline[leg] = (start + lt + 1 - sim.start_epoch, "ALLOTTED_TIMEOUT")
        # call_timeout among a leg's own variables is read by nobody here (switch_ivr_originate reads
        # it from the originating channel only); a user/ leg without a caller has its nested limit
        if leg.user_timelimit > 0 and (leg not in leg_deadline
                                       or start + leg.user_timelimit - sim.start_epoch < leg_deadline[leg][0]):
            leg_deadline[leg] = (start + leg.user_timelimit - sim.start_epoch, "NO_ANSWER")

    def won(leg: Channel) -> bool:
        return not leg.hungup and (leg.answered or (early_ok and leg.pre_answered))

    winner: Channel | None = None
    timed_out = False
    try:
        while True:
            winner = next((leg for leg in legs if won(leg)), None)
            live = [leg for leg in legs if not leg.hungup]
            if winner is not None or not live:
                break
            now = sim.engine.now
            for leg in live:
                if leg in leg_deadline and now >= leg_deadline[leg][0] - 1e-9:
                    leg.hangup(leg_deadline[leg][1])
            live = [leg for leg in live if not leg.hungup]
            if not live:
                break
            if now >= deadline - 1e-9:
                timed_out = True
                break
            wake = min([deadline] + [leg_deadline[leg][0] for leg in live if leg in leg_deadline])
            yield Wait(("answer", "pre_answer", "hangup"), timeout=max(wake - now, 0.0), channels=tuple(live))
    finally:
        if winner is None:
            cancel = caller is not None and caller.hungup
            for leg in legs:
                if not leg.hungup:
                    leg.hangup("ORIGINATOR_CANCEL" if cancel else "NO_ANSWER")
    if winner is not None:
        for leg in legs:
            if leg is not winner and not leg.hungup:
                leg.hangup("LOSE_RACE")
        return winner, "", False
    if timed_out:
        return None, "NO_ANSWER", True
    # the first leg (in dial order) that has a cause names the failure
    first = next((leg.hangup_cause for leg in legs if leg.hangup_cause), None)
    return None, first or "NO_ANSWER", False


def _watch_partner(leg: Channel, caller: Channel) -> None:
    """switch_channel_perform_hangup sets ``last_bridge_hangup_cause`` on the partner of the
    channel that hangs up (an originated leg's partner is its originator)."""
    def on_event(chan: Channel, event: str, fields: dict[str, Any]) -> None:
        if event == "hangup" and not caller.hungup:
            caller.set_var("last_bridge_hangup_cause", fields.get("cause") or "NORMAL_CLEARING")
    leg.listeners.append(on_event)


def bridge_channels(chan: Channel, peer: Channel) -> Generator[Any, Any, str]:
    """Bridge ``chan`` (whose task runs this) with ``peer`` until one side goes away.

    Returns "peer" when the peer hung up (after the unbridge), "break" on uuid_break /
    transfer.  DTMF received on ``chan`` is passed on to ``peer``.
    """
    trace = chan.sim.trace
    chan.bridged, peer.bridged = peer, chan
    chan.variables["bridge_uuid"] = peer.uuid
    chan.variables["last_bridge_to"] = peer.uuid
    peer.variables["bridge_uuid"] = chan.uuid
    chan.emit("bridge", other=trace.leg(peer))
    how = "peer"
    try:
        while True:
            while chan.dtmf:
                peer.send_dtmf(chan.dtmf.popleft())
            if peer.hungup:
                break
            if not peer.answered:
                # bridged on early media: audio_bridge_thread answers the originator when the
                # peer answers
                w = yield Wait(("peer_hangup", "break", "dtmf", "answer", "hangup"), channels=(chan, peer))
                if w.kind == "answer" and w.channel is peer:
                    chan.answer()
                    continue
                if w.kind in ("answer", "hangup"):
                    continue
            else:
                w = yield Wait(("peer_hangup", "break", "dtmf"))
            if w.kind == "break":
                how = "break"
                break
        if how == "peer":
            yield Sleep(UNBRIDGE_DELAY)
        chan.emit("unbridge", other=trace.leg(peer))
    finally:
        chan.bridged = None
        if peer.bridged is chan:
            peer.bridged = None
        if chan.hungup:
            chan.emit("unbridge", other=trace.leg(peer))
            if not peer.hungup and peer.task is None:
                peer.hangup(chan.hangup_cause or "NORMAL_CLEARING")
    if how == "break" and not peer.hungup and peer.task is None:
        peer.hangup("NORMAL_CLEARING")
    return how


@api_command("originate")
def originate_api(sim: Simulator, args: str, chan: Channel | None) -> str:
    """``originate <dial string> <exten>|&app(args) [dialplan] [context] [cid name] [cid num] [timeout]``.

    Unlike FreeSWITCH (which blocks until the answer), the reply comes at once: ``+OK <uuid>``
    when the leg could be started (the answer and what follows happen on the virtual clock),
    ``-ERR <CAUSE>`` when it failed immediately.
    """
    from .apps.args import separate
    argv = separate(args)
    if len(argv) < 2:
        return "-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] " \
               "[<cid_name>] [<cid_num>] [<timeout_sec>]\n"
    dial, target = argv[0], argv[1]
    dialplan = argv[2] if len(argv) > 2 else "XML"
    context = argv[3] if len(argv) > 3 else "default"
    variables: dict[str, str] = {}
    if len(argv) > 4:
        variables["origination_caller_id_name"] = argv[4]
    if len(argv) > 5:
        variables["origination_caller_id_number"] = argv[5]
    try:
        timeout = float(argv[6]) if len(argv) > 6 else 60.0
    except ValueError:
        timeout = 60.0
    gvars, groups = parse_dial_string(dial)
    variables.update(gvars)
    if not groups:
        return "-ERR DESTINATION_OUT_OF_ORDER\n"
    local, first = groups[0].legs[0]
    leg_vars = dict(variables)
    leg_vars.update(local)
    leg, cause, _ = start_leg(sim, first, leg_vars, None)
    if leg is None:
        return "-ERR %s\n" % cause

    def after_answer() -> Generator[Any, Any, None]:
        deadline = sim.engine.now + timeout
        while not leg.answered and not leg.hungup:
            left = deadline - sim.engine.now
            w = yield Wait(("answer", "hangup"), timeout=max(left, 0.0), channels=(leg,))
            if w.kind == TIMEOUT:
                leg.hangup("NO_ANSWER")
                return
        if leg.hungup:
            return
        if target.startswith("&"):
            name, _, rest = target[1:].partition("(")
            sim.spawn_app(leg, name, rest.removesuffix(")"))
        else:
            leg.profile = leg.profile.copy(destination_number=target, context=context, dialplan=dialplan)
            sim.start_dialplan(leg)

    sim.engine.spawn(after_answer(), "originate:" + leg.name)
    return "+OK %s\n" % leg.uuid
