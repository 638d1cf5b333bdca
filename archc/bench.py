"""`archc bench`: latency and throughput on ONNX Runtime, with PyTorch eager beside it.

    >>> from archc.bench import bench
    >>> result = bench("specs/lenet.yaml", batches=[1, 8], runs=20)
    >>> [(t.engine, t.batch) for t in result.timings]
    [('onnxruntime', 1), ('onnxruntime', 8), ('pytorch', 1), ('pytorch', 8)]

A spec is exported first (random weights: the values do not change the time), an ONNX file is
run as it is. Each engine runs in a process of its own, one after the other: ONNX Runtime's
spinning worker threads, in one process with PyTorch on 2 cores, made PyTorch's LeNet at batch
32 about 60 times slower. Each batch size gets `warmup` untimed runs, then `runs` timed ones
(fewer if they pass `max_seconds`); a timed run is one call with the input already in place
(on CUDA, on the device, and the time includes the device's synchronisation). Latency is given
as the 50th, 90th and 99th percentiles of the runs (below 100 runs, p99 is near the slowest),
throughput as samples per second over all timed runs.

PyTorch runs the spec's module from `archc.build`; for an ONNX file written by `archc export`,
the spec its metadata names (path, parameters, input), when that file is still there unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archc.codes import CODES
from archc.diagnostics import ArchcError, Diagnostic, UsageError, first_line

ENGINES = ("onnxruntime", "pytorch")
DEFAULT_BATCHES = (1, 8, 32)


class BenchFailed(ArchcError):
    """A runtime failed to load or run the model."""


@dataclass
class Timing:
    """One engine at one batch size: latency percentiles of one call, and throughput."""

    engine: str
    device: str  # ONNX Runtime's provider, or PyTorch's device
    batch: int
    runs: int
    warmup: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    throughput: float  # samples per second


@dataclass
class BenchResult:
    """What `bench` measured; `to_json` is the CLI's JSON document, `to_text` its table."""

    model: str
    name: str
    input: list[int | str]
    dtype: str
    provider: str
    threads: int
    timings: list[Timing] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        shape = ", ".join(map(str, self.input))
        lines = [
            f"{self.name} ({self.model}): input ({shape}), {self.dtype}, {self.threads} threads",
            "",
            f"{'engine':12} {'device':22} {'batch':>5} {'p50 ms':>9} {'p90 ms':>9} "
            f"{'p99 ms':>9} {'samples/s':>10} {'runs':>5}",
        ]
        for t in self.timings:
            lines.append(
                f"{t.engine:12} {t.device:22} {t.batch:>5} {t.p50_ms:>9.2f} {t.p90_ms:>9.2f} "
                f"{t.p99_ms:>9.2f} {t.throughput:>10.1f} {t.runs:>5}"
            )
        ratios = self.speedups()
        if ratios:
            said = ", ".join(f"{r:.2f}x at batch {b}" for b, r in ratios.items())
            lines += ["", f"ONNX Runtime against PyTorch eager (p50): {said}"]
        lines += [f"{s['engine']}: skipped, {s['reason']}" for s in self.skipped]
        return "\n".join(lines)

    def speedups(self) -> dict[int, float]:
        """PyTorch's p50 over ONNX Runtime's, per batch where both ran."""
        ort = {t.batch: t.p50_ms for t in self.timings if t.engine == "onnxruntime"}
        eager = {t.batch: t.p50_ms for t in self.timings if t.engine == "pytorch"}
        return {b: eager[b] / ort[b] for b in ort if b in eager and ort[b] > 0}


