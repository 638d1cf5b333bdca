"""The `archc` command line: thin typer commands over the Python API.

Exit codes: 0 when every spec checks, 1 when any spec has an error, 2 for usage errors (no such
file, a bad option, an unknown `--set` parameter). An `ArchcError` exits with its `exit_code`,
which the kinds of its codes decide (archc/codes/), not the class it was raised as. Heavy
modules are imported inside commands, so that `archc --help` and `archc check` start fast and
never import torch.
"""

from __future__ import annotations

import contextlib
import sys
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from archc.diagnostics import ArchcError
    from archc.spec.document import Override


class _Commands(TyperGroup):
    """archc's commands, such that a malformed `archc check` command line (an unknown option, a
    missing argument) asked for `--format json|sarif|github` still prints a document reporting
    it: a CI step that uploads the output must not get an empty file."""

    def resolve_command(self, ctx: typer.Context, args: list[str]):
        ctx.meta["archc.args"] = list(args)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except _UsageError as exc:
            command, *args = ctx.meta.get("archc.args") or [None]
            format = _format_asked(args)
            if command == "check" and format in {f.value for f in CheckFormat} - {"text"}:
                from archc.diagnostics import Diagnostic

                failure = Diagnostic("bad-arguments", exc.format_message(), COMMAND_LINE)
                typer.echo(_check_report(format, [], 0, [failure]))
            raise


# click's UsageError, which typer may vendor: the base of the one usage error typer exports.
_UsageError = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def _format_asked(args: list[str]) -> str | None:
    """The value of the last `--format`/`-f` option in `args`, read without parsing them."""
    format = None
    for index, arg in enumerate(args):
        if arg in ("--format", "-f") and index + 1 < len(args):
            format = args[index + 1]
        elif arg.startswith("--format="):
            format = arg.partition("=")[2]
        elif arg.startswith("-f") and not arg.startswith("--"):
            format = arg[2:]
    return format


app = typer.Typer(
    cls=_Commands,
    name="archc",
    help="Architecture spec compiler and static shape checker for convolutional networks.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

EXIT_OK, EXIT_SPEC, EXIT_USAGE = 0, 1, 2
COMMAND_LINE = "<command line>"  # the file of a diagnostic about the command line itself


class CheckFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"
    sarif = "sarif"


class ReportFormat(str, Enum):
    """The output formats of export, bench and diff."""

    text = "text"
    json = "json"


ReportFormatOption = Annotated[ReportFormat, typer.Option("--format", "-f", help="Output format.")]


SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override a spec parameter: NAME=VALUE (repeatable).", metavar="NAME=VALUE"
    ),
]
FollowOption = Annotated[
    bool,
    typer.Option(
        "--follow-symlinks",
        help="Read specs that are symlinks to files outside the folder checked "
        "(or, for a file, outside the current directory); refused by default.",
    ),
]
InputOption = Annotated[
    str | None,
    typer.Option(
        "--input", help="Input shape, batch first: 1,3,224,224 or N,3,H,W.", metavar="DIMS"
    ),
]


