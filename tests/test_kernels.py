"""The sampling kernels: exact distributions, exact bounds, determinism, chunk independence."""
import math
import threading
from fractions import Fraction

import numpy as np
import pytest
import scipy.stats as st
from scipy.special import erf

from weightgen import kernels as K
from weightgen.seeding import BLOCK_SIZE, block_generator

BLOCK = BLOCK_SIZE
DTYPES = [np.float32, np.float64]
P_MIN = 1e-4          # KS p-value threshold (tests are seeded -> deterministic)


def gen(seed, block=0):
    return block_generator(seed, block)


def big_sample(kernel, n, dtype, seed=0, **kw):
    """n values from consecutive blocks (independent per-block generators)."""
    out = np.empty(n, dtype)
    for i, s in enumerate(range(0, n, BLOCK)):
        kernel(gen(seed, i), out[s:s + BLOCK], **kw)
    return out


def ks_p(x, cdf):
    return st.kstest(np.asarray(x, np.float64), cdf).pvalue


def exact_min_max_ok(x, lo, hi, hi_open=False):
    lo_ok = lo == -math.inf or Fraction(float(x.min())) >= lo
    if hi == math.inf:
        return lo_ok
    mx = Fraction(float(x.max()))
    return lo_ok and (mx < hi if hi_open else mx <= hi)


