"""Two example initializers for weightgen, registered through entry points.

weightgen imports this module to build its registry (for ``--help``, ``list`` and
completion too), so it imports nothing heavy: numpy only inside the resolve functions.
"""

from __future__ import annotations

from weightgen.distributions import Summary, Uniform
from weightgen.params import Param
from weightgen.plan import Draw, Fill, Plan, PlanInput
from weightgen.registry import InitializerSpec


def _arange(request: PlanInput) -> Plan:
    """``start + step · i`` for flat index i: a Fill streams block by block."""
    import math

    start, step = request.params["start"], request.params["step"]
    count = math.prod(request.shape)

    def fill(first: int, out) -> None:
        import numpy as np

        out[...] = start + step * np.arange(first, first + out.size, dtype=np.float64)

    last = start + step * (count - 1)
    return Plan(Fill(fill), Summary(mean_=(start + last) / 2, low_=min(start, last),
                                    high_=max(start, last), text="arithmetic progression"))


ARANGE = InitializerSpec(
    name="example.arange", family="example", summary="start + step · flat index",
    resolve=_arange,
    params=(Param("start", "float", 0.0, "the first value"),
            Param("step", "float", 1.0, "the difference between neighbours")),
    deterministic=True,
)


def _symmetric_uniform(request: PlanInput) -> Plan:
    limit = request.params["limit"]
    dist = Uniform(-limit, limit)
    return Plan(Draw(dist), dist, {"limit": limit})


def specs() -> list[InitializerSpec]:
    """An entry point may also name a callable returning specs."""
    return [
        InitializerSpec(
            name="example.symmetric_uniform", family="example",
            summary="uniform on [-limit, limit)", resolve=_symmetric_uniform,
            params=(Param("limit", "float", 1.0, "half the width", minimum=0.0,
                          exclusive_minimum=True),),
            aliases=("example.su",),
        ),
    ]