def _usage(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def _refuse_symlink(spec: str, follow_symlinks: bool) -> None:
    """Raise, before the spec is read, when it is a symlink out of the current directory: in
    CI its target (a credentials file, /proc/self/environ) would be quoted in an error."""
    from archc.api import symlink_outside
    from archc.diagnostics import UsageError

    refusal = None if follow_symlinks else symlink_outside(spec)
    if refusal is not None:
        raise UsageError([refusal])


def _parse_set(pairs: list[str] | None) -> dict[str, Override]:
    """The `--set` options as overrides; ValueError says what is wrong."""
    from archc.cli_args import parse_set

    return parse_set(pairs or [])


def _parse_input(text: str | None) -> list[int | str] | None:
    """The `--input` option as dims, or None; ValueError says what is wrong."""
    if text is None:
        return None
    from archc.cli_args import parse_dims

    try:
        return parse_dims(text)
    except ValueError as exc:
        raise ValueError(f"--input {text}: {exc}") from None


def _overrides(pairs: list[str] | None) -> dict[str, Override]:
    try:
        return _parse_set(pairs)
    except ValueError as exc:
        raise _usage(str(exc)) from None


def _input(text: str | None) -> list[int | str] | None:
    try:
        return _parse_input(text)
    except ValueError as exc:
        raise _usage(str(exc)) from None


@app.command()
def check(
    specs: Annotated[list[str], typer.Argument(help="Spec files, or folders to search for specs.")],
    format: Annotated[
        CheckFormat, typer.Option("--format", "-f", help="Output format.")
    ] = CheckFormat.text,
    set_: SetOption = None,
    input: InputOption = None,
    follow_symlinks: FollowOption = False,
    skip_non_specs: Annotated[
        bool,
        typer.Option(
            "--skip-non-specs",
            help="Skip files named that are not specs (no top-level `archc:` key), as folders "
            "do, instead of refusing them: for tools that name every YAML file (pre-commit).",
        ),
    ] = False,
) -> None:
    """Check specs statically: every shape, parameter and MAC count, and every error.

    A spec is a YAML file with the top-level key `archc:`. A folder is searched for specs,
    not below hidden folders, node_modules or virtual environments; its other YAML files are
    skipped and counted.

    Example: archc check specs/densenet.yaml --input N,1,H,W
    """
    from archc.api import check_file, search_specs
    from archc.diagnostics import ArchcError, Diagnostic, UsageError

    try:
        try:
            overrides, dims = _parse_set(set_), _parse_input(input)
        except ValueError as exc:
            raise UsageError([Diagnostic("bad-arguments", str(exc), COMMAND_LINE)]) from None
        found = search_specs(specs, follow_symlinks, skip_non_specs)
        results = [check_file(path, overrides, dims) for path in found.specs]
    except ArchcError as exc:
        _fail_check(exc.diagnostics, format.value)
        raise typer.Exit(exc.exit_code) from None
    typer.echo(_check_report(format.value, results, len(found.skipped)))
    raise typer.Exit(EXIT_OK if all(r.ok for r in results) else EXIT_SPEC)


def _check_report(format: str, results: list, skipped: int, failures: list = ()) -> str:
    """`archc check`'s output in `format` (a CheckFormat value)."""
    from archc.report import to_github, to_json, to_sarif, to_text
    from archc.version import __version__

    if format == "json":
        return to_json(results, __version__, skipped, failures)
    if format == "sarif":
        return to_sarif(results, __version__, skipped, failures)
    if format == "github":
        return to_github(results, skipped, failures)
    return to_text(results, skipped)


def _fail_check(diagnostics: list, format: str) -> None:
    """Report a check that failed before checking: the diagnostics on stderr and, in a machine
    format, a document saying so on stdout, so that a CI step reading it gets valid input."""
    from archc.diagnostics import render

    for diag in diagnostics:
        located = diag.file != COMMAND_LINE
        typer.echo(
            render(diag, None) if located else f"error[{diag.code}]: {diag.message}", err=True
        )
    if format != "text":
        typer.echo(_check_report(format, [], 0, diagnostics))


@app.command()
def ops(
    format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ReportFormat.text,
) -> None:
    """List every op with its fields and defaults, then the structural items.

    Defaults are written as in a spec (`[1, 1]`, `null`). Structural items (`repeat`, `seq`,
    the merges, `ref`) shape the network rather than compute.

    Example: archc ops --format json
    """
    import json

    from archc.editor_schema import describe
    from archc.ops import OPS
    from archc.ops.base import field_docs
    from archc.report import yaml_value
    from archc.spec.expand import STRUCTURAL, structural_summary

    def fields(model) -> list[dict]:
        if model.model_fields.keys() == {"root"}:  # `ref: name` takes a name, not fields
            return []
        return [
            {
                "name": name,
                "required": info.is_required(),
                "default": None if info.is_required() else yaml_value(info.default),
                "description": describe(field_docs(model).get(name)),
            }
            for name, info in model.model_fields.items()
        ]

    listing = {
        "ops": [
            {"name": name, "summary": cls.summary, "category": cls.category, "fields": fields(cls)}
            for name, cls in sorted(OPS.items())
            if name not in STRUCTURAL
        ],
        "structural": [
            {"name": name, "summary": structural_summary(name), "fields": fields(model)}
            for name, model in STRUCTURAL.items()
        ],
    }
    if format is ReportFormat.json:
        typer.echo(json.dumps(listing, indent=2))
        return
    for title, entries in (("ops", listing["ops"]), ("structural items", listing["structural"])):
        typer.echo(f"{title}:")
        for entry in entries:
            typer.echo(f"  {entry['name']:18} {entry['summary']}")
            for f in entry["fields"]:
                default = "required" if f["required"] else f"default {f['default']}"
                typer.echo(f"      {f['name']:20} {default:18} {f['description']}".rstrip())


@app.command()
def explain(
    code: Annotated[
        str | None,
        typer.Argument(help="A diagnostic code, e.g. channel-mismatch; none lists them all."),
    ] = None,
) -> None:
    """Explain a diagnostic code: what it means, why, how to fix it, with an example.

    The example is checked as you read it: the diagnostic shown is what `archc check` prints.

    Example: archc explain spatial-collapse
    """
    from archc.codes import CODES
    from archc.diagnostics import nearest
    from archc.explain import explain as long_form
    from archc.explain import listing

    if code is None:
        typer.echo(listing())
        return
    if code not in CODES:
        close = nearest(code.lower(), list(CODES))
        raise _usage(
            f"no diagnostic code `{code}`" + (f"; did you mean `{close}`?" if close else "")
        )
    typer.echo(long_form(code))


SCHEMA_FILE = "archc.schema.json"  # where `archc new` puts the schema, at a repository's root


@app.command()
def schema(
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help=f"Write the schema to this file, e.g. {SCHEMA_FILE} in your repository, "
            "instead of printing it.",
        ),
    ] = None,
) -> None:
    """Print the JSON Schema of spec files, for editors and validators.

    Example: archc schema -o archc.schema.json
    """
    if output is None:
        typer.echo(_schema_text(), nl=False)
        return
    _write_schema(output)
    typer.echo(f"wrote {output}")


