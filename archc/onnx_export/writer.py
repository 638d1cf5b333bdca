"""Running torch's ONNX exporter quietly, naming nodes by spec path, and writing the file.

The TorchScript exporter names a node by the modules it was called in, e.g.
`/resnet_block1/resnet_block1.0/resnet_block1.0.0/main/conv1/Conv`; `name_nodes` turns that
back into the spec path, `resnet_block1.0.0.main.conv1/Conv`, and records the YAML line in the
node's `doc_string`, so that an ONNX Runtime error names a line of the spec.
"""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from archc.dims import Sym
from archc.ir import Network
from archc.ops.base import Shape

if TYPE_CHECKING:
    from archc.spec.document import Spec
    from archc.weights import Weights

Exporter = Literal["torchscript", "dynamo"]
# How ONNX's shape inference names a dim it could not infer (fresh per unknown dim).
INVENTED = re.compile(r"unk__\d+")
# The largest protobuf message is 2 GiB; bigger models keep their weights in OUT.data.
PROTOBUF_LIMIT = 2**31 - 2**20


@contextlib.contextmanager
def quiet() -> Iterator[list[str]]:
    """Silence stdout, stderr (at the file-descriptor level: C++ and logging too) and warnings.

    Yields a list that holds the captured text once the block has ended.
    """
    captured: list[str] = []
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    python_text = io.StringIO()  # sys.stdout may not be fd 1 (pytest, typer's CliRunner)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with (
                warnings.catch_warnings(),
                contextlib.redirect_stdout(python_text),
                contextlib.redirect_stderr(python_text),
            ):
                warnings.simplefilter("ignore")
                yield captured
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", errors="replace") + python_text.getvalue())


def run_exporter(
    model: Any,
    example: Any,
    file: Path,
    *,
    exporter: Exporter,
    opset: int,
    batch_name: str | None,
) -> Any:
    """Export `model` traced on `example`, and return the ONNX model; `batch_name` None means
    a static batch. `file` is where the exporter may write (the torch.export-based one writes
    its weights beside it); the TorchScript exporter exports into memory, which spares a write
    and a read of the whole file."""
    import onnx
    import torch

    outputs = list(model.output_names)
    common = dict(input_names=["input"], output_names=outputs, opset_version=opset)
    if exporter == "torchscript":
        axes = {name: {0: batch_name} for name in ["input", *outputs]} if batch_name else None
        weights = sum(p.numel() * p.element_size() for p in model.parameters())
        if weights < PROTOBUF_LIMIT // 2:
            buffer = io.BytesIO()
            torch.onnx.export(model, (example,), buffer, dynamo=False, dynamic_axes=axes, **common)
            return onnx.load_from_string(buffer.getvalue())
        torch.onnx.export(model, (example,), str(file), dynamo=False, dynamic_axes=axes, **common)
    else:
        shapes = ({0: torch.export.Dim(batch_name, min=1)},) if batch_name else None
        torch.onnx.export(
            model, (example,), str(file), dynamo=True, dynamic_shapes=shapes, **common
        )
    return onnx.load(str(file))


def scope_path(name: str) -> tuple[str, str] | None:
    """Split a TorchScript node name into (spec path, rest), or None if it has no scope.

    >>> scope_path("/resnet_block1/resnet_block1.0/resnet_block1.0.0/main/conv1/Conv")
    ('resnet_block1.0.0.main.conv1', 'Conv')
    >>> scope_path("/4/4.0/y/y.0/y.0.2/Conv_3")
    ('4.0.y.0.2', 'Conv_3')
    """
    if not name.startswith("/"):
        return None
    *atoms, rest = name[1:].split("/")
    if not atoms:
        return None
    parts: list[str] = []
    previous = ""
    for atom in atoms:
        # A numbered child is written `<parent's atom>.<index>`, anything else by its own name.
        if previous and atom.startswith(previous + "."):
            parts.append(atom[len(previous) + 1 :])
        else:
            parts.append(atom)
        previous = atom
    return ".".join(parts), rest


