"""mod_voicemail: leaving a message (``voicemail [check] [auth] <profile> <domain> [<id>]``).

Follows voicemail_leave_main/create_file of FreeSWITCH 1.10:

- the mailbox is the directory user ``id`` (or ``number-alias``) of ``domain``; an unknown
  user logs "Can't find user" and only the goodbye phrase plays; ``vm-enabled=false`` ends
  silently;
- the greeting (unless ``skip_greeting``): 100 ms pause, then the recorded greeting or the
  ``voicemail_play_greeting`` phrase; a key cuts it (login key -> mailbox menu, operator /
  vmain keys -> transfer when an extension is configured, skip-greet key -> no
  instructions, anything else -> greeting again);
- the instructions phrase (unless ``skip_instructions`` / ``vm-skip-instructions``), then the
  profile's ``tone-spec`` beep as a generated tone (no playback events), then
  switch_ivr_record_file of ``<storage>/voicemail/<profile>/<domain>/<id>/msg_<uuid>.<ext>``
  with ``max-record-len``, ``record-silence-threshold``/``-hits``; any key ends the
  recording;
- shorter than ``min-record-len`` whole seconds -> "too small", record again up to
  ``max-retries`` times, then nothing is delivered; otherwise the record-check menu (1 listen,
  2 save, 3 record again; skipped with ``skip_record_check``) and the urgent check (skipped
  with ``skip_record_urgent_check``), each waiting ``digit-timeout`` for a key;
- delivery stores the message (also when the caller hung up during the recording), fires
  ``vm::maintenance`` ``leave-message`` and sets ``voicemail_*`` variables; the goodbye
  phrase plays unless ``voicemail_skip_goodbye``.

Phrase macros are played as the stock English ``lang/en/vm/sounds.xml`` lists their files
(``voicemail/vm-*.wav`` under ``$${sound_prefix}``), with switch_ivr_phrase_macro's 100 ms
pause after every action and a stop at the first action that fails; on the fs-reference rig
those prompts did not exist, so each macro logs one warning and lasts 100 ms there and here.
The record-check "listen" playback follows control_playback (see :func:`play_recording`);
``auto-playback-recordings`` plays it right after a good take; ``vm-disk-quota`` (sum of the
box's message lengths) ends before the recording with ``voicemail_disk_quota_exceeded``.

Messages are kept in ``sim.modules["voicemail"]`` (:class:`VoicemailState`): per mailbox
``"<id>@<domain>"`` a list of :class:`Message`.  The mailbox menu (``voicemail check``) is
not simulated.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import media
from ..api import api_command
from ..channel import new_uuid
from ..conf import DirectoryUser
from ..cstr import atoi, is_true
from ..engine import Hangup, Wait
from . import application
from .args import separate
from .callcenter import custom_event
from .playback import say_files
from .record import Recording, record_file

if TYPE_CHECKING:  # pragma: no cover
    from ..channel import Channel
    from ..sim import Simulator

#: voicemail.conf profile parameters that matter here, with mod_voicemail's defaults
PROFILE_DEFAULTS = {
    "file-extension": "wav", "terminator-key": "#", "login-keys": "0", "skip-greet-key": "#",
    "record-file-key": "3", "listen-file-key": "1", "save-file-key": "2", "urgent-key": "*",
    "operator-key": "", "vmain-key": "", "operator-extension": "", "vmain-extension": "",
    "tone-spec": "%(1000, 0, 640)", "storage-dir": "", "storage-dir-shared": "false",
    "digit-timeout": "10000", "min-record-len": "3", "max-record-len": "300", "max-retries": "3",
    "record-silence-threshold": "200", "record-silence-hits": "2", "record-title": "FreeSWITCH Voicemail",
    "record-comment": "FreeSWITCH Voicemail", "record-copyright": "http://www.freeswitch.org",
    "auto-playback-recordings": "false", "delete-file-key": "7", "previous-message-key": "1",
    "next-message-key": "3", "repeat-message-key": "0", "skip-info-key": "*", "forward-key": "8",
    "email-key": "4", "pause-key": "0", "restart-key": "1", "ff-key": "6", "rew-key": "4",
}
NORMAL_FLAGS = "B_NORMAL"
URGENT_FLAGS = "A_URGENT"


@dataclass
class Message:
    """A row of voicemail_msgs."""

    uuid: str                 # the caller's channel
    username: str
    domain: str
    cid_name: str
    cid_number: str
    file_path: str
    message_len: int          # whole seconds
    created_epoch: int
    read_flags: str = NORMAL_FLAGS
    in_folder: str = "inbox"
    read_epoch: int = 0
    forwarded_by: str = ""
    email: str = ""           # where mod_voicemail would have mailed it (vm-mailto), if anywhere
    recording: Recording | None = None


@dataclass
class VoicemailState:
    boxes: dict[str, list[Message]] = field(default_factory=dict)

    def messages(self, box: str) -> list[Message]:
        """Messages of mailbox ``"<id>@<domain>"`` (oldest first)."""
        return self.boxes.get(box, [])


def state(sim: Simulator) -> VoicemailState:
    st = sim.modules.get("voicemail")
    if st is None:
        st = sim.modules["voicemail"] = VoicemailState()
    return st


def profile_params(sim: Simulator, name: str) -> dict[str, str] | None:
    cfg = sim.conf.configuration("voicemail.conf")
    profiles = cfg.find("profiles") if cfg is not None else None
    el = profiles.find("profile", name=name) if profiles is not None else None
    if el is None:
        return None
    params = dict(PROFILE_DEFAULTS)
    for p in el.findall("param"):
        if p.get("name"):
            params[p.get("name") or ""] = p.get("value", "") or ""
    return params


def _int(text: str | None, default: int) -> int:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return default


# ---- phrase macros (stock lang/en/vm/sounds.xml) ---------------------------------------------
def _spell(text: str) -> list[str]:
    return say_files("name_spelled", "pronounced", text)


def macro_actions(name: str, arg: str = "") -> list[list[str]]:
    """The macro's actions, each as the prompts it plays (a ``say`` action is several)."""
    vm = "voicemail/"
    if name == "voicemail_play_greeting":
        return [[vm + "vm-person.wav"], _spell(arg), [vm + "vm-not_available.wav"]]
    if name == "voicemail_record_message":
        return [[vm + "vm-record_message.wav"]]
    if name == "voicemail_goodbye":
        return [[vm + "vm-goodbye.wav"]]
    if name == "voicemail_disk_quota_exceeded":
        return [[vm + "vm-mailbox_full.wav"]]
    if name == "voicemail_record_file_check":
        keys = (arg.split(":") + ["", "", ""])[:3]
        return [[vm + "vm-listen_to_recording.wav"], [vm + "vm-press.wav"], _spell(keys[0]),
                [vm + "vm-save_recording.wav"], [vm + "vm-press.wav"], _spell(keys[1]),
                [vm + "vm-rerecord.wav"], [vm + "vm-press.wav"], _spell(keys[2])]
    if name == "voicemail_record_urgent_check":
        keys = (arg.split(":") + ["", ""])[:2]
        return [[vm + "vm-mark-urgent.wav"], [vm + "vm-press.wav"], _spell(keys[0]),
                [vm + "vm-continue.wav"], [vm + "vm-press.wav"], _spell(keys[1])]
    if name == "voicemail_ack":
        if arg == "too-small":
            return [[vm + "vm-too-small.wav"]]
        return [[vm + "vm-message.wav"], [vm + f"vm-{arg}.wav"]]
    return []