def _schema_text() -> str:
    import json

    from archc.editor_schema import spec_schema

    return json.dumps(spec_schema(), indent=2) + "\n"


def _write_schema(path) -> None:
    from archc.draw import write_atomic

    try:
        write_atomic(path, _schema_text())
    except OSError as exc:
        raise _usage(f"cannot write {path}: {exc.strerror or exc}") from None


_TEMPLATE = """\
# yaml-language-server: $schema={schema}
archc: 1
name: {name}
description: A small convolutional classifier; edit me.
input: [N, 3, 32, 32]
params:
  classes: 10
  width: 32
blocks:
  conv_bn_relu:
    description: a 3×3 convolution, batch norm and ReLU
    args: {{out: int, stride: {{type: int, default: 1}}}}
    body:
      - conv2d: {{out_channels: $out, kernel_size: 3, stride: $stride, padding: 1, bias: false}}
      - batchnorm2d
      - relu
body:
  - conv_bn_relu: {{out: $width}}
  - conv_bn_relu: {{out: $width * 2, stride: 2}}
  - conv_bn_relu: {{out: $width * 4, stride: 2}}
  - globalavgpool2d
  - flatten
  - linear: {{out_features: $classes}}
"""


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="The network's name; writes NAME.yaml.")],
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Where to write (default NAME.yaml).")
    ] = None,
    schema_path: Annotated[
        str | None,
        typer.Option(
            "--schema",
            help=f"The editor schema the spec's modeline points to (default: {SCHEMA_FILE} at "
            "the root of the git repository holding the spec, or beside it); written if absent.",
        ),
    ] = None,
) -> None:
    """Write a new spec from a template that checks.

    Its first line points editors (the YAML language server) to the schema by a relative
    path inside your repository, so that it works on every machine that clones it.

    Example: archc new mynet && archc check mynet.yaml
    """
    import os
    import re
    from pathlib import Path

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", name):
        raise _usage(f"`{name}` is not a usable name: use letters, digits, `_` and `-`")
    path = Path(output or f"{name}.yaml")
    folder = path.resolve().parent
    schema_file = Path(schema_path) if schema_path else _repository_root(folder) / SCHEMA_FILE
    try:
        with open(path, "x", encoding="utf-8") as handle:  # never overwrite
            relative = Path(os.path.relpath(schema_file.resolve(), folder)).as_posix()
            handle.write(_TEMPLATE.format(name=name, schema=relative))
    except FileExistsError:
        raise _usage(f"{path} exists; choose another name or --output") from None
    except OSError as exc:
        raise _usage(f"cannot write {path}: {exc.strerror}") from None
    wrote = f"wrote {path}"
    if not schema_file.exists():
        _write_schema(schema_file)
        shown = os.path.relpath(schema_file)
        wrote += f" and {shown} (for editors; commit it, refresh with archc schema -o)"
    typer.echo(f"{wrote}; check it with: archc check {path}")


