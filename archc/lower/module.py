"""The torch side of lowering: a module tree named by layer keys, and an interpreter over it.

Each primitive layer's module (from its op's `lower`) sits at its key — its spec path, less
the levels of `inline` items — so `state_dict()` keys are the spec's paths
(`resnet_block2.0.0.main.conv1.weight`), or the names a spec chose to match another library's
(`layer1.0.conv1.weight`). A module marked `parameter_at_key` (a named learnable tensor) puts
its one parameter, `weight`, at the key itself (`class_token`, as torchvision names it). Every
key prefix is a `Scope`; a merge's key is a Scope that also computes the merge, so that the
ONNX nodes of an `add` are named by its key too (`/resnet_block1/0/0/Add`).
`ArchcNetwork.forward` walks the layer list, keeping each value only until its last reader
has run.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from archc.diagnostics import Diagnostic
from archc.ir import Network
from archc.lower import LoweringError
from archc.ops.merge import Merge


class Step(NamedTuple):
    """One layer: `values[output] = module(*values[inputs])`; then forget the `dead` values."""

    module: nn.Module | None  # None: the merge of the enclosing Scope
    inputs: tuple[int, ...]
    output: int
    dead: tuple[int, ...]


class Call(NamedTuple):
    """A run of consecutive layers below one path prefix, executed inside that prefix's Scope."""

    scope: Scope
    items: list[Step | Call]


class _Container(nn.Module):
    """A module whose children may carry any legal spec name, attribute names included.

    `nn.Module.__setattr__` refuses a plain value under a child's name, so a child named
    `training` broke `eval()` and a branch named `merge` broke the Scope's merge. Plain values
    go to `__dict__`, where attribute lookup finds them before `__getattr__` reaches the
    children; children stay in `_modules`, so state_dict keys are still the spec paths.
    """

    def __setattr__(self, name: str, value: object) -> None:
        children = self.__dict__.get("_modules", ())
        if name in children and not isinstance(value, (nn.Module, torch.Tensor)):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


class Scope(_Container):
    """A container at a spec path; the Scope at a merge's path also computes the merge.

    Its forward runs a `Call`'s items on the shared value table, so that tracing records the
    nesting of paths (the TorchScript exporter names ONNX nodes by it).
    """

    def __init__(self, merge: Merge | None = None):
        super().__init__()
        self.merge = merge

    def forward(self, values: dict[int, torch.Tensor], items: list[Step | Call]) -> None:
        _run(self, values, items)

    def extra_repr(self) -> str:
        return f"merge={self.merge.name}" if self.merge else ""


def _run(scope: nn.Module, values: dict[int, torch.Tensor], items: list[Step | Call]) -> None:
    for item in items:
        if isinstance(item, Call):
            item.scope(values, item.items)
            continue
        arguments = [values[value] for value in item.inputs]
        if item.module is None:
            values[item.output] = scope.merge.combine(arguments)
        else:
            values[item.output] = item.module(*arguments)
        for value in item.dead:
            del values[value]


