"""The peers weightgen is measured against (numpy, PyTorch, JAX), each a small program.

A peer is Python source in two parts: ``setup`` (imports, generators: run once) and
``call`` (makes the tensor ``w``). The same text is timed in-process — setup once, the
call again and again, by :func:`time_call` here or by a worker process running this file
(``python peers.py worker``, for libraries the benchmark's interpreter lacks) — and run
whole as the peer's own script (:meth:`Peer.script`: setup, call, ``np.save``) for the
whole-process comparison with the command. So both comparisons time the same code.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass

N = 8192  # the side of the square tensors measured
QR_N = 4096  # orthogonal's side
HE_STD = (2.0 / N) ** 0.5 / 0.87962566103423978  # he_normal's parent std at fan_in 8192
GLOROT_LIMIT = (6.0 / (N + N)) ** 0.5


@dataclass(frozen=True)
class Peer:
    library: str  # numpy, torch or jax: the module the interpreter must have
    label: str
    setup: str
    call: str
    #: The whole program also flushes the file to disk (``fsync``), as the command does.
    durable: bool = False

    def script(self, output: str) -> str:
        """The peer's whole program: make ``w`` and save it as ``.npy`` (what the command does)."""
        to_numpy = {"numpy": "w", "torch": "w.numpy()", "jax": "np.asarray(w)"}[self.library]
        script = f"{self.setup}\n{self.call}\nnp.save({output!r}, {to_numpy})\n"
        return script + (fsync_script(output) if self.durable else "")


def fsync_script(path: str) -> str:
    """Python lines that flush ``path``'s data to disk."""
    return f"import os\nfd = os.open({path!r}, os.O_RDONLY)\nos.fsync(fd)\nos.close(fd)\n"


_NUMPY = "import numpy as np\n"
_NUMPY_THREADS = _NUMPY + """\
from concurrent.futures import ThreadPoolExecutor
rngs = [np.random.default_rng(i) for i in range({threads})]

def in_threads(shape, work):
    out = np.empty(shape, np.float32)
    parts = np.array_split(out.reshape(-1), len(rngs))
    with ThreadPoolExecutor(len(rngs)) as pool:
        list(pool.map(work, rngs, parts))
    return out
"""
_UNIFORM = """
def uniform(rng, part):
    rng.random(dtype=np.float32, out=part)
    part *= np.float32(2 * {limit})
    part -= np.float32({limit})
"""
_TRUNCATED = """
def truncated(rng, part):
    rng.standard_normal(dtype=np.float32, out=part)
    redraw = np.flatnonzero(np.abs(part) > 2)
    while redraw.size:
        part[redraw] = rng.standard_normal(redraw.size, dtype=np.float32)
        redraw = redraw[np.abs(part[redraw]) > 2]
    part *= np.float32({std})
"""
_TORCH = "import numpy as np\nimport torch\n"
_JAX = "import numpy as np\nimport jax\nimport jax.numpy as jnp\nfrom jax.nn import initializers\nkey = jax.random.key(0)\n"


def _numpy_threads(threads: int, body: str, **values: float) -> str:
    return _NUMPY_THREADS.format(threads=threads) + body.format(**values)