def macro_files(name: str, arg: str = "") -> list[str]:
    return [f for action in macro_actions(name, arg) for f in action]


#: switch_ivr_phrase_macro's default ``pause`` (ms) after every action; the stock vm macros set none
MACRO_PAUSE = 0.1


def phrase(chan: Channel, name: str, arg: str = "", cut: bool = False) -> Generator[Any, Any, str]:
    """switch_ivr_phrase_macro; with ``cut`` (cancel_on_dtmf) the first key stops it and is returned.

    After every action it sleeps ``pause`` (100 ms; switch_ivr_sleep without input args, so keys
    stay queued), then stops if the action did not succeed: a key (BREAK) or a prompt that does
    not exist (NOTFOUND; mod_say's say_file returns at its first failure too)."""
    for files in macro_actions(name, arg):
        key, ok = "", True
        for f in files:
            res = yield from media.play(chan, f, dtmf=media.BUFFER if cut else media.NO_INPUT)
            if res.status == "hangup" or not chan.ready:
                return ""
            if res.digit:
                key, ok = res.digit, False
                break
            if res.status != "done":
                ok = False
                break
        yield from media.silence(chan, MACRO_PAUSE)
        if not chan.ready:
            return ""
        if not ok:
            return key
    return ""


def macro_get(chan: Channel, name: str, arg: str, timeout_ms: int) -> Generator[Any, Any, str]:
    """vm_macro_get for one key: the phrase (a key cuts it), then up to ``timeout_ms`` for a key."""
    got = yield from phrase(chan, name, arg, cut=True)
    if got or not chan.ready:
        return got
    res = yield from media.collect_digits(chan, "", 1, "", timeout_ms / 1000.0, timeout_ms / 1000.0)
    return res.digits