class ArchcNetwork(_Container):
    """A lowered network. `layer(path)` gives the module computing the layer at `path`."""

    def __init__(self, network: Network):
        super().__init__()
        self.spec_name = network.name
        self._by_path: dict[str, nn.Module] = {}
        self._outputs = tuple(output.value for output in network.outputs)
        self.output_names = tuple(output.name for output in network.outputs)
        self._items: list[Step | Call] = []
        last_read = _last_reads(network)
        open_calls: list[tuple[str, list[Step | Call]]] = [("", self._items)]
        for index, layer in enumerate(network.layers):
            if isinstance(layer.op, Merge):
                module = _place(self, layer.key, Scope(layer.op), network)
                scope_path, step_module = layer.key, None
            else:
                module = _place(self, layer.key, layer.op.lower(layer.input_shapes[0]), network)
                scope_path, step_module = layer.key.rpartition(".")[0], module
            self._by_path[layer.path] = module
            # Close the calls this layer is outside of, open those it is inside of.
            parts = scope_path.split(".") if scope_path else []
            chain = [".".join(parts[: i + 1]) for i in range(len(parts))]
            while open_calls[-1][0] and open_calls[-1][0] not in chain:
                open_calls.pop()
            for prefix in chain[chain.index(open_calls[-1][0]) + 1 if open_calls[-1][0] else 0 :]:
                call = Call(self.get_scope(prefix), [])
                open_calls[-1][1].append(call)
                open_calls.append((prefix, call.items))
            dead = tuple(value for value, step in last_read.items() if step == index)
            open_calls[-1][1].append(Step(step_module, layer.inputs, index + 1, dead))

    def get_scope(self, path: str) -> Scope:
        node: nn.Module = self
        for part in path.split("."):
            node = node._modules[part]
        assert isinstance(node, Scope)
        return node

    def layer(self, path: str) -> nn.Module:
        """The module of the layer at `path` (a `Scope` for a merge)."""
        return self._by_path[path]

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """(N, *input[1:]) -> (N, *output[1:]); a tuple, in declared order, for several."""
        values = {0: x}
        _run(self, values, self._items)
        if len(self._outputs) == 1:
            return values[self._outputs[0]]
        return tuple(values[value] for value in self._outputs)

    def values(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Every value of a forward pass by id (0 the input, i + 1 layer i's output), kept."""
        values = _KeepAll({0: x})
        _run(self, values, self._items)
        return dict(values)

    def extra_repr(self) -> str:
        return f"spec={self.spec_name!r}"


class _KeepAll(dict):
    """A value table that ignores the interpreter's `del`s."""

    def __delitem__(self, key: int) -> None:
        pass


def _last_reads(network: Network) -> dict[int, int]:
    """For each value id but the outputs, the index of the last layer that reads it."""
    last = {value: max(value - 1, 0) for value in range(len(network.layers) + 1)}
    for index, layer in enumerate(network.layers):
        for value in layer.inputs:
            last[value] = max(last[value], index)
    for output in network.outputs:
        last.pop(output.value, None)
    return last


def _place(root: nn.Module, path: str, module: nn.Module, network: Network) -> nn.Module:
    """Put `module` at dotted `path` below `root`, creating Scopes for the prefixes.

    Children are written to `_modules` directly: a spec may name a layer `eval` or `forward`,
    which `add_module` refuses because the attribute exists.
    """
    *parents, leaf = path.split(".")
    node = root
    for part in parents:
        child = node._modules.get(part)
        if child is None:
            child = node._modules[part] = Scope()
        elif not isinstance(child, Scope):
            raise _clash(network, path)
        node = child
    existing = node._modules.get(leaf)
    if getattr(module, "parameter_at_key", False) and existing is None and leaf.isidentifier():
        # A named learnable tensor (a class token): its one parameter takes the layer's key
        # itself, as torchvision's `class_token`; the module that uses it is called, not
        # registered. An unnamed one keeps `<position>.weight`: TorchScript refuses a
        # parameter named by digits.
        if leaf in node._parameters:
            raise _clash(network, path)
        node._parameters[leaf] = module.weight
        return module
    if existing is None and leaf not in node._parameters:
        node._modules[leaf] = module
        return module
    # A merge's path already holds the Scope of its branches: make that Scope the merge.
    if isinstance(module, Scope) and isinstance(existing, Scope) and existing.merge is None:
        existing.merge = module.merge
        return existing
    raise _clash(network, path)


def _clash(network: Network, path: str) -> LoweringError:
    return LoweringError(
        [Diagnostic("lowering-mismatch", f"two layers claim the path `{path}`", network.file)]
    )


def build_module(network: Network) -> ArchcNetwork:
    """Lower `network` and prove its parameter and buffer counts equal the static ones."""
    if not network.ok:
        raise ValueError("lower() needs a network that checks without errors")
    model = ArchcNetwork(network)
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    if (params, buffers) != (network.params, network.buffers):
        raise LoweringError(
            [
                Diagnostic(
                    "lowering-mismatch",
                    f"the torch module of `{network.name}` has {params:,} parameters and "
                    f"{buffers:,} buffer elements; the static count is {network.params:,} and "
                    f"{network.buffers:,}",
                    network.file,
                    hint="this is a bug in archc: please report it with the spec",
                )
            ]
        )
    return model