PEERS: dict[str, Peer] = {
    "numpy_uniform_2t": Peer("numpy", "numpy random(float32, out=) + scale, 2 threads",
                             _numpy_threads(2, _UNIFORM, limit=GLOROT_LIMIT), f"w = in_threads(({N}, {N}), uniform)"),
    "numpy_truncated_2t": Peer("numpy", "numpy ±2σ truncated normal by rejection, 2 threads",
                               _numpy_threads(2, _TRUNCATED, std=HE_STD), f"w = in_threads(({N}, {N}), truncated)"),
    "numpy_normal_1t": Peer("numpy", "numpy standard_normal(float32) × std, 1 thread",
                            _NUMPY + "rng = np.random.default_rng(0)\n",
                            f"w = rng.standard_normal(({N}, {N}), dtype=np.float32)\nw *= np.float32(0.02)"),
    "numpy_qr_1t": Peer("numpy", "numpy linalg.qr (float32), 1 thread",
                        _NUMPY + "from threadpoolctl import threadpool_limits\nrng = np.random.default_rng(0)\n",
                        "with threadpool_limits(1):\n"
                        f"    q, r = np.linalg.qr(rng.standard_normal(({QR_N}, {QR_N}), dtype=np.float32))\n"
                        "    w = q * np.sign(np.diagonal(r))"),
    "numpy_qr_2t": Peer("numpy", "numpy linalg.qr (float32), 2 threads",
                        _NUMPY + "from threadpoolctl import threadpool_limits\nrng = np.random.default_rng(0)\n",
                        "with threadpool_limits(2):\n"
                        f"    q, r = np.linalg.qr(rng.standard_normal(({QR_N}, {QR_N}), dtype=np.float32))\n"
                        "    w = q * np.sign(np.diagonal(r))"),
    "numpy_ones": Peer("numpy", "np.ones (whole process: np.ones + np.save)", _NUMPY,
                       f"w = np.ones(({N}, {N}), np.float32)"),
    "numpy_ones_fsync": Peer("numpy", "np.ones + np.save + fsync", _NUMPY, f"w = np.ones(({N}, {N}), np.float32)",
                             durable=True),
    "numpy_fill": Peer("numpy", "np.empty + fill (the memory floor)", _NUMPY,
                       f"w = np.empty(({N}, {N}), np.float32)\nw.fill(1)"),
    "torch_xavier_uniform_1t": Peer("torch", "torch xavier_uniform_, 1 thread", _TORCH,
                                    f"torch.set_num_threads(1)\nw = torch.nn.init.xavier_uniform_(torch.empty({N}, {N}))"),
    "torch_xavier_uniform_2t": Peer("torch", "torch xavier_uniform_, 2 threads", _TORCH,
                                    f"torch.set_num_threads(2)\nw = torch.nn.init.xavier_uniform_(torch.empty({N}, {N}))"),
    "torch_trunc_normal_2t": Peer("torch", "torch trunc_normal_, 2 threads", _TORCH,
                                  "torch.set_num_threads(2)\n"
                                  f"w = torch.nn.init.trunc_normal_(torch.empty({N}, {N}), std={HE_STD}, "
                                  f"a={-2 * HE_STD}, b={2 * HE_STD})"),
    "torch_kaiming_normal_1t": Peer("torch", "torch kaiming_normal_ (untruncated), 1 thread", _TORCH,
                                    "torch.set_num_threads(1)\n"
                                    f"w = torch.nn.init.kaiming_normal_(torch.empty({N}, {N}))"),
    "torch_orthogonal_1t": Peer("torch", "torch orthogonal_, 1 thread", _TORCH,
                                f"torch.set_num_threads(1)\nw = torch.nn.init.orthogonal_(torch.empty({QR_N}, {QR_N}))"),
    "torch_orthogonal_2t": Peer("torch", "torch orthogonal_, 2 threads", _TORCH,
                                f"torch.set_num_threads(2)\nw = torch.nn.init.orthogonal_(torch.empty({QR_N}, {QR_N}))"),
    "jax_glorot_uniform": Peer("jax", "jax glorot_uniform (its threads)", _JAX,
                               f"w = initializers.glorot_uniform()(key, ({N}, {N}), jnp.float32).block_until_ready()"),
    "jax_he_normal": Peer("jax", "jax he_normal, truncated (its threads)", _JAX,
                          f"w = initializers.he_normal()(key, ({N}, {N}), jnp.float32).block_until_ready()"),
}


class Namespaces:
    """Each peer's setup run once; its call compiled, ready to time."""

    def __init__(self) -> None:
        self._ready: dict[str, tuple[dict, object]] = {}

    def time_call(self, name: str) -> float:
        """Seconds of one call of peer ``name`` (its result dropped afterwards, untimed)."""
        if name not in self._ready:
            peer = PEERS[name]
            namespace: dict = {}
            exec(compile(peer.setup, f"<{name} setup>", "exec"), namespace)
            self._ready[name] = (namespace, compile(peer.call, f"<{name}>", "exec"))
        namespace, code = self._ready[name]
        started = time.perf_counter()
        exec(code, namespace)
        seconds = time.perf_counter() - started
        namespace.pop("w", None)
        return seconds


def worker() -> None:
    """Serve timing requests: one JSON line in (``{"peer": name}``), one out (``{"seconds": s}``)."""
    namespaces = Namespaces()
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = {"seconds": namespaces.time_call(request["peer"])}
        except Exception as error:  # reported, not fatal: the benchmark prints it
            reply = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:] == ["worker"]:
        worker()
    elif sys.argv[1:2] == ["script"]:
        print(PEERS[sys.argv[2]].script(sys.argv[3]))
    else:
        sys.exit("usage: peers.py worker | script NAME OUTPUT")
