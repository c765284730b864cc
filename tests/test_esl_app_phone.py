"""Phone normalisation: every shape a Chinese CLI or MIS export takes meets on one key."""

import pytest

from esl_app.logs import PhoneMaskFilter, StructuredFormatter
from esl_app.phone import mask_phone, mask_phones_in, normalise, normalise_prefix

CASES = [
    # raw, key, kind, extension
    ("13812345678", "13812345678", "mobile", ""),
    ("+8613812345678", "13812345678", "mobile", ""),
    ("+86 138 1234 5678", "13812345678", "mobile", ""),
    ("008613812345678", "13812345678", "mobile", ""),
    ("8613812345678", "13812345678", "mobile", ""),
    ("013812345678", "13812345678", "mobile", ""),
    ("138-1234-5678", "13812345678", "mobile", ""),
    ("1795113812345678", "13812345678", "mobile", ""),
    ("19912345678", "19912345678", "mobile", ""),
    ("010-12345678", "1012345678", "landline", ""),
    ("01012345678", "1012345678", "landline", ""),
    ("(010) 1234 5678", "1012345678", "landline", ""),
    ("+86 10 1234 5678", "1012345678", "landline", ""),
    ("861012345678", "1012345678", "landline", ""),
    ("1012345678", "1012345678", "landline", ""),
    ("0755 1234 5678", "75512345678", "landline", ""),
    ("0755-12345678", "75512345678", "landline", ""),
    ("075512345678", "75512345678", "landline", ""),
    ("75512345678", "75512345678", "landline", ""),
    ("+86-755-12345678", "75512345678", "landline", ""),
    ("0086 755 12345678", "75512345678", "landline", ""),
    ("86075512345678", "75512345678", "landline", ""),
    ("17951075512345678", "75512345678", "landline", ""),
    ("0351-7654321", "3517654321", "landline", ""),
    ("021 61234567", "2161234567", "landline", ""),
    ("010-12345678-123", "1012345678", "landline", "123"),
    ("0755 12345678 ext 801", "75512345678", "landline", "801"),
    ("0755-12345678转801", "75512345678", "landline", "801"),
    ("021 61234567#88", "2161234567", "landline", "88"),
    ("13812345678 x12", "13812345678", "mobile", "12"),
    ("61234567", "61234567", "local", ""),
    ("1001", "1001", "short", ""),
    ("+1 650 555 1234", "+16505551234", "other", ""),
    ("", "", "other", ""),
]


@pytest.mark.parametrize("raw,key,kind,ext", CASES)
def test_normalise(raw, key, kind, ext):
    number = normalise(raw)
    assert (number.key, number.kind, number.extension) == (key, kind, ext)


def test_local_number_takes_the_default_area_code():
    assert normalise("61234567", "755").key == "75561234567"
    assert normalise("6123-4567", "0755").kind == "landline"
    # a number that already carries its area code is not prefixed again
    assert normalise("010-12345678", "755").key == "1012345678"


def test_every_form_of_one_number_has_one_key():
    forms = ["13912345678", "+8613912345678", "008613912345678", "013912345678", "139 1234 5678"]
    assert {normalise(f).key for f in forms} == {"13912345678"}


@pytest.mark.parametrize("raw,prefix", [("170", "170"), ("+86170", "170"), ("0086 170", "170"), ("0755", "755"),
                                        ("+86 755 1", "7551")])
def test_prefix(raw, prefix):
    assert normalise_prefix(raw) == prefix


@pytest.mark.parametrize("raw,masked", [
    ("13812345678", "*******5678"),
    ("+86 138-1234-5678", "+** ***-****-5678"),
    ("5678", "5678"),
    ("", ""),
    ("１３８１２３４５６７８", "*******５６７８"),  # full-width digits take the general path
    ("tel:0755 2345 6789", "tel:**** **** 6789"),
])
def test_mask_phone(raw, masked):
    assert mask_phone(raw) == masked


def test_mask_phones_in_text_leaves_short_numbers():
    text = mask_phones_in("caller 13812345678 dialled 95598 from 0755-1234-5678")
    assert "13812345678" not in text and "*******5678" in text
    assert "95598" in text
    assert "1234-5678" not in text


def test_log_records_never_carry_a_full_number():
    import logging

    record = logging.LogRecord("t", logging.INFO, __file__, 1, "from %s", ("+8613812345678",), None)
    record.fields = {"caller": "13812345678", "did": "4006095598", "note": "cb 13900001111", "count": 3}
    PhoneMaskFilter().filter(record)
    line = StructuredFormatter("json").format(record)
    assert "13812345678" not in line and "13900001111" not in line and "4006095598" not in line
    assert '"caller": "*******5678"' in line and '"count": 3' in line
    kv = StructuredFormatter("kv").format(record)
    assert "caller=*******5678" in kv


