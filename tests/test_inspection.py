"""``weightgen.inspect``: statistics equal numpy's own, and verdicts that pass the right initializer
and fail a wrong one, for files weightgen wrote and files it did not."""

from __future__ import annotations

import math

import h5py
import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import save_file

import weightgen
from weightgen.errors import InputError, ParameterError, UnknownInitializerError
from weightgen.inspection import SAMPLE_SIZE, inspect

SPEC_KEYS = {"file", "name", "shape", "dtype", "count", "mean", "std", "min", "max", "zeros", "provenance", "check"}
CHECK_KEYS = {"initializer", "ks_statistic", "p_value", "pass"}


def generated(initializer, shape, seed=0, **options):
    return weightgen.generate(initializer, shape, seed=seed, **options).array


def assert_matches_numpy(report, array):
    wide = np.asarray(array, dtype=np.float64).ravel()
    finite = wide[np.isfinite(wide)]
    record = report.as_dict()
    assert record["count"] == array.size and record["shape"] == list(array.shape)
    assert record["mean"] == pytest.approx(finite.mean(), rel=1e-12, abs=1e-15)
    assert record["std"] == pytest.approx(finite.std(), rel=1e-12)
    assert (record["min"], record["max"]) == (finite.min(), finite.max())
    assert record["zeros"] == pytest.approx(np.count_nonzero(wide == 0) / wide.size)
    assert record["nonfinite"] == pytest.approx((wide.size - finite.size) / wide.size)
    assert sum(record["histogram"]["counts"]) == finite.size


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, ml_dtypes.bfloat16, np.int32])
def test_statistics_equal_numpys_for_files_numpy_h5py_and_safetensors_wrote(tmp_path, dtype):
    rng = np.random.default_rng(11)
    array = (rng.standard_normal((301, 77)) * 4 + 2).astype(dtype)
    array[0, :5] = 0
    if np.dtype(dtype).kind == "f":
        array[1, 0], array[1, 1] = np.nan, np.inf
    paths = []
    if dtype is not ml_dtypes.bfloat16:
        np.save(tmp_path / "a.npy", array)
        np.savez_compressed(tmp_path / "a.npz", w=array)
        paths += [tmp_path / "a.npy", tmp_path / "a.npz"]
    with h5py.File(tmp_path / "a.h5", "w") as file:
        dataset = file.create_dataset("g/w", data=array, chunks=(16, 77), compression="gzip")
        if dtype is ml_dtypes.bfloat16:
            dataset.attrs["dtype"] = "bfloat16"
    save_file({"w": array}, str(tmp_path / "a.safetensors"))
    paths += [tmp_path / "a.h5", tmp_path / "a.safetensors"]
    for path in paths:
        (report,) = inspect(str(path), threads=2)
        assert report.dtype == np.dtype(dtype).name and report.check is None
        assert_matches_numpy(report, array)


def test_float16_statistics_do_not_overflow(tmp_path):
    """float16 sums overflow at 65504; the statistics are float64."""
    array = np.full(70_000, 60_000, dtype=np.float16)
    array[::2] = -60_000
    np.save(tmp_path / "h.npy", array)
    (report,) = inspect(str(tmp_path / "h.npy"))
    assert report.moments.mean == 0 and report.moments.std == 60_000


def test_glorot_passes_glorot_and_fails_he_normal(tmp_path):
    np.save(tmp_path / "w.npy", generated("glorot_uniform", (256, 128), seed=3))
    good = inspect(str(tmp_path / "w.npy"), expect="glorot_uniform")[0]
    bad = inspect(str(tmp_path / "w.npy"), expect="he_normal")[0]
    assert good.check.passed and good.check.method == "ks" and good.check.outside_bounds == 0
    assert good.check.p_value > 1e-3 and good.check.sample == 256 * 128
    assert good.check.expected == {"mean": 0.0, "std": pytest.approx(0.125 / math.sqrt(3)), "min": -0.125,
                                   "max": 0.125}
    assert not bad.check.passed and bad.check.p_value < 1e-30 and "KS p=" in bad.check.reason
    record = bad.as_dict()
    assert SPEC_KEYS <= set(record) and CHECK_KEYS <= set(record["check"])
    assert record["check"]["pass"] is False and record["check"]["source"] == "expect"


