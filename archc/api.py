"""The Python API: load a spec, check it, build it as a torch module, export it to ONNX."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from archc import pipeline
from archc.diagnostics import Diagnostic, SpecError, UsageError
from archc.ir import Network
from archc.report import Result
from archc.spec.document import Override, ParamValue, Spec, parse_document
from archc.spec.loader import MAX_FILE_BYTES, decode, top_level_keys_include
from archc.spec.values import MAX_VALUE_SIZE, resolved_size

if TYPE_CHECKING:
    from archc.onnx_export import ExportResult


def load(
    path: str | os.PathLike, overrides: Mapping[str, ParamValue | Override] | None = None
) -> Spec:
    """Read and validate a spec file; `overrides` maps parameter names to values.

    Each value must have its parameter's type, as a value written in the spec: `{"depths":
    [3, 4, 6, 3]}`, not the text `"[3, 4, 6, 3]"`. Raises UsageError when the file cannot be
    read or an override is wrong, SpecError when the file is not a valid spec.
    """
    file = str(path)
    try:
        if not Path(path).is_file():
            reason = "not a regular file" if Path(path).exists() else "no such file"
            raise UsageError([Diagnostic("file-unreadable", f"cannot read {file}: {reason}", file)])
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError(
                [
                    Diagnostic(
                        "file-too-large",
                        f"the file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}",
                        file,
                        hint="split the network, or write repeated parts with `repeat`",
                    )
                ]
            )
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(
            [Diagnostic("file-unreadable", f"cannot read {file}: {exc.strerror}", file)]
        ) from None
    return load_text(decode(data, file), file, overrides)


def load_text(
    source: str,
    file: str = "<string>",
    overrides: Mapping[str, ParamValue | Override] | None = None,
) -> Spec:
    """Validate a spec given as text; `file` names it in messages, `overrides` as in `load`."""
    return parse_document(source, file, _typed(overrides or {}, file))


def _typed(overrides: Mapping[str, ParamValue | Override], file: str) -> dict[str, Override]:
    """Python values as overrides; an `Override` (what the command line passes, naming
    `--set` in messages) is taken as it is."""
    typed = {}
    for name, value in overrides.items():
        if isinstance(value, Override):
            typed[name] = value
            continue
        where = f"overrides[{name!r}]"
        if resolved_size(value) > MAX_VALUE_SIZE:
            # A Python value may share one list many times over (4^20 items in twenty lists);
            # everything after this walks it whole, so it is measured first, boundedly.
            raise UsageError(
                [
                    Diagnostic(
                        "bad-override",
                        f"{where}: the value resolves to more than {MAX_VALUE_SIZE:,} items "
                        "and characters, a shared list counted once per use",
                        file,
                    )
                ]
            )
        if not _is_param_value(value):
            raise UsageError(
                [
                    Diagnostic(
                        "bad-override",
                        f"{where}: a parameter value is an int, float, bool, str or list of "
                        f"them, got {type(value).__name__}",
                        file,
                    )
                ]
            )
        typed[name] = Override(value, where, repr(value))
    return typed


def _is_param_value(value: Any) -> bool:
    if isinstance(value, list):
        return all(_is_param_value(v) for v in value)
    return isinstance(value, (int, float, bool, str))


def check(spec: Spec, input_dims: list[int | str] | None = None) -> Network:
    """Expand `spec` and infer every shape; the network's `diagnostics` hold what is wrong.

    `input_dims` overrides the spec's input shape, e.g. `[1, 3, 224, 224]` or `["N", 3, "H", "W"]`.
    """
    return pipeline.check(spec, input_dims)


def check_file(
    path: str | os.PathLike,
    overrides: Mapping[str, ParamValue | Override] | None = None,
    input_dims: list[int | str] | None = None,
) -> Result:
    """Load and check one file; every problem, usage errors aside, lands in the result."""
    file = str(path)
    try:
        spec = load(path, overrides)
    except SpecError as exc:
        source = None
        with contextlib.suppress(OSError):
            # Only for the snippets: a file over the limit is not read (50 MB cost 136 MB).
            if Path(path).stat().st_size <= MAX_FILE_BYTES:
                source = Path(path).read_text("utf-8", errors="replace")
        return Result(file, source, None, exc.diagnostics)
    network = check(spec, input_dims)
    return Result(file, spec.source, network, network.diagnostics)


@dataclass
class SpecFiles:
    """What a search for specs found: the specs to check, and the other YAML files skipped."""

    specs: list[Path]
    skipped: list[Path]


# Folders never searched below a folder given: hidden ones (.git, .github), installed packages,
# and virtual environments (a folder holding pyvenv.cfg).
_VENDORED = {"node_modules"}


def search_specs(
    paths: list[str | os.PathLike], follow_symlinks: bool = False, skip_non_specs: bool = False
) -> SpecFiles:
    """The specs named by `paths`, and the other YAML files passed over.

    A spec is a YAML document with the top-level `archc:` key. A folder is searched for
    *.yaml/*.yml files, never below hidden folders, `node_modules` or virtual environments; its
    other YAML files are skipped. A file named itself that is not a spec, and a folder holding
    no spec, are usage errors (`not-a-spec`), unless `skip_non_specs` (for tools such as
    pre-commit that name every YAML file) skips them too.

    Unless `follow_symlinks`, a path reached through a symlink that resolves outside the folder
    searched (or, for a path given itself, outside the current directory) is refused with
    `symlink-outside` before anything is read: in CI, a committed symlink to
    /proc/self/environ or a credentials file would have its contents quoted in an error.
    """
    found = SpecFiles([], [])
    refused: list[Diagnostic] = []
    for path in map(Path, paths):
        outside = None if follow_symlinks else symlink_outside(path)
        if outside is not None:
            refused.append(outside)
        elif path.is_dir():
            before = len(found.specs), len(found.skipped)
            for file in _yaml_files(path):
                if not follow_symlinks and file.is_symlink() and not _inside(file, path):
                    refused.append(_outside(file, str(path)))
                else:
                    (found.specs if is_spec(file) else found.skipped).append(file)
            if len(found.specs) == before[0] and not skip_non_specs:
                skipped = len(found.skipped) - before[1]
                refused.append(
                    Diagnostic(
                        "not-a-spec",
                        f"no spec in {path} ({skipped} other YAML file(s) skipped)",
                        str(path),
                        hint="a spec is a YAML file with the top-level key `archc: 1`",
                    )
                )
        elif not path.exists():
            refused.append(
                Diagnostic("file-unreadable", f"no such file or folder: {path}", str(path))
            )
        elif is_spec(path) or not path.is_file() or not _other_yaml(path):
            found.specs.append(path)  # what cannot be read is reported when it is checked
        elif skip_non_specs:
            found.skipped.append(path)
        else:
            refused.append(
                Diagnostic(
                    "not-a-spec",
                    f"{path} is not a spec: it has no top-level `archc:` key",
                    str(path),
                    hint="add `archc: 1` at the top, or pass --skip-non-specs",
                )
            )
    if refused:
        raise UsageError(refused)
    return found


def find_specs(paths: list[str | os.PathLike], follow_symlinks: bool = False) -> list[Path]:
    """The spec files named by `paths`: `search_specs(paths, follow_symlinks).specs`."""
    return search_specs(paths, follow_symlinks).specs


def _yaml_files(folder: Path) -> list[Path]:
    """The *.yaml/*.yml files under `folder`, sorted, outside hidden and vendored folders.

    Symlinked folders are not entered; symlinked files are returned, for the caller to judge.
    """
    files = []
    for root, folders, names in os.walk(folder):
        folders[:] = [
            name
            for name in folders
            if not name.startswith(".")
            and name not in _VENDORED
            and not (Path(root) / name / "pyvenv.cfg").exists()
        ]
        files += [Path(root) / n for n in names if n.endswith((".yaml", ".yml"))]
    return sorted(p for p in files if p.is_file())


_ARCHC_LINE = re.compile(r"""^["']?archc["']?[ \t]*:""", re.MULTILINE)


def is_spec(path: str | os.PathLike) -> bool:
    """Whether the file is a spec (`is_spec_text`); one too large to read, or not UTF-8,
    counts as a spec when a line starts with `archc:`, so that its error is reported."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError:
        return True  # reported as unreadable when it is checked
    text = data.decode("utf-8-sig", errors="replace")
    if len(data) > MAX_FILE_BYTES or "\ufffd" in text:
        return _ARCHC_LINE.search(text) is not None
    return is_spec_text(text)


def _other_yaml(path: Path) -> bool:
    """Whether a file named itself is another tool's YAML: a plain mapping without `archc`,
    which `check` refuses as not a spec. Anything else (empty, not UTF-8, not YAML, a scalar or
    a list, a tagged mapping) goes to the checker, whose reading errors say what is wrong."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        text = data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return False
    if len(data) > MAX_FILE_BYTES:
        return False
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.NodeEvent):
                return isinstance(event, yaml.MappingStartEvent) and event.tag is None
    except yaml.YAMLError:
        return False
    return False


def is_spec_text(text: str) -> bool:
    """Whether `text` is a spec: a YAML document whose top-level mapping has the key `archc`.

    Only the YAML events up to that key are read. Text that is not YAML (a syntax error) counts
    as a spec when a line starts with `archc:`, so that its error is reported.

    >>> is_spec_text("on: push\\njobs: {}\\n"), is_spec_text("archc: 1\\nbody: [\\n")
    (False, True)
    """
    found = top_level_keys_include(text, "archc")
    return found if found is not None else _ARCHC_LINE.search(text) is not None


def symlink_outside(path: str | os.PathLike) -> Diagnostic | None:
    """The refusal of a path given itself that goes through a symlink resolving outside the
    current directory, else None: what `check`, `export`, `graph` and `diff` refuse before
    reading a spec, unless told to follow symlinks."""
    path = Path(path)
    if _through_symlink(path) and not _inside(path, Path.cwd()):
        return _outside(path, "the current directory")
    return None


def _through_symlink(path: Path) -> bool:
    """Whether `path`, as written, goes through a symlink (the file or a folder on the way)."""
    return any(p.is_symlink() for p in (path, *path.parents))


def _inside(path: Path, folder: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def _outside(path: Path, where: str) -> Diagnostic:
    return Diagnostic(
        "symlink-outside",
        f"{path} is a symlink to a file outside {where}; it is not read",
        str(path),
        hint="commit the spec itself, or pass --follow-symlinks to read it anyway",
    )


def build(
    spec: Spec | Network,
    input_dims: list[int | str] | None = None,
    max_params: int | None = None,
    max_activation_bytes: int | None = None,
    weights: Any = None,
):
    """A `torch.nn.Module` computing the spec; raises SpecError if the spec does not check.

    `weights` loads a state dict whose keys and shapes are exactly the module's: a path to a
    `.pt`/`.pth` checkpoint (bare, or under `state_dict` or `model`) or a `.safetensors` file,
    read without running code; a state dict; or a module built by `archc.build` (trained).
    Anything else, or weights that do not fit, is a WeightsError (an ArchcError) naming every
    missing, unexpected and wrongly shaped key. The module is in training mode either way.

    Refuses (OverBudget, a UsageError) a network of more than `max_params` parameters and
    buffers (default 2e9), or one whose forward pass at its batch (1 if symbolic) holds more
    than `max_activation_bytes` of activations (default 1 GiB), before torch allocates anything.
    """
    from archc.lower import DEFAULT_MAX_ACTIVATION_BYTES, DEFAULT_MAX_PARAMS, lower

    network = spec if isinstance(spec, Network) else check(_spec(spec, "build"), input_dims)
    if not network.ok:
        raise SpecError([d for d in network.diagnostics if d.severity == "error"])
    loaded = None
    if weights is not None:
        from archc.weights import max_weights_bytes, read_weights

        loaded = read_weights(weights, network.file, max_weights_bytes(network))
    model = lower(
        network,
        max_params or DEFAULT_MAX_PARAMS,
        max_activation_bytes or DEFAULT_MAX_ACTIVATION_BYTES,
    )
    if loaded is not None:
        from archc.weights import fit

        fit(model, network, loaded)
    return model


def _spec(spec: Any, what: str) -> Spec:
    """`spec` if it is one, else a UsageError saying what `what` takes."""
    if isinstance(spec, Spec):
        return spec
    hint = "pass a trained module as `weights=`" if hasattr(spec, "state_dict") else None
    raise UsageError(
        [
            Diagnostic(
                "bad-option",
                f"archc.{what} takes a spec from archc.load, not a {type(spec).__name__}",
                "<api>",
                hint=hint,
            )
        ]
    )


def export(
    spec: Spec,
    path: str | os.PathLike,
    *,
    opset: int | None = None,
    input_dims: list[int | str] | None = None,
    static_batch: bool = False,
    provider: Literal["auto", "cpu", "cuda"] = "auto",
    verify: bool = True,
    exporter: Literal["torchscript", "dynamo"] = "torchscript",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    max_params: int | None = None,
    max_activation_bytes: int | None = None,
    weights: Any = None,
    dtype: Literal["float32", "float16"] = "float32",
) -> ExportResult:
    """Write `spec` as ONNX to `path` atomically and verify it on ONNX Runtime.

    `weights` is as for `build` (a path, a state dict, or a trained module built by
    `archc.build`); verification then runs ONNX Runtime against the model with those weights.
    `opset` defaults to `archc.onnx_export.DEFAULT_OPSET`; the other arguments are those of
    `archc.onnx_export.export_onnx`, which documents them.
    """
    from archc.onnx_export import DEFAULT_OPSET, export_onnx

    return export_onnx(
        _spec(spec, "export"),
        path,
        opset=DEFAULT_OPSET if opset is None else opset,
        input_dims=input_dims,
        static_batch=static_batch,
        provider=provider,
        verify=verify,
        exporter=exporter,
        seed=seed,
        progress=progress,
        max_params=max_params,
        max_activation_bytes=max_activation_bytes,
        weights=weights,
        dtype=dtype,
    )


__all__ = [
    "SpecFiles",
    "build",
    "check",
    "check_file",
    "export",
    "find_specs",
    "is_spec",
    "is_spec_text",
    "load",
    "load_text",
    "search_specs",
]