def bench(
    target: str | os.PathLike,
    *,
    overrides: dict[str, Any] | None = None,
    input_dims: list[int | str] | None = None,
    batches: list[int] | tuple[int, ...] = DEFAULT_BATCHES,
    provider: str = "auto",
    threads: int | None = None,
    warmup: int = 3,
    runs: int = 50,
    max_seconds: float = 10.0,
    dtype: str = "float32",
    engines: tuple[str, ...] = ENGINES,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Time `target` (a spec, or an ONNX file) on ONNX Runtime and PyTorch eager.

    `overrides` and `input_dims` are those of `archc.load` and `archc.check` (a spec only; its
    spatial sizes must be numbers); `threads` defaults to the cores this process may use.
    Raises SpecError, UsageError (a bad option, a provider ONNX Runtime lacks) and BenchFailed.
    """
    from archc.lower import require

    target = os.fspath(target)
    _check_options(batches, provider, threads, warmup, runs, max_seconds, dtype, engines)
    threads = threads or len(os.sched_getaffinity(0))
    say = progress or (lambda message: None)
    require("onnxruntime", target)
    if provider == "cuda":
        from archc.onnx_export.verify import providers_for

        providers_for("cuda", target)  # fail before exporting
    with tempfile.TemporaryDirectory(prefix="archc-bench-") as folder:
        if target.endswith(".onnx"):  # run in its own float type, whatever `dtype` says
            model_file, (dims, dtype, spec) = target, _read_onnx(target)
            name = spec["name"] if spec is not None else Path(target).stem
        else:
            model_file, spec, name, dims = _export(
                target, overrides, input_dims, dtype, folder, say
            )
        result = BenchResult(target, name, dims, dtype, provider, threads)
        for engine in engines:
            job = {
                "engine": engine,
                "model": model_file,
                "batches": list(batches),
                "provider": provider,
                "threads": threads,
                "warmup": warmup,
                "runs": runs,
                "max_seconds": max_seconds,
                "dtype": dtype,
                "spec": spec,
            }
            if engine == "pytorch" and spec is None:
                reason = "the model's metadata names no spec of archc that is still there"
                result.skipped.append({"engine": engine, "reason": reason})
                continue
            for report in _run_worker(job, target, say):
                if "skipped" in report:
                    result.skipped.append({"engine": engine, "reason": report["skipped"]})
                else:
                    result.timings.append(Timing(**report))
    return result


def _check_options(batches, provider, threads, warmup, runs, max_seconds, dtype, engines) -> None:
    problems = []
    if not batches or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in batches):
        problems.append("--batch takes positive integers, e.g. 1,8,32")
    if provider not in ("auto", "cpu", "cuda"):
        problems.append(f"unknown provider `{provider}`; use cpu, cuda or auto")
    if threads is not None and threads < 1:
        problems.append("--threads must be at least 1")
    if warmup < 0 or runs < 1 or not max_seconds > 0:
        problems.append("--warmup must be at least 0, --runs at least 1, --max-seconds above 0")
    if dtype not in ("float32", "float16"):
        problems.append(f"unknown dtype `{dtype}`; use float32 or float16")
    if not engines or any(e not in ENGINES for e in engines):
        problems.append(f"engines are {' and '.join(ENGINES)}")
    if problems:
        raise UsageError([Diagnostic("bad-option", p, "<bench>") for p in problems])


def _export(
    path: str,
    overrides: dict[str, Any] | None,
    input_dims: list[int | str] | None,
    dtype: str,
    folder: str,
    say: Callable[[str], None],
) -> tuple[str, dict[str, Any], str, list[int | str]]:
    """Export the spec at `path` (random weights, not verified) into `folder`."""
    import archc
    from archc.onnx_export import export_onnx

    spec = archc.load(path, overrides)
    out = str(Path(folder) / "model.onnx")
    result = export_onnx(spec, out, input_dims=input_dims, verify=False, dtype=dtype, progress=say)
    job = {"file": path, "params": spec.params, "input": result.input, "name": result.name}
    return out, job, result.name, result.input


def _read_onnx(model_file: str) -> tuple[list[int | str], str, dict[str, Any] | None]:
    """An ONNX file's input dims, its float type, and the spec it came from: the one its
    metadata names, when that file is still there unchanged (its SHA-256 is recorded)."""
    import onnx

    try:
        proto = onnx.load(model_file, load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others
        raise _unreadable(model_file, first_line(exc)) from None
    if len(proto.graph.input) != 1:
        raise _unreadable(model_file, f"it has {len(proto.graph.input)} inputs; bench feeds one")
    tensor = proto.graph.input[0].type.tensor_type
    types = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16"}
    if tensor.elem_type not in types:
        raise _unreadable(model_file, "its input is neither float32 nor float16")
    dims = [
        d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim
    ]
    meta = {p.key: p.value for p in proto.metadata_props}
    return dims, types[tensor.elem_type], _spec_in(meta, model_file)


def _spec_in(meta: dict[str, str], model_file: str) -> dict[str, Any] | None:
    spec_file = meta.get("archc.spec")
    if not spec_file or not Path(spec_file).is_file():
        return None
    with contextlib.suppress(OSError, ValueError, KeyError):
        source = Path(spec_file).read_bytes().decode("utf-8")
        if hashlib.sha256(source.encode()).hexdigest() == meta.get("archc.spec_sha256"):
            return {
                "file": spec_file,
                "params": json.loads(meta["archc.params"]),
                "input": json.loads(meta["archc.input"]),
                "name": meta.get("archc.name", Path(model_file).stem),
            }
    return None


def _unreadable(model_file: str, why: str) -> UsageError:
    return UsageError(
        [Diagnostic("file-unreadable", f"cannot bench {model_file}: {why}", model_file)]
    )


def _run_worker(job: dict[str, Any], target: str, say: Callable[[str], None]):
    """Run one engine's timings in a fresh interpreter; yield its reports as they come.

    Its stderr goes to a file, not a pipe: warnings that filled a pipe nobody reads would
    block the worker."""
    command = [sys.executable, "-m", "archc.bench", json.dumps(job)]
    with (
        tempfile.TemporaryFile("w+") as errors,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:
            report = json.loads(line)
            if "progress" in report:
                say(report["progress"])
            elif "error" in report:
                process.wait()
                code = report.get("code", "bench-failed")
                error = UsageError if CODES[code].kind == "usage" else BenchFailed
                raise error([Diagnostic(code, report["error"], target)])
            else:
                yield report
        if process.wait() != 0:
            errors.seek(0)
            lines = errors.read().strip().splitlines() or [f"exit status {process.returncode}"]
            message = f"the {job['engine']} process failed: {lines[-1][:300]}"
            raise BenchFailed([Diagnostic("bench-failed", message, target)])


# The worker: one engine, every batch size, reports as JSON lines on stdout. -----------------


def _emit(**report: Any) -> None:
    print(json.dumps(report), flush=True)


def _time(call: Callable[[], None], job: dict[str, Any], label: str) -> tuple[list[float], int]:
    """Run `call` `warmup` times, then up to `runs` times within `max_seconds`; the times."""
    for index in range(job["warmup"]):
        _emit(progress=f"{label}: warm-up {index + 1}/{job['warmup']}")
        call()
    times: list[float] = []
    deadline = time.perf_counter() + job["max_seconds"]
    while len(times) < job["runs"] and (not times or time.perf_counter() < deadline):
        if len(times) % 10 == 0:
            _emit(progress=f"{label}: run {len(times) + 1}/{job['runs']}")
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times, job["warmup"]


def percentile(values: list[float], q: float) -> float:
    """The `q`-th percentile of `values`, interpolated linearly between the sorted values.

    >>> percentile([4.0, 1.0, 3.0, 2.0], 50)
    2.5
    """
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _timing(engine: str, device: str, batch: int, times: list[float], warmup: int) -> dict:
    ms = [t * 1e3 for t in times]
    return asdict(
        Timing(
            engine=engine,
            device=device,
            batch=batch,
            runs=len(ms),
            warmup=warmup,
            p50_ms=round(percentile(ms, 50), 6),
            p90_ms=round(percentile(ms, 90), 6),
            p99_ms=round(percentile(ms, 99), 6),
            mean_ms=round(statistics.fmean(ms), 6),
            throughput=round(batch * len(ms) / (sum(ms) / 1e3), 2),
        )
    )


def _onnxruntime_worker(job: dict[str, Any]) -> None:
    import numpy as np

    from archc.onnx_export.verify import session

    runner = session(job["model"], job["provider"], job["model"], job["threads"], spinning=True)
    device = runner.get_providers()[0]
    (entry,) = runner.get_inputs()
    dtype = np.float16 if entry.type == "tensor(float16)" else np.float32
    dims = entry.shape
    batches = job["batches"]
    if isinstance(dims[0], int):
        if any(b != dims[0] for b in batches):
            _emit(skipped=f"the model's batch is fixed at {dims[0]}; only that size was run")
        batches = [dims[0]]
    if not all(isinstance(d, int) for d in dims[1:]):
        raise ValueError(f"the input's sizes {dims} are not all numbers")
    outputs = [output.name for output in runner.get_outputs()]
    for batch in batches:
        x = np.random.default_rng(0).standard_normal([batch, *dims[1:]]).astype(dtype)
        if device == "CUDAExecutionProvider":
            import onnxruntime

            binding = runner.io_binding()
            binding.bind_ortvalue_input(
                entry.name, onnxruntime.OrtValue.ortvalue_from_numpy(x, "cuda", 0)
            )
            for output in outputs:
                binding.bind_output(output, "cuda")

            def call(binding=binding) -> None:
                runner.run_with_iobinding(binding)
        else:

            def call(x=x) -> None:
                runner.run(outputs, {entry.name: x})

        times, warmup = _time(call, job, f"onnxruntime batch {batch}")
        _emit(**_timing("onnxruntime", device, batch, times, warmup))


def _pytorch_worker(job: dict[str, Any]) -> None:
    import torch

    import archc

    spec = job["spec"]
    from archc.onnx_export.verify import providers_for

    on_cuda = "CUDAExecutionProvider" in providers_for(job["provider"], spec["file"])
    if on_cuda and not torch.cuda.is_available():
        _emit(skipped="this PyTorch has no CUDA")
        return
    device = "cuda" if on_cuda else "cpu"
    torch.set_num_threads(job["threads"])
    network = archc.check(archc.load(spec["file"], spec["params"]), spec["input"])
    model = archc.build(network).eval().to(device, getattr(torch, job["dtype"]))
    for batch in job["batches"]:
        shape = [batch, *(int(d) for d in spec["input"][1:])]
        x = torch.randn(shape, dtype=getattr(torch, job["dtype"]), device=device)

        def call(x=x) -> None:
            with torch.inference_mode():
                model(x)
            if on_cuda:
                torch.cuda.synchronize()

        times, warmup = _time(call, job, f"pytorch batch {batch}")
        _emit(**_timing("pytorch", device, batch, times, warmup))


def _worker(job: dict[str, Any]) -> None:
    try:
        if job["engine"] == "onnxruntime":
            _onnxruntime_worker(job)
        else:
            _pytorch_worker(job)
    except ArchcError as exc:  # a provider that is not there
        _emit(error=exc.diagnostics[0].message, code=exc.diagnostics[0].code)
    except Exception as exc:
        _emit(error=f"{job['engine']} failed: {first_line(exc)}")


if __name__ == "__main__":
    _worker(json.loads(sys.argv[1]))