def _first(p: dict[str, str], name: str) -> str:
    return p.get(name, "")[:1]


def play_recording(chan: Channel, p: dict[str, str], rec: Recording | None) -> Generator[Any, Any, str]:
    """Play back a message the simulator 'recorded' (it lasts as long as the recording) with
    mod_voicemail's control_playback (cc.noexit = 0, playback controls inactive): the delete,
    save, previous, next, repeat, terminator, skip-info, forward and email keys stop it and are
    returned (cc.buf); pause / restart / fast-forward (3 s) / rewind (6 s) keys act on the file;
    any other key is consumed."""
    if rec is None or not chan.ready:
        return ""
    stop_keys = {_first(p, k) for k in ("delete-file-key", "save-file-key", "previous-message-key",
                                        "next-message-key", "repeat-message-key", "terminator-key",
                                        "skip-info-key", "forward-key", "email-key")} - {""}
    engine = chan.sim.engine
    chan.emit("playback_start", file=rec.path)
    pos, paused, key = 0.0, False, ""
    status = "done"
    try:
        while True:
            if not chan.ready:
                status = "break"
                break
            while chan.dtmf and not key:
                d = chan.dtmf.popleft()
                if d in stop_keys:
                    key = d
                elif d == _first(p, "pause-key"):
                    paused = not paused
                elif d == _first(p, "restart-key"):
                    pos = 0.0
                elif d == _first(p, "ff-key"):
                    pos += 3.0
                elif d == _first(p, "rew-key"):
                    pos = max(pos - 6.0, 0.0)
            if key:
                status = "break"
                break
            left = rec.seconds - pos
            if left <= 1e-9:
                break
            t0 = engine.now
            w = yield Wait(("dtmf", "break"), timeout=None if paused else left)
            if not paused:
                pos += engine.now - t0
            if w.kind == "break":
                status = "break"
                break
    except Hangup:
        chan.emit("playback_stop", file=rec.path, status="done")
        raise
    chan.emit("playback_stop", file=rec.path, status=status)
    return key


# ---- leaving a message ---------------------------------------------------------------------------
@dataclass
class _Take:
    status: str                  # success | notfound
    message_len: int = 0
    key: str = ""
    recording: Recording | None = None


def create_file(chan: Channel, p: dict[str, str], macro: str | None, path: str, exit_keys: str
                ) -> Generator[Any, Any, _Take]:
    skip_check = chan.true("skip_record_check")
    retries = 0
    take = _Take("notfound")
    while True:                                     # record_file:
        if macro:
            yield from phrase(chan, macro)
        chan.dtmf.clear()
        yield from media.silence(chan, media.tone_duration("tone_stream://" + p["tone-spec"]))
        if not chan.ready:
            break
        res = yield from record_file(chan, path, _int(p["max-record-len"], 300),
                                     _int(p["record-silence-threshold"], 200),
                                     _int(p["record-silence-hits"], 2),
                                     on_digit=lambda d: True, kind="voicemail")
        take = _Take("success", int(res.seconds), recording=res.recording)
        if take.message_len < _int(p["min-record-len"], 3):
            res.recording.discarded = True
            take = _Take("notfound")
            if res.digit and res.digit in exit_keys:     # strchr(exit_keys, input[0])
                return _Take("success", key=res.digit)
            if chan.ready and retries < _int(p["max-retries"], 3):
                yield from phrase(chan, "voicemail_ack", "too-small")
                retries += 1
                continue
            return take
        if not chan.ready:
            return take
        try:
            cc_key = ""
            if is_true(p["auto-playback-recordings"]):
                cc_key = yield from play_recording(chan, p, take.recording)
            again = yield from _record_check(chan, p, take, cc_key, skip_check)
        except Hangup:
            return take
        if not again:
            return take
    return take