def _repository_root(folder):
    """The nearest folder at or above `folder` holding `.git`, else `folder` itself."""
    return next((p for p in (folder, *folder.parents) if (p / ".git").exists()), folder)


@app.command()
def lsp() -> None:
    """Serve the language server over stdin and stdout, for editors.

    Diagnostics on every change, an inlay hint with each layer's output shape and parameters,
    hovers (shapes, parameters, MACs, receptive field; a field's documentation), completion
    and go-to-definition. Needs the `lsp` extra (pip install 'archc[lsp]'); editor set-ups are
    in docs/editor.md.

    Example: archc lsp
    """
    try:
        from archc.lsp.server import serve
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in ("pygls", "lsprotocol"):
            raise
        typer.echo(
            f"error[missing-dependency]: archc lsp needs {exc.name}, which is not installed\n"
            "  = help: pip install 'archc[lsp]'",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE) from None
    serve()


class ExportProvider(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class ExportExporter(str, Enum):
    torchscript = "torchscript"
    dynamo = "dynamo"


class ExportDtype(str, Enum):
    float32 = "float32"
    float16 = "float16"


@app.command()
def export(
    spec: Annotated[str, typer.Argument(help="The spec file to export.")],
    output: Annotated[str, typer.Option("--output", "-o", help="The .onnx file to write.")],
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset to write.")] = 18,
    input: InputOption = None,
    set_: SetOption = None,
    static_batch: Annotated[
        bool, typer.Option("--static-batch", help="Fix the batch size instead of a dynamic axis.")
    ] = False,
    provider: Annotated[
        ExportProvider, typer.Option("--provider", help="ONNX Runtime provider for verifying.")
    ] = ExportProvider.auto,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip the checks on ONNX and ONNX Runtime.")
    ] = False,
    exporter: Annotated[
        ExportExporter, typer.Option("--exporter", help="torch's ONNX exporter to use.")
    ] = ExportExporter.torchscript,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the random weights (0 to 2^64-1).")
    ] = 0,
    max_params: Annotated[
        int,
        typer.Option("--max-params", help="Refuse networks with more parameters and buffers."),
    ] = 2_000_000_000,
    max_activation_bytes: Annotated[
        int,
        typer.Option(
            "--max-activation-bytes",
            help="Refuse networks whose activations at the largest batch run exceed this.",
        ),
    ] = 2**30,
    format: ReportFormatOption = ReportFormat.text,
    follow_symlinks: FollowOption = False,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            help="Trained weights: a .pt/.pth state dict (bare, or under `state_dict` or "
            "`model`) or .safetensors, read without running code; keys must be the spec's paths.",
            metavar="FILE",
        ),
    ] = None,
    dtype: Annotated[
        ExportDtype,
        typer.Option("--dtype", help="The graph's float type; float16 is verified at 1e-2."),
    ] = ExportDtype.float32,
) -> None:
    """Export a spec to ONNX atomically, then prove it on ONNX Runtime against PyTorch.

    Exit 0 when written (and verified), 1 when the spec does not check, the weights do not fit
    it, or the export or its verification fails, 2 for usage errors (a bad path or option, an
    unreadable or unsafe weights file, CUDA asked for where ONNX Runtime has none, a missing
    dependency). On any failure OUT is left as it was.

    Example: archc export specs/resnet18.yaml -o r18.onnx --weights r18.pth
    """
    import json

    from archc.api import load
    from archc.diagnostics import ArchcError, Diagnostic
    from archc.version import __version__

    overrides, dims = _overrides(set_), _input(input)
    show_progress = format is ReportFormat.text and sys.stderr.isatty()

    def progress(message: str) -> None:
        typer.echo(f"archc: {message}…", err=True)

    def fail(error: ArchcError, source: str | None = None) -> typer.Exit:
        return _fail(error, source, format, spec)

    source = None
    try:
        _refuse_symlink(spec, follow_symlinks)
        loaded = load(spec, overrides)
        source = loaded.source
        from archc.onnx_export import export_onnx

        result = export_onnx(
            loaded,
            output,
            opset=opset,
            input_dims=dims,
            static_batch=static_batch,
            provider=provider.value,
            verify=not no_verify,
            exporter=exporter.value,
            seed=seed,
            progress=progress if show_progress else None,
            max_params=max_params,
            max_activation_bytes=max_activation_bytes,
            weights=weights,
            dtype=dtype.value,
        )
    except ArchcError as exc:
        raise fail(exc, source) from None
    except Exception as exc:  # a bug: still one line and a clean exit code
        message = f"unexpected {type(exc).__name__}: {exc}".splitlines()[0]
        raise fail(ArchcError([Diagnostic("export-failed", message, spec)])) from None
    if format is ReportFormat.json:
        typer.echo(json.dumps({"archc": __version__, "ok": True, **result.to_json()}))
    else:
        typer.echo(result.summary())


