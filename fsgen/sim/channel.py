"""Channels: uuid, caller profile, variables, call state, DTMF queue, hangup.

A channel does not run anything by itself; its dialplan task (``fsgen.sim.session``) or a
scripted remote party drives it.  Endpoints (loopback pairs, scripted SIP parties) attach
behaviour through the ``endpoint`` hooks so that answering or hanging up one loopback leg
reaches its partner as in mod_loopback.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .cstr import is_true
from .engine import Task

if TYPE_CHECKING:  # pragma: no cover
    from .sim import Simulator

#: caller profile fields a dialplan condition can name (switch_caller_get_field_by_name)
PROFILE_FIELDS = (
    "dialplan", "username", "caller_id_name", "caller_id_number", "callee_id_name",
    "callee_id_number", "ani", "aniii", "network_addr", "rdnis", "destination_number",
    "uuid", "source", "context", "chan_name", "transfer_source",
)


class CallerProfile:
    """Who calls whom, where to route: the fields dialplan conditions test."""

    __slots__ = PROFILE_FIELDS
    dialplan: str
    username: str
    caller_id_name: str
    caller_id_number: str
    callee_id_name: str
    callee_id_number: str
    ani: str
    aniii: str
    network_addr: str
    rdnis: str
    destination_number: str
    uuid: str
    source: str
    context: str
    chan_name: str
    transfer_source: str

    def __init__(self, **fields: str):
        # every field of PROFILE_FIELDS, spelled out (a channel or two per call)
        get = fields.get
        self.dialplan = get("dialplan", "")
        self.username = get("username", "")
        self.caller_id_name = get("caller_id_name", "")
        self.caller_id_number = get("caller_id_number", "")
        self.callee_id_name = get("callee_id_name", "")
        self.callee_id_number = get("callee_id_number", "")
        self.ani = get("ani", "")
        self.aniii = get("aniii", "")
        self.network_addr = get("network_addr", "")
        self.rdnis = get("rdnis", "")
        self.destination_number = get("destination_number", "")
        self.uuid = get("uuid", "")
        self.source = get("source", "")
        self.context = get("context", "")
        self.chan_name = get("chan_name", "")
        self.transfer_source = get("transfer_source", "")

    def field(self, name: str) -> str | None:
        if name in PROFILE_FIELDS:
            return getattr(self, name)
        return None

    def copy(self, **changes: str) -> CallerProfile:
        p = object.__new__(CallerProfile)
        _copy_fields(self, p)
        for k, v in changes.items():
            setattr(p, k, v)
        return p


def _copy_fields(src: CallerProfile, dst: CallerProfile) -> None:
    """``dst.f = src.f`` for every field of PROFILE_FIELDS, spelled out (a transfer copies the profile)."""
    dst.dialplan = src.dialplan
    dst.username = src.username
    dst.caller_id_name = src.caller_id_name
    dst.caller_id_number = src.caller_id_number
    dst.callee_id_name = src.callee_id_name
    dst.callee_id_number = src.callee_id_number
    dst.ani = src.ani
    dst.aniii = src.aniii
    dst.network_addr = src.network_addr
    dst.rdnis = src.rdnis
    dst.destination_number = src.destination_number
    dst.uuid = src.uuid
    dst.source = src.source
    dst.context = src.context
    dst.chan_name = src.chan_name
    dst.transfer_source = src.transfer_source


class Endpoint:
    """Per-technology hooks (no-ops by default)."""

    def on_answer(self, chan: Channel) -> None: ...

    def on_pre_answer(self, chan: Channel) -> None: ...

    def on_ring(self, chan: Channel) -> None: ...

    def on_hangup(self, chan: Channel, cause: str) -> None: ...

    def on_dtmf_sent(self, chan: Channel, digit: str) -> None:
        """``uuid_send_dtmf`` on this channel: where does the digit arrive?"""


def new_uuid(sim: Simulator) -> str:
    """``str(uuid.UUID(int=sim.rng.getrandbits(128), version=4))``, formatted directly."""
    n = sim.rng.getrandbits(128)
    n = (n & ~(0xc000 << 48) | 0x8000 << 48) & ~(0xf000 << 64) | 4 << 76   # RFC 4122 variant, version 4
    h = "%032x" % n
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Channel:
    """One call leg.  ``sim`` is the :class:`fsgen.sim.sim.Simulator` it lives in."""

    def __init__(self, sim: Simulator, name: str, profile: CallerProfile, *,
                 uuid: str | None = None, variables: dict[str, str] | None = None,
                 harness: bool = False, endpoint: Endpoint | None = None,
                 direction: str = "inbound"):
        self.sim = sim
        self.uuid = uuid or new_uuid(sim)
        self.name = name
        self.profile = profile
        profile.uuid = self.uuid
        profile.chan_name = name
        self.harness = harness
        self.endpoint = endpoint or Endpoint()
        self.direction = direction
        self.variables: dict[str, str] = {}
        if variables:
            self.variables.update(variables)
        self.variables["uuid"] = self.uuid
        self.variables.setdefault("call_uuid", self.uuid)
        self.variables["channel_name"] = name
        self.state = "CS_NEW"
        self.answered = False
        self.pre_answered = False
        self.ringing = False
        self.hungup = False
        self.hangup_cause: str | None = None
        self.dtmf: deque[str] = deque()
        self.waiters: list[Task] = []
        self.task: Task | None = None
        self.partner: Channel | None = None   # the other leg of a loopback pair
        self.bridged: Channel | None = None   # the channel whose audio we are bridged to
        self.reroute: tuple[str, str, str] | None = None  # pending transfer (dest, dialplan, context)
        self.parked = False
        #: reached through user/ without a caller: the seconds user_outgoing_channel's own originate
        #: of the user's dial-string lasts (0: not such a leg)
        self.user_timelimit = 0
        self.listeners: list[Callable[[Channel, str, dict[str, Any]], None]] = []
        self.created_at = sim.engine.now
        self.answered_at: float | None = None
        self.app_stack: list[str] = []
        self.exported: dict[str, str] = {}   # variables handed to legs this channel originates

    # ---- variables ----------------------------------------------------------------------
    def var(self, name: str) -> str | None:
        return self.variables.get(name)

    def set_var(self, name: str, value: str | None) -> None:
        if value is None or value == "":
            self.variables.pop(name, None)
        else:
            self.variables[name] = value

    def true(self, name: str) -> bool:
        return is_true(self.variables.get(name))

    def expand(self, text: str | None) -> str:
        return self.sim.expand(text, self)

    @property
    def ready(self) -> bool:
        """switch_channel_ready(): up, and no transfer waiting to re-route it."""
        return not self.hungup and self.reroute is None

    # ---- events -------------------------------------------------------------------------
    def emit(self, event: str, **fields: Any) -> None:
        """Record ``event`` in the trace and tell listeners (ESL connections, apps)."""
        sim = self.sim
        trace = sim.trace
        if trace.enabled:       # Trace.add, inline: ~100 records a call
            leg = trace._labels.get(self.uuid) or trace.leg(self)
            now = trace.engine.now
            if now != trace._now:
                trace._now, trace._t = now, round(now, 3)
            trace.records.append({"t": trace._t, "leg": leg, "event": event, **fields})
        if self.listeners or sim.listeners:
            self._tell(event, fields)   # the trace record is a copy: listeners share ``fields``

    def notify_listeners(self, event: str, **fields: Any) -> None:
        """Tell listeners (ESL connections, apps) without writing a trace record."""
        if self.listeners or self.sim.listeners:
            self._tell(event, fields)

    def _tell(self, event: str, fields: dict[str, Any]) -> None:
        # each list is copied before the calls (a listener may add or remove listeners), except
        # when it holds a single listener: nothing is left to iterate after calling it
        for ls in (self.listeners, self.sim.listeners):
            if not ls:
                continue
            if len(ls) == 1:
                ls[0](self, event, fields)
            else:
                for cb in list(ls):
                    cb(self, event, fields)

    def post(self, kind: str, data: Any = None) -> None:
        """Wake tasks waiting for ``kind`` on this channel."""
        self.sim.engine.notify(self, kind, data)

    # ---- call state ---------------------------------------------------------------------
    def ring_ready(self) -> None:
        if not self.ringing and not self.answered and not self.hungup:
            self.ringing = True
            self.endpoint.on_ring(self)
            self.post("ring")

    def pre_answer(self) -> None:
        if self.pre_answered or self.answered or self.hungup:
            return
        self.pre_answered = True
        self.endpoint.on_pre_answer(self)
        self.emit("pre_answer")
        self.post("pre_answer")

    def answer(self) -> None:
        if self.answered or self.hungup:
            return
        self.answered = True
        self.answered_at = self.sim.engine.now
        self.endpoint.on_answer(self)
        self.emit("answer")
        self.post("answer")

    def receive_dtmf(self, digit: str) -> None:
        """A digit arrives from the far end (queued until an application reads it)."""
        if self.hungup:
            return
        self.emit("dtmf", digit=digit)
        self.dtmf.append(digit)
        self.post("dtmf", digit)

    def send_dtmf(self, digits: str) -> None:
        """``uuid_send_dtmf``: the endpoint decides where the digits arrive."""
        for d in digits:
            if d in "0123456789*#ABCDabcd":
                self.endpoint.on_dtmf_sent(self, d.upper())

    def transfer(self, dest: str, dialplan: str = "XML", context: str | None = None) -> None:
        """Re-route after the current application (switch_ivr_session_transfer)."""
        if self.hungup:
            return
        self.reroute = (dest, dialplan or "XML", context or self.profile.context)
        self.post("break")

    def hangup(self, cause: str = "NORMAL_CLEARING") -> None:
        if self.hungup:
            return
        self.hungup = True
        self.state = "CS_HANGUP"
        self.hangup_cause = cause
        self.variables["hangup_cause"] = cause
        self.emit("hangup", cause=cause)
        engine = self.sim.engine
        engine.interrupt(self, cause)
        engine.notify(self, "hangup", cause)
        self.endpoint.on_hangup(self, cause)
        peer = self.bridged
        if peer is not None:
            peer.post("peer_hangup", self)
        self.emit("hangup_complete", cause=cause)
        self.sim.channel_gone(self)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Channel {self.name} {self.uuid[:8]}>"
