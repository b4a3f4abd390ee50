"""Choosing a random stream (``--rng``): checks, seeds, provenance, and the keras stream's rules.

These run without Keras: they check what the keras stream documents (Keras's generator,
its float64-then-cast draws, its rejection loop) against numpy directly. The byte-for-byte
comparison with Keras itself is in ``test_oracle_rng_keras.py``.
"""

from __future__ import annotations

import hashlib
import json
import math

import ml_dtypes
import numpy as np
import pytest

import weightgen
from weightgen import streams
from weightgen.errors import DtypeError, ParameterError
from weightgen.registry import registry
from weightgen.streams import keras_ops

from conftest import run_cli
from stats_helpers import assert_follows, truncnorm_cdf, uniform_cdf


def keras_generator(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.array([seed, 0], dtype=np.uint32))


# -- choosing a stream ------------------------------------------------------------------


def test_default_stream_is_weightgen_and_is_recorded():
    result = weightgen.generate("glorot_uniform", (8, 4), seed=1)
    assert result.request.rng == "weightgen"
    assert result.summary()["rng"] == "weightgen" and result.provenance()["rng"] == "weightgen"


def test_keras_stream_is_recorded_in_summary_and_provenance():
    result = weightgen.generate("glorot_uniform", (8, 4), seed=1, rng="keras")
    assert result.summary()["rng"] == "keras" and result.provenance()["rng"] == "keras"


def test_streams_differ_for_the_same_seed():
    ours = weightgen.generate("he_normal", (64, 64), seed=5).array
    keras = weightgen.generate("he_normal", (64, 64), seed=5, rng="keras").array
    assert not np.array_equal(ours, keras)


def test_unknown_stream_is_a_usage_error():
    with pytest.raises(ParameterError, match="--rng: expected one of weightgen, keras, jax"):
        weightgen.generate("zeros", (3,), rng="numpy")


def test_a_stream_refuses_another_familys_initializer():
    spec = registry().get("glorot_uniform")
    with pytest.raises(ParameterError, match="--rng jax does not reproduce glorot_uniform"):
        streams.check("jax", spec, "float32")
    assert streams.check("keras", spec, "float32").name == "keras"


FAMILY_STREAMS = {"keras": ("weightgen", "keras"), "jax": ("weightgen", "jax"),
                  "torch": ("weightgen",), "custom": ("weightgen",)}


def test_each_family_offers_its_own_exact_stream():
    for spec in registry():
        assert spec.rngs == FAMILY_STREAMS[spec.family], spec.name
    listed = [json.loads(line) for line in run_cli("list", "--json").text.splitlines()]
    assert {entry["family"]: tuple(entry["rngs"]) for entry in listed} == FAMILY_STREAMS


@pytest.mark.parametrize("name, rng", [("jax.he_normal", "keras"), ("torch.xavier_uniform", "jax"),
                                       ("torch.xavier_uniform", "keras")])
def test_exact_streams_refuse_other_families(name, rng):
    with pytest.raises(ParameterError, match=f"--rng {rng} does not reproduce {name}"):
        weightgen.generate(name, (4, 4), seed=1, rng=rng)


@pytest.mark.parametrize("seed", [0, 1, 2**31, 2**32 - 1])
def test_keras_stream_takes_32_bit_seeds(seed):
    values = weightgen.generate("random_uniform", (5,), seed=seed, rng="keras").array
    expected = keras_generator(seed).uniform(size=(5,), low=-0.05, high=0.05).astype(np.float32)
    assert values.tobytes() == expected.tobytes()


@pytest.mark.parametrize("seed", [2**32, 2**64 + 3])
def test_keras_stream_refuses_larger_seeds(seed):
    with pytest.raises(ParameterError, match=r"--seed: --rng keras takes seeds from 0 to 4294967295"):
        weightgen.generate("random_uniform", (5,), seed=seed, rng="keras")


def test_a_drawn_seed_fits_the_stream():
    seeds = {weightgen.generate("zeros", (1,), rng="keras").request.seed for _ in range(200)}
    assert all(0 <= seed < 2**32 for seed in seeds) and len(seeds) > 190
    assert max(weightgen.generate("zeros", (1,)).request.seed for _ in range(50)) >= 2**32


def test_threads_never_change_the_keras_stream():
    one = weightgen.generate("he_uniform", (300, 200), seed=9, rng="keras", threads=1).array
    many = weightgen.generate("he_uniform", (300, 200), seed=9, rng="keras", threads=3).array
    assert one.tobytes() == many.tobytes()


# -- the keras stream's rules, checked against numpy ---------------------------------------