def _fail(error: ArchcError, source: str | None, format: ReportFormat, spec: str) -> typer.Exit:
    """Print `error` for export and bench: a spec's errors rendered with their source (read
    from `spec` when not given), any other one line each (and its layer's line where it has
    one), and with `--format json` a document with `"ok": false`; the exit to raise."""
    import json
    from pathlib import Path

    from archc.diagnostics import SpecError, printable, render
    from archc.version import __version__

    if source is None and isinstance(error, SpecError):
        with contextlib.suppress(OSError):
            source = Path(spec).read_text("utf-8", errors="replace")
    for diag in error.diagnostics:
        if isinstance(error, SpecError):
            typer.echo(render(diag, source), err=True)
        else:  # the message may quote a weights file's keys: made printable
            hint = f" (help: {printable(diag.hint)})" if diag.hint else ""
            typer.echo(f"error[{diag.code}]: {printable(diag.message)}{hint}", err=True)
            if diag.span is not None:  # a weight of a layer: the layer's line
                typer.echo(f"  --> {printable(diag.file)}:{diag.line}:{diag.column}", err=True)
    if format is ReportFormat.json:
        diagnostics = [d.to_json() for d in error.diagnostics]
        typer.echo(json.dumps({"archc": __version__, "ok": False, "diagnostics": diagnostics}))
    return typer.Exit(error.exit_code)