# ---------------------------------------------------------------- uniform
UNIF_PARAMS = [(-0.1, 0.1), (-1.0, 1.0), (-0.0625, 0.0625), (0.0, 1.0), (1.0, 3.0),
               (-3.0, -1.0), (-0.3, 0.7), (1e-3, 1e-3 + 1e-6), (-1e30, 1e30)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("low,high", UNIF_PARAMS)
def test_uniform_ks_and_bounds(dtype, low, high):
    x = big_sample(K.fill_uniform, 1_000_003, dtype, low=low, high=high)
    assert exact_min_max_ok(x, Fraction(low), Fraction(high), hi_open=True)
    if high - low > 1e-5 * max(abs(low), abs(high)):   # else: few float values
        assert ks_p(x, st.uniform(low, high - low).cdf) > P_MIN


class FakeBG:
    """Bit generator returning a fixed 64-bit word (for extreme-value tests)."""
    def __init__(self, word):
        self.word = np.uint64(word)

    def random_raw(self, n):
        return np.full(n, self.word, np.uint64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_uniform_extremes_never_reach_high(dtype):
    rs = np.random.default_rng(1)
    Ls = list(rs.uniform(1e-4, 1e3, 200)) + [0.1, 1 / 3, 1.0, 2.0, 0.5, 1e-30, 3e38]
    for L in Ls:
        for lo, hi in ((-L, L), (0.25 * L, L), (-L, -0.5 * L)):
            if dtype == np.float32 and abs(lo) > 3.4e38:
                continue
            o = np.empty(5, dtype)
            for word in (0xFFFFFFFFFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0x7FFFFFFF7FFFFFFF,
                         0, 0x8000000080000000, 0x8000000000000000):
                K.fill_uniform(FakeBG(word), o, lo, hi)
                assert exact_min_max_ok(o, Fraction(lo), Fraction(hi), hi_open=True), (L, lo, hi, word, o)


def test_uniform_symmetric_path_resolution():
    """Symmetric float32 path: values on the grid -L + j L 2^-23 (24 bits)."""
    o = np.empty(1 << 16, np.float32)
    K.fill_uniform(gen(3), o, -1.0, 1.0)
    j = (o.astype(np.float64) + 1.0) * 2.0 ** 23
    assert np.array_equal(j, np.round(j))
    assert np.unique(o).size > 60000


# ---------------------------------------------------------------- normal
NORM_PARAMS = [(0.0, 1.0), (0.0, 0.02), (1.5, 3.0), (-2.0, 1e-3)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mean,std", NORM_PARAMS)
def test_normal_ks(dtype, mean, std):
    x = big_sample(K.fill_normal, 2_000_001, dtype, mean=mean, std=std)
    assert ks_p(x, st.norm(mean, std).cdf) > P_MIN
    assert np.isfinite(x).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_normal_ks_large(dtype):
    x = big_sample(K.fill_normal, 1 << 22, dtype, seed=7)
    assert ks_p(x, st.norm.cdf) > P_MIN


@pytest.mark.parametrize("dtype", DTYPES)
def test_normal_tail_frequencies(dtype):
    """Counts beyond t sigma (incl. the bottom-rectangle edge 4.025 and the
    old Box-Muller limit 6.66) match the normal law (binomial test)."""
    n, counts = 0, {}
    ts = [3.0, 4.0, 4.025, 4.1, 4.5, 5.0]
    o = np.empty(1 << 22, dtype)
    for i in range(16):                          # 2^26 values
        K.fill_normal(gen(11, i), o)
        a = np.abs(o)
        for t in ts:
            counts[t] = counts.get(t, 0) + int(np.count_nonzero(a > t))
        n += o.size
    for t in ts:
        p = 2 * st.norm.sf(t)
        assert st.binomtest(counts[t], n, p).pvalue > P_MIN, (t, counts[t], n * p)


def test_normal_remainder_sampler_exact():
    """The 0.2% remainder branch alone (wedges, cap, tails) against its exact
    CDF F_rem(x) = (int_a^x f - int_a^x h) / (A - N v), h = rectangle cover."""
    bg = np.random.SFC64(5)
    for ab in [(-math.inf, math.inf), (-2.0, 2.0), (-0.5, 3.0), (0.0, math.inf),
               (-5.0, 4.5), (-0.01, 0.01), (-100.0, 100.0)]:
        T = K._zm_table(*ab)
        x = np.sort(K._zm_remainder(bg, 100_000, T))
        a, b = T["a"], T["b"]
        hts = np.diff(T["y"])

        def cdf(t):
            t = np.asarray(t, float)
            F = math.sqrt(math.pi / 2) * (erf(np.clip(t, a, b) / math.sqrt(2)) - erf(a / math.sqrt(2)))
            H = np.zeros_like(t)
            for k0 in range(0, T["N"], 256):
                sl = slice(k0, k0 + 256)
                H += (hts[sl][None, :] * np.clip(t[:, None] - T["L"][sl][None, :], 0,
                                                  (T["U"] - T["L"])[sl][None, :])).sum(1)
            return (F - H) / (T["A"] - T["N"] * T["v"])
        assert st.kstest(x, cdf).pvalue > P_MIN, ab
        assert x.min() >= a and x.max() <= b


def test_normal_table_invariants():
    for ab in [(-math.inf, math.inf), (-2.0, 2.0), (-1.5, 2.5), (0.0, math.inf), (-1e-6, 1e-6)]:
        T = K._zm_table(*ab)
        areas = (T["U"] - T["L"]) * np.diff(T["y"])
        assert np.allclose(areas, T["v"], rtol=1e-12, atol=0)
        assert 0 <= T["p_rem"] < 0.006
        # rectangles inside the region: f(U_k), f(L_k) >= top of layer
        f = lambda x: np.exp(-0.5 * x * x)
        assert (f(T["U"]) >= T["y"][1:] * (1 - 1e-12)).all()
        assert (f(T["L"]) >= T["y"][1:] * (1 - 1e-12)).all()


# ---------------------------------------------------------------- truncated
TN_PARAMS = [  # (mean, std, lower, upper)
    (0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -2.0, 2.0), (0.3, 1.5, -3.0, 3.0),
    (0.1, 2.0, -1.5, 2.5), (0.0, 1.0, -0.5, math.inf), (0.0, 1.0, 0.0, math.inf),
    (0.0, 1.0, -math.inf, 0.0), (0.0, 1.0, -0.01, 0.01), (0.0, 1.0, -100.0, 100.0),
    (0.0, 1.0, -5.0, 4.5),
    # one-sided / tail intervals (Robert samplers)
    (0.0, 1.0, 8.0, 9.0), (0.0, 1.0, 5.0, math.inf), (0.0, 1.0, -math.inf, -6.0),
    (0.0, 1.0, 0.1, 0.1001), (0.5, 2.0, 0.1, math.inf), (0.0, 1.0, 0.5, 1.5),
    (1.0, 0.5, 2.0, 3.0), (0.0, 1.0, -3.0, -2.9), (0.0, 1.0, 20.0, 21.0),
]


def exact_bounds(mean, std, lower, upper):
    lo = Fraction(mean) + Fraction(std) * Fraction(lower) if math.isfinite(lower) else -math.inf
    hi = Fraction(mean) + Fraction(std) * Fraction(upper) if math.isfinite(upper) else math.inf
    return lo, hi


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mean,std,lower,upper", TN_PARAMS)
def test_truncnorm_ks_and_bounds(dtype, mean, std, lower, upper):
    x = big_sample(K.fill_truncated_normal, 1_000_001, dtype,
                   mean=mean, std=std, lower=lower, upper=upper)
    lo, hi = exact_bounds(mean, std, lower, upper)
    assert exact_min_max_ok(x, lo, hi)
    # exact law in the output dtype is truncnorm rounded; KS on the standardized
    # value is fine as long as the interval spans many ulps
    z = (x.astype(np.float64) - mean) / std
    if (upper - lower) * std > 1e4 * np.finfo(dtype).eps * max(1.0, abs(mean) + abs(std * lower if math.isfinite(lower) else 0)):
        assert ks_p(z, st.truncnorm(lower, upper).cdf) > P_MIN


@pytest.mark.parametrize("dtype", DTYPES)
def test_truncnorm_2sigma_large(dtype):
    x = big_sample(K.fill_truncated_normal, 1 << 22, dtype, seed=9,
                   mean=0.0, std=1.0, lower=-2.0, upper=2.0)
    assert ks_p(x, st.truncnorm(-2, 2).cdf) > P_MIN
    assert x.min() >= -2.0 and x.max() <= 2.0


def test_truncnorm_methods():
    m = lambda lo, hi: K.choose_truncnorm_method(lo, hi)[0]
    assert m(-2, 2) == "zigmix" and m(0, math.inf) == "zigmix" and m(-0.01, 0.01) == "zigmix"
    assert m(8, 9) == "exponential" and m(5, math.inf) == "exponential"
    assert m(-math.inf, -6) == "exponential"
    assert m(0.1, 0.1001) == "uniform"
    for lo, hi in [(0.01, math.inf), (0.3, 0.4), (2, 2.5), (3, 10), (40, 41), (1e4, math.inf)]:
        meth, info = K.choose_truncnorm_method(lo, hi)
        assert info["acc"] > 0.4, (lo, hi, meth, info)


@pytest.mark.parametrize("dtype", DTYPES)
def test_truncnorm_far_tails_do_not_stall(dtype):
    for lo, hi in [(40.0, 41.0), (1e3, math.inf), (-math.inf, -37.5), (12.0, 12.000001)]:
        o = np.empty(100_000, dtype)
        K.fill_truncated_normal(gen(1), o, 0.0, 1.0, lo, hi)
        lo_x, hi_x = exact_bounds(0.0, 1.0, lo, hi)
        assert exact_min_max_ok(o, lo_x, hi_x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_truncnorm_rectangle_extremes_inside_bounds(dtype):
    """Every table entry at both extreme integer positions, after the
    folded mean/std and rounding, lies in the inward-rounded bounds."""
    rs = np.random.default_rng(2)
    cases = [(0.0, 0.02, -2.0, 2.0), (0.1, 3.0, -1.5, 2.5), (1e-3, 1.0, -0.5, math.inf)]
    cases += [(float(m), float(s), -float(c), float(c)) for m, s, c in
              zip(rs.normal(0, 1, 20), rs.uniform(1e-3, 10, 20), rs.uniform(0.05, 5, 20))]
    for mean, std, lower, upper in cases:
        lo_w, hi_w, meth, _ = K._tn_setup(mean, std, lower, upper, np.dtype(dtype).char)
        assert meth == "zigmix"
        P = K._zm_params(mean, std, lower, upper, np.dtype(dtype).char, lo_w, hi_w)
        n = K._ZM_N
        j = np.arange(n, dtype=np.uint64)
        if dtype == np.float32:
            pats = (0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0)
            mask = np.uint64(0xFFFFFFFF & ~(n - 1))
        else:
            pats = (0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0)
            mask = np.uint64(0xFFFFFFFFFFFFFFFF & ~(n - 1))
        for pat in pats:
            v = (np.uint64(pat) & mask) | j                 # every layer, extreme position
            words = v if dtype == np.float64 else (v[0::2] | (v[1::2] << np.uint64(32)))
            d = np.empty(n, dtype)
            K._zm_chunk(SeqBG(words), d, P)
            assert (d >= lo_w).all() and (d <= hi_w).all(), (mean, std, lower, upper, pat)


class SeqBG:
    def __init__(self, words):
        self.words = np.asarray(words, np.uint64)

    def random_raw(self, n):
        assert n <= self.words.size
        return self.words[:n].copy()


@pytest.mark.parametrize("dtype", DTYPES)
def test_truncnorm_degenerate(dtype):
    o = np.empty(10, dtype)
    K.fill_truncated_normal(gen(0), o, 0.5, 2.0, 1.0, 1.0)
    assert (o == 2.5).all()
    K.fill_truncated_normal(gen(0), o, 0.25, 0.0, -2.0, 2.0)
    assert (o == 0.25).all()
    with pytest.raises(ValueError):
        K.fill_truncated_normal(gen(0), o, 0.0, 1.0, 2.0, 1.0)
    with pytest.raises(ValueError):      # no float value in the interval
        K.fill_truncated_normal(gen(0), o, 1.0, 1e-30, 0.1, 0.2)


# ---------------------------------------------------------------- determinism / chunks
ALL_KERNELS = [
    ("uniform_sym", K.fill_uniform, dict(low=-0.05, high=0.05)),
    ("uniform", K.fill_uniform, dict(low=0.1, high=0.3)),
    ("normal", K.fill_normal, dict(mean=0.0, std=0.02)),
    ("tn2", K.fill_truncated_normal, dict(mean=0.0, std=0.02, lower=-2.0, upper=2.0)),
    ("tn_asym", K.fill_truncated_normal, dict(mean=0.1, std=0.02, lower=-1.0, upper=3.0)),
    ("tn_tail", K.fill_truncated_normal, dict(mean=0.0, std=1.0, lower=5.0, upper=math.inf)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kern,kw", ALL_KERNELS)
def test_determinism(dtype, name, kern, kw):
    a = np.empty(BLOCK, dtype)
    b = np.empty(BLOCK, dtype)
    kern(gen(42, 3), a, **kw)
    kern(gen(42, 3), b, **kw)
    assert a.tobytes() == b.tobytes()
    kern(gen(42, 4), b, **kw)
    assert a.tobytes() != b.tobytes()
    # the same bytes from another thread (per-thread scratch buffers)
    c = np.empty(BLOCK, dtype)
    t = threading.Thread(target=kern, args=(gen(42, 3), c), kwargs=kw)
    t.start()
    t.join()
    assert a.tobytes() == c.tobytes()


#: A sub-chunk size below the block (the default sub-chunk is the whole block),
#: so that the tests below cross sub-chunk boundaries.
SUB_CHUNK = 1 << 16


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kern,kw", ALL_KERNELS)
def test_chunk_boundaries_full_coverage(dtype, name, kern, kw):
    C = SUB_CHUNK
    for n in [1, 2, 3, C - 1, C, C + 1, 2 * C + 3, 3 * C + 1, BLOCK - 1, BLOCK]:
        o = np.full(n, np.nan, dtype)
        kern(gen(1, n), o, chunk=C, **kw)
        assert np.isfinite(o).all(), (name, n)
        whole = np.full(n, np.nan, dtype)
        kern(gen(1, n), whole, **kw)
        assert np.isfinite(whole).all(), (name, n)


@pytest.mark.parametrize("name,kern,kw", ALL_KERNELS[:4])
def test_chunk_boundary_values_iid(name, kern, kw):
    """Across many blocks: the values right at sub-chunk boundaries have the
    right law and are uncorrelated with their neighbours."""
    C = SUB_CHUNK
    idx = np.array([0, 1, C - 2, C - 1, C, C + 1, 2 * C - 1, 2 * C, BLOCK - 1])
    o = np.empty(BLOCK, np.float32)
    rows = []
    for i in range(3000):
        kern(gen(5, i), o, chunk=C, **kw)
        rows.append(o[idx].astype(np.float64))
    R = np.array(rows)
    if "low" in kw:
        dist = st.uniform(kw["low"], kw["high"] - kw["low"])
    elif "lower" in kw:
        dist = st.truncnorm(kw["lower"], kw["upper"], kw["mean"], kw["std"])
    else:
        dist = st.norm(kw["mean"], kw["std"])
    assert ks_p(R.ravel(), dist.cdf) > P_MIN
    for j in range(len(idx) - 1):
        r = np.corrcoef(R[:, j], R[:, j + 1])[0, 1]
        assert abs(r) < 5.0 / math.sqrt(R.shape[0]), (idx[j], r)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chunk", [1 << 12, 1 << 14, 1 << 18])
def test_other_chunk_sizes_same_law(dtype, chunk):
    n = 1_000_000
    for kern, kw, dist in [(K.fill_normal, dict(mean=0.0, std=1.0), st.norm()),
                           (K.fill_truncated_normal, dict(mean=0.0, std=1.0, lower=-2.0, upper=2.0),
                            st.truncnorm(-2, 2)),
                           (K.fill_uniform, dict(low=-1.0, high=1.0), st.uniform(-1, 2))]:
        o = np.empty(n, dtype)
        for i, s in enumerate(range(0, n, BLOCK)):
            kern(gen(8, i), o[s:s + BLOCK], chunk=chunk, **kw)
        assert ks_p(o, dist.cdf) > P_MIN


def test_uniform_prefix_property():
    """Uniform consumes bits chunk by chunk: a longer fill starts with the
    same full chunks (the chunk structure is a pure function of len(out))."""
    C = K.CHUNK
    a = np.empty(3 * C + 5, np.float32)
    b = np.empty(2 * C, np.float32)
    K.fill_uniform(gen(1), a, -1.0, 1.0)
    K.fill_uniform(gen(1), b, -1.0, 1.0)
    assert np.array_equal(a[:2 * C], b)


def test_normal_rectangle_part_is_chunkwise():
    """Normal: rectangle values are chunk-local; only the ~0.23% remainder
    positions (drawn after the main pass) differ between lengths."""
    C = K.CHUNK
    a = np.empty(3 * C + 5, np.float32)
    b = np.empty(2 * C, np.float32)
    K.fill_normal(gen(1), a)
    K.fill_normal(gen(1), b)
    same = np.mean(a[:2 * C] == b)
    assert 0.99 < same < 1.0


@pytest.mark.parametrize("bad", [dict(low=1.0, high=1.0), dict(low=0.0, high=math.inf),
                                 dict(low=math.nan, high=1.0)])
def test_uniform_bad_args(bad):
    with pytest.raises(ValueError):
        K.fill_uniform(gen(0), np.empty(4, np.float32), **bad)


def test_bad_out():
    with pytest.raises(TypeError):
        K.fill_normal(gen(0), np.empty(4, np.float16))
    with pytest.raises(ValueError):
        K.fill_normal(gen(0), np.empty(8, np.float32)[::2])


def test_shipped_ziggurat_tables_are_what_building_them_gives():
    """The package data (tools/make_ziggurat_tables.py) must match the construction code:
    if it does not, a seed's stream has changed (or the file is stale)."""
    import os

    from weightgen import kernels

    path = os.path.join(os.path.dirname(kernels.__file__), kernels.TABLES_FILE)
    with np.load(path, allow_pickle=False) as shipped:
        stored = {key: shipped[key] for key in shipped.files}
    expected = {}
    for name, (a, b) in kernels.SHIPPED_INTERVALS.items():
        for key, value in kernels.table_arrays(kernels.build_table(a, b, kernels.build_layers)).items():
            expected[f"{name}/{key}"] = value
    assert sorted(stored) == sorted(expected)
    for key, value in expected.items():
        assert stored[key].dtype == value.dtype and np.array_equal(stored[key], value), key
    for interval in kernels.SHIPPED_INTERVALS.values():
        assert kernels._zm_table(*interval)["y"] is kernels._shipped_table(*interval)["y"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kern,kw", ALL_KERNELS)
@pytest.mark.parametrize("n", [BLOCK, BLOCK - 1, 100_001, 5])
def test_even_sub_chunks_give_the_same_stream(dtype, name, kern, kw, n):
    """Every sub-chunk takes the next words in order, so any even sub-chunk size gives
    the same values: the default (a whole block) is the stream of smaller ones."""
    whole, pieces = np.empty(n, dtype), np.empty(n, dtype)
    kern(gen(3, 1), whole, **kw)
    kern(gen(3, 1), pieces, chunk=1 << 14, **kw)
    assert whole.tobytes() == pieces.tobytes()
