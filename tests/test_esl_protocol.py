"""esl_app.protocol: framing survives any split, counts bytes, reports errors as values."""

from __future__ import annotations

import json

import pytest

from esl_app import protocol as P

NAME = "张三丰"  # three CJK characters = 9 UTF-8 bytes


def drain(reader: P.Reader) -> list:
    out = []
    while True:
        item = reader.next()
        if item is P.NEED_DATA or item is P.CLOSED or isinstance(item, P.ProtocolError):
            out.append(item)
            return out
        out.append(item)


def feed_split(kind: str, data: bytes, cut: int) -> list:
    r = P.Reader(kind)
    got = []
    for part in (data[:cut], data[cut:]):
        if not part:
            continue  # feed(b"") means end of stream
        r.feed(part)
        got.extend(x for x in drain(r) if x is not P.NEED_DATA)
    r.feed(b"")
    got.extend(drain(r))
    return got


def stream() -> bytes:
    event = P.encode_event([("Event-Name", "CHANNEL_EXECUTE_COMPLETE"), ("Application", "set"),
                            ("variable_customer_name", NAME), ("Application-Data", "a=b c&d%")], body="体")
    return (P.encode_reply("+OK", [("Socket-Mode", "async")])
            + P.encode_api_response("客户 " + NAME + "\n")
            + event
            + P.encode_disconnect_notice("u-1"))


def test_every_split_point_gives_the_same_messages() -> None:
    data = stream()
    whole = feed_split(P.MESSAGES, data, len(data))
    assert whole[-1] is P.CLOSED
    assert len(whole) == 5
    for cut in range(len(data) + 1):
        assert feed_split(P.MESSAGES, data, cut) == whole, "split at byte %d" % cut


def test_byte_at_a_time() -> None:
    r = P.Reader(P.MESSAGES)
    got = []
    for b in stream():
        r.feed(bytes([b]))
        got.extend(x for x in drain(r) if x is not P.NEED_DATA)
    assert [m.content_type for m in got] == ["command/reply", "api/response", "text/event-plain",
                                             "text/disconnect-notice"]


def test_non_ascii_bodies_are_counted_in_bytes() -> None:
    msgs = [m for m in feed_split(P.MESSAGES, stream(), 7) if isinstance(m, P.Message)]
    api = msgs[1]
    assert api.get("Content-Length") == str(len(("客户 " + NAME + "\n").encode()))
    assert api.text == "客户 " + NAME + "\n"
    ev = P.parse_event(msgs[2])
    assert isinstance(ev, P.Event)
    assert ev.name == "CHANNEL_EXECUTE_COMPLETE"
    assert ev.get("variable_customer_name") == NAME
    assert ev.get("Application-Data") == "a=b c&d%"
    assert ev.body == "体"


def test_event_plain_values_are_url_encoded_on_the_wire() -> None:
    raw = P.encode_event([("variable_customer_name", NAME), ("X", "a b\nc")])
    assert NAME.encode() not in raw
    assert b"a%20b%0Ac" in raw
    # switch_url_encode's rule: '/' and '.' stay, '+' ':' '@' are escaped, %XX is not doubled
    assert P.url_encode("+OK /a.wav sip:1@x 50%25") == "%2BOK%20/a.wav%20sip%3A1%40x%2050%25"


def test_event_json_round_trip() -> None:
    raw = P.encode_event([("Event-Name", "CUSTOM"), ("Event-Subclass", "callcenter::info"), ("Name", NAME)],
                         body="x", fmt="json")
    r = P.Reader(P.MESSAGES)
    r.feed(raw)
    msg = r.next()
    assert isinstance(msg, P.Message) and msg.content_type == "text/event-json"
    ev = P.parse_event(msg)
    assert isinstance(ev, P.Event)
    assert ev.get("Name") == NAME and ev.body == "x" and ev.name == "CUSTOM"
    assert json.loads(msg.body)["Event-Subclass"] == "callcenter::info"


def test_commands_keep_their_first_line_and_headers() -> None:
    raw = (P.encode_command("connect")
           + P.encode_command("sendmsg", [("call-command", "execute"), ("execute-app-name", "playback"),
                                          ("execute-app-arg", "/tmp/提示.wav"), ("event-lock", "true")])
           + P.encode_command("sendmsg", [("call-command", "execute"), ("execute-app-name", "set")], body=NAME)
           + b"\n\napi uuid_getvar abc x\n\n")
    for cut in range(len(raw) + 1):
        got = [c for c in feed_split(P.COMMANDS, raw, cut) if isinstance(c, P.Command)]
        assert [c.name for c in got] == ["connect", "sendmsg", "sendmsg", "api"]
        assert got[1].get("Execute-App-Arg") == "/tmp/提示.wav"
        assert got[2].text == NAME
        assert got[3].args == "uuid_getvar abc x"


def test_crlf_line_endings_are_accepted() -> None:
    r = P.Reader(P.COMMANDS)
    r.feed(b"auth ClueCon\r\n\r\n")
    cmd = r.next()
    assert isinstance(cmd, P.Command) and cmd.line == "auth ClueCon"


@pytest.mark.parametrize("value", ["abc", "-5", "1e3", ""])
def test_malformed_content_length_is_an_error_value(value: str) -> None:
    r = P.Reader(P.MESSAGES)
    r.feed((f"Content-Type: api/response\nContent-Length: {value}\n\nhello").encode())
    err = r.next()
    assert isinstance(err, P.ProtocolError)
    assert "Content-Length" in err.message
    assert r.next() == err  # sticky


def test_peer_vanishing_mid_body() -> None:
    r = P.Reader(P.MESSAGES)
    r.feed(b"Content-Type: api/response\nContent-Length: 10\n\nhalf")
    assert r.next() is P.NEED_DATA
    r.feed(b"")
    err = r.next()
    assert isinstance(err, P.ProtocolError) and "4 bytes into a 10 byte body" in err.message


def test_peer_vanishing_mid_header_block() -> None:
    r = P.Reader(P.MESSAGES)
    r.feed(b"Content-Type: command/reply\nReply-Te")
    assert r.next() is P.NEED_DATA
    r.feed(b"")
    assert isinstance(r.next(), P.ProtocolError)


def test_truncated_stream_keeps_earlier_messages() -> None:
    data = stream()
    r = P.Reader(P.MESSAGES)
    r.feed(data[:-3])
    r.feed(b"")
    got = drain(r)
    assert [m.content_type for m in got[:-1]] == ["command/reply", "api/response", "text/event-plain"]
    assert isinstance(got[-1], P.ProtocolError)


def test_clean_end_of_stream_and_blank_lines() -> None:
    r = P.Reader(P.MESSAGES)
    r.feed(b"\n\n" + P.encode_reply("+OK") + b"\n")
    assert isinstance(r.next(), P.Message)
    r.feed(b"")
    assert r.next() is P.CLOSED


def test_oversized_header_block_is_refused() -> None:
    r = P.Reader(P.MESSAGES)
    r.feed(b"X: " + b"a" * (P.MAX_HEADER_BYTES + 10))
    assert isinstance(r.next(), P.ProtocolError)


def test_serializers_refuse_header_injection() -> None:
    with pytest.raises(ValueError):
        P.encode_command("api status\nexit")
    with pytest.raises(ValueError):
        P.encode_reply("+OK\nContent-Length: 5")


def test_not_an_event() -> None:
    assert isinstance(P.parse_event(P.Message([("Content-Type", "command/reply")])), P.ProtocolError)