def _record_check(chan: Channel, p: dict[str, str], take: _Take, cc_key: str, skip_check: bool
                  ) -> Generator[Any, Any, bool]:
    """create_file after a good take: 1 listen, 2 save, 3 record again; True = record again.
    A key that stopped the listen playback is the choice, unless it is the terminator."""
    keys = "{}:{}:{}".format(p["listen-file-key"], p["save-file-key"], p["record-file-key"])
    while chan.ready:
        if cc_key and cc_key != _first(p, "terminator-key"):
            got, cc_key = cc_key, ""
        elif skip_check:
            return False
        else:
            got = yield from macro_get(chan, "voicemail_record_file_check", keys, _int(p["digit-timeout"], 10000))
            if not chan.ready:
                return False
        if got and got == p["listen-file-key"]:
            cc_key = yield from play_recording(chan, p, take.recording)
            continue
        if got and got == p["record-file-key"]:
            return True
        yield from phrase(chan, "voicemail_ack", "saved")
        return False
    return False


def _storage_dir(chan: Channel, p: dict[str, str], profile: str, domain: str, user_id: str,
                 user: DirectoryUser | None) -> str:
    params = user.params if user is not None else {}
    vm_dir = params.get("vm-storage-dir", "")
    dom_dir = params.get("vm-domain-storage-dir") or params.get("storage-dir", "")
    storage = chan.sim.globals.get("storage_dir", "")
    if vm_dir:
        return vm_dir if vm_dir.startswith("/") else f"{storage}/voicemail/{vm_dir}"
    if dom_dir:
        return f"{dom_dir}/{user_id}"
    if p["storage-dir"]:
        if is_true(p["storage-dir-shared"]):
            return f"{p['storage-dir']}/{domain}/voicemail/{user_id}"
        return f"{p['storage-dir']}/{domain}/{user_id}"
    return f"{storage}/voicemail/{profile}/{domain}/{user_id}"


def _transfer(chan: Channel, ext: str) -> bool:
    argv = separate(ext)
    if 1 <= len(argv) <= 4:
        chan.transfer(argv[0], argv[1] if len(argv) > 1 else "XML", argv[2] if len(argv) > 2 else None)
        return True
    return False


def leave_message(chan: Channel, profile: str, p: dict[str, str], domain: str, mailbox: str | None
                  ) -> Generator[Any, Any, None]:
    skip_goodbye = chan.true("voicemail_skip_goodbye")
    vm_enabled = yield from _leave(chan, profile, p, domain, mailbox or "")
    if chan.ready and vm_enabled and not skip_goodbye:
        yield from phrase(chan, "voicemail_goodbye")