@pytest.mark.parametrize("extension, dtype", [(e, d) for e in ("npz", "h5", "safetensors")
                                              for d in ("float32", "bfloat16", "float16")
                                              if (e, d) != ("npz", "bfloat16")])
def test_provenance_decides_the_check(tmp_path, extension, dtype):
    path = tmp_path / f"m.{extension}"
    weightgen.generate("he_normal", (3, 3, 32, 64), seed=1, dtype=dtype, output=str(path), name="conv/kernel")
    weightgen.generate("zeros", (64,), dtype=dtype, output=str(path), name="conv/bias")
    reports = {r.name: r for r in inspect(str(path))}
    kernel, bias = reports["conv/kernel"], reports["conv/bias"]
    assert kernel.check.source == "provenance" and kernel.check.method == "ks" and kernel.check.passed
    assert kernel.check.expected["max"] == pytest.approx(2 * math.sqrt(2 / 288) / 0.87962566103423978)
    assert bias.check.method == "exact" and bias.check.passed and bias.check.mismatches == 0
    overridden = {r.name: r for r in inspect(str(path), expect="glorot_normal")}
    assert not overridden["conv/kernel"].check.passed and overridden["conv/kernel"].check.source == "expect"


def test_a_ten_percent_wrong_std_fails_and_the_right_one_passes(tmp_path):
    rng = np.random.default_rng(12)
    for factor, passes in ((1.0, True), (1.1, False), (0.9, False)):
        np.save(tmp_path / "n.npy", (rng.standard_normal(65_536) * 0.05 * factor).astype(np.float32))
        (report,) = inspect(str(tmp_path / "n.npy"), expect="random_normal")
        assert report.check.passed == passes, (factor, report.check)


def test_values_beyond_the_bounds_fail_even_when_ks_passes(tmp_path):
    array = generated("glorot_uniform", (256, 128), seed=4)
    array[7, 7] = 0.126
    np.save(tmp_path / "w.npy", array)
    (report,) = inspect(str(tmp_path / "w.npy"), expect="glorot_uniform")
    assert report.check.p_value > 1e-3 and report.check.outside_bounds == 1
    assert not report.check.passed and "1 values lie beyond [-0.125, 0.125]" in report.check.reason


def test_bounds_allow_rounding_of_the_dtype_but_nothing_more(tmp_path):
    """A uniform's open upper bound rounded up by bfloat16 is allowed; the next value up is not."""
    limit = 0.125
    array = generated("glorot_uniform", (256, 128), seed=4, dtype="bfloat16")
    array[0, 0] = limit
    save_file({"w": array}, str(tmp_path / "w.safetensors"))
    assert inspect(str(tmp_path / "w.safetensors"), expect="glorot_uniform")[0].check.passed
    array[0, 0] = np.nextafter(np.array(limit, ml_dtypes.bfloat16), np.array(1, ml_dtypes.bfloat16))
    save_file({"w": array}, str(tmp_path / "w.safetensors"))
    assert inspect(str(tmp_path / "w.safetensors"), expect="glorot_uniform")[0].check.outside_bounds == 1


def test_non_finite_values_fail_the_check(tmp_path):
    array = generated("he_uniform", (64, 64), seed=5)
    array[3, 3] = np.nan
    np.save(tmp_path / "w.npy", array)
    (report,) = inspect(str(tmp_path / "w.npy"), expect="he_uniform")
    assert not report.check.passed and "1 values are not finite" in report.check.reason
    assert report.as_dict()["nonfinite"] == pytest.approx(1 / 4096)


