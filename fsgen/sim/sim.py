"""The simulator object: one FreeSWITCH instance (configuration, globals, channels, clock)."""

from __future__ import annotations

import random
import time as _time
import traceback
from collections.abc import Callable
from datetime import UTC, tzinfo
from typing import Any

from . import api as _api
from . import timecond
from .channel import Channel
from .conf import Conf
from .engine import Engine, Task
from .expand import VAR, channel_lookup, expand, template, value_range
from .trace import Trace


class RemoteParty:
    """How a scripted far end (sofia/..., a registered user) behaves when called.

    ``ring`` seconds after the INVITE it answers (``answer``) or fails with ``cause``;
    after ``talk`` seconds of answered call it hangs up (None = stays until the other side
    hangs up).
    """

    def __init__(self, match: str, ring: float = 1.0, answer: bool = True, talk: float | None = None,
                 cause: str = "NO_ANSWER", name: str | None = None, dest: str | None = None):
        self.match = match
        self.ring = ring
        self.answer = answer
        self.talk = talk
        self.cause = cause
        self.name = name
        self.dest = dest


class Simulator:
    """Everything one simulated FreeSWITCH holds.

    ``start_epoch`` is the wall-clock time at virtual t=0 (time conditions, strftime);
    ``tz`` the process time zone; ``seed`` makes uuids reproducible.
    """

    def __init__(self, conf: Conf, *, start_epoch: float | None = None, tz: str = "UTC",
                 seed: int = 0, missing_prompt_seconds: float | None = None):
        self.engine = Engine()
        self.trace = Trace(self.engine)
        self.conf = conf
        self.globals: dict[str, str] = dict(conf.globals)
        self.channels: dict[str, Channel] = {}
        self.listeners: list[Callable[[Channel, str, dict[str, Any]], None]] = []
        self.modules: dict[str, Any] = {}
        self.registrations: dict[str, str] = {}
        self.remote_parties: list[RemoteParty] = []
        self.default_remote = RemoteParty("*", ring=1.0, answer=True, talk=None)
        self.rng = random.Random(seed)
        self.start_epoch = start_epoch if start_epoch is not None else _time.time()
        self.tz: tzinfo = timecond.zone_for(None, tz, UTC)
        self.missing_prompt_seconds = missing_prompt_seconds
        #: (host, port) of a ``socket`` target -> where to connect instead (a scripted esl_app
        #: stand-in on an ephemeral port); the trace keeps showing the configured target
        self.esl_redirect: dict[tuple[str, int], tuple[str, int]] = {}
        self.created_count = 0
        self.engine.on_task_error = self._task_error

    # ---- clock --------------------------------------------------------------------------
    def wall_time(self) -> float:
        return self.start_epoch + self.engine.now

    def local_tz(self, name: str | None) -> tzinfo:
        return timecond.zone_for(None, name, self.tz) if name else self.tz

    def zone_for_channel(self, chan: Channel | None) -> tzinfo:
        """check_tz(): ``tod_tz_offset`` (hours) wins over ``timezone``, else local time."""
        if chan is None:
            return self.tz
        off = chan.var("tod_tz_offset")
        if off is not None:
            try:
                return timecond.zone_for(int(off.strip()), None, self.tz)
            except ValueError:
                pass
        name = chan.var("timezone")
        return timecond.zone_for(None, name, self.tz) if name else self.tz

    # ---- variables and API --------------------------------------------------------------
    def expand(self, text: str | None, chan: Channel | None = None) -> str:
        if not text or "$" not in text:
            return text or ""
        tpl = template(text)
        if chan is not None and len(tpl) == 1 and type(tpl[0]) is tuple and tpl[0][0] is VAR:
            # one plain ${name} (a condition's field, an app argument): channel_lookup inline
            _, name, offset, length = tpl[0]
            v = chan.variables.get(name)
            if v is None:
                v = chan.profile.field(name) or self.globals.get(name)
            return value_range(v, offset, length)
        return expand(text, channel_lookup(chan, self.globals),
                      lambda name, args: self.call_api(name, args, chan, from_expansion=True))

    def call_api(self, name: str, args: str, chan: Channel | None = None,
                 from_expansion: bool = False) -> str:
        from .apps import load_all
        load_all()  # app modules register their API commands too
        fn = _api.API_COMMANDS.get(name)
        if fn is None:
            self.trace.error(chan, "unknown_api", f"API {name!r} is not simulated", api=name)
            return "" if from_expansion else f"-ERR {name} Command not found!\n"
        return fn(self, args, chan)

    def api(self, cmd: str, chan: Channel | None = None) -> str:
        """Run an API command line (``uuid_getvar <uuid> x``), as ``fs_cli -x`` would."""
        name, _, args = cmd.strip().partition(" ")
        return self.call_api(name, args.strip(), chan)

    # ---- channels -----------------------------------------------------------------------
    def add_channel(self, chan: Channel, **create_fields: Any) -> Channel:
        self.channels[chan.uuid] = chan
        self.created_count += 1
        p = chan.profile
        chan.emit("create", name=chan.name, uuid=chan.uuid, dest=p.destination_number, context=p.context,
                  cid_num=p.caller_id_number, cid_name=p.caller_id_name, **create_fields)
        return chan

    def channel_gone(self, chan: Channel) -> None:
        self.channels.pop(chan.uuid, None)

    def start_dialplan(self, chan: Channel, delay: float = 0.0) -> Task:
        from .session import run_dialplan
        chan.task = self.engine.spawn(run_dialplan(chan), "dialplan:" + chan.name, chan, delay=delay)
        return chan.task

    def spawn_app(self, chan: Channel, app: str, data: str, then_hangup: bool = True) -> Task:
        """Run one application on a channel outside the dialplan (originate's ``&app()``)."""
        from .session import execute

        def body() -> Any:
            yield from execute(chan, app, data)
            if then_hangup and not chan.hungup:
                chan.hangup("NORMAL_CLEARING")

        chan.task = self.engine.spawn(body(), "app:" + chan.name, chan)
        return chan.task

    def remote_party_for(self, target: str) -> RemoteParty:
        for rp in self.remote_parties:
            if rp.match == "*" or rp.match in target:
                return rp
        return self.default_remote

    def _task_error(self, task: Task, err: BaseException) -> None:
        where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
        loc = f"{where.filename}:{where.lineno}" if where else "?"
        self.trace.error(task.channel, "internal_error", f"{type(err).__name__}: {err} (at {loc})",
                         task=task.name)
        if task.channel is not None and not task.channel.hungup:
            task.channel.hangup("DESTINATION_OUT_OF_ORDER")

    def run(self, until: float | None = None, stop: Callable[[], bool] | None = None) -> None:
        self.engine.run(until=until, stop=stop)

    def close(self) -> None:
        """Close whatever real sockets are still open (lingering Event Socket apps)."""
        for poller in self.engine.io:
            closer = getattr(poller, "close_all", None)
            if closer is not None:
                closer()