def name_nodes(proto: Any, network: Network) -> None:
    """Rename nodes to `<spec path>/<op>` and point their doc_string at the layer's YAML line.

    The path comes from the TorchScript exporter's node name, or from the `torch.export`
    exporter's `pkg.torch.onnx.name_scopes` metadata. A node the exporter left without a scope
    (a class token's `x[:, :1]`) takes the path of the one layer that reads all it computes.
    """
    layers = {layer.key: layer for layer in network.layers}
    spec_file = recorded_path(network.file)
    scopes = {p.rsplit(".", i)[0] for p in layers for i in range(p.count(".") + 1)}
    taken = {node.name for node in proto.graph.node}
    paths = [_node_path(node, scopes) for node in proto.graph.node]
    readers: dict[str, list[int]] = {}
    for index, node in enumerate(proto.graph.node):
        for value in node.input:
            readers.setdefault(value, []).append(index)
    for index, node in enumerate(proto.graph.node):
        if paths[index] is not None:
            continue
        read_by = [r for value in node.output for r in readers.get(value, [])]
        owners = {paths[r][0] if paths[r] else None for r in read_by}
        if len(owners) == 1 and None not in owners and read_by:
            paths[index] = (owners.pop(), node.op_type)
    for node, found in zip(proto.graph.node, paths, strict=True):
        if found is None:
            continue
        path, rest = found
        new_name, count = f"{path}/{rest}", 0
        while new_name != node.name and new_name in taken:
            count += 1
            new_name = f"{path}/{rest}_{count}"
        taken.discard(node.name)
        taken.add(new_name)
        node.name = new_name
        layer = layers.get(path)
        if layer is not None:
            node.doc_string = f"{layer.op.name} `{layer.path}` at {spec_file}:{layer.line}"
        # torch.export's stack traces name files of this machine; they say nothing of the spec.
        kept = [p for p in node.metadata_props if p.key != "pkg.torch.onnx.stack_trace"]
        if len(kept) != len(node.metadata_props):
            kept = [(p.key, p.value) for p in kept]
            del node.metadata_props[:]
            for key, value in kept:
                entry = node.metadata_props.add()
                entry.key, entry.value = key, value


def _node_path(node: Any, scopes: set[str]) -> tuple[str, str] | None:
    split = scope_path(node.name)
    if split is not None and split[0] in scopes:
        return split
    for entry in node.metadata_props:
        if entry.key == "pkg.torch.onnx.name_scopes":
            with contextlib.suppress(ValueError, SyntaxError):
                names = ast.literal_eval(entry.value)
                for name in reversed(names):
                    if name in scopes:
                        return name, node.op_type
    return None


def declare_outputs(proto: Any, network: Network) -> None:
    """Declare the graph outputs' static dims where the exporter left names: the TorchScript
    exporter names every dim of a Reshape with a -1 for the batch (`Reshapeoutput_dim_1`),
    although the target's other sizes are constants. Strict shape inference then proves the
    declared dims against the graph, and ONNX Runtime's outputs against them."""
    for value, output in zip(proto.graph.output, network.outputs, strict=True):
        for dim, size in zip(value.type.tensor_type.shape.dim[1:], output.shape[1:], strict=True):
            if isinstance(size, int) and not dim.HasField("dim_value"):
                dim.dim_value = size


def recorded_path(file: str) -> str:
    """A spec or weights path as a file records it: as given when relative; an absolute one
    relative to the current directory when inside it, else its name alone, so that a file
    never carries the folders of the machine that exported it.

    >>> recorded_path("specs/lenet.yaml")
    'specs/lenet.yaml'
    >>> recorded_path("/home/someone/nets/lenet.yaml")
    'lenet.yaml'
    """
    if not os.path.isabs(file):
        return file
    relative = Path(os.path.relpath(file))
    return relative.as_posix() if ".." not in relative.parts else Path(file).name


def annotate(
    proto: Any, network: Network, spec: Spec, version: str, weights: Weights | None = None
) -> None:
    """Record where the model comes from in the model's metadata, so that a file in a model
    registry can be traced back to its spec: the spec's path, name and SHA-256, the resolved
    parameters (`--set` included), the input shape and the parameter count; with weights,
    their file and the SHA-256 of their tensors and of the file."""
    import hashlib
    import json

    from archc.dims import dim_json

    entries = [
        ("archc.version", version),
        ("archc.spec", recorded_path(network.file)),
        ("archc.name", network.name),
        ("archc.spec_sha256", hashlib.sha256(spec.source.encode()).hexdigest()),
        ("archc.params", json.dumps(spec.params, sort_keys=True, default=str)),
        ("archc.input", json.dumps([dim_json(d) for d in network.input])),
        ("archc.parameter_count", str(network.params)),
    ]
    if weights is not None:
        entries.append(("archc.weights_sha256", weights.sha256))
        if weights.source is not None:
            entries.append(("archc.weights", recorded_path(weights.source)))
            entries.append(("archc.weights_file_sha256", weights.file_sha256 or ""))
    del proto.metadata_props[:]
    for key, value in entries:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = network.description.strip()[:1000]


