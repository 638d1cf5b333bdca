"""Block argument binding: the values a block call gives its arguments, checked against their
declared types, with defaults filled in and a stated `in_channels` compared with the input.

The call itself (the recursion check and the walk of the block's body) is part of the walk,
in archc.spec.expand; this module only answers which names the body sees.
"""

from __future__ import annotations

from typing import Any

from archc.diagnostics import nearest
from archc.dims import format_shape
from archc.spec.document import Block, type_admits
from archc.spec.expr import is_expression, variables
from archc.spec.state import FAIL, Expansion, Flow, Item
from archc.spec.validate import show


def bind(x: Expansion, block: Block, item: Item, flow: Flow | None, env: dict) -> dict | None:
    """The environment of a call of `block`; None when an argument is wrong (reported)."""
    args = item.fields
    values: dict[str, Any] = {}
    failed: set[str] = set()  # given, but reported already (or unknowable after an error)
    ok = True
    for key, raw in args.items():
        if key in ("name", "if", "inline"):
            continue
        if key not in block.args and key != "in_channels":
            close = nearest(key, list(block.args))
            x.error(
                "unknown-field",
                f"block `{item.head}` has no argument `{key}`",
                args.key_spans[key],
                hint=f"did you mean `{close}`?"
                if close
                else "its arguments are " + (", ".join(f"`{a}`" for a in block.args) or "none"),
            )
            ok = False
            continue
        value = x.value(raw, args.at(key), env, flow)
        if value is FAIL:
            failed.add(key)
            ok = False
            continue
        kind = "int" if key == "in_channels" else block.args[key].type
        if not type_admits(kind, value):
            x.error(
                "wrong-type",
                f"argument `{key}` of `{item.head}` is {kind}, got {show(value)}",
                args.at(key),
            )
            ok = False
        values[key] = value
    block_env = {**x.spec.params}
    x.entering.append(flow.shape if flow else None)  # defaults are written inside the block
    try:
        ok = _defaults(x, block, item, flow, values, failed, block_env) and ok
    finally:
        x.entering.pop()
    if not ok:
        return None
    stated = values.get("in_channels")
    if stated is not None and flow is not None and flow.shape[1] != stated:
        x.error(
            "channel-mismatch",
            f"`in_channels: {stated}` disagrees with the {flow.shape[1]} channels flowing in "
            f"(shape {format_shape(flow.shape)})",
            args.at("in_channels"),
            hint=f"write `in_channels: {flow.shape[1]}`, or leave it out to infer it",
        )
    return block_env


def _defaults(
    x: Expansion,
    block: Block,
    item: Item,
    flow: Flow | None,
    values: dict[str, Any],
    failed: set[str],
    block_env: dict[str, Any],
) -> bool:
    """Fill `block_env` with the given `values` and the defaults; False after an error."""
    ok = True
    for arg, spec in block.args.items():
        if arg in values:
            block_env[arg] = values[arg]
        elif arg in failed or (is_expression(spec.default) and variables(spec.default) & failed):
            continue  # failed (reported, or unknowable after an error), or computed from one
        elif spec.default is not None:
            default = x.value(spec.default, block.span, {**block_env, **values}, flow)
            if default is FAIL:
                failed.add(arg)
                ok = False
            block_env[arg] = default
        else:
            x.error(
                "missing-field",
                f"block `{item.head}` needs the argument `{arg}` ({spec.type})",
                item.span,
                hint=f"add `{arg}: …`",
            )
            ok = False
    return ok
