"""The one registry of initializers.

Each initializer is described once, by an :class:`InitializerSpec`: name, family,
aliases, typed params, a one-line summary, which dtypes and fan rules apply, and the
function that resolves it into a :class:`~weightgen.plan.Plan` (which carries the
expected distribution). Subcommands, ``--help``, ``list``, completion and the README
table are derived from it. Importing this module imports no numpy: the families'
resolve functions import what they need when they run.

Third-party packages add initializers through the entry-point group
``weightgen.initializers``: each entry point names an :class:`InitializerSpec`, or a
callable returning one spec or an iterable of specs. Plugins are loaded once, when the
registry is first needed, after the built-ins; a plugin that fails to load, or whose
names are taken, is skipped and recorded in :attr:`Registry.problems` (``weightgen
list`` shows them), and never breaks the built-ins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from weightgen import dtypes as dtype_names
from weightgen.errors import UnknownInitializerError
from weightgen.streams import DEFAULT as DEFAULT_STREAM

if TYPE_CHECKING:  # imported by the families when the registry is built, not by `import weightgen`
    from weightgen.fans import Fans
    from weightgen.params import Param
    from weightgen.plan import Plan, PlanInput

FAMILIES = ("keras", "torch", "jax", "custom")

#: The entry-point group plugins register their specs under.
ENTRY_POINT_GROUP = "weightgen.initializers"

#: Names of the built-in commands, which no initializer may take.
RESERVED_NAMES = ("list", "inspect", "batch", "help")

FanRule = Callable[[Sequence[int], str, Mapping[str, Any]], "Fans"]


def default_fan_rule(shape: Sequence[int], layout: str, params: Mapping[str, Any]) -> Fans:
    from weightgen.fans import layout_fans

    return layout_fans(shape, layout)


@dataclass(frozen=True)
class InitializerSpec:
    """Everything weightgen knows about one initializer."""

    name: str
    family: str
    summary: str
    resolve: Callable[[PlanInput], Plan]
    params: tuple[Param, ...] = ()
    aliases: tuple[str, ...] = ()
    #: Whether fans enter the formula (then --layout and --fan-in/--fan-out apply).
    uses_fans: bool = False
    #: The family's own fan layout, the default of --layout.
    layout: str = "keras"
    #: How fans are read from the shape (Keras axes, JAX in/out/batch axes, or the layout).
    fan_rule: FanRule = default_fan_rule
    dtypes: tuple[str, ...] = dtype_names.FLOATS
    #: No randomness: the seed is irrelevant.
    deterministic: bool = False
    #: The framework object it reproduces, for docs (``keras.initializers.GlorotUniform``).
    reference: str = ""
    #: Framework-exact streams (``--rng keras``, ``--rng jax``) that reproduce it, besides
    #: weightgen's own (see :mod:`weightgen.streams`).
    streams: tuple[str, ...] = ()
    #: ``builtin``, or the plugin it came from (``plugin example-weightgen-plugin 0.1``).
    origin: str = "builtin"

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def rngs(self) -> tuple[str, ...]:
        """The values ``--rng`` takes for it: weightgen's own stream first."""
        return (DEFAULT_STREAM, *self.streams)

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise KeyError(name)