def test_deterministic_initializers_are_compared_value_by_value(tmp_path):
    eye = np.eye(6, 9, dtype=np.float32) * 2.5
    np.save(tmp_path / "eye.npy", eye)
    np.save(tmp_path / "eye_f.npy", np.asfortranarray(eye))
    np.save(tmp_path / "flipped.npy", np.fliplr(eye))
    np.save(tmp_path / "three.npy", np.full((4, 4), 3, dtype=np.int16))
    assert inspect(str(tmp_path / "eye.npy"), expect="identity", gain=2.5)[0].check.passed
    assert inspect(str(tmp_path / "eye_f.npy"), expect="identity", gain=2.5)[0].check.passed
    assert not inspect(str(tmp_path / "eye.npy"), expect="identity")[0].check.passed
    flipped = inspect(str(tmp_path / "flipped.npy"), expect="identity", gain=2.5)[0].check
    assert flipped.method == "exact" and flipped.mismatches == 10 and not flipped.passed
    assert inspect(str(tmp_path / "three.npy"), expect="constant", value=3)[0].check.passed
    changed = eye.copy()
    changed[5, 8] = 1e-6
    np.save(tmp_path / "eye.npy", changed)
    check = inspect(str(tmp_path / "eye.npy"), expect="identity", gain=2.5)[0].check
    assert not check.passed and check.mismatches == 1 and check.p_value is None


def test_expect_takes_the_initializers_own_params_layout_and_fans(tmp_path):
    shape = (512, 128)
    np.save(tmp_path / "vs.npy", generated("variance_scaling", shape, seed=6, scale=2.0, mode="fan_out",
                                           distribution="uniform"))
    def passes(**options):
        return inspect(str(tmp_path / "vs.npy"), **options)[0].check.passed
    assert passes(expect="variance_scaling", scale="2", mode="fan_out", distribution="uniform")
    assert not passes(expect="variance_scaling", scale=2, mode="fan_in", distribution="uniform")
    assert passes(expect="he_uniform", fan_in=128)
    np.save(tmp_path / "t.npy", generated("he_normal", shape, seed=7, layout="torch"))
    assert inspect(str(tmp_path / "t.npy"), expect="he_normal", layout="torch")[0].check.passed
    assert not inspect(str(tmp_path / "t.npy"), expect="he_normal")[0].check.passed


def test_a_shape_the_initializer_cannot_take_fails_with_its_reason(tmp_path):
    np.save(tmp_path / "b.npy", np.zeros(16, np.float32))
    check = inspect(str(tmp_path / "b.npy"), expect="he_normal", layout="torch")[0].check
    assert not check.passed and check.method is None and "fewer than 2 dimensions" in check.reason


def test_bad_expectations_are_usage_errors_before_any_file_is_read(tmp_path):
    missing = str(tmp_path / "missing.npy")
    with pytest.raises(UnknownInitializerError, match="Did you mean 'he_normal'"):
        inspect(missing, expect="he_nromal")
    with pytest.raises(ParameterError, match=r"^Invalid value for --scale: must be > 0 \(got '-1'\)\.$"):
        inspect(missing, expect="variance_scaling", scale="-1")
    with pytest.raises(ParameterError, match="has no parameter 'stddev'"):
        inspect(missing, expect="he_normal", stddev=1)
    with pytest.raises(ParameterError, match="--scale describes the initializer of --expect"):
        inspect(missing, scale=2)
    with pytest.raises(ParameterError, match="--alpha"):
        inspect(missing, alpha=2)


def test_large_tensors_are_tested_on_a_deterministic_bounded_subsample(tmp_path):
    array = generated("lecun_normal", (SAMPLE_SIZE + 123_457,), seed=8)
    np.save(tmp_path / "big.npy", array)
    first = inspect(str(tmp_path / "big.npy"), expect="lecun_normal", threads=1)[0]
    again = inspect(str(tmp_path / "big.npy"), expect="lecun_normal", threads=3)[0]
    assert first.check.sample == SAMPLE_SIZE and first.check.passed
    assert first.as_dict() == again.as_dict()
    assert first.moments.count == array.size


