"""The ``weightgen`` command: parses arguments, calls the library, prints. No logic of its own.

Every initializer in the registry is its own subcommand, built on demand from its spec
(so ``--help`` and completion show exactly its parameters, and start-up does not pay for
all of them). Errors become one line on stderr and the exit code of
:class:`~weightgen.errors.ExitCode`.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

import click

from weightgen._version import __version__
from weightgen.completion import entry_name_completer
from weightgen.errors import ExitCode, WeightgenError
from weightgen.registry import InitializerSpec, registry
from weightgen.streams import STREAMS

if TYPE_CHECKING:
    from weightgen.params import Param

FORMAT_NAMES = ("npy", "npz", "hdf5", "safetensors")
COMPRESSIONS = ("gzip", "lzf")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: ``--version``, on the group and on every command (SPEC §1: "at every level").
version_option = click.version_option(__version__, "--version", prog_name="weightgen",
                                      message="%(prog)s %(version)s")
#: --threads of generate and batch: the calling thread writes (and makes blocks when it
#: would wait) while the others generate.
THREADS_HELP = ("Threads in all, one of them writing while a tensor streams out "
                "[default: the CPUs this process may use]; never changes the values.")


class ParamType(click.ParamType):
    """A registry parameter on the command line: text in, checked by the library.

    Conversion and checks live in :mod:`weightgen.params` (one place, one wording); this
    type only names the metavar and completes choices.
    """

    def __init__(self, param: Param) -> None:
        self.param = param
        self.name = param.kind

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.param.metavar

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        choices = [*self.param.choices, *self.param.synonyms]
        return [CompletionItem(c) for c in choices if c.startswith(incomplete)]


class Choices(click.ParamType):
    """Free text completed from a fixed list; the library reports bad values in its own words."""

    name = "choice"

    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.choices) + "]"

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(c) for c in self.choices if c.startswith(incomplete)]


def param_option(param: Param) -> click.Parameter:
    """The click option (or argument) of a registry parameter."""
    if param.positional:
        return click.Argument([param.name], type=ParamType(param), required=param.required,
                              metavar=param.option)
    help_text = f"{param.help} [default: {param.describe_default()}]"
    if param.kind == "bool":
        flag = param.option[2:]
        return click.Option([f"--{flag}/--no-{flag}", param.name], default=None, help=help_text)
    return click.Option([param.option, param.name], type=ParamType(param), default=None,
                        help=help_text, required=False)


def output_options(spec: InitializerSpec) -> list[click.Option]:
    """The options every generate command shares (fan options only where fans apply)."""
    from weightgen.fans import LAYOUTS

    options = [
        click.Option(["--shape"], required=True, metavar="DIMS",
                     help="Comma- or x-separated positive ints (256,128 or 3x3x64x128); '' for a scalar."),
        click.Option(["--dtype"], type=Choices(spec.dtypes), default="float32", show_default=True,
                     help="Data type of the tensor."),
        click.Option(["--seed"], metavar="N", default=None,
                     help="Non-negative integer of any size; drawn and reported when omitted."),
        click.Option(["--rng"], type=Choices(spec.rngs), default=spec.rngs[0], show_default=True,
                     help="Random stream. " + "; ".join(
                         f"{name}: {STREAMS[name].reproduces}" for name in spec.rngs) + "."),
        click.Option(["-o", "--output"], metavar="FILE|-", type=click.Path(dir_okay=False, allow_dash=True),
                     default=None,
                     help="Write here; the extension picks the format; '-' is stdout. Without it only the summary is shown."),
        click.Option(["--format"], type=Choices(FORMAT_NAMES), default=None,
                     help="Override the format the extension implies."),
        click.Option(["--name"], default="weight", show_default=True, shell_complete=entry_name_completer("output"),
                     help="Entry name inside a container (npz key, HDF5 path, safetensors key)."),
        click.Option(["--force"], is_flag=True,
                     help="Replace an existing .npy file, or the entry of the same name in a container."),
        click.Option(["--compression"], type=Choices(COMPRESSIONS), default=None,
                     help="Compress the entry: gzip or lzf for HDF5, gzip for .npz."),
    ]
    if spec.uses_fans:
        options += [
            click.Option(["--layout"], type=Choices(LAYOUTS), default=None,
                         help=f"How fans are read from the shape [default: {spec.layout}]."),
            click.Option(["--fan-in"], type=click.FLOAT, default=None, help="Override the computed fan_in."),
            click.Option(["--fan-out"], type=click.FLOAT, default=None, help="Override the computed fan_out."),
        ]
    options += [
        click.Option(["--threads"], type=click.IntRange(min=1), default=None,
                     help=THREADS_HELP),
        click.Option(["--json", "as_json"], is_flag=True,
                     help="Print the summary as one JSON line (on stderr when stdout carries data)."),
        click.Option(["-q", "--quiet"], is_flag=True, help="Print no summary."),
    ]
    return options


def initializer_command(spec: InitializerSpec) -> click.Command:
    """The subcommand that generates with ``spec``."""

    def callback(shape: str, dtype: str, seed: str | None, output: str | None, format: str | None,
                 name: str, force: bool, compression: str | None, threads: int | None, as_json: bool,
                 quiet: bool, rng: str, layout: str | None = None, fan_in: float | None = None,
                 fan_out: float | None = None, **given: Any) -> None:
        from weightgen import dtypes, report
        from weightgen.generation import build_request, generate

        params = {key: value for key, value in given.items() if value is not None}
        request, _ = build_request(spec.name, shape, dtype=dtype, seed=seed, layout=layout,
                                   fan_in=fan_in, fan_out=fan_out, name=name, params=params,
                                   rng=rng)
        total = math.prod(request.shape) * dtypes.itemsize(request.dtype)
        with report.progress(total, spec.name, enabled=not quiet) as advance:
            result = generate(spec.name, request.shape, dtype=request.dtype, seed=request.seed,
                              layout=layout, fan_in=fan_in, fan_out=fan_out, threads=threads,
                              output=output, format=format, name=name, force=force,
                              compression=compression, progress=advance, rng=request.rng,
                              keep_array=False, **params)
        if not quiet:
            report.show_summary(result.summary(), as_json=as_json, stdout_has_data=_writes_stdout(output))

    aliases = [a for a in spec.aliases if not a.startswith(f"{spec.family}.")]
    epilog = f"Family: {spec.family}. Reproduces {spec.reference}." if spec.reference else f"Family: {spec.family}."
    if aliases:
        epilog += " Aliases: " + ", ".join(aliases) + "."
    return version_option(click.Command(
        name=spec.name,
        callback=callback,
        params=[*output_options(spec), *(param_option(p) for p in spec.params)],
        help=f"{spec.summary[0].upper()}{spec.summary[1:]}.",
        short_help=spec.summary,
        epilog=epilog,
        context_settings=CONTEXT,
    ))


def _writes_stdout(output: str | None) -> bool:
    """Whether the data went to stdout (``-o -``, ``-o /dev/stdout``): the JSON summary may not."""
    if output is None:
        return False
    from weightgen.formats import is_stdout

    return is_stdout(output)


class Stopped(BaseException):
    """Ctrl-C or SIGTERM, carried past click (which would print a blank line for Ctrl-C)
    to :func:`main`, which prints one line and exits 130 or 143. A BaseException, like
    KeyboardInterrupt, so no ``except Exception`` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class WeightgenGroup(click.Group):
    """Built-in commands plus one command per registered initializer, resolved lazily."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:
            raise click.UsageError("no command given: name an initializer (weightgen list shows them) "
                                   "or one of inspect, list, batch", ctx)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            raise Stopped(signal.SIGINT) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*sorted(self.commands), *registry().canonical_names()]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        spec = registry().find(cmd_name)
        return initializer_command(spec) if spec is not None else None

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if not name.startswith("-") and self.get_command(ctx, name) is None:
            if ctx.resilient_parsing:  # completing: an unknown name completes nothing, silently
                raise click.exceptions.Exit(0)
            raise click.UsageError(registry().unknown_message(name), ctx)
        return super().resolve_command(ctx, args)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_help(ctx, formatter)
        from weightgen.report import warning

        for problem in registry().problems:
            warning(problem)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        builtin = [(name, cmd.get_short_help_str(80)) for name, cmd in sorted(self.commands.items())]
        with formatter.section("Commands"):
            formatter.write_dl(builtin)
        families: dict[str, list[tuple[str, str]]] = {}
        for spec in registry():
            families.setdefault(spec.family, []).append((spec.name, spec.summary))
        for family, rows in families.items():
            with formatter.section(f"Initializers ({family})"):
                formatter.write_dl(rows)


@click.group(cls=WeightgenGroup, context_settings=CONTEXT)
@version_option
def cli() -> None:
    """Generate neural-network initial weights, reproducibly.

    \b
      weightgen glorot_uniform --shape 256,128 -o w.npy
      weightgen he_normal --shape 3,3,64,128 --seed 7 -o - | ...
      weightgen INITIALIZER --help      its parameters and options
      weightgen list                    every initializer
      weightgen batch spec.toml -o model.h5
    """


@cli.command("list", context_settings=CONTEXT)
@version_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per initializer.")
@click.option("--family", type=Choices(("keras", "torch", "jax", "custom")), default=None,
              help="Only this family.")
def list_command(as_json: bool, family: str | None) -> None:
    """Every initializer: name, family, parameters, summary."""
    from weightgen import listing

    listing.show(family=family, as_json=as_json)


@cli.command("batch", context_settings=CONTEXT)
@version_option
@click.argument("spec", metavar="SPEC|-", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-o", "--output", metavar="FILE|-", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write every tensor into this container (.npz, .h5, .safetensors; '-' is stdout, .npz "
                   "unless --format). Overrides the spec's output.")
@click.option("--output-dir", metavar="DIR", type=click.Path(file_okay=False), default=None,
              help="Write one .npy per tensor here instead (dense_1/kernel -> DIR/dense_1/kernel.npy).")
@click.option("--format", type=Choices(FORMAT_NAMES), default=None, help="Override the format -o implies.")
@click.option("--seed", metavar="N", default=None,
              help="Master seed (overrides the spec's); each tensor's seed derives from it and the tensor's name.")
@click.option("--force", is_flag=True, help="Replace existing entries (or .npy files) of the same names.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help=THREADS_HELP)
@click.option("--json", "as_json", is_flag=True,
              help="One JSON line per tensor (on stderr when stdout carries data).")
@click.option("-q", "--quiet", is_flag=True, help="Print no summary.")
def batch_command(spec: str, output: str | None, output_dir: str | None, format: str | None, seed: str | None,
                  force: bool, threads: int | None, as_json: bool, quiet: bool) -> None:
    """Many tensors from one TOML or JSON spec, into one file.

    The spec holds a master seed, defaults for every tensor (dtype, layout, compression),
    an optional output, and [[tensor]] tables of name, init, shape and the initializer's
    parameters. Each tensor's seed derives from the master seed and its name alone. The
    whole spec is checked before anything is generated.

    \b
      weightgen batch examples/mlp.toml -o mlp.h5
      weightgen batch spec.json --output-dir weights/ --seed 7
    """
    from weightgen import batch, report

    planned = batch.plan_batch(spec, seed=seed, output=output, output_dir=output_dir, format=format, force=force)
    with report.progress(planned.nbytes, "batch", enabled=not quiet) as advance:
        done = batch.run_batch(planned, threads=threads, progress=advance, keep_arrays=False)
    if not quiet:
        where = done.output or done.output_dir
        how = "one .npy per tensor" if done.output_dir is not None else done.format
        report.show_batch(done.summaries(), output=where, format_name=how, seed=done.seed, seconds=done.seconds,
                          as_json=as_json)


class InitializerName(click.ParamType):
    """An initializer's name, completed from the registry (checked by the library)."""

    name = "initializer"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "INIT"

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(n) for n in registry().all_names() if n.startswith(incomplete)]