def _leave(chan: Channel, profile: str, p: dict[str, str], domain: str, mailbox: str
           ) -> Generator[Any, Any, bool]:
    """voicemail_leave_main up to its ``end:`` label; returns vm_enabled (goodbye or not)."""
    skip_greeting = chan.true("skip_greeting")
    skip_instructions = chan.true("skip_instructions")
    skip_urgent = chan.true("skip_record_urgent_check")
    for name in ("skip_greeting", "skip_instructions", "skip_record_urgent_check", "voicemail_skip_goodbye"):
        chan.set_var(name, None)
    sim = chan.sim
    user: DirectoryUser | None = None
    operator_ext = chan.var("vm_operator_extension") or ""
    read_id = ""
    ext = p["file-extension"]
    if mailbox:
        user = sim.conf.directory_user(mailbox, domain)
        if user is None:
            sim.trace.add(chan, "log", level="WARNING", text=f"Can't find user [{mailbox}@{domain}]")
            return True
        mailbox = user.id
        params = user.params
        if "vm-skip-instructions" in params:
            skip_instructions = is_true(params["vm-skip-instructions"])
        read_id = params.get("vm-alternate-greet-id", "")
        ext = params.get("vm-message-ext") or ext
        operator_ext = operator_ext or params.get("vm-operator-extension", "")
        if params.get("vm-enabled", "").strip().lower() in ("false", "no", "off", "0", "f", "disabled"):
            sim.trace.add(chan, "log", level="WARNING", text=f"User [{mailbox}@{domain}] have voicemail disabled")
            return False
    dir_path = _storage_dir(chan, p, profile, domain, mailbox, user)
    ext = chan.var("vm_message_ext") or ext
    file_path = f"{dir_path}/msg_{new_uuid(sim)}.{ext}"
    number = chan.var("voicemail_greeting_number")
    if number is not None:
        # set at all: the greeting comes only from it (atoi, 1..VM_MAX_GREETINGS), else none
        num = atoi(number)
        greet_path = f"{dir_path}/greeting_{num}.{p['file-extension']}" if 0 < num <= 9 else ""
    else:
        greet_path = chan.var("voicemail_greeting_path") or ""
    operator = operator_ext or p["operator-extension"]
    exit_keys = "{}:{}".format(p["operator-key"], p["vmain-key"])
    read_flags = NORMAL_FLAGS
    key = ""
    while True:
        if not key and not skip_greeting:
            yield from media.silence(chan, 0.1)
            if greet_path and media.duration_of(chan, greet_path) is not None:
                res = yield from media.play(chan, greet_path, dtmf=media.BUFFER)
                key = res.digit or ""
            else:
                key = yield from phrase(chan, "voicemail_play_greeting",
                                        read_id or chan.var("voicemail_alternate_greet_id") or mailbox, cut=True)
        if not chan.ready:
            return True
        if key:
            if key in p["login-keys"]:
                sim.trace.error(chan, "not_simulated",
                                "the voicemail mailbox menu (login key during the greeting) is not simulated")
                return True
            if operator and p["operator-key"] and key == p["operator-key"]:
                if _transfer(chan, operator):
                    return True
            elif p["vmain-key"] and key == p["vmain-key"] and p["vmain-extension"]:
                if _transfer(chan, p["vmain-extension"]):
                    return True
            elif p["skip-greet-key"] and key == p["skip-greet-key"]:
                skip_instructions = True
            else:
                key = ""
                continue
        if user is not None and atoi(user.params.get("vm-disk-quota", "")):
            used = sum(m.message_len for m in state(sim).messages(f"{mailbox}@{domain}"))
            if used >= atoi(user.params["vm-disk-quota"]):
                sim.trace.add(chan, "log", level="NOTICE", text=f"Voicemail disk quota is exceeded for {mailbox}")
                yield from phrase(chan, "voicemail_disk_quota_exceeded")
                return True
        _record_vars(chan, p)
        take = yield from create_file(chan, p, None if skip_instructions else "voicemail_record_message",
                                      file_path, exit_keys)
        if take.status == "notfound":
            return True
        if take.key:
            key = take.key
            continue
        break
    try:
        if chan.ready and not skip_urgent:
            keys = "{}:{}".format(p["urgent-key"], p["terminator-key"])
            got = yield from macro_get(chan, "voicemail_record_urgent_check", keys, _int(p["digit-timeout"], 10000))
            if chan.ready:
                if got and got == p["urgent-key"]:
                    read_flags = URGENT_FLAGS
                    yield from phrase(chan, "voicemail_ack", "marked-urgent")
                else:
                    yield from phrase(chan, "voicemail_ack", "saved")
    except Hangup:
        pass  # a hangup after the recording still delivers the message (goto deliver)
    if user is not None:
        deliver(chan, user, profile, domain, file_path, take, read_flags)
    return True


def _record_vars(chan: Channel, p: dict[str, str]) -> None:
    name = chan.var("effective_caller_id_name") or chan.profile.caller_id_name
    number = chan.var("effective_caller_id_number") or chan.profile.caller_id_number
    chan.set_var("RECORD_ARTIST", f"{name} ({number})")
    when = datetime.fromtimestamp(chan.sim.wall_time(), chan.sim.tz)
    chan.set_var("RECORD_DATE", when.strftime("%Y-%m-%d %H:%M:%S"))
    chan.set_var("RECORD_SOFTWARE", "FreeSWITCH")
    chan.set_var("RECORD_TITLE", p["record-title"])
    chan.set_var("RECORD_COMMENT", p["record-comment"])
    chan.set_var("RECORD_COPYRIGHT", p["record-copyright"])