@app.command()
def bench(
    target: Annotated[str, typer.Argument(help="A spec, or an ONNX file.", metavar="SPEC|MODEL")],
    batch: Annotated[
        str, typer.Option("--batch", help="Batch sizes to time.", metavar="1,8,32")
    ] = "1,8,32",
    provider: Annotated[
        ExportProvider,
        typer.Option("--provider", help="ONNX Runtime's provider (and torch's device)."),
    ] = ExportProvider.auto,
    threads: Annotated[
        int | None, typer.Option("--threads", help="Threads of each runtime (default: all cores).")
    ] = None,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed runs per batch size.")] = 3,
    runs: Annotated[int, typer.Option("--runs", help="Timed runs per batch size, at most.")] = 50,
    max_seconds: Annotated[
        float, typer.Option("--max-seconds", help="Stop timing a batch size after this.")
    ] = 10.0,
    dtype: Annotated[
        ExportDtype, typer.Option("--dtype", help="The float type of the graph and module.")
    ] = ExportDtype.float32,
    no_torch: Annotated[bool, typer.Option("--no-torch", help="Time ONNX Runtime only.")] = False,
    set_: SetOption = None,
    input: InputOption = None,
    format: ReportFormatOption = ReportFormat.text,
    follow_symlinks: FollowOption = False,
) -> None:
    """Time a spec or an ONNX file on ONNX Runtime, with PyTorch eager beside it.

    Latency (p50, p90, p99) and throughput per batch size, each runtime in a process of its
    own, after warm-up runs. A spec is exported first (random weights); for an ONNX file
    written by `archc export`, PyTorch runs the spec its metadata names. Exit 0 when measured,
    1 when the spec does not check or a runtime fails, 2 for usage errors.

    Example: archc bench specs/resnet18.yaml --batch 1,8,32
    """
    import json

    from archc.bench import bench as run_bench
    from archc.diagnostics import ArchcError, Diagnostic
    from archc.version import __version__

    overrides, dims = _overrides(set_), _input(input)
    try:
        batches = [int(b) for b in batch.split(",")]
    except ValueError:
        raise _usage(f"--batch {batch}: give batch sizes as integers, e.g. 1,8,32") from None
    interactive = format is ReportFormat.text and sys.stderr.isatty()

    def progress(message: str) -> None:
        typer.echo(f"\r\033[Karchc: {message}", err=True, nl=False)

    try:
        _refuse_symlink(target, follow_symlinks)
        result = run_bench(
            target,
            overrides=overrides,
            input_dims=dims,
            batches=batches,
            provider=provider.value,
            threads=threads,
            warmup=warmup,
            runs=runs,
            max_seconds=max_seconds,
            dtype=dtype.value,
            engines=("onnxruntime",) if no_torch else ("onnxruntime", "pytorch"),
            progress=progress if interactive else None,
        )
    except ArchcError as exc:
        if interactive:
            typer.echo("\r\033[K", err=True, nl=False)
        raise _fail(exc, None, format, target) from None
    except Exception as exc:  # a bug: still one line and a clean exit code
        message = f"unexpected {type(exc).__name__}: {exc}".splitlines()[0]
        raise _fail(
            ArchcError([Diagnostic("bench-failed", message, target)]), None, format, target
        ) from None
    if interactive:
        typer.echo("\r\033[K", err=True, nl=False)
    if format is ReportFormat.json:
        typer.echo(json.dumps({"archc": __version__, "ok": True, **result.to_json()}))
    else:
        typer.echo(result.to_text())