def test_keras_draws_in_float64_and_casts_once():
    for dtype in ("float32", "float16", "float64"):
        values = weightgen.generate("random_normal", (40,), seed=3, rng="keras", dtype=dtype,
                                    mean=1.5, stddev=2.0).array
        expected = keras_generator(3).normal(size=(40,), loc=1.5, scale=2.0).astype(dtype)
        assert values.dtype == np.dtype(dtype) and values.tobytes() == expected.tobytes()


def test_keras_limit_is_computed_as_keras_does():
    """sqrt(3 * (scale / n)), not sqrt(6 / fan_in): they differ in the last bit for some fans."""
    fan_in = 83  # one of the fans where the two spellings differ
    assert math.sqrt(3.0 * (2.0 / fan_in)) != math.sqrt(6.0 / fan_in)
    values = weightgen.generate("he_uniform", (fan_in, 3), seed=4, rng="keras", dtype="float64").array
    limit = math.sqrt(3.0 * (2.0 / fan_in))
    expected = keras_generator(4).uniform(size=(fan_in, 3), low=-limit, high=limit)
    assert values.tobytes() == expected.tobytes()


def test_keras_truncated_normal_keeps_the_first_accepted_draws():
    values = weightgen.generate("truncated_normal", (5000,), seed=8, rng="keras", dtype="float64",
                                stddev=1.0).array
    stream = keras_generator(8).normal(size=20000)
    accepted = stream[np.abs(stream) <= 2.0][:5000]
    assert values.tobytes() == accepted.tobytes()


def test_keras_casts_without_clipping_as_keras_does():
    """bfloat16 rounding pushes some draws just past ±2σ; Keras keeps them, so the stream does."""
    values = weightgen.generate("truncated_normal", (200000,), seed=1, rng="keras",
                                dtype="bfloat16", stddev=0.3).array.astype(np.float64)
    first_batch = keras_generator(1).normal(loc=0.0, scale=0.3, size=200000)
    accepted = first_batch[np.abs(first_batch) <= 0.6]
    assert np.abs(values).max() > 0.6
    assert np.array_equal(values[: accepted.size],
                          accepted.astype(ml_dtypes.bfloat16).astype(np.float64))


def test_keras_stream_follows_the_intended_distributions():
    he = weightgen.generate("he_normal", (400, 500), seed=12, rng="keras").array
    stddev = math.sqrt(2 / 400) / 0.87962566103423978
    assert_follows(he, truncnorm_cdf(0.0, stddev))
    glorot = weightgen.generate("glorot_uniform", (400, 500), seed=13, rng="keras").array
    limit = math.sqrt(6 / 900)
    assert_follows(glorot, uniform_cdf(-limit, limit))


def test_keras_orthogonal_is_orthogonal_and_cast_where_keras_returns_float32():
    values = weightgen.generate("orthogonal", (30, 50), seed=2, rng="keras", dtype="float64",
                                gain=2.0).array
    assert values.dtype == np.float64
    assert np.allclose(values @ values.T, 4 * np.eye(30), atol=1e-5)
    # Keras computes it in float32: the float64 values are float32 numbers.
    assert np.array_equal(values, values.astype(np.float32).astype(np.float64))


def test_keras_refuses_float16_orthogonal():
    with pytest.raises(DtypeError, match="cannot give orthogonal in float16"):
        weightgen.generate("orthogonal", (4, 4), seed=1, rng="keras", dtype="float16")


def test_keras_stft_repeats_its_single_channel():
    values = weightgen.generate("stft", (16, 3, 9), rng="keras").array
    assert values.shape == (16, 3, 9)
    assert np.array_equal(values[:, 0], values[:, 2])
    assert np.allclose(values, weightgen.generate("stft", (16, 3, 9)).array, atol=1e-6)


def test_keras_float16_stft_uses_keras_float16_pi():
    """Keras computes a float16 kernel in float16, with pi rounded to 3.140625."""
    values = weightgen.generate("stft", (8, 1, 5), rng="keras", dtype="float16", window="none").array
    time = np.arange(8, dtype=np.float16)[:, None]
    freq = np.arange(5, dtype=np.float16)[None, :] / np.float16(8)
    args = (np.float16(-2) * time) * freq * np.float16(3.140625)
    assert values[:, 0, :].tobytes() == np.cos(args).tobytes()


@pytest.mark.parametrize("types, expected", [
    (("float64",), "float32"), (("float16", int), "float16"), (("bfloat16", "float16"), "float32"),
    (("int32", float), "float32"), ((int, float), "float32"), (("int8", "uint8"), "int16"),
    (("float64", "float64"), "float32"), (("bool", int), "int32"),
])
def test_keras_result_type(types, expected):
    assert keras_ops.result_type(*types) == expected