def deliver(chan: Channel, user: DirectoryUser, profile: str, domain: str, file_path: str, take: _Take,
            read_flags: str) -> Message:
    """deliver_vm: store the message, fire vm::maintenance leave-message, set voicemail_* vars."""
    sim = chan.sim
    name = chan.var("effective_caller_id_name") or chan.profile.caller_id_name
    number = chan.var("effective_caller_id_number") or chan.profile.caller_id_number
    params = user.params
    email = ""
    if is_true(params.get("vm-email-all-messages")):
        email = params.get("vm-mailto") or params.get("email-addr", "")
    msg = Message(uuid=chan.uuid, username=user.id, domain=domain, cid_name=name, cid_number=number,
                  file_path=file_path, message_len=take.message_len,
                  created_epoch=math.floor(sim.wall_time() + 1e-6), read_flags=read_flags, email=email,
                  recording=take.recording)
    keep = is_true(params.get("vm-keep-local-after-email", "true")) or not email
    if keep:
        state(sim).boxes.setdefault(f"{user.id}@{domain}", []).append(msg)
    custom_event(sim, "vm::maintenance", {
        "VM-Action": "leave-message", "VM-User": user.id, "VM-Domain": domain, "VM-Caller-ID-Name": name,
        "VM-Caller-ID-Number": number, "VM-File-Path": file_path, "VM-Flags": read_flags, "VM-Folder": "inbox",
        "VM-UUID": chan.uuid, "VM-Message-Len": str(take.message_len), "VM-Timestamp": str(msg.created_epoch)},
        chan)
    seconds = take.message_len
    chan.set_var("voicemail_account", user.id)
    chan.set_var("voicemail_domain", domain)
    chan.set_var("voicemail_file_path", file_path)
    chan.set_var("voicemail_read_flags", read_flags)
    chan.set_var("voicemail_message_len", f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}")
    return msg


@application("voicemail")
def voicemail(chan: Channel, data: str) -> Generator[Any, Any, None]:
    argv = separate(data, maxparts=6) if data.strip() else []
    x = 0
    check = False
    while x < len(argv) and argv[x].lower() in ("check", "auth", "auth_only"):
        check = check or argv[x].lower() in ("check", "auth_only")
        x += 1
    profile = argv[x] if len(argv) > x else chan.var("voicemail_profile_name")
    domain = argv[x + 1] if len(argv) > x + 1 else chan.var("voicemail_domain_name")
    mailbox = argv[x + 2] if len(argv) > x + 2 else chan.var("voicemail_id")
    if not profile or not domain:
        chan.sim.trace.add(chan, "log", level="ERR",
                           text="Error Usage: [check] [auth] <profile_name> <domain_name> [<id>] [uuid]")
        return
    state(chan.sim)   # the mailboxes exist (empty) once voicemail ran
    params = profile_params(chan.sim, profile)
    if params is None:
        chan.sim.trace.add(chan, "log", level="ERR", text=f"Error invalid profile {profile}")
        return
    if check:
        chan.sim.trace.error(chan, "not_simulated", "voicemail check (the mailbox menu) is not simulated")
        return
    yield from leave_message(chan, profile, params, domain, mailbox)


def _box_count(sim: Simulator, args: str) -> str:
    text = args.strip()
    if "/" in text.split("@")[0]:
        text = text.split("/", 1)[1]
    how = "new"
    if "|" in text:
        text, how = text.split("|", 1)
    text = text.removeprefix("sip:")
    user, _, domain = text.partition("@")
    if not user or not domain:
        return "0"
    msgs = state(sim).messages(f"{user}@{domain}")
    inbox = [m for m in msgs if m.in_folder == "inbox"]
    new = [m for m in inbox if not m.read_epoch]
    saved = [m for m in inbox if m.read_epoch]
    new_urgent = [m for m in new if m.read_flags == URGENT_FLAGS]
    saved_urgent = [m for m in saved if m.read_flags == URGENT_FLAGS]
    if how == "saved":
        return str(len(saved))
    if how == "new-urgent":
        return str(len(new_urgent))
    if how in ("new-saved", "saved-urgent"):
        return str(len(saved_urgent))
    if how == "all":
        return f"{len(new)}:{len(saved)}:{len(new_urgent)}:{len(saved_urgent)}"
    return str(len(new))




@api_command("vm_boxcount")
def vm_boxcount(sim: Simulator, args: str, chan: Channel | None) -> str:
    """``vm_boxcount [profile/]<user>@<domain>[|new|saved|new-urgent|saved-urgent|all]``."""
    return _box_count(sim, args)