class InspectCommand(click.Command):
    """``inspect``, whose options also include the parameters of the ``--expect`` initializer."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        own = {option for param in self.params for option in (*param.opts, *param.secondary_opts)}
        try:
            args, ctx.meta["expect_params"] = split_expect_params(args, own)
        except click.UsageError:
            if not ctx.resilient_parsing:  # completing a half-typed command: nothing to say
                raise
            ctx.meta["expect_params"] = {}
        return super().parse_args(ctx, args)


def split_expect_params(args: list[str], own: set[str]) -> tuple[list[str], dict[str, Any]]:
    """Take the ``--expect`` initializer's parameters out of ``args``.

    ``--scale 2``, ``--mode=fan_out`` and boolean ``--periodic``/``--no-periodic`` become
    ``{"scale": "2", ...}``, converted and checked later by ``params.bind`` with the
    messages ``generate`` gives. With ``--expect``, an option that is neither inspect's
    own nor the initializer's is passed on too, so the message lists the real parameters.
    """
    expect = _option_value(args, "--expect")
    spec = registry().find(expect) if expect is not None else None
    if spec is None:
        return args, {}
    by_option = {param.option: param for param in spec.params}
    rest: list[str] = []
    params: dict[str, Any] = {}
    tokens = iter(args)
    for token in tokens:
        flag, equals, value = token.partition("=")
        if token == "--":
            rest += [token, *tokens]
            break
        if not token.startswith("--") or flag in own:
            rest.append(token)
            continue
        param = by_option.get(flag)
        negated = by_option.get("--" + flag[len("--no-"):]) if flag.startswith("--no-") else None
        if param is not None and param.kind == "bool" and not equals:
            params[param.name] = True
        elif param is None and negated is not None and negated.kind == "bool" and not equals:
            params[negated.name] = False
        else:
            if not equals:
                value = next(tokens, None)
                if value is None:
                    raise click.UsageError(f"Option '{flag}' requires an argument.")
            params[param.name if param is not None else flag[2:].replace("-", "_")] = value
    return rest, params


def _option_value(args: list[str], option: str) -> str | None:
    for index, token in enumerate(args):
        if token == "--":
            break
        if token == option and index + 1 < len(args):
            return args[index + 1]
        if token.startswith(option + "="):
            return token.split("=", 1)[1]
    return None


@cli.command("inspect", cls=InspectCommand, context_settings=CONTEXT)
@version_option
@click.argument("files", nargs=-1, required=True, metavar="FILE|- [FILE...]")
@click.option("--name", "names", multiple=True, metavar="NAME", shell_complete=entry_name_completer("files"),
              help="Only this entry of a container (HDF5 path, npz or safetensors key); repeat for more.")
@click.option("--expect", type=InitializerName(), default=None,
              help="Compare with this initializer, its parameters following as options "
                   "(--expect variance_scaling --scale 2 --mode fan_out). Default: the initializer "
                   "the file's provenance names.")
@click.option("--layout", type=Choices(("keras", "torch", "jax")), default=None,
              help="How --expect reads fans from each entry's shape [default: its family's].")
@click.option("--fan-in", type=click.FLOAT, default=None, help="--expect's fan_in, whatever the shape.")
@click.option("--fan-out", type=click.FLOAT, default=None, help="--expect's fan_out, whatever the shape.")
@click.option("--alpha", type=click.FLOAT, default=1e-4, show_default=True,
              help="A Kolmogorov-Smirnov p-value below this fails the check.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per entry on stdout.")
@click.option("-q", "--quiet", is_flag=True,
              help="No report: only errors, and the exit code (1 when a check fails).")
def inspect_command(files: tuple[str, ...], names: tuple[str, ...], expect: str | None, layout: str | None,
                    fan_in: float | None, fan_out: float | None, alpha: float, as_json: bool,
                    quiet: bool) -> None:
    """The true statistics of every entry of weight files, and a verdict against an initializer.

    \b
      weightgen inspect model.h5                       every dataset; checked against its provenance
      weightgen inspect w.npy --expect he_normal --layout torch
      weightgen glorot_uniform --shape 256,128 -o - | weightgen inspect - --expect glorot_uniform

    Exit code 1 when an entry fails its check (or a file cannot be read).
    """
    import os

    from weightgen import inspect_report, inspection, report
    from weightgen.errors import CheckFailedError, InputError

    params = click.get_current_context().meta.get("expect_params", {})
    expectation = inspection.expectation_for(expect, params, layout=layout, fan_in=fan_in, fan_out=fan_out)
    total = sum(os.path.getsize(f) for f in files if f != "-" and os.path.isfile(f))
    reports: list[Any] = []
    unreadable = 0
    with report.progress(total, "inspect", enabled=not quiet) as advance:
        for path in files:
            try:
                shown = len(reports)
                for entry in inspection.iter_inspect(path, name=names, expectation=expectation, alpha=alpha,
                                                     progress=advance):
                    if not quiet:
                        inspect_report.show(entry, as_json=as_json)
                    reports.append(entry)
                if len(reports) == shown and not (as_json or quiet):
                    inspect_report.show_empty(path)
            except InputError as error:
                report.error(str(error))
                unreadable += 1
    if not (as_json or quiet):
        inspect_report.show_totals(reports)
    failure = inspect_report.failure_message(reports)
    if failure is not None:
        raise CheckFailedError(failure)
    if unreadable:
        click.get_current_context().exit(ExitCode.RUNTIME)


def _exit_code_for(error: BaseException) -> int:
    return int(getattr(error, "exit_code", ExitCode.RUNTIME))


def _usage_line(error: click.UsageError) -> str:
    message = error.format_message()
    command = error.ctx.command_path if error.ctx is not None else "weightgen"
    return f"{message} (see '{command} --help')"


def main(args: list[str] | None = None, prog_name: str | None = None) -> None:
    """Entry point: run the CLI, turning every failure into one line and an exit code."""
    signal.signal(signal.SIGTERM, _terminate)
    # Started with a standard stream closed (>&-, <&-, 2>&-): using stdout or stdin fails in
    # one line; errors meant for a closed stderr are dropped (the exit code still tells).
    if sys.stdout is None:
        sys.stdout = _closed_stream("stdout", "an output, e.g. > FILE")
    if sys.stdin is None:
        sys.stdin = _closed_stream("stdin", "an input, e.g. < FILE")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")
    # OpenBLAS's idle threads spin for about 0.1 s after it loads (with numpy) and after each
    # call, taking a core from the sampler's threads; let them sleep at once instead.
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    code: int = ExitCode.OK
    try:
        # Without standalone mode, click returns the code of a ctx.exit(code) instead of raising.
        returned = cli.main(args=args, prog_name=prog_name or "weightgen", standalone_mode=False)
        code = returned if isinstance(returned, int) else ExitCode.OK
    except click.exceptions.Exit as done:
        code = done.exit_code
    except click.UsageError as error:
        _error(_usage_line(error))
        code = ExitCode.USAGE
    except click.ClickException as error:
        _error(error.format_message())
        code = error.exit_code
    except WeightgenError as error:
        _error(str(error))
        code = _exit_code_for(error)
    except (KeyboardInterrupt, click.exceptions.Abort):
        _error("interrupted")
        code = ExitCode.INTERRUPTED
    except Stopped as stop:
        terminated = stop.signum == signal.SIGTERM
        _error("terminated" if terminated else "interrupted")
        code = ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED
    except BrokenPipeError:
        code = ExitCode.RUNTIME
    except OSError as error:
        _error(f"{error.strerror or error}" + (f": {error.filename}" if error.filename else ""))
        code = ExitCode.RUNTIME
    except Exception as error:  # a bug: still one line, and the traceback on request
        if os.environ.get("WEIGHTGEN_TRACEBACK"):
            raise
        _error(f"internal error ({type(error).__name__}: {error}); please report it with the command "
               "that caused it (WEIGHTGEN_TRACEBACK=1 shows where it happened).")
        code = ExitCode.RUNTIME
    _flush_quietly()
    sys.exit(code)


def run(prog_name: str | None = None) -> None:
    """The ``weightgen`` command: :func:`main`, tuned for a process that ends with it.

    Cyclic garbage collection is paused for the whole run, and everything is frozen before
    the interpreter shuts down: otherwise the collector scans the hundreds of thousands of
    objects numpy and friends create at import, several times during imports and again at
    exit, which costs a small command a sizeable share of its time (``benchmarks/
    startup.py``). Memory is still freed by reference counting; weightgen's work creates no
    cyclic garbage worth collecting. Python's warnings are silenced too (unless ``-W`` or
    PYTHONWARNINGS asks for them): the command speaks in its own one-line messages. Python
    callers use :func:`main`, which changes nothing.
    """
    import gc

    gc.disable()
    sys.set_int_max_str_digits(0)  # seeds of any size (SPEC §1), printed in full
    if not sys.warnoptions:  # the command prints its own lines, not numpy's warnings (-W shows them)
        import warnings

        warnings.simplefilter("ignore")
    try:
        main(prog_name=prog_name)
    finally:
        gc.freeze()


def _closed_stream(name: str, remedy: str) -> Any:
    """A text stream standing for a closed stdin or stdout: using it fails with one OSError."""
    import errno
    import io

    def fail(*args: Any) -> Any:
        raise OSError(errno.EBADF, f"{name} is closed; give the command {remedy}")

    class Closed(io.RawIOBase):
        def readable(self) -> bool:
            return name == "stdin"

        def writable(self) -> bool:
            return name != "stdin"

        write = readinto = fail

    return io.TextIOWrapper(Closed(), encoding="utf-8", write_through=True)  # type: ignore[arg-type]


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM unwinds like Ctrl-C, so temporary files are removed; the exit code is 143."""
    raise Stopped(signal.SIGTERM)


def _error(message: str) -> None:
    from weightgen.report import error

    try:
        error(message)
    except OSError:
        pass


def _flush_quietly() -> None:
    """Flush stdout now so a closed pipe is noticed here, not as a traceback at exit."""
    try:
        sys.stdout.flush()
    except OSError:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass

