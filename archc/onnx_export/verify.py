"""Proving an exported file right: ONNX's checker, strict shape inference against the static
shapes, and the same random input through PyTorch and ONNX Runtime.

Tolerance: the largest absolute difference between ONNX Runtime's and PyTorch's outputs must be
at most `atol + rtol * max|PyTorch output|`, with atol = rtol = 1e-4 on the CPU and 1e-3 on
CUDA (cuDNN picks its own algorithms).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from archc.diagnostics import Diagnostic, UsageError
from archc.dims import Dim, Sym, format_shape
from archc.ir import Network
from archc.ops.base import Shape

Provider = Literal["auto", "cpu", "cuda"]
TOLERANCE = {"CPUExecutionProvider": (1e-4, 1e-4), "CUDAExecutionProvider": (1e-3, 1e-3)}
_NAMES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
# How ONNX's shape inference names a dim it could not infer (fresh per unknown dim).
_INVENTED = re.compile(r"unk__\d+")


class VerificationFailed(Exception):
    """The exported file disagrees with the static answers or with PyTorch."""


def check_graph(proto: Any, network: Network, file: Path, external: bool) -> int:
    """Run onnx.checker and strict shape inference; compare shapes with the static ones.

    Returns how many layers had their output shape compared (the output included).
    """
    import onnx

    try:
        if external:
            onnx.checker.check_model(str(file))
            inferred_file = file.with_name("inferred.onnx")
            onnx.shape_inference.infer_shapes_path(str(file), str(inferred_file), strict_mode=True)
            inferred = onnx.load(str(inferred_file), load_external_data=False)
        else:
            onnx.checker.check_model(proto)
            _drop_weights(proto)  # shape inference needs only their shapes: 3x faster on VGG
            inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VerificationFailed(f"ONNX rejects the exported graph: {first}") from None
    shapes = {
        value.name: _dims(value)
        for value in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]
    }
    # The last node named by a layer's path computes that layer's output.
    last_output: dict[str, str] = {}
    for node in inferred.graph.node:
        path = node.name.rpartition("/")[0]
        if node.output:
            last_output[path] = node.output[0]
    compared = 0
    pairs = [(layer.path, layer.shape, last_output.get(layer.key)) for layer in network.layers]
    for output, value in zip(network.outputs, inferred.graph.output, strict=True):
        pairs.append((f"the output `{output.name}`", output.shape, value.name))
    for what, static, value in pairs:
        if value is None or value not in shapes:
            continue  # folded into its neighbour (batch norm, dropout, identity)
        if not shapes_agree(static, shapes[value], network.input[0]):
            raise VerificationFailed(
                f"ONNX shape inference gives {format_shape(shapes[value])} for {what}, "
                f"archc's static shape is {format_shape(static)}"
            )
        compared += 1
    return compared


def _drop_weights(proto: Any) -> None:
    """Replace large initializers' data by external references (their dims stay)."""
    from onnx.external_data_helper import set_external_data

    for tensor in proto.graph.initializer:
        if len(tensor.raw_data) > 1024:
            set_external_data(tensor, location="not-loaded", offset=0, length=len(tensor.raw_data))
            tensor.ClearField("raw_data")


def _dims(value: Any) -> list[int | str | None]:
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims]


def shapes_agree(static: Shape, inferred: list[int | str | None], batch: Dim) -> bool:
    """Whether ONNX's inferred shape is archc's static one, an unknown dim agreeing with a
    symbolic one; `batch` is the input's batch dim."""
    if len(static) != len(inferred):
        return False
    for ours, theirs in zip(static, inferred):
        if isinstance(ours, Sym):
            if theirs is None or str(theirs) == str(ours):
                continue
            # ONNX's Resize inference computes only the dims it knows the value of (with
            # scales, axes or sizes, data propagation included), so after an upsample the
            # batch dim comes out as an invented `unk__k`: "unknown", not a claim. It cannot
            # contradict the batch dim, which the runs at two batch sizes prove on the output;
            # any other dim is static, where ONNX must give the number and an unknown still
            # fails, as does a batch dim that ONNX names otherwise.
            if ours == batch and isinstance(theirs, str) and _INVENTED.fullmatch(theirs):
                continue
            return False
        if ours != theirs:
            return False
    return True