@dataclass
class Registry:
    """Specs by canonical name, and every accepted name pointing at one."""

    _specs: dict[str, InitializerSpec] = field(default_factory=dict)
    _names: dict[str, str] = field(default_factory=dict)
    _problems: list[str] = field(default_factory=list)
    #: Whether the installed plugins are still to be added (on first need: finding them
    #: imports importlib.metadata and scans every installed package, a large share of a
    #: small command's start-up, needless when a built-in is asked for by name).
    _plugins_pending: bool = False

    @property
    def problems(self) -> list[str]:
        """One line per plugin that could not be loaded (shown by ``weightgen list``)."""
        self._load_pending()
        return self._problems

    def _load_pending(self) -> None:
        if self._plugins_pending:
            self._plugins_pending = False
            self.load_plugins()

    def add(self, spec: InitializerSpec) -> None:
        """Register ``spec``; every one of its names must be free."""
        for name in spec.names:
            owner = self._names.get(name)
            if owner is not None:
                raise ValueError(f"initializer name {name!r} is taken by {owner!r}")
            if name in RESERVED_NAMES:
                raise ValueError(f"initializer name {name!r} is a weightgen command")
        self._specs[spec.name] = spec
        for name in spec.names:
            self._names[name] = spec.name

    def __iter__(self) -> Iterator[InitializerSpec]:
        self._load_pending()
        return iter(self._specs.values())

    def __len__(self) -> int:
        self._load_pending()
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def canonical_names(self) -> list[str]:
        self._load_pending()
        return list(self._specs)

    def all_names(self) -> list[str]:
        self._load_pending()
        return list(self._names)

    def find(self, name: str) -> InitializerSpec | None:
        """The spec called ``name`` (canonical or alias; ``-`` may stand for ``_``), or None.

        A built-in is found without loading plugins (they can never take its names).
        """
        for candidate in (name, name.replace("-", "_")):
            canonical = self._names.get(candidate)
            if canonical is not None:
                return self._specs[canonical]
        if self._plugins_pending:
            self._load_pending()
            return self.find(name)
        return None

    def get(self, name: str) -> InitializerSpec:
        """Like :meth:`find`, but an unknown name raises with the closest matches."""
        spec = self.find(name)
        if spec is None:
            raise UnknownInitializerError(self.unknown_message(name))
        return spec

    def suggestions(self, name: str) -> list[str]:
        import difflib

        self._load_pending()
        pool = {n.lower(): n for n in self._names}
        close = difflib.get_close_matches(name.lower().replace("-", "_"), list(pool), n=3, cutoff=0.6)
        seen: list[str] = []
        for match in close:
            canonical = self._names[pool[match]]
            if canonical not in seen:
                seen.append(canonical)
        return seen

    def unknown_message(self, name: str) -> str:
        close = self.suggestions(name)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        broken = ""
        if self.problems:
            count = len(self.problems)
            broken = f" ({count} plugin{'s' if count > 1 else ''} failed to load; see 'weightgen list'.)"
        return f"Unknown initializer {name!r}.{hint} Run 'weightgen list' to see them all.{broken}"

    def load_plugins(self, entry_points: Iterable[Any] | None = None) -> None:
        """Add the specs of every plugin; record (never raise) what goes wrong.

        ``entry_points`` defaults to the installed ones of :data:`ENTRY_POINT_GROUP`. An
        entry point's specs are added all or none.
        """
        if entry_points is None:
            entry_points = installed_entry_points()
        for entry_point in entry_points:
            label = f"plugin {entry_point.name!r} ({entry_point.value})"
            try:
                specs = plugin_specs(entry_point.load())
                origin = _origin(entry_point)
                specs = [replace(spec, origin=origin) for spec in specs]
                trial = Registry(dict(self._specs), dict(self._names))
                for spec in specs:
                    trial.add(spec)
            except Exception as error:  # a plugin's failure is its own, never the built-ins'
                detail = f": {error}" if str(error) else ""
                self._problems.append(f"{label} was skipped: {type(error).__name__}{detail}")
                continue
            for spec in specs:
                self.add(spec)


def installed_entry_points() -> list[Any]:
    """The installed entry points of :data:`ENTRY_POINT_GROUP`, each once."""
    from importlib.metadata import entry_points

    unique: dict[tuple[str, str], Any] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        unique.setdefault((entry_point.name, entry_point.value), entry_point)
    return list(unique.values())


def plugin_specs(loaded: Any) -> list[InitializerSpec]:
    """The specs an entry point's object stands for: a spec, or a callable returning spec(s)."""
    if isinstance(loaded, InitializerSpec):
        specs = [loaded]
    elif callable(loaded):
        produced = loaded()
        specs = [produced] if isinstance(produced, InitializerSpec) else list(produced)
    else:
        raise TypeError(
            f"expected an InitializerSpec or a callable returning specs, got {type(loaded).__name__}"
        )
    for spec in specs:
        if not isinstance(spec, InitializerSpec):
            raise TypeError(f"expected InitializerSpec objects, got {type(spec).__name__}")
        for name in spec.names:
            if not isinstance(name, str) or not name or name.startswith("-") or any(
                    c.isspace() for c in name):
                raise ValueError(f"{name!r} is not a usable initializer name")
    if not specs:
        raise ValueError("it provides no initializers")
    return specs


def _origin(entry_point: Any) -> str:
    dist = getattr(entry_point, "dist", None)
    if dist is not None:
        return f"plugin {dist.name} {dist.version}"
    return f"plugin {entry_point.value}"


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The registry of built-in initializers, then plugins, built once (the plugins when
    first needed: listing every name, or a name that is not a built-in's)."""
    global _REGISTRY
    if _REGISTRY is None:
        from weightgen.families import builtin_specs

        built = Registry()
        for spec in builtin_specs():
            built.add(spec)
        built._plugins_pending = True
        _REGISTRY = built
    return _REGISTRY


def get(name: str) -> InitializerSpec:
    """The spec called ``name``; unknown names raise :class:`UnknownInitializerError`."""
    return registry().get(name)
