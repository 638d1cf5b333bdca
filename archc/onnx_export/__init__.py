"""ONNX export: check the spec, lower it, export it, verify it, and only then write OUT.

    >>> import archc
    >>> result = archc.export(archc.load("specs/lenet.yaml"), "lenet.onnx")
    >>> result.providers, result.batch_sizes
    (['CPUExecutionProvider'], [1, 7])

The steps, each of which can fail without touching OUT: check the spec (no torch yet), lower it
(`archc.lower`), export with torch's TorchScript exporter (default; `exporter="dynamo"` for
the `torch.export` one) into a temporary folder beside OUT, name nodes by spec path, write the
file, verify it (`archc.onnx_export.verify`), and move it over OUT.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from archc.diagnostics import ArchcError, Diagnostic, SpecError, UsageError, first_line
from archc.dims import dim_json
from archc.ir import Network
from archc.onnx_export import paths, writer
from archc.onnx_export import verify as proof
from archc.onnx_export.verify import Provider
from archc.onnx_export.writer import Exporter
from archc.spec.document import Spec
from archc.version import __version__
from archc.weights import fit, max_weights_bytes, read_weights

DEFAULT_OPSET = 18
OPSETS = {"torchscript": (9, 20), "dynamo": (18, 23)}  # what each exporter of torch 2.13 writes
VERIFY_BATCHES = [1, 7]
TRACE_BATCH = 2  # a dynamic batch is traced at 2: tracing at 1 may specialize
MAX_SEED = 2**64 - 1  # torch.manual_seed's range
Dtype = Literal["float32", "float16"]
DTYPES = ("float32", "float16")  # torch's names of the dtypes an export writes


class ExportFailed(ArchcError):
    """The exporter failed, or the exported file does not compute what PyTorch computes."""


@dataclass
class ExportResult:
    """What `export_onnx` wrote and what it proved; `to_json` is the CLI's JSON document."""

    file: str
    bytes: int
    external_data: str | None
    opset: int
    nodes: int
    exporter: str
    name: str
    input: list[int | str]
    output: list[int | str]  # the first output's shape
    outputs: list[dict[str, Any]]  # every output: {"name", "shape"}, in declared order
    dynamic_batch: bool
    verified: bool
    dtype: str = "float32"
    parameters: int = 0
    weights: str | None = None
    weights_sha256: str | None = None
    providers: list[str] = field(default_factory=list)
    max_abs_diff: float | None = None
    tolerance: float | None = None
    batch_sizes: list[int] = field(default_factory=list)
    shapes_checked: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line: what was written and what was proven."""
        size = f"{self.bytes / 1e6:.1f} MB" if self.bytes >= 100_000 else f"{self.bytes:,} bytes"
        batch = f"dynamic batch {self.input[0]}" if self.dynamic_batch else "static batch"
        wrote = f"wrote {self.file} ({size}, opset {self.opset}, {self.nodes} nodes, {batch})"
        if self.dtype != "float32":
            wrote += f", {self.dtype}"
        if self.weights_sha256:
            wrote += f", weights from {self.weights or 'a state dict'}"
        if self.external_data:
            wrote += f" with weights in {self.external_data}"
        if not self.verified:
            return f"{wrote}; not verified (--no-verify)"
        batches = " and ".join(map(str, self.batch_sizes))
        return (
            f"{wrote}; verified: onnx checker and strict shape inference agree with "
            f"{self.shapes_checked} static shapes, ONNX Runtime ({', '.join(self.providers)}) "
            f"matches PyTorch at batch {batches} (max abs diff {self.max_abs_diff:.2g} "
            f"<= {self.tolerance:.2g})"
        )


def export_onnx(
    spec: Spec,
    path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    input_dims: list[int | str] | None = None,
    static_batch: bool = False,
    provider: Provider = "auto",
    verify: bool = True,
    exporter: Exporter = "torchscript",
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    max_params: int | None = None,
    max_activation_bytes: int | None = None,
    weights: Any = None,
    dtype: Dtype = "float32",
) -> ExportResult:
    """Export `spec` to the ONNX file `path` and, if `verify`, prove it on ONNX Runtime.

    The batch axis is dynamic (named by the spec's batch dim, else `N`) unless `static_batch`.
    `weights` (a path, a state dict or a module built by `archc.build`; see `archc.weights`)
    must fit the network exactly; without them, weights are PyTorch's default initialization
    under `seed`, with batch-norm statistics and affine parameters drawn at random so that
    verification exercises them. `dtype="float16"` writes a half-precision graph (input and
    output too), verified against the float32 PyTorch model at `verify.TOLERANCE_FLOAT16`.

    Raises SpecError (the spec does not check), UsageError (bad path, option or provider,
    missing dependency: MissingDependency is one), WeightsError (the weights cannot be read,
    are unsafe or do not fit), ExportFailed (export or verification failed).
    OUT is untouched whenever anything is raised, KeyboardInterrupt included. A network of
    more than `max_params` parameters and buffers (default 2e9), or whose activations at the
    largest batch the export runs (7 with a dynamic batch and verification, else the static
    batch) exceed `max_activation_bytes` (default 1 GiB), is refused before torch is imported.
    """
    started = time.perf_counter()
    say = progress or (lambda message: None)
    if exporter not in OPSETS:
        raise _usage("bad-option", f"unknown exporter `{exporter}`; use torchscript or dynamo")
    if provider not in ("auto", "cpu", "cuda"):
        raise _usage("bad-option", f"unknown provider `{provider}`; use cpu, cuda or auto")
    if dtype not in DTYPES:
        raise _usage("bad-option", f"unknown dtype `{dtype}`; use {' or '.join(DTYPES)}")
    low, high = OPSETS[exporter]
    if not low <= opset <= high:
        raise _usage(
            "bad-option", f"the {exporter} exporter writes opsets {low} to {high}, not {opset}"
        )
    from archc.lower import (
        DEFAULT_MAX_ACTIVATION_BYTES,
        DEFAULT_MAX_PARAMS,
        check_activations,
        check_budget,
        lower,
        require,
    )

    _in_range("seed", seed, 0, MAX_SEED)
    max_params = DEFAULT_MAX_PARAMS if max_params is None else max_params
    _in_range("max_params", max_params, 1)
    max_activation_bytes = (
        DEFAULT_MAX_ACTIVATION_BYTES if max_activation_bytes is None else max_activation_bytes
    )
    _in_range("max_activation_bytes", max_activation_bytes, 1)
    network, batch_name = _checked(spec, input_dims, static_batch)
    out = paths.check_output(path, spec.file)

    check_budget(network, max_params)  # before torch is imported
    largest = max([TRACE_BATCH, *VERIFY_BATCHES]) if verify else TRACE_BATCH
    check_activations(
        network, largest if batch_name else int(network.input[0]), max_activation_bytes
    )

    torch = require("torch", network.file)
    require("onnx", network.file)
    if exporter == "dynamo":
        require("onnxscript", network.file)  # torch's torch.export-based exporter needs it
    if verify:
        require("onnxruntime", network.file)
        if provider == "cuda":
            proof.providers_for("cuda", network.file)  # fail before the slow part

    if weights is not None:
        say("reading the weights")
        loaded = read_weights(weights, network.file, max_weights_bytes(network))
    say(f"building {network.name} ({network.params:,} parameters)")
    torch.manual_seed(seed)
    model = lower(network, max_params, max_activation_bytes)
    if weights is None:
        loaded = None
        randomize_batch_norm(model)
    else:
        fit(model, network, loaded)
    model.eval()
    batch = TRACE_BATCH if batch_name else int(network.input[0])
    example = torch.randn(batch, *(int(d) for d in network.input[1:]))
    # The float32 model stays the reference that verification compares a float16 graph with.
    exported_model = model if dtype == "float32" else copy.deepcopy(model).half()

    with paths.staging(out) as folder:
        say(f"exporting with the {exporter} exporter, opset {opset}")
        exported = folder / "exported.onnx"
        try:
            with writer.quiet() as captured, torch.no_grad():
                proto = writer.run_exporter(
                    exported_model,
                    example.to(getattr(torch, dtype)),
                    exported,
                    exporter=exporter,
                    opset=opset,
                    batch_name=batch_name,
                )
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:
            hint = "try `--exporter dynamo`" if exporter == "torchscript" else None
            raise _failed(
                network, f"the {exporter} exporter failed: {first_line(exc)}", hint=hint
            ) from exc
        del captured, exported_model
        writer.name_nodes(proto, network)
        writer.declare_outputs(proto, network)
        writer.annotate(proto, network, spec, __version__, loaded)
        writer.add_value_info(proto, network)
        nodes = len(proto.graph.node)

        say("writing")
        staged = folder / out.name
        try:
            staged_data = writer.write_model(proto, staged, out.name + ".data")
        except OSError as exc:
            raise paths.refuse(out, exc.strerror or str(exc), "write-failed") from None

        result = ExportResult(
            file=str(path),
            bytes=staged.stat().st_size,
            external_data=str(out.with_name(out.name + ".data")) if staged_data else None,
            opset=opset,
            nodes=nodes,
            exporter=exporter,
            name=network.name,
            input=[dim_json(d) for d in network.input],
            output=[dim_json(d) for d in network.output_shape],
            outputs=[
                {"name": o.name, "shape": [dim_json(d) for d in o.shape]} for o in network.outputs
            ],
            dynamic_batch=batch_name is not None,
            verified=verify,
            dtype=dtype,
            parameters=network.params,
            weights=loaded.source if loaded else None,
            weights_sha256=loaded.sha256 if loaded else None,
        )
        if verify:
            try:
                say("checking the graph: onnx checker, strict shape inference")
                result.shapes_checked = proof.check_graph(
                    proto, network, staged, staged_data is not None
                )
                del proto
                batches = VERIFY_BATCHES if batch_name else [batch]
                say(f"running PyTorch and ONNX Runtime at batch {', '.join(map(str, batches))}")
                report = proof.compare_runtimes(
                    model, staged, network, batches, provider, seed, dtype
                )
            except proof.VerificationFailed as exc:
                raise _failed(network, str(exc), "verify-failed") from None
            result.providers, result.batch_sizes = report.providers, report.batch_sizes
            result.max_abs_diff, result.tolerance = report.max_abs_diff, report.tolerance
        try:
            paths.commit(staged, out, staged_data)
        except OSError as exc:
            raise paths.refuse(out, exc.strerror or str(exc), "write-failed") from None
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def randomize_batch_norm(model: Any) -> None:
    """Draw batch-norm statistics and affine parameters at random (defaults make BN a no-op)."""
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm

    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, _BatchNorm):
                continue
            if module.running_mean is not None:
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
            if module.affine:
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)


def _checked(
    spec: Spec, input_dims: list[int | str] | None, static_batch: bool
) -> tuple[Network, str | None]:
    """The checked network, its batch dim symbolic unless static, and the batch dim's name."""
    from archc.pipeline import check

    dims = list(input_dims if input_dims is not None else spec.input)
    symbolic = [str(d) for d in dims[1:] if isinstance(d, str)]
    if symbolic:
        raise _usage(
            "symbolic-input",
            f"the input [{', '.join(map(str, dims))}] has symbolic sizes "
            f"({', '.join(symbolic)}); an ONNX export needs numbers",
            spec.file,
            hint="give the sizes with --input (`archc check` lists the valid ones)",
        )
    if static_batch:
        batch_name = None
        dims[0] = dims[0] if isinstance(dims[0], int) else 1
    else:
        batch_name = dims[0] if isinstance(dims[0], str) else "N"
        dims[0] = batch_name
    network = check(spec, dims)
    if not network.ok:
        raise SpecError([d for d in network.diagnostics if d.severity == "error"])
    return network, batch_name


def _in_range(name: str, value: int, low: int, high: int | None = None) -> None:
    """Refuse an option out of range as a usage error, before torch sees it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _usage("bad-option", f"`{name}` must be an integer, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bounds = f"{low} to {high:,}" if high is not None else f"at least {low}"
        shown = str(value) if len(str(value)) <= 30 else f"{str(value)[:27]}..."
        raise _usage("bad-option", f"`{name}` is {shown}; it must be {bounds}")


def _usage(code: str, message: str, file: str = "<export>", hint: str | None = None):
    return UsageError([Diagnostic(code, message, file, hint=hint)])


def _failed(
    network: Network, message: str, code: str = "export-failed", hint: str | None = None
) -> ExportFailed:
    hint = hint or "this is a bug in archc or torch: please report it with the spec"
    return ExportFailed([Diagnostic(code, f"{network.name}: {message}", network.file, hint=hint)])


__all__ = ["DEFAULT_OPSET", "ExportFailed", "ExportResult", "export_onnx"]