def test_expected_histogram_follows_the_distribution(tmp_path):
    np.save(tmp_path / "w.npy", generated("glorot_uniform", (256, 128), seed=9))
    histogram = inspect(str(tmp_path / "w.npy"), expect="glorot_uniform")[0].histogram
    assert histogram["edges"][0] == -0.125 and histogram["edges"][-1] == 0.125
    assert sum(histogram["expected"]) == pytest.approx(256 * 128)
    assert histogram["expected"] == pytest.approx([256 * 128 / 16] * 16)
    assert max(abs(c - e) for c, e in zip(histogram["counts"], histogram["expected"])) < 200


def test_names_pick_entries_and_a_missing_name_is_an_input_error(tmp_path):
    path = str(tmp_path / "m.h5")
    for name in ("a/kernel", "a/bias", "b/kernel"):
        weightgen.generate("ones", (2,), output=path, name=name)
    assert [r.name for r in inspect(path, name=["/a/kernel/", "b/kernel"])] == ["a/kernel", "b/kernel"]
    with pytest.raises(InputError, match=r"has no entry named 'c'; its entries: a/bias, a/kernel, b/kernel\."):
        inspect(path, name="c")


def test_provenance_of_an_unknown_or_custom_initializer_is_shown_but_not_checked(tmp_path):
    path = tmp_path / "m.safetensors"
    weightgen.generate("ones", (2,), output=str(path))
    data = path.read_bytes()  # rename the initializer in the header, keeping its length prefix true
    size = int.from_bytes(data[:8], "little")
    header = data[8:8 + size].replace(b'\\"initializer\\":\\"ones\\"', b'\\"initializer\\":\\"nosuch\\"')
    header += b" " * (-(8 + len(header)) % 8)
    path.write_bytes(len(header).to_bytes(8, "little") + header + data[8 + size:])
    (report,) = inspect(str(path))
    assert report.check is None and report.provenance["initializer"] == "nosuch"
    assert "does not know" in report.note


def test_skipped_entries_are_reported_not_fatal(tmp_path):
    np.savez(tmp_path / "m.npz", text=np.array(["x"]), w=np.ones(3))
    reports = {r.name: r for r in inspect(str(tmp_path / "m.npz"), expect="ones")}
    assert reports["text"].skipped and reports["text"].check is None and not reports["text"].failed
    assert reports["w"].check.passed


def test_complex_entries_pool_both_parts(tmp_path):
    array = np.array([[1 + 2j, -3 + 0j]], dtype=np.complex64)
    np.save(tmp_path / "c.npy", array)
    (report,) = inspect(str(tmp_path / "c.npy"))
    assert report.count == 2 and report.moments.count == 4 and report.moments.mean == 0
    assert report.as_dict()["zeros"] == 0.25


def test_several_files(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(3))
    np.save(tmp_path / "b.npy", np.zeros(4))
    reports = inspect([str(tmp_path / "a.npy"), str(tmp_path / "b.npy")], expect="zeros")
    assert [r.check.passed for r in reports] == [False, True]
    assert reports[0].check.mismatches == 3 and reports[0].failed and not reports[1].failed


@pytest.mark.parametrize("initializer, params, wrong", [
    ("torch.kaiming_uniform", {}, {"mode": "fan_out"}),
    ("torch.sparse", {"sparsity": 0.5}, {"sparsity": 0.25}),
    ("torch.eye", {}, None),
    ("jax.variance_scaling", {"scale": 2.0, "mode": "fan_geo_avg", "distribution": "normal"}, {"scale": 1.0}),
    ("jax.orthogonal", {}, None),
])
def test_the_torch_and_jax_families_are_checked_through_the_registry(tmp_path, initializer, params, wrong):
    path = str(tmp_path / "w.safetensors")
    weightgen.generate(initializer, (256, 64), seed=10, output=path, **params)
    (own,) = inspect(path)
    assert own.check.source == "provenance" and own.check.passed, own.check
    assert inspect(path, expect=initializer, **params)[0].check.passed
    if wrong is not None:
        check = inspect(path, expect=initializer, **{**params, **wrong})[0].check
        assert not check.passed, check
