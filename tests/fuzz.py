"""Random networks, written twice: as an archc spec and as plain PyTorch, from one description.

A network is described as a tree of plain dicts — ops with PyTorch's arguments, merges of
branches, block calls and repeats. `to_spec` writes the archc YAML; `to_torch` builds the
PyTorch module directly from `torch.nn` classes, without archc. Comparing the two is a
differential test of archc's shape rules, parameter counts and error detection.

`networks()` is a hypothesis strategy of descriptions that are mostly valid (sizes are tracked
while generating so that few collapse), over one, two or three spatial axes ((N, C, L),
(N, C, H, W), (N, C, D, H, W)); `perturbed()` changes one size or channel count so that the
network is near the edge of validity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hypothesis import strategies as st

# Descriptions ---------------------------------------------------------------------------------
# op:     {"op": "conv2d", "args": {...}}          (args use PyTorch's names)
# merge:  {"merge": "add"|"concat"|"mul", "branches": [[...], [...]]}
# repeat: {"repeat": n, "body": [...]}
# block:  {"block": name, "body": [...]}            (a block without arguments, called once)


@dataclass
class State:
    channels: int
    sizes: tuple[int, ...]  # one per spatial axis: (L,), (H, W) or (D, H, W)

    @property
    def rank(self) -> int:
        return len(self.sizes)


_WINDOWED = ("conv", "maxpool", "avgpool")  # op names without their `1d`, `2d`, `3d`


def _conv_out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _axes(draw, rank: int, values: list):
    """One value for every axis, or a list of one per axis, each drawn from `values`."""
    if rank == 1 or draw(st.booleans()):
        return draw(st.sampled_from(values))
    return [draw(st.sampled_from(values)) for _ in range(rank)]


@st.composite
def conv(draw, state: State, keep_size: bool = False):
    out = draw(st.integers(1, 12))
    groups = draw(
        st.sampled_from(
            [g for g in (1, 2, 3, 4) if state.channels % g == 0 and out % g == 0] or [1]
        )
    )
    if keep_size:
        k = draw(st.sampled_from([1, 3, 5]))
        args = {
            "out_channels": out,
            "kernel_size": k,
            "padding": draw(st.sampled_from([k // 2, "same"])),
        }
    else:
        stride = _axes(draw, state.rank, [1, 1, 2, 3])
        same = stride == 1 or stride == [1] * state.rank
        args = {
            "out_channels": out,
            "kernel_size": _axes(draw, state.rank, [1, 2, 3, 4, 5]),
            "stride": stride,
            "padding": draw(
                st.sampled_from(["valid", "same"] if same else ["valid"])
                | st.just(_axes(draw, state.rank, [0, 1, 2]))
            ),
            "dilation": draw(st.sampled_from([1, 1, 2])),
        }
    if groups > 1:
        args["groups"] = groups
    if draw(st.booleans()):
        args["bias"] = False
    return {"op": f"conv{state.rank}d", "args": args}


@st.composite
def pool(draw, state: State):
    kind = draw(st.sampled_from(["maxpool", "avgpool"]))
    k = draw(st.integers(1, 4))
    args = {
        "kernel_size": k,
        "stride": draw(st.sampled_from([None, 1, 2, 3])),
        "padding": draw(st.integers(0, k // 2)),
    }
    if args["stride"] is None:
        del args["stride"]
    if draw(st.booleans()):
        args["ceil_mode"] = True
    if kind == "maxpool" and draw(st.booleans()) and args["padding"] == 0:
        args["dilation"] = 2
    return {"op": f"{kind}{state.rank}d", "args": args}


# Fields that state an input width: an example's value fits the example's input only.
_WIDTH_FIELDS = {"in_channels", "in_features", "num_features", "num_channels", "normalized_shape"}


def _shape_preserving() -> dict[int, dict[str, list[dict]]]:
    """By number of spatial axes, the registry's ops that keep a shape of that rank, with the
    fields of their examples of that rank.

    Drawn from the registry, so a new op joins the fuzzing without being listed here.
    """
    from archc.ops import OPS, Merge

    found: dict[int, dict[str, list[dict]]] = {1: {}, 2: {}, 3: {}}
    for name, cls in sorted(OPS.items()):
        if issubclass(cls, Merge):
            continue
        for example in cls.examples:
            rank = len(example.input) - 2
            if rank not in found or _WIDTH_FIELDS & set(example.fields):
                continue
            if cls.model_validate(example.fields).infer(example.input) == example.input:
                found[rank].setdefault(name, []).append(example.fields)
    return found


SHAPE_PRESERVING = _shape_preserving()


@st.composite
def pointwise(draw, state: State):
    ops = SHAPE_PRESERVING[state.rank]
    choice = draw(st.sampled_from(sorted(ops)))
    return {"op": choice, "args": dict(draw(st.sampled_from(ops[choice])))}


@st.composite
def merge(draw, state: State, depth: int):
    kind = draw(st.sampled_from(["add", "concat", "mul"]))
    if kind == "mul":  # a squeeze-and-excitation gate
        squeeze = (
            {"op": "globalavgpool2d", "args": {}}
            if state.rank == 2
            else {"op": f"adaptiveavgpool{state.rank}d", "args": {"output_size": 1}}
        )
        excite = {"out_channels": state.channels, "kernel_size": 1}
        gate = [
            squeeze,
            {"op": f"conv{state.rank}d", "args": excite},
            {"op": "sigmoid", "args": {}},
        ]
        return {"merge": "mul", "branches": [[], gate]}
    branches = []
    for _ in range(draw(st.integers(2, 3))):
        if kind == "add" and draw(st.booleans()):
            branches.append([])
            continue
        body = [draw(conv(state, keep_size=True))]
        if kind == "add":
            body[0]["args"]["out_channels"] = state.channels
            body[0]["args"].pop("groups", None)
        body += draw(st.lists(pointwise(state), max_size=2))
        branches.append(body)
    return {"merge": kind, "branches": branches}


def advance(state: State, item: dict) -> State | None:
    """The state after `item`, by PyTorch's formulas; None when the network would be invalid."""
    if "merge" in item:
        outs = [run(state, branch) for branch in item["branches"]]
        if any(o is None for o in outs):
            return None
        if item["merge"] == "concat":
            return State(sum(o.channels for o in outs), outs[0].sizes)
        return outs[0]
    if "repeat" in item:
        for _ in range(item["repeat"]):
            state = run(state, item["body"])
            if state is None:
                return None
        return state
    if "block" in item:
        return run(state, item["body"])
    op, args = item["op"], item["args"]
    if op[:-2] in _WINDOWED:
        n = state.rank
        k = _per_axis(args["kernel_size"], n)
        s = _per_axis(args.get("stride", args["kernel_size"] if op[:-2] != "conv" else 1), n)
        d = _per_axis(args.get("dilation", 1), n)
        padding = args.get("padding", 0)
        if padding == "same":
            return State(args.get("out_channels", state.channels), state.sizes)
        p = (0,) * n if padding == "valid" else _per_axis(padding, n)
        sizes = []
        for size, kk, ss, pp, dd in zip(state.sizes, k, s, p, d):
            if args.get("ceil_mode"):
                out = -(-(size + 2 * pp - dd * (kk - 1) - 1) // ss) + 1
                if (out - 1) * ss >= size + pp:
                    out -= 1
            else:
                out = _conv_out(size, kk, ss, pp, dd)
            sizes.append(out)
        if min(sizes) < 1:
            return None
        return State(args.get("out_channels", state.channels), tuple(sizes))
    if op == "globalavgpool2d" or op.startswith("adaptiveavgpool"):
        return State(state.channels, (1,) * state.rank)
    return state


def run(state: State, body: list[dict]) -> State | None:
    for item in body:
        state = advance(state, item)
        if state is None:
            return None
    return state


def _per_axis(value, rank: int) -> tuple:
    return tuple(value) if isinstance(value, list) else (value,) * rank


# The spatial sizes a network starts with, by number of axes: small volumes keep runs fast.
_SIZES = {1: (6, 64), 2: (6, 32), 3: (4, 12)}


@st.composite
def networks(draw, max_items: int = 8):
    """A description of a mostly valid network over one, two or three spatial axes:
    (input shape, body)."""
    rank = draw(st.sampled_from([1, 2, 2, 3]))
    low, high = _SIZES[rank]
    state = State(draw(st.integers(1, 6)), tuple(draw(st.integers(low, high)) for _ in range(rank)))
    shape = [2, state.channels, *state.sizes]
    body: list[dict] = []
    for _ in range(draw(st.integers(1, max_items))):
        kind = draw(
            st.sampled_from(["conv", "conv", "pool", "pointwise", "merge", "repeat", "block"])
        )
        if kind == "conv":
            item = draw(conv(state))
        elif kind == "pool":
            item = draw(pool(state))
        elif kind == "pointwise":
            item = draw(pointwise(state))
        elif kind == "merge":
            item = draw(merge(state, 1))
        elif kind == "repeat":
            inner = [draw(conv(state, keep_size=True))]
            inner[0]["args"]["out_channels"] = state.channels
            inner[0]["args"].pop("groups", None)
            inner.append(draw(pointwise(state)))
            item = {"repeat": draw(st.integers(0, 3)), "body": inner}
        else:
            item = {"block": f"b{len(body)}", "body": [draw(conv(state)), draw(pointwise(state))]}
        following = advance(state, item)
        if following is None:
            continue  # keep the network valid: skip an item that would collapse it
        body.append(item)
        state = following
    if not body:
        body.append({"op": "relu", "args": {}})
    if draw(st.booleans()):
        body += [
            {"op": "flatten", "args": {}},
            {"op": "linear", "args": {"out_features": draw(st.integers(1, 10))}},
        ]
    return shape, body


@st.composite
def perturbed(draw):
    """A network with one thing changed: a stated width off by one, or a kernel that may not fit."""
    shape, body = draw(networks())
    ops = [
        item
        for item in _walk(body)
        if "op" in item and (item["op"] == "linear" or item["op"][:-2] in _WINDOWED)
    ]
    if not ops:
        return shape, body
    target = draw(st.sampled_from(ops))
    how = draw(st.sampled_from(["stated-width", "kernel"]))
    if how == "kernel" and target["op"] != "linear":
        target["args"]["kernel_size"] = draw(st.integers(6, 40))
        target["args"].pop("dilation", None)
        if not target["op"].startswith("conv") or target["args"].get("padding") == "same":
            target["args"]["padding"] = 0
    else:
        key = "in_features" if target["op"] == "linear" else "in_channels"
        if target["op"][:-2] in ("maxpool", "avgpool"):
            return shape, body
        target["args"][key] = draw(st.integers(1, 40))
    return shape, body


def _walk(body: list[dict]):
    for item in body:
        yield item
        if "merge" in item:
            for branch in item["branches"]:
                yield from _walk(branch)
        elif "repeat" in item or "block" in item:
            yield from _walk(item["body"])


# Writing the spec -----------------------------------------------------------------------------


def to_spec(shape: list[int], body: list[dict]) -> str:
    """The archc YAML of a description (JSON is YAML; flow style keeps it compact)."""
    blocks: dict[str, dict] = {}

    def items(seq):
        out = []
        for item in seq:
            if "merge" in item:
                out.append({item["merge"]: {"branches": [items(b) for b in item["branches"]]}})
            elif "repeat" in item:
                out.append({"repeat": {"times": item["repeat"], "body": items(item["body"])}})
            elif "block" in item:
                blocks[item["block"]] = {"body": items(item["body"])}
                out.append(item["block"])
            else:
                out.append({item["op"]: item["args"]} if item["args"] else item["op"])
        return out

    document = {"archc": 1, "name": "fuzz", "input": shape, "body": items(body)}
    document["blocks"] = blocks
    return json.dumps(document)


# Building it in PyTorch -----------------------------------------------------------------------


def to_torch(shape: list[int], body: list[dict]):
    """A torch module computing the description, built from torch.nn classes alone."""
    import torch
    from torch import nn

    def module(item, x):
        op, args = item["op"], dict(item["args"])
        channels = x.shape[-1] if op == "linear" else x.shape[1]
        windowed = {"conv": "Conv", "maxpool": "MaxPool", "avgpool": "AvgPool"}.get(op[:-2])
        if windowed is not None:  # torch's module of the op's rank: Conv1d, MaxPool3d, ...
            cls = getattr(nn, windowed + op[-2:])
            if windowed == "Conv":
                return cls(args.pop("in_channels", channels), **args)
            return cls(**args)
        if op == "linear":
            return nn.Linear(args.pop("in_features", channels), **args)
        if op == "batchnorm2d":
            return nn.BatchNorm2d(channels)
        if op == "globalavgpool2d":
            return nn.AdaptiveAvgPool2d(1)
        names = {
            "relu": nn.ReLU, "relu6": nn.ReLU6, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
            "silu": nn.SiLU, "hardswish": nn.Hardswish, "hardsigmoid": nn.Hardsigmoid,
            "identity": nn.Identity, "gelu": nn.GELU, "dropout": nn.Dropout,
            "leakyrelu": nn.LeakyReLU, "flatten": nn.Flatten, "channelshuffle": nn.ChannelShuffle,
        }  # fmt: skip
        if op in names:
            return names[op](**args)
        # No reference written here: the op's own lowering, so that every op of the registry
        # joins the fuzzing. The shapes and counts are still torch's.
        from archc.ops import OPS

        return OPS[op].model_validate(args).lower(tuple(x.shape))

    class Net(nn.Module):
        """Builds its modules lazily on the first forward, where each one's input is known."""

        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList()
            self.built = False

        def forward(self, x):
            self.cursor = 0
            out = self.seq(body, x)
            self.built = True
            return out

        def leaf(self, item, x):
            if not self.built:
                self.layers.append(module(item, x))
            layer = self.layers[self.cursor]
            self.cursor += 1
            return layer(x)

        def seq(self, items, x):
            for item in items:
                if "merge" in item:
                    outs = [self.seq(branch, x) for branch in item["branches"]]
                    if item["merge"] == "concat":
                        x = torch.cat(outs, dim=1)
                    elif item["merge"] == "add":
                        if any(o.shape != outs[0].shape for o in outs):
                            raise RuntimeError("add of tensors of different shapes")
                        x = sum(outs[1:], outs[0])
                    else:
                        x = outs[0] * outs[1]
                elif "repeat" in item:
                    for _ in range(item["repeat"]):
                        x = self.seq(item["body"], x)
                elif "block" in item:
                    x = self.seq(item["body"], x)
                else:
                    x = self.leaf(item, x)
            return x

    return Net()


def trace_torch(shape: list[int], body: list[dict]):
    """Run the PyTorch network once: (layers as (op, shape, params), None) or (None, error)."""
    import torch

    net = to_torch(shape, body)
    records = []
    try:
        with torch.no_grad():
            net(torch.zeros(shape))  # builds the layers
        hooks = [
            layer.register_forward_hook(
                lambda m, i, o: records.append(
                    (
                        type(m).__name__.lower(),
                        list(o.shape),
                        sum(p.numel() for p in m.parameters()),
                    )
                )
            )
            for layer in net.layers
        ]
        net.eval()
        with torch.no_grad():
            net(torch.zeros(shape))
        for hook in hooks:
            hook.remove()
    except (RuntimeError, ValueError) as exc:
        return None, exc
    return records, None
