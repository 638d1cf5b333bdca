"""Trained and pretrained weights: read a state dict without running code, and fit it to a
network key by key.

    >>> import archc
    >>> spec = archc.load("specs/resnet18.yaml")
    >>> trained = archc.build(spec)                   # ... trained ...
    >>> model = archc.build(spec, weights=trained)   # or a path, or a state dict

A file is recognised by its content, not its name. A zip archive, or a file that starts as a
pickle, is a PyTorch checkpoint, read with `torch.load(weights_only=True)`: its unpickler builds
tensors and plain containers only and refuses every other global, so a pickle payload that
would run code is refused (and named) before any of it runs. A file that starts with a
safetensors header is read with `safetensors`, which holds tensors only. The state dict is the
file's whole content, or the mapping under its `state_dict` or `model` key.

Keys and shapes must be exactly the network's `state_dict()` (its spec paths); every missing,
unexpected and wrongly shaped key is reported at once, each located at its layer's line.
Only a batch norm's `num_batches_tracked` may be absent: it counts training steps, and torch's
own loading also accepts checkpoints written before it existed.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickletools
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archc.diagnostics import ArchcError, Diagnostic, first_line, nearest
from archc.dims import format_shape

if TYPE_CHECKING:
    from archc.ir import Layer, Network

# Keys the state dict may hold besides the tensors (checkpoints of training scripts).
STATE_KEYS = ("state_dict", "model")
OPTIONAL_SUFFIX = ".num_batches_tracked"
_PICKLE_SCAN_BYTES = 64 * 2**20  # a state dict's pickle is kilobytes; tensors are elsewhere
_HASH_CHUNK = 2**24
_SAVE = "save the weights with torch.save(model.state_dict(), FILE) or safetensors.torch.save_file"


class WeightsError(ArchcError):
    """The weights cannot be read, are refused as unsafe, or do not fit the network."""


@dataclass
class Weights:
    """A state dict read from `source` (the path as given; None for one given in Python).

    `sha256` is the digest of the tensors (`state_sha256`), the same whatever the file format;
    `file_sha256` that of the file's bytes, as `sha256sum` prints it, when read from a file.
    """

    state: dict[str, Any]
    source: str | None
    sha256: str
    file_sha256: str | None = None

    @property
    def name(self) -> str:
        return self.source if self.source is not None else "the state dict"


def read_weights(weights: Any, file: str = "<weights>", max_bytes: int | None = None) -> Weights:
    """The state dict in `weights`: a path (str or os.PathLike), a mapping of names to tensors,
    or a module built by `archc.build`. Anything else is a WeightsError; `file` names the spec
    in messages about a value given in Python. A file whose tensors would take more than
    `max_bytes` once unpacked (a zip archive's entries are counted before anything is read)
    is refused: a small compressed archive can unpack to any size."""
    from archc.lower import require

    torch = require("torch", file)
    if isinstance(weights, (str, os.PathLike)):
        source = os.fspath(weights)
        state = _read_file(Path(source), source, max_bytes)
        return Weights(state, source, state_sha256(state), _file_sha256(Path(source)))
    if isinstance(weights, torch.nn.Module):
        from archc.lower.module import ArchcNetwork

        if not isinstance(weights, ArchcNetwork):
            raise _unreadable(
                f"weights=: a {type(weights).__name__} is not a module built by archc.build",
                file,
                hint="pass its `state_dict()`, whose keys must be those of archc.build(spec)",
            )
        weights = weights.state_dict()
    if isinstance(weights, Mapping):
        state = _tensors(weights, "the state dict", file)
        return Weights(state, None, state_sha256(state))
    raise _unreadable(
        f"weights=: expected a path, a state dict or a module built by archc.build, "
        f"got {type(weights).__name__}",
        file,
    )


def fit(model: Any, network: Network, weights: Weights) -> None:
    """Load `weights` into `model` (the lowered `network`), or raise a WeightsError listing
    every missing, unexpected and wrongly shaped key, the model left as it was."""
    expected = model.state_dict()
    layers = {layer.key: layer for layer in network.layers}
    problems: list[Diagnostic] = []
    missing = [k for k in expected if k not in weights.state and not _optional(k)]
    unexpected = [k for k in weights.state if k not in expected]
    for key, want in expected.items():
        got = weights.state.get(key)
        if got is None:
            if key in missing:
                problems.append(_missing(key, want, weights, _owner(key, layers), network))
        elif tuple(got.shape) != tuple(want.shape) or (
            got.is_floating_point() != want.is_floating_point()
        ):
            problems.append(_wrong(key, got, want, weights, _owner(key, layers), network))
    for key in unexpected:
        got = weights.state[key]
        close = nearest(key, missing) if len(unexpected) * len(missing) <= 100_000 else None
        problems.append(
            Diagnostic(
                "weights-unexpected",
                f"{weights.name} has `{key}` {format_shape(got.shape)}, which no layer of "
                f"`{network.name}` has",
                weights.source or network.file,
                hint=f"did you mean `{close}`?" if close else None,
            )
        )
    if problems:
        raise WeightsError(problems)
    state = dict(weights.state)
    for key in expected:
        if key not in state:  # an absent num_batches_tracked: no training steps counted
            state[key] = expected[key].new_zeros(())
    model.load_state_dict(state, strict=True)


def _optional(key: str) -> bool:
    return key.endswith(OPTIONAL_SUFFIX)


def _owner(key: str, layers: dict[str, Layer]) -> Layer | None:
    """The layer whose module holds `key`: the longest module name that is a prefix of it."""
    path = key
    while "." in path:
        path = path.rpartition(".")[0]
        if path in layers:
            return layers[path]
    return None


def _where(layer: Layer | None) -> str:
    return f"{layer.op.name} `{layer.key}`" if layer else "the network"


def _missing(key: str, want: Any, weights: Weights, layer: Layer | None, network: Network):
    return Diagnostic(
        "weights-missing",
        f"`{key}` {format_shape(want.shape)} of {_where(layer)} is missing from {weights.name}",
        network.file,
        layer.span if layer else None,
    )


def _wrong(key: str, got: Any, want: Any, weights: Weights, layer: Layer | None, network):
    if tuple(got.shape) != tuple(want.shape):
        found, needed = f"shape {format_shape(got.shape)}", format_shape(want.shape)
    else:
        found, needed = f"dtype {_dtype(got)}", f"a {_dtype(want)} tensor"
    return Diagnostic(
        "weights-shape",
        f"`{key}` has {found} in {weights.name}; {_where(layer)} needs {needed}",
        network.file,
        layer.span if layer else None,
    )


def _dtype(tensor: Any) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def state_sha256(state: Mapping[str, Any]) -> str:
    """SHA-256 of a state dict's tensors, in key order: each key, dtype, shape and the raw
    bytes (little-endian, C order), so a checkpoint and its safetensors copy hash alike."""
    import torch

    digest = hashlib.sha256()
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        header = f"{key}\0{_dtype(tensor)}\0{list(tensor.shape)}\0"
        digest.update(header.encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def max_weights_bytes(network: Network) -> int:
    """How many bytes a weights file for `network` may unpack to: 16 per parameter and buffer
    (float32 weights and an Adam optimizer's two moments in a training checkpoint, or float64
    weights with room to spare), and 64 MiB more."""
    return 16 * (network.params + network.buffers) + 2**26


def _read_file(path: Path, source: str, max_bytes: int | None) -> dict[str, Any]:
    try:
        if not path.is_file():
            why = "not a regular file" if path.exists() else "no such file"
            raise _unreadable(f"cannot read {source}: {why}", source)
        with open(path, "rb") as handle:
            head = handle.read(16)
        size = unpacked = path.stat().st_size
        if head.startswith(b"PK\x03\x04"):
            with zipfile.ZipFile(path) as archive:  # the central directory only
                unpacked = sum(entry.file_size for entry in archive.infolist())
    except OSError as exc:
        raise _unreadable(f"cannot read {source}: {exc.strerror or exc}", source) from None
    except zipfile.BadZipFile as exc:
        raise _unreadable(f"cannot read {source} as a PyTorch checkpoint: {exc}", source) from None
    if max_bytes is not None and unpacked > max_bytes:
        raise _unreadable(
            f"{source} unpacks to {unpacked:,} bytes, more than weights of this network can "
            f"take ({max_bytes:,}); it is not read",
            source,
        )
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):
        loaded = _torch_load(path, source)
    elif _is_safetensors(head, size):
        loaded = _safetensors_load(path, source)
    else:
        raise _unreadable(
            f"{source} is neither a PyTorch checkpoint (a zip archive or a pickle) nor a "
            "safetensors file",
            source,
            hint=_SAVE,
        )
    return _state_in(loaded, source)


def _is_safetensors(head: bytes, size: int) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then a JSON object."""
    if len(head) < 9:
        return False
    length = int.from_bytes(head[:8], "little")
    return 2 <= length <= size - 8 and head[8:9] == b"{"


def _torch_load(path: Path, source: str) -> Any:
    import pickle

    import torch

    try:
        with warnings.catch_warnings():  # torch warns of pickle protocols it may not read
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # Refused by the weights-only unpickler: for a global it names, or for an instruction
        # it does not read (a plain pickle), whose globals are then read by pickletools.
        found = re.findall(r"GLOBAL ([\w.]+)", str(exc)) or _pickle_globals(path)
        if found:
            raise _unsafe(source, found) from None
        reason = re.search(r"WeightsUnpickler error:\s*(.+)", str(exc))
        why = reason[1].strip() if reason else first_line(exc)
        raise _unreadable(
            f"cannot read {source} as a PyTorch checkpoint: {why}", source, hint=_SAVE
        ) from None
    except Exception as exc:  # a truncated archive, a corrupt storage: torch's own types
        why = f"cannot read {source} as a PyTorch checkpoint: {first_line(exc)}"
        raise _unreadable(why, source) from None


def _safetensors_load(path: Path, source: str) -> dict[str, Any]:
    from archc.lower import require

    require("safetensors", source)
    from safetensors.torch import load_file

    try:
        return load_file(path, device="cpu")
    except Exception as exc:  # safetensors raises its own SafetensorError
        why = f"cannot read {source} as safetensors: {first_line(exc)}"
        raise _unreadable(why, source) from None


def _unsafe(source: str, found: list[str]) -> WeightsError:
    """The refusal of a pickle naming globals that the weights-only unpickler does not build."""
    what = ", ".join(f"`{name}`" for name in list(dict.fromkeys(found))[:3])
    return WeightsError(
        [
            Diagnostic(
                "weights-unsafe",
                f"refused {source}: it refers to {what}, which loading would have to construct "
                "or call; only tensors and plain containers are read, and nothing in the file "
                "was run",
                source,
                hint="save `model.state_dict()` (not the model) with torch.save, or use "
                ".safetensors",
            )
        ]
    )


def _pickle_globals(path: Path) -> list[str]:
    """The globals a pickle names (module.name), read by pickletools without running it: the
    checkpoint's `data.pkl` in a zip archive, else the file itself."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                member = next(n for n in archive.namelist() if n.endswith("data.pkl"))
                with archive.open(member) as handle:
                    data = handle.read(_PICKLE_SCAN_BYTES)
        else:
            with open(path, "rb") as handle:
                data = handle.read(_PICKLE_SCAN_BYTES)
    except (OSError, StopIteration, zipfile.BadZipFile):
        return []
    found: list[str] = []
    strings: list[str] = []
    try:
        for opcode, argument, _ in pickletools.genops(io.BytesIO(data)):
            if opcode.name in ("GLOBAL", "INST"):
                found.append(str(argument).replace(" ", "."))
            elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(argument, str):
                strings.append(argument)
    except Exception:  # a malformed pickle: what was named before the damage
        pass
    return [name for name in found if not name.startswith(("torch.", "collections."))]


def _state_in(loaded: Any, source: str) -> dict[str, Any]:
    """The state dict a loaded file holds: itself, or under `state_dict` or `model`."""
    if isinstance(loaded, Mapping) and not _all_tensors(loaded):
        for key in STATE_KEYS:
            if isinstance(loaded.get(key), Mapping):
                return _tensors(loaded[key], f"{source}'s `{key}`", source)
        keys = ", ".join(f"`{k}`" for k in list(loaded)[:8])
        raise _unreadable(
            f"{source} holds a dict of {keys}, neither a state dict nor one under "
            f"{' or '.join(f'`{k}`' for k in STATE_KEYS)}",
            source,
        )
    if not isinstance(loaded, Mapping):
        raise _unreadable(f"{source} holds a {type(loaded).__name__}, not a state dict", source)
    return _tensors(loaded, source, source)


def _all_tensors(mapping: Mapping) -> bool:
    import torch

    return all(isinstance(v, torch.Tensor) for v in mapping.values())


def _tensors(mapping: Mapping, what: str, file: str) -> dict[str, Any]:
    """`mapping` as a state dict: string keys, tensor values."""
    import torch

    state = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise _unreadable(f"{what} has a key {key!r} that is not a string", file)
        if not isinstance(value, torch.Tensor):
            raise _unreadable(f"{what} has `{key}` = a {type(value).__name__}, not a tensor", file)
        state[key] = value
    return state


def _unreadable(message: str, file: str, hint: str | None = None) -> WeightsError:
    return WeightsError([Diagnostic("weights-unreadable", message, file, hint=hint)])


__all__ = ["Weights", "WeightsError", "fit", "max_weights_bytes", "read_weights", "state_sha256"]