def test_call_uuids_stay_readable_but_numbers_in_other_fields_do_not():
    import logging

    record = logging.LogRecord("t", logging.INFO, __file__, 1, "lookups done", (), None)
    record.fields = {"uuid": "b3a7c2d0-0000-4000-8000-000000000001", "call_uuid": "not-a-uuid 13812345678",
                     "note": "b3a7c2d0-0000-4000-8000-000000000001"}
    PhoneMaskFilter().filter(record)
    assert record.fields["uuid"] == "b3a7c2d0-0000-4000-8000-000000000001"  # logs are joined on it
    assert "13812345678" not in record.fields["call_uuid"]
    assert record.fields["note"] != "b3a7c2d0-0000-4000-8000-000000000001"  # free text: masked as ever


# --- the direct log path (esl_app.logs.event without a LogRecord) --------------------------------

@pytest.fixture
def serve_logging():
    """setup_logging as `esl-app serve` does it, into a StringIO; the root logger restored after."""
    import io
    import logging

    from esl_app import logs

    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logs._direct)
    stream = io.StringIO()
    handlers = {}

    def setup(style: str):
        for handler in list(root.handlers):  # pytest's capture handlers: as in serve, ours is the only one
            root.removeHandler(handler)
        handlers[style] = logs.setup_logging("debug", style, stream=stream, buffered=True)
        return stream

    yield setup
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    logs._direct = saved[2]


@pytest.mark.parametrize("style", ["json", "kv"])
def test_the_direct_log_line_is_the_line_the_logging_package_writes(serve_logging, style):
    import logging
    import re

    from esl_app import logs

    stream = serve_logging(style)
    log = logging.getLogger("esl_app.test_direct")
    cases = [
        dict(uuid="b3a7c2d0-0000-4000-8000-000000000001", caller="+8613812345678", flow="utility", node="identify",  # noqa: C408 - the fields as event() takes them
             lookups="customer,arrears", status="ok", failures="", ms=0.31),
        dict(caller="", did=4006095598, note="cb 13900001111", count=3, flag=True, none=None, name="王芳",  # noqa: C408 - the fields as event() takes them
             quote='say "hi"\n\\', ratio=float("nan"), big=10**20, obj=ValueError("x 13812345678")),
        dict(caller=None, did=4006095598, callee="", note="cb 13900001111", count=3, flag=True, off=False, none=None,  # noqa: C408 - the fields as event() takes them
             name="王芳", quote='say "hi"\n\\\x01', ratio=0.5, big=10**20, tiny=-1.5e-300, uuid="13812345678",
             error="OperationalError: 13812345678"),
        dict(ts="a field named like the record's own", error="x", uuid="13812345678"),  # noqa: C408 - the fields as event() takes them
    ]
    assert logs._direct is not None
    for fields in cases:
        for level in (logging.INFO, logging.WARNING):
            assert logs._direct.takes(log, level)
            stream.seek(0), stream.truncate()
            logs.event(log, level, "lookups done for 13812345678", **fields)
            direct = stream.getvalue()
            stream.seek(0), stream.truncate()
            saved, logs._direct = logs._direct, None
            try:
                logs.event(log, level, "lookups done for 13812345678", **fields)
            finally:
                logs._direct = saved
            usual = stream.getvalue()
            stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
            assert re.sub(stamp, "T", direct) == re.sub(stamp, "T", usual) and direct.count("\n") == 1
            assert "13812345678" not in direct and "13900001111" not in direct and "4006095598" not in direct


def test_any_other_handler_or_filter_gets_records_the_usual_way(serve_logging):
    import logging

    from esl_app import logs

    serve_logging("json")
    log = logging.getLogger("esl_app.test_direct.child")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record)

    extra = Keep()
    for attach in (logging.getLogger(), logging.getLogger("esl_app.test_direct"), log):
        attach.addHandler(extra)
        try:
            assert not logs._direct.takes(log, logging.INFO)
            logs.event(log, logging.INFO, "hello", caller="13812345678")
        finally:
            attach.removeHandler(extra)
    assert len(seen) == 3 and all(r.fields == {"caller": "*******5678"} for r in seen)
    log.propagate = False
    try:
        assert not logs._direct.takes(log, logging.INFO)
    finally:
        log.propagate = True
    assert logs._direct.takes(log, logging.INFO)
