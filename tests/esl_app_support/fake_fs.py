"""A tiny scripted FreeSWITCH for esl_app tests: plays the switch's side of an outbound socket.

It dials the server like the ``socket`` app does, sends the connect reply with channel data (values
URL-encoded, as mod_event_socket serialises them), answers commands with ``+OK``, runs ``api uuid_setvar_multi``, executes ``set``
(and records every other app), emits CHANNEL_EXECUTE_COMPLETE per app (``Application-UUID`` from
the message's ``Event-UUID``), hangs up on ``hangup``, and says goodbye with a disconnect notice on
``exit``. Switches can be flipped to misbehave: split every write into single bytes, vanish after
N commands, or stay silent.
"""

from __future__ import annotations

import time
import uuid as _uuid
from dataclasses import dataclass, field
from urllib.parse import quote

import gevent
from gevent import socket

DISCONNECT_BODY = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


# switch_url_encode: bytes outside printable ASCII and FreeSWITCH's unsafe set become %XX.
_FS_SAFE = "".join(chr(b) for b in range(33, 127) if chr(b) not in "\r\n \"#%&+:;<=>?@[\\]^`{|}")


def _enc(value: str) -> str:
    return quote(str(value), safe=_FS_SAFE)


def serialize(headers: list[tuple[str, str]]) -> str:
    return "".join(f"{k}: {_enc(v)}\n" for k, v in headers) + "\n"