@app.command()
def graph(
    spec: Annotated[str, typer.Argument(help="The spec file to draw.")],
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="The picture to write: OUT.svg or OUT.html.", metavar="OUT"
        ),
    ],
    set_: SetOption = None,
    input: InputOption = None,
    collapse: Annotated[
        bool,
        typer.Option(
            "--collapse/--expand",
            help="Draw each block call as one box (default), or every layer in its frame.",
        ),
    ] = True,
    follow_symlinks: FollowOption = False,
) -> None:
    """Draw a network: sequences top to bottom, branches side by side, shapes on the edges.

    OUT.svg is a picture; OUT.html a self-contained page where blocks open and close. PNG is
    not written: convert the SVG, or screenshot the page. Exit 1 when the spec does not check
    (its diagnostics are printed), 2 for usage errors (a bad option, an unwritable OUT).

    Example: archc graph specs/googlenet.yaml -o googlenet.svg
    """
    from pathlib import Path

    from archc.api import check_file
    from archc.diagnostics import ArchcError, render
    from archc.draw import FORMATS, render_picture, write_atomic
    from archc.report import to_text

    suffix = Path(output).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        formats = ", ".join(f".{f}" for f in FORMATS)
        why = "PNG is not supported (convert the SVG)" if suffix == "png" else "unknown format"
        raise _usage(f"cannot write {output}: {why}; the formats are {formats}")
    from archc.onnx_export.paths import check_output

    try:
        _refuse_symlink(spec, follow_symlinks)
        # Before any work: never over the spec, a device, a FIFO or a folder.
        check_output(output, spec)
    except ArchcError as exc:
        for diag in exc.diagnostics:
            typer.echo(f"error[{diag.code}]: {diag.message}", err=True)
        raise typer.Exit(exc.exit_code) from None
    overrides, dims = _overrides(set_), _input(input)
    try:
        result = check_file(spec, overrides, dims)
    except ArchcError as exc:
        for diag in exc.diagnostics:
            typer.echo(render(diag, None), err=True)
        raise typer.Exit(exc.exit_code) from None
    if not result.ok:
        typer.echo(to_text([result]), err=True)
        raise typer.Exit(EXIT_SPEC)
    for diag in result.diagnostics:  # warnings
        typer.echo(render(diag, result.source), err=True)
    try:
        write_atomic(output, render_picture(result.network, suffix, collapse))
    except OSError as exc:
        raise _usage(f"cannot write {output}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {output}")


@app.command()
def diff(
    old: Annotated[str, typer.Argument(help="The spec to compare from (A).")],
    new: Annotated[
        str | None, typer.Argument(help="The spec to compare to (B); default: A again.")
    ] = None,
    set_: SetOption = None,
    base_set: Annotated[
        list[str] | None,
        typer.Option(
            "--base-set", help="Override a parameter of A only: NAME=VALUE.", metavar="NAME=VALUE"
        ),
    ] = None,
    input: InputOption = None,
    format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ReportFormat.text,
    follow_symlinks: FollowOption = False,
) -> None:
    """Compare two specs, or two `--set` variants of one, layer by layer and in total.

    `--set` applies to B (the spec itself when B is not given), `--base-set` to A, `--input`
    to both. Exit 0 when both check, 1 when either has an error, 2 for usage errors.

    Example: archc diff specs/resnet18.yaml --set depths=[3,4,6,3]
    """
    import json

    from archc.api import check_file
    from archc.diagnostics import ArchcError, render
    from archc.diff import diff_results, to_text
    from archc.version import __version__

    overrides_b, overrides_a, dims = _overrides(set_), _overrides(base_set), _input(input)
    try:
        results = []
        for path, overrides in ((old, overrides_a), (new or old, overrides_b)):
            _refuse_symlink(path, follow_symlinks)
            result = check_file(path, overrides, dims)
            result.overrides = {name: o.written for name, o in overrides.items()}
            results.append(result)
    except ArchcError as exc:
        for diag in exc.diagnostics:
            typer.echo(render(diag, None), err=True)
        raise typer.Exit(exc.exit_code) from None
    failed = {result.file: result for result in results if not result.ok}
    if failed and format is ReportFormat.text:  # nothing to compare: say what is wrong instead
        from archc.report import to_text as check_text

        typer.echo(check_text(list(failed.values())), err=True)
        raise typer.Exit(EXIT_SPEC)
    document = diff_results(*results)
    if format is ReportFormat.json:
        typer.echo(json.dumps({"archc": __version__, **document}, indent=2, default=dict))
    else:
        typer.echo(to_text(document))
    raise typer.Exit(EXIT_OK if document["ok"] else EXIT_SPEC)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
