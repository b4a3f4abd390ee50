"""Typed initializer parameters, described once and checked in one place.

A :class:`Param` knows its framework name (``stddev``, ``in_axis``), its type, its default
and its bounds. The CLI derives an option from it (``--in-axis``), ``list`` and the docs
derive their text from it, and :meth:`Param.convert` gives every initializer the same
error messages. Nothing here imports numpy.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from weightgen.errors import ParameterError


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Marker for a parameter without a default.
REQUIRED: Any = _Required()

KINDS = ("float", "int", "choice", "axes", "bool", "str")


@dataclass(frozen=True)
class Param:
    """One parameter of an initializer, named as its framework names it."""

    name: str
    kind: str
    default: Any = REQUIRED
    help: str = ""
    choices: tuple[str, ...] = ()
    #: Applied to a choice before it is checked (Keras lower-cases ``distribution``).
    normalize: Callable[[str], str] | None = None
    #: Map of accepted spellings to the canonical choice (``normal`` -> ``truncated_normal``).
    synonyms: Mapping[str, str] = field(default_factory=dict)
    minimum: float | None = None
    exclusive_minimum: bool = False
    maximum: float | None = None
    exclusive_maximum: bool = False
    #: ``None`` is a meaningful value (e.g. "not given").
    nullable: bool = False
    #: Float parameters: allow inf/-inf (one-sided truncation bounds).
    allow_infinite: bool = False
    #: Extra check of the converted value: returns the problem, or None when fine.
    check: Callable[[Any], str | None] | None = None
    #: Given on the command line as an argument (``weightgen custom TARGET``), not an option.
    positional: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown param kind {self.kind!r}")

    @property
    def option(self) -> str:
        """The command-line option (``in_axis`` -> ``--in-axis``), or argument (``TARGET``)."""
        if self.positional:
            return self.name.upper()
        return "--" + self.name.replace("_", "-")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def metavar(self) -> str:
        if self.kind == "choice":
            return "[" + "|".join(self.choices) + "]"
        return {"float": "FLOAT", "int": "INT", "axes": "AXES", "bool": "", "str": "TEXT"}[self.kind]

    def describe_default(self) -> str:
        if self.required:
            return "required"
        if self.default is None:
            return "None"
        if self.kind == "axes":
            return ",".join(str(a) for a in self.default) if self.default else "()"
        return str(self.default)

    def convert(self, value: Any) -> Any:
        """Parse and check ``value`` (a string from the command line or a Python value)."""
        if value is None:
            if self.nullable:
                return None
            self.fail("a value is required", value)
        result = self._convert(value)
        if self.check is not None:
            problem = self.check(result)
            if problem:
                self.fail(problem, value)
        return result

    def _convert(self, value: Any) -> Any:
        if self.kind == "float":
            return self._check_range(self._to_float(value), value)
        if self.kind == "int":
            return self._check_range(self._to_int(value), value)
        if self.kind == "bool":
            return self._to_bool(value)
        if self.kind == "axes":
            return self._to_axes(value)
        if self.kind == "str":
            return str(value).strip()
        return self._to_choice(value)

    def fail(self, problem: str, value: Any) -> None:
        raise ParameterError(f"Invalid value for {self.option}: {problem} (got {value!r}).")

    # -- conversions -------------------------------------------------------------

    def _to_float(self, value: Any) -> float:
        if isinstance(value, bool):
            self.fail("expected a number", value)
        try:
            result = float(value)
        except (TypeError, ValueError):
            self.fail("expected a number, e.g. 0.05", value)
        if math.isnan(result) or (math.isinf(result) and not self.allow_infinite):
            self.fail("expected a finite number", value)
        return result

    def _to_int(self, value: Any) -> int:
        if isinstance(value, bool):
            self.fail("expected an integer", value)
        if isinstance(value, int):
            return value
        if hasattr(value, "__index__") and not isinstance(value, str):  # numpy integers
            return value.__index__()
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).strip(), 10)
        except ValueError:
            self.fail("expected an integer", value)
        raise AssertionError("unreachable")

    def _to_bool(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        self.fail("expected true or false", value)
        raise AssertionError("unreachable")

    def _to_axes(self, value: Any) -> tuple[int, ...]:
        if hasattr(value, "tolist") and not isinstance(value, str):  # numpy ints and arrays
            value = value.tolist()
        if isinstance(value, int) and not isinstance(value, bool):
            return (value,)
        if isinstance(value, str):
            text = value.strip().strip("()[]")
            items: Iterable[Any] = [t for t in text.replace(" ", "").split(",") if t != ""]
        elif isinstance(value, Sequence):
            items = value
        else:
            self.fail("expected an axis or comma-separated axes, e.g. 0,1", value)
            raise AssertionError("unreachable")
        axes = []
        for item in items:
            if isinstance(item, str) and re.fullmatch(r"[+-]?\d+", item.strip()):
                axes.append(int(item))
            elif not isinstance(item, (bool, str)) and hasattr(item, "__index__"):
                axes.append(item.__index__())
            else:
                self.fail("expected integer axes, e.g. 0,1 or -1", value)
        if len(set(axes)) != len(axes):
            self.fail("axes must not repeat", value)
        return tuple(axes)

    def _to_choice(self, value: Any) -> str:
        text = str(value)
        if self.normalize is not None:
            text = self.normalize(text)
        text = self.synonyms.get(text, text)
        if text not in self.choices:
            accepted = sorted({*self.choices, *self.synonyms})
            self.fail("expected one of " + ", ".join(accepted), value)
        return text

    def _check_range(self, number: float, original: Any) -> Any:
        low, high = self.minimum, self.maximum
        if low is not None and (number < low or (self.exclusive_minimum and number == low)):
            self.fail(f"must be {'>' if self.exclusive_minimum else '>='} {low:g}", original)
        if high is not None and (number > high or (self.exclusive_maximum and number == high)):
            self.fail(f"must be {'<' if self.exclusive_maximum else '<='} {high:g}", original)
        return number


def bind(params: Sequence[Param], given: Mapping[str, Any], initializer: str) -> dict[str, Any]:
    """Check ``given`` against ``params``, fill in defaults, return them in declared order."""
    known = {p.name: p for p in params}
    for key in given:
        if key not in known:
            names = ", ".join(p.option for p in params) or "none"
            raise ParameterError(
                f"{initializer} has no parameter {key!r}; its parameters are: {names}."
            )
    bound: dict[str, Any] = {}
    for param in params:
        if param.name in given:
            bound[param.name] = param.convert(given[param.name])
        elif param.required:
            raise ParameterError(f"{initializer} needs {param.option}.")
        else:
            bound[param.name] = param.default
    return bound