@dataclass
class CallResult:
    variables: dict[str, str]
    executed: list[tuple[str, str]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    seconds: float = 0.0
    exited: bool = False  # the server sent `exit`
    hung_up: bool = False
    cause: str = ""

    @property
    def sets(self) -> dict[str, str]:
        out = {}
        for app, arg in self.executed:
            if app == "set":
                name, _, value = arg.partition("=")
                out[name] = value
            elif app == "multiset":
                for item in arg[3:].split(arg[2]):
                    name, _, value = item.partition("=")
                    out[name] = value
            elif app == "uuid_setvar_multi":
                for item in arg.split(";"):
                    name, _, value = item.partition("=")
                    out[name] = value
        return out


class FakeSwitch:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port

    def call(self, caller: str = "13812345678", variables: dict[str, str] | None = None, *,
             did: str = "95598", flow: str = "demo", node: str = "identify", split_bytes: bool = False,
             vanish_after: int | None = None, garbage_after: int | None = None, silent_after: int | None = None,
             timeout: float = 10.0,
             caller_name: str = "张三") -> CallResult:
        call_uuid = str(_uuid.uuid4())
        channel = {"hotline_flow": flow, "hotline_did": did, "hotline_node": node,
                   "hotline_lookup_status": "failed", **(variables or {})}
        result = CallResult(variables=dict(channel))
        started = time.perf_counter()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect((self.host, self.port))  # an IP literal: no resolver round trip
        except OSError:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")

        def write(text: str) -> None:
            data = text.encode("utf-8")
            if split_bytes:
                for i in range(len(data)):
                    sock.sendall(data[i:i + 1])
                    gevent.sleep(0)
            else:
                sock.sendall(data)

        def event(name: str, extra: list[tuple[str, str]]) -> str:
            body = serialize([("Event-Name", name), ("Unique-ID", call_uuid), ("Channel-Call-UUID", call_uuid),
                              ("Caller-Caller-ID-Number", caller), *extra])
            return f"Content-Length: {len(body.encode('utf-8'))}\nContent-Type: text/event-plain\n\n{body}"

        try:
            with gevent.Timeout(timeout):
                while True:
                    lines = []
                    while True:
                        line = reader.readline()
                        if not line:
                            result.seconds = time.perf_counter() - started
                            return result
                        line = line.decode("utf-8").rstrip("\n")
                        if not line:
                            if lines:
                                break
                            continue
                        lines.append(line)
                    command = lines[0]
                    result.commands.append(command)
                    if vanish_after is not None and len(result.commands) > vanish_after:
                        sock.close()
                        result.seconds = time.perf_counter() - started
                        return result
                    if silent_after is not None and len(result.commands) > silent_after:
                        continue  # read on, answer nothing: a switch that hangs
                    if garbage_after is not None and len(result.commands) > garbage_after:
                        write("Content-Type: text/event-plain\nContent-Length: banana\n\n")
                        continue
                    headers = dict(ln.split(": ", 1) for ln in lines[1:] if ": " in ln)
                    if command == "connect":
                        data = [("Event-Name", "CHANNEL_DATA"), ("Unique-ID", call_uuid),
                                ("Caller-Caller-ID-Number", caller), ("Caller-Caller-ID-Name", caller_name),
                                ("Caller-Destination-Number", node), ("Channel-State", "CS_EXECUTE"),
                                ("Answer-State", "answered"), ("Call-Direction", "inbound")]
                        data += [("variable_" + k, v) for k, v in channel.items()]
                        data += [("Content-Type", "command/reply"), ("Reply-Text", "+OK\n"),
                                 ("Socket-Mode", "async"), ("Control", "full")]
                        write(serialize(data))
                    elif command == "myevents":
                        write("Content-Type: command/reply\nReply-Text: +OK Events Enabled\n\n")
                    elif command == "linger":
                        write("Content-Type: command/reply\nReply-Text: +OK will linger\n\n")
                    elif command == "resume":
                        write("Content-Type: command/reply\nReply-Text: +OK\n\n")
                    elif command == "exit":
                        result.exited = True
                        body = DISCONNECT_BODY
                        write("Content-Type: command/reply\nReply-Text: +OK bye\n\n"
                              f"Content-Type: text/disconnect-notice\nContent-Length: {len(body)}\n\n{body}")
                        sock.close()
                        result.seconds = time.perf_counter() - started
                        return result
                    elif command.startswith("api "):
                        api, _, rest = command[4:].partition(" ")
                        target, _, items = rest.partition(" ")
                        if api == "uuid_setvar_multi" and target == call_uuid and items:
                            result.executed.append((api, items))
                            for item in items.split(";"):
                                name, _, value = item.partition("=")
                                result.variables[name] = value
                            body = "+OK"
                        elif api == "uuid_setvar_multi":
                            body = "-ERR No such channel!\n"
                        else:
                            body = f"-ERR {api} Command not found!\n"
                        write(f"Content-Type: api/response\nContent-Length: {len(body.encode())}\n\n{body}")
                    elif command == "sendmsg":
                        app = headers.get("execute-app-name", "")
                        arg = headers.get("execute-app-arg", "")
                        tag = headers.get("Event-UUID", "")
                        if result.hung_up:
                            write("Content-Type: command/reply\nReply-Text: -ERR call is gone\n\n")
                            continue
                        write("Content-Type: command/reply\nReply-Text: +OK\n\n")
                        result.executed.append((app, arg))
                        info = [("Application", app), ("Application-Data", arg), ("Application-UUID", tag)]
                        if app == "set":
                            name, _, value = arg.partition("=")
                            result.variables[name] = value
                            write(event("CHANNEL_EXECUTE_COMPLETE", info + [("Application-Response", "_none_")]))
                        elif app == "multiset":
                            delimiter, items = (arg[2], arg[3:]) if arg.startswith("^^") else (" ", arg)
                            for item in items.split(delimiter):
                                name, _, value = item.partition("=")
                                result.variables[name] = value
                            write(event("CHANNEL_EXECUTE_COMPLETE", info + [("Application-Response", "_none_")]))
                        elif app == "hangup":
                            result.hung_up = True
                            result.cause = arg or "NORMAL_CLEARING"
                            write(event("CHANNEL_HANGUP", [("Hangup-Cause", result.cause)]))
                            write(event("CHANNEL_EXECUTE_COMPLETE", info))
                            body = DISCONNECT_BODY
                            write(f"Content-Type: text/disconnect-notice\nController-Type: outbound\n"
                                  f"Content-Disposition: linger\nContent-Length: {len(body)}\n\n{body}")
                        else:
                            write(event("CHANNEL_EXECUTE", info))
                            write(event("CHANNEL_EXECUTE_COMPLETE", info + [("Application-Response", "FILE PLAYED")]))
                    else:
                        write("Content-Type: command/reply\nReply-Text: -ERR command not found\n\n")
        finally:
            try:
                sock.close()
            except OSError:
                pass
