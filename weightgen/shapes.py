"""Parsing and checking tensor shapes (``256,128``, ``3x3x64x128``, ``()`` for a scalar)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from weightgen.errors import ShapeError

_SEPARATORS = re.compile(r"\s*[,x×]\s*|\s+")
#: A non-negative integer as typed: ASCII digits, maybe grouped by underscores (1_000_000)
#: or led by '+'; not the other scripts' digits Python's int() also reads.
_NATURAL = re.compile(r"\+?[0-9]+(?:_[0-9]+)*")


def parse_natural(text: str) -> int | None:
    """The non-negative integer ``text`` spells (shape dimensions, seeds), or None; of any
    length (``int()`` refuses more than 4300 digits)."""
    text = text.strip()
    if not _NATURAL.fullmatch(text):
        return None
    digits = text.lstrip("+").replace("_", "")
    value = 0
    for start in range(0, len(digits), 4000):
        piece = digits[start:start + 4000]
        value = value * 10 ** len(piece) + int(piece)
    return value


def parse_shape(value: Any) -> tuple[int, ...]:
    """A shape from text (``"256,128"``, ``"3x3x64x128"``, ``""``/``"()"``) or a sequence of ints."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("(", "[")) and text.endswith((")", "]")):
            text = text[1:-1]
        text = text.strip()
        if text.endswith(","):  # (5,) is a 1-D shape, as in Python
            text = text[:-1].strip()
            if not text:
                raise ShapeError(_bad(value, "a lone comma is not a shape"))
        parts = _SEPARATORS.split(text) if text else []
        dims: list[Any] = []
        for part in parts:
            if not part:
                raise ShapeError(_bad(value, "empty dimension"))
            dim = parse_natural(part)
            if dim is None:
                raise ShapeError(_bad(value, f"{part!r} is not a positive integer"))
            dims.append(dim)
        return _check(dims, value)
    if hasattr(value, "tolist"):  # a numpy integer or array
        value = value.tolist()
    if isinstance(value, int) and not isinstance(value, bool):
        return _check([value], value)
    if isinstance(value, Sequence):
        dims = []
        for dim in value:
            if isinstance(dim, bool) or not hasattr(dim, "__index__"):
                raise ShapeError(_bad(value, f"{dim!r} is not a positive integer"))
            dims.append(dim.__index__())
        return _check(dims, value)
    raise ShapeError(_bad(value, "expected comma-separated positive integers"))


def _check(dims: Sequence[int], original: Any) -> tuple[int, ...]:
    for dim in dims:
        if dim <= 0:
            raise ShapeError(_bad(original, "every dimension must be a positive integer"))
    return tuple(int(d) for d in dims)


def _bad(value: Any, problem: str) -> str:
    return (f"Invalid value for --shape: {problem} (got {value!r}); give comma-separated positive "
            "integers such as 256,128 or 3x3x64x128, or '' for a scalar.")


def format_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
