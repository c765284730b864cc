"""The transcript reports esl_app's variables whichever dptools app carried them."""

from fsgen.sim.transcript import _assignments


def test_multiset_with_a_delimiter_keeps_spaces_inside_values() -> None:
    data = "^^|hotline_customer_name=欧阳 娜娜|hotline_customer_tier=gold|hotline_lookup_status=ok"
    assert _assignments("multiset", data) == [("hotline_customer_name", "欧阳 娜娜"),
                                              ("hotline_customer_tier", "gold"),
                                              ("hotline_lookup_status", "ok")]


def test_set_assigns_one_variable_and_keeps_later_equals_signs() -> None:
    assert _assignments("set", "hotline_note=a=b") == [("hotline_note", "a=b")]
    assert _assignments("set", "no_value_here") == []