def providers_for(provider: Provider, file: str) -> list[str]:
    """The ONNX Runtime providers to ask for; `cuda` where CUDA is missing is a UsageError."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if provider == "cpu":
        return ["CPUExecutionProvider"]
    if _NAMES["cuda"] in available:
        return [_NAMES["cuda"], "CPUExecutionProvider"]
    if provider == "cuda":
        raise _no_cuda(
            file, f"this ONNX Runtime has no CUDA provider (it has {', '.join(available)})"
        )
    return ["CPUExecutionProvider"]


def _no_cuda(file: str, why: str) -> UsageError:
    return UsageError(
        [
            Diagnostic(
                "provider-unavailable",
                f"--provider cuda: {why}",
                file,
                hint="install onnxruntime-gpu with a matching CUDA, or use --provider cpu",
            )
        ]
    )


@dataclass
class RunReport:
    providers: list[str]
    max_abs_diff: float
    tolerance: float
    batch_sizes: list[int]


def compare_runtimes(
    model: Any,
    file: Path,
    network: Network,
    batch_sizes: list[int],
    provider: Provider,
    seed: int,
) -> RunReport:
    """Run PyTorch (eval mode) and ONNX Runtime on the same random inputs and compare.

    PyTorch runs first, so that ONNX Runtime's worker threads never compete with it.
    """
    import numpy as np
    import onnxruntime
    import torch

    rng = np.random.default_rng(seed)
    spatial = [int(d) for d in network.input[1:]]
    inputs = [rng.standard_normal((batch, *spatial), dtype=np.float32) for batch in batch_sizes]
    model.eval()
    with torch.inference_mode():
        expected = [_as_tuple(model(torch.from_numpy(x))) for x in inputs]

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    # Fatal only: a fallback is detected below, and a failing run is reported as one error.
    options.log_severity_level = 4
    asked = providers_for(provider, network.file)
    provider_options = [{"use_tf32": "0"} if p == _NAMES["cuda"] else {} for p in asked]
    session = onnxruntime.InferenceSession(
        str(file), options, providers=asked, provider_options=provider_options
    )
    used = session.get_providers()
    if provider == "cuda" and used[0] != _NAMES["cuda"]:
        raise _no_cuda(network.file, f"ONNX Runtime fell back to {used[0]}")
    atol, rtol = TOLERANCE.get(used[0], TOLERANCE[_NAMES["cuda"]])
    worst, tolerance = 0.0, atol
    names = [output.name for output in network.outputs]
    for x, references in zip(inputs, expected):
        try:
            results = session.run(names, {"input": x})
        except Exception as exc:  # ONNX Runtime raises its own exception types
            message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else repr(exc)
            raise VerificationFailed(
                f"ONNX Runtime cannot run the exported graph at batch {x.shape[0]}: {message}"
            ) from None
        for output, got, reference in zip(network.outputs, results, references, strict=True):
            what = f"output `{output.name}`" if len(names) > 1 else "output"
            want = (x.shape[0], *(int(d) for d in output.shape[1:]))
            if got.shape != want:
                raise VerificationFailed(
                    f"ONNX Runtime's {what} at batch {x.shape[0]} has shape {got.shape}, "
                    f"expected {want}"
                )
            diff = float(np.max(np.abs(got.astype(np.float64) - reference))) if got.size else 0.0
            limit = atol + rtol * float(np.max(np.abs(reference), initial=0.0))
            if not diff <= limit:  # NaN fails too
                raise VerificationFailed(
                    f"ONNX Runtime ({used[0]}) and PyTorch differ by {diff:.3g} on the {what} "
                    f"at batch {x.shape[0]}, beyond the tolerance {limit:.3g}"
                )
            worst, tolerance = max(worst, diff), max(tolerance, limit)
    return RunReport(used, worst, tolerance, batch_sizes)


def _as_tuple(result: Any) -> tuple:
    """A model's outputs as a tuple of numpy arrays: one output is a tensor, several a tuple."""
    return tuple(t.numpy() for t in (result if isinstance(result, tuple) else (result,)))
