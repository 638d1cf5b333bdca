"""Random networks, written twice: as an archc spec and as plain PyTorch, from one description.

A network is described as a tree of plain dicts — ops with PyTorch's arguments, merges of
branches, block calls and repeats. `to_spec` writes the archc YAML; `to_torch` builds the
PyTorch module directly from `torch.nn` classes, without archc. Comparing the two is a
differential test of archc's shape rules, parameter counts and error detection.

`networks()` is a hypothesis strategy of descriptions that are mostly valid (sizes are tracked
while generating so that few collapse); `perturbed()` changes one size or channel count so that
the network is near the edge of validity.
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
    height: int
    width: int


def _conv_out(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


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
        kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        stride = draw(st.sampled_from([1, 1, 2, 3, [1, 2]]))
        padding = draw(
            st.sampled_from([0, 1, 2, [1, 0], "valid"] + (["same"] if stride == 1 else []))
        )
        args = {
            "out_channels": out,
            "kernel_size": kh if kh == kw else [kh, kw],
            "stride": stride,
            "padding": padding,
            "dilation": draw(st.sampled_from([1, 1, 2])),
        }
    if groups > 1:
        args["groups"] = groups
    if draw(st.booleans()):
        args["bias"] = False
    return {"op": "conv2d", "args": args}


@st.composite
def pool(draw, state: State):
    kind = draw(st.sampled_from(["maxpool2d", "avgpool2d"]))
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
    if kind == "maxpool2d" and draw(st.booleans()) and args["padding"] == 0:
        args["dilation"] = 2
    return {"op": kind, "args": args}


# Fields that state an input width: an example's value fits the example's input only.
_WIDTH_FIELDS = {"in_channels", "in_features", "num_features", "normalized_shape"}


def _shape_preserving() -> dict[str, list[dict]]:
    """The registry's ops that keep an image's shape, with the fields of their image examples.

    Drawn from the registry, so a new op joins the fuzzing without being listed here.
    """
    from archc.ops import OPS, Merge

    found: dict[str, list[dict]] = {}
    for name, cls in sorted(OPS.items()):
        if issubclass(cls, Merge):
            continue
        for example in cls.examples:
            if len(example.input) != 4 or _WIDTH_FIELDS & set(example.fields):
                continue
            if cls.model_validate(example.fields).infer(example.input) == example.input:
                found.setdefault(name, []).append(example.fields)
    return found


SHAPE_PRESERVING = _shape_preserving()


@st.composite
def pointwise(draw, state: State):
    choice = draw(st.sampled_from(sorted(SHAPE_PRESERVING)))
    return {"op": choice, "args": dict(draw(st.sampled_from(SHAPE_PRESERVING[choice])))}


@st.composite
def merge(draw, state: State, depth: int):
    kind = draw(st.sampled_from(["add", "concat", "mul"]))
    if kind == "mul":  # a squeeze-and-excitation gate
        gate = [
            {"op": "globalavgpool2d", "args": {}},
            {"op": "conv2d", "args": {"out_channels": state.channels, "kernel_size": 1}},
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
            return State(sum(o.channels for o in outs), outs[0].height, outs[0].width)
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
    if op in ("conv2d", "maxpool2d", "avgpool2d"):
        k = _pair(args["kernel_size"])
        s = _pair(args.get("stride", args["kernel_size"] if op != "conv2d" else 1))
        d = _pair(args.get("dilation", 1))
        padding = args.get("padding", 0)
        if padding == "same":
            return State(args.get("out_channels", state.channels), state.height, state.width)
        p = (0, 0) if padding == "valid" else _pair(padding)
        sizes = []
        for size, kk, ss, pp, dd in zip((state.height, state.width), k, s, p, d):
            if args.get("ceil_mode"):
                n = -(-(size + 2 * pp - dd * (kk - 1) - 1) // ss) + 1
                if (n - 1) * ss >= size + pp:
                    n -= 1
            else:
                n = _conv_out(size, kk, ss, pp, dd)
            sizes.append(n)
        if min(sizes) < 1:
            return None
        return State(args.get("out_channels", state.channels), *sizes)
    if op == "globalavgpool2d":
        return State(state.channels, 1, 1)
    return state


def run(state: State, body: list[dict]) -> State | None:
    for item in body:
        state = advance(state, item)
        if state is None:
            return None
    return state


def _pair(value):
    return tuple(value) if isinstance(value, list) else (value, value)


@st.composite
def networks(draw, max_items: int = 8):
    """A description of a mostly valid network: (input shape, body)."""
    state = State(draw(st.integers(1, 6)), draw(st.integers(6, 32)), draw(st.integers(6, 32)))
    shape = [2, state.channels, state.height, state.width]
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
        if "op" in item and item["op"] in ("conv2d", "maxpool2d", "avgpool2d", "linear")
    ]
    if not ops:
        return shape, body
    target = draw(st.sampled_from(ops))
    how = draw(st.sampled_from(["stated-width", "kernel"]))
    if how == "kernel" and target["op"] != "linear":
        target["args"]["kernel_size"] = draw(st.integers(6, 40))
        target["args"].pop("dilation", None)
        if target["op"] != "conv2d" or target["args"].get("padding") == "same":
            target["args"]["padding"] = 0
    else:
        key = "in_features" if target["op"] == "linear" else "in_channels"
        if target["op"] in ("maxpool2d", "avgpool2d"):
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
        if op == "conv2d":
            return nn.Conv2d(args.pop("in_channels", channels), **args)
        if op == "linear":
            return nn.Linear(args.pop("in_features", channels), **args)
        if op == "batchnorm2d":
            return nn.BatchNorm2d(channels)
        if op == "globalavgpool2d":
            return nn.AdaptiveAvgPool2d(1)
        names = {
            "maxpool2d": nn.MaxPool2d, "avgpool2d": nn.AvgPool2d, "relu": nn.ReLU,
            "relu6": nn.ReLU6, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "silu": nn.SiLU,
            "hardswish": nn.Hardswish, "hardsigmoid": nn.Hardsigmoid, "identity": nn.Identity,
            "gelu": nn.GELU, "dropout": nn.Dropout, "leakyrelu": nn.LeakyReLU,
            "flatten": nn.Flatten, "channelshuffle": nn.ChannelShuffle,
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