def add_value_info(proto: Any, network: Network) -> None:
    """Give every intermediate value its type and shape, so that viewers show a shape on every
    edge: ONNX shape inference on the graph (its weights' data set aside). Where it leaves the
    batch dim unknown (after a Resize), the layer's static shape completes it, and inference
    runs again from there, so that the values after it get the batch dim too."""
    import onnx

    outputs = layer_outputs(proto)
    static = {outputs[layer.key]: layer.shape for layer in network.layers if layer.key in outputs}
    for _ in range(len(network.layers) + 1):  # each pass completes at least one layer's value
        with without_weights(proto):
            inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True)
        completed = _complete_batch(inferred.graph.value_info, static, network.input[0])
        # An invented dim kept would stand: inference does not replace a named dim.
        kept = [v for v in inferred.graph.value_info if not (completed and _invented(v))]
        del proto.graph.value_info[:]
        proto.graph.value_info.extend(kept)
        if not completed:
            return


def _invented(value: Any) -> bool:
    return any(INVENTED.fullmatch(d.dim_param) for d in value.type.tensor_type.shape.dim)


def _complete_batch(values: Any, static: dict[str, Shape], batch: Any) -> bool:
    """Replace the dims that inference invented by the symbolic dims of the static shapes;
    whether any was replaced. A value inside a layer's module (the middle of a channel
    shuffle's reshapes) has no static shape; its dim 0 is the batch, which archc's lowerings
    never move, so an invented dim there is the batch dim."""
    completed = False
    for value in values:
        dims = value.type.tensor_type.shape.dim
        shape = static.get(value.name)
        if shape is None and isinstance(batch, Sym) and dims:
            if INVENTED.fullmatch(dims[0].dim_param):
                dims[0].dim_param = str(batch)
                completed = True
            continue
        if shape is None or len(shape) != len(dims):
            continue
        for dim, ours in zip(dims, shape):
            if isinstance(ours, Sym) and INVENTED.fullmatch(dim.dim_param):
                dim.dim_param = str(ours)
                completed = True
    return completed


def layer_outputs(proto: Any) -> dict[str, str]:
    """The value each layer path computes: the first output of the last node it names."""
    found = {}
    for node in proto.graph.node:
        if node.output:
            found[node.name.rpartition("/")[0]] = node.output[0]
    return found


@contextlib.contextmanager
def without_weights(proto: Any) -> Iterator[None]:
    """Set the data of large initializers aside (as external references: their dims stay)
    while the block runs, and put it back after: shape inference needs only their shapes, and
    on VGG it is 3x faster without copying them."""
    from onnx.external_data_helper import set_external_data

    kept = []
    for tensor in proto.graph.initializer:
        if len(tensor.raw_data) > 1024:
            kept.append((tensor, tensor.raw_data))
            set_external_data(tensor, location="not-loaded", offset=0, length=len(tensor.raw_data))
            tensor.ClearField("raw_data")
    try:
        yield
    finally:
        for tensor, data in kept:
            del tensor.external_data[:]
            tensor.data_location = 0  # DEFAULT
            tensor.raw_data = data


def write_model(proto: Any, file: Path, data_name: str) -> Path | None:
    """Write `proto` to `file`, one self-contained file below the protobuf limit.

    Above it, the weights go to `data_name` in the same folder; returns that path, else None.
    """
    import onnx
    from google.protobuf.message import EncodeError

    try:  # serializing tells the size too: asking ByteSize first costs a whole pass more
        payload = proto.SerializeToString()
    except (EncodeError, ValueError):  # over protobuf's 2 GiB (measured: EncodeError)
        payload = None
    if payload is not None and len(payload) < PROTOBUF_LIMIT:
        with open(file, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        return None
    onnx.save_model(
        proto,
        str(file),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data_name,
        size_threshold=1024,
    )
    data = file.with_name(data_name)
    for path in (data, file):
        with open(path, "rb+") as handle:
            os.fsync(handle.fileno())
    return data