# -- the command line -----------------------------------------------------------------------


def test_cli_rng_keras_json_and_data(tmp_path):
    out = tmp_path / "w.npy"
    run = run_cli("glorot_uniform", "--shape", "256,128", "--seed", "3", "--rng", "keras", "-o",
                  str(out), "--json")
    assert run.exit_code == 0, run
    record = json.loads(run.text)
    assert record["rng"] == "keras" and record["seed"] == 3
    expected = weightgen.generate("glorot_uniform", (256, 128), seed=3, rng="keras").array
    assert np.load(out).tobytes() == expected.tobytes()


def test_cli_human_summary_names_an_exact_stream():
    run = run_cli("he_normal", "--shape", "3,3", "--seed", "3", "--rng", "keras")
    assert run.exit_code == 0, run
    assert "rng keras" in run.stderr


@pytest.mark.parametrize("args, message", [
    (("--rng", "jax"), "--rng jax does not reproduce glorot_uniform"),
    (("--rng", "keras", "--seed", "4294967296"), "takes seeds from 0 to 4294967295"),
    (("--rng", "nope"), "expected one of weightgen, keras, jax"),
])
def test_cli_refuses_what_a_stream_cannot_do(args, message, tmp_path):
    out = tmp_path / "w.npy"
    run = run_cli("glorot_uniform", "--shape", "4,4", *args, "-o", str(out))
    assert run.exit_code == 2, run
    assert message in run.stderr and run.stderr.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize("name, expected", [("he_normal", ["weightgen", "keras"]),
                                            ("jax.he_normal", ["weightgen", "jax"]),
                                            ("torch.kaiming_normal", ["weightgen"])])
def test_cli_completes_the_streams_of_an_initializer(name, expected):
    from click.shell_completion import ShellComplete

    from weightgen.cli import cli

    completion = ShellComplete(cli, {}, "weightgen", "_WEIGHTGEN_COMPLETE")
    values = [item.value for item in completion.get_completions([name, "--rng"], "")]
    assert values == expected


def test_cli_rng_jax_writes_jax_bytes(tmp_path):
    out = tmp_path / "w.npy"
    run = run_cli("jax.he_normal", "--shape", "64,32", "--seed", "1", "--rng", "jax", "-o",
                  str(out), "--json")
    assert run.exit_code == 0, run
    assert json.loads(run.text)["rng"] == "jax"
    # The digest of jax.nn.initializers.he_normal()(jax.random.key(1), (64, 32)), JAX 0.10.2.
    assert hashlib.sha256(np.load(out).tobytes()).hexdigest()[:16] == "5eacd03c29da5751"


@pytest.mark.parametrize("suffix", [".h5", ".safetensors", ".npz"])
def test_provenance_names_the_stream_and_regenerates_the_tensor(tmp_path, suffix):
    from weightgen import formats

    target = str(tmp_path / f"model{suffix}")
    written = weightgen.generate("he_normal", (20, 30), seed=77, rng="keras", output=target,
                                 name="dense/kernel")
    record = formats.read_provenance(target, "dense/kernel")
    assert record["rng"] == "keras"
    params = {k: v for k, v in record["params"].items() if v is not None}
    again = weightgen.generate(record["initializer"], record["shape"], dtype=record["dtype"],
                               seed=int(record["seed"]), rng=record["rng"], **params)
    assert again.array.tobytes() == written.array.tobytes()
    assert not np.array_equal(again.array, weightgen.generate("he_normal", (20, 30), seed=77).array)


def test_exact_streams_report_progress_in_bytes():
    done: list[int] = []
    weightgen.generate("he_normal", (30, 20), seed=1, rng="keras", dtype="float16",
                       progress=done.append)
    assert sum(done) == 30 * 20 * 2


@pytest.mark.parametrize("stream, family", [("keras", "keras"), ("jax", "jax")])
def test_a_plugin_claiming_an_exact_stream_it_has_no_recipe_for_is_refused(stream, family):
    import dataclasses

    from weightgen.generation import Request
    from weightgen.plan import Plan
    from weightgen.streams import jax as jax_stream
    from weightgen.streams import keras as keras_stream

    base = registry().get("zeros" if family == "keras" else "jax.zeros")
    spec = dataclasses.replace(base, name=f"{family}.plugin_thing" if family == "jax" else "plugin_thing")
    plan = Plan(None, None)
    request = Request(spec.name, {}, (2, 2), rng=stream)
    module = keras_stream if stream == "keras" else jax_stream
    with pytest.raises(ParameterError, match=f"--rng {stream} does not know how"):
        module.sample(request, spec, plan)
