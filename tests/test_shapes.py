"""Shape parsing."""

import pytest

from weightgen.errors import ShapeError
from weightgen.shapes import format_shape, parse_shape


@pytest.mark.parametrize("text,shape", [
    ("256,128", (256, 128)), ("3x3x64x128", (3, 3, 64, 128)), ("", ()), ("()", ()),
    ("(5,)", (5,)), ("[2, 3]", (2, 3)), (" 7 ", (7,)), ("4 x 5", (4, 5)), ((2, 3), (2, 3)), (9, (9,)),
    ("1_000,2", (1000, 2)), ("+3", (3,)),
])
def test_accepted(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text", ["3,x", "3,,4", "x3", ",", "3x", "-1", "1.5", "0", "3,0", "a", (2, -1), (2.5,), "1e3",
                                  "\u0663", "\u00b2", "1__0", "_1", "1_"])
def test_refused_with_a_hint(text):
    with pytest.raises(ShapeError, match="--shape.*such as 256,128"):
        parse_shape(text)


def test_format():
    assert format_shape((3,)) == "(3,)" and format_shape((2, 3)) == "(2, 3)" and format_shape(()) == "()"
