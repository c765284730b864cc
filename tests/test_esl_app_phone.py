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
