"""Typed parameters: conversion, checks and their uniform messages."""

import math

import pytest

from weightgen.errors import ParameterError
from weightgen.params import Param, bind


def test_float_and_int():
    p = Param("scale", "float", 1.0, minimum=0.0, exclusive_minimum=True)
    assert p.convert("2.5") == 2.5 and p.convert(3) == 3.0
    for bad, message in [("0", "must be > 0"), ("x", "expected a number"), ("inf", "expected a finite"), (True, "expected a number")]:
        with pytest.raises(ParameterError, match=f"--scale: {message}"):
            p.convert(bad)
    n = Param("groups", "int", 1, minimum=1)
    assert n.convert("4") == 4 and n.convert(4.0) == 4
    with pytest.raises(ParameterError, match="--groups: expected an integer"):
        n.convert("1.5")


def test_infinite_bounds_when_allowed():
    p = Param("upper", "float", 2.0, allow_infinite=True)
    assert p.convert("inf") == math.inf
    with pytest.raises(ParameterError, match="finite"):
        p.convert("nan")


def test_choice_normalize_and_synonyms():
    p = Param("distribution", "choice", "truncated_normal", choices=("truncated_normal", "uniform"),
              normalize=str.lower, synonyms={"normal": "truncated_normal"})
    assert p.convert("Normal") == "truncated_normal" and p.convert("UNIFORM") == "uniform"
    with pytest.raises(ParameterError, match="expected one of normal, truncated_normal, uniform"):
        p.convert("gauss")
    strict = Param("mode", "choice", "fan_in", choices=("fan_in", "fan_out"))
    with pytest.raises(ParameterError, match="--mode"):
        strict.convert("FAN_IN")


def test_axes_and_bool():
    axes = Param("in_axis", "axes", (-2,))
    assert axes.convert("0,1") == (0, 1) and axes.convert(-1) == (-1,) and axes.convert("()") == ()
    assert axes.convert([1, 2]) == (1, 2)
    for bad in ("a", "1,1", [1.5]):
        with pytest.raises(ParameterError, match="--in-axis"):
            axes.convert(bad)
    flag = Param("periodic", "bool", False)
    assert flag.convert("true") is True and flag.convert(False) is False
    with pytest.raises(ParameterError):
        flag.convert("maybe")


def test_bind_fills_defaults_and_refuses_unknown_names():
    params = (Param("mean", "float", 0.0), Param("stddev", "float", 0.05))
    assert bind(params, {"stddev": "2"}, "random_normal") == {"mean": 0.0, "stddev": 2.0}
    with pytest.raises(ParameterError, match="random_normal has no parameter 'std'.*--mean, --stddev"):
        bind(params, {"std": 1}, "random_normal")
    with pytest.raises(ParameterError, match="needs --value"):
        bind((Param("value", "float"),), {}, "x")


def test_option_names():
    assert Param("in_axis", "axes", ()).option == "--in-axis"
    assert Param("a", "float", 0.0).option == "--a"
