"""The spec document: format version, name, input, parameters, blocks and body.

`parse_document` validates the top level of a loaded YAML file and resolves spec-level
parameters, with overrides applied: typed values, each naming where it was given (an API
argument or a `--set` option) for its messages. The body and block bodies stay located YAML
data, expanded later by `archc.spec.expand`, which needs the flowing shapes to evaluate them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from archc.diagnostics import Diagnostic, Span, SpecError, UsageError, nearest
from archc.spec.expr import ExprError, ItemBudget, evaluate, is_expression, variables
from archc.spec.loader import YMap, YSeq, load_yaml
from archc.spec.validate import show, validate

FORMAT_VERSION = 1
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
RESERVED = {"name", "if", "in_channels", "inline"}
_PYTHON_TYPES = {
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "str": (str,),
    "list": (list,),
}
# A block argument's type: one of the types, or a union of them (`int | list`: a kernel size
# given as a number or a pair).
ArgType = Annotated[
    str,
    StringConstraints(
        pattern=r"^\s*(int|float|bool|str|list)(\s*\|\s*(int|float|bool|str|list))*\s*$"
    ),
]


def type_admits(kind: str, value: Any) -> bool:
    """Whether `value` has the argument type `kind` (`int`, `list`, `int | list`, ...)."""
    for part in kind.split("|"):
        part = part.strip()
        if part in ("int", "str", "list", "float") and isinstance(value, bool):
            continue
        if isinstance(value, _PYTHON_TYPES[part]):
            return True
    return False


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class ArgSpec(_Strict):
    """One block argument: its type, and its default (absent = required)."""

    type: ArgType
    default: Any = None
    description: str = ""


class BlockModel(_Strict):
    args: dict[Identifier, ArgType | ArgSpec] = Field(default_factory=dict)
    body: list[Any]
    description: str = ""


class DocumentModel(_Strict):
    archc: Literal[1]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: str = ""
    input: Annotated[
        list[Annotated[int, Field(gt=0)] | Identifier], Field(min_length=2, max_length=5)
    ]
    params: dict[Identifier, Any] = Field(default_factory=dict)
    blocks: dict[Identifier, BlockModel] = Field(default_factory=dict)
    body: Annotated[list[Any], Field(min_length=1)]
    outputs: Annotated[list[Identifier], Field(min_length=1)] | None = None


ParamValue = int | float | bool | str | list


@dataclass(frozen=True)
class Override:
    """A value given for a spec parameter, and how messages name where it was given: the
    command line's `--set depth=3`, or the Python API's `overrides['depth']=3`."""

    value: ParamValue
    where: str  # `--set depth`, `overrides['depth']`
    written: str  # the value as written there: `3`

    @property
    def given(self) -> str:
        return f"{self.where}={self.written}"


@dataclass
class Block:
    name: str
    args: dict[str, ArgSpec]
    body: YSeq
    span: Span
    description: str = ""


@dataclass
class Spec:
    """A loaded spec: validated top level, resolved parameters, located body."""

    file: str
    source: str
    name: str
    description: str
    input: list[int | str]
    params: dict[str, Any]
    blocks: dict[str, Block]
    body: YSeq
    root: YMap
    outputs: list[str] | None = None  # the names of the network's outputs; None: the body's end
    diagnostics: list[Diagnostic] = field(default_factory=list)


def parse_document(source: str, file: str, overrides: dict[str, Override] | None = None) -> Spec:
    """Load and validate a spec's top level; raise SpecError or UsageError on failure."""
    root = load_yaml(source, file)
    if not isinstance(root, YMap):
        span = getattr(root, "span", Span.point(1, 1))
        raise SpecError(
            [
                Diagnostic(
                    "not-a-mapping",
                    "a spec is a mapping with `archc`, `name`, `input` and `body` keys",
                    file,
                    span,
                    hint="start from `archc new NAME`",
                )
            ]
        )
    if "archc" in root and root["archc"] != FORMAT_VERSION and not isinstance(root["archc"], bool):
        raise SpecError(
            [
                Diagnostic(
                    "unsupported-version",
                    f"format version {show(root['archc'])} is not supported",
                    file,
                    root.at("archc"),
                    hint=f"this archc reads `archc: {FORMAT_VERSION}`",
                )
            ]
        )
    model, diagnostics = validate(DocumentModel, root, file, "the spec")
    if model is None:
        for diag in diagnostics:
            if diag.code == "missing-field" and diag.message.endswith("`archc`"):
                object.__setattr__(diag, "hint", f"add `archc: {FORMAT_VERSION}` at the top")
        raise SpecError(diagnostics)
    blocks = {}
    for name, block in model.blocks.items():
        raw = root["blocks"][name]
        args = {
            arg: ArgSpec(type=spec) if isinstance(spec, str) else spec
            for arg, spec in block.args.items()
        }
        for arg in args:
            if arg in RESERVED:
                diagnostics.append(
                    Diagnostic(
                        "reserved-name",
                        f"block argument `{arg}` uses a name reserved for layer items",
                        file,
                        raw["args"].key_spans[arg],
                        hint="rename the argument",
                    )
                )
        blocks[name] = Block(
            name, args, raw["body"], root["blocks"].key_spans[name], block.description
        )
    params = _resolve_params(root, file, overrides or {}, diagnostics)
    if diagnostics:
        raise SpecError(diagnostics)
    return Spec(
        file=file,
        source=source,
        name=model.name,
        description=model.description,
        input=list(model.input),
        params=params,
        blocks=blocks,
        body=root["body"],
        root=root,
        outputs=model.outputs,
    )


def _resolve_params(
    root: YMap, file: str, overrides: dict[str, Override], diagnostics: list[Diagnostic]
) -> dict[str, Any]:
    declared: YMap = root.get("params") or YMap(root.span)
    for name, override in overrides.items():
        if name not in declared:
            close = nearest(name, list(declared))
            raise UsageError(
                [
                    Diagnostic(
                        "unknown-param",
                        f"{override.where}: the spec has no parameter `{name}`",
                        file,
                        hint=f"did you mean `{close}`?"
                        if close
                        else "its parameters are " + (", ".join(declared) or "none"),
                    )
                ]
            )
    params: dict[str, Any] = {}
    work = ItemBudget()  # the lists and strings all parameters build, together
    failed: set[str] = set()  # parameters whose errors are reported: not again as undefined
    for name, raw in declared.items():
        span = declared.at(name)
        if name in overrides:
            value = overrides[name].value
            if raw is not None and not is_expression(raw) and not _same_type(value, raw):
                raise UsageError(
                    [
                        Diagnostic(
                            "bad-override",
                            f"{overrides[name].given}: `{name}` is {_type_name(raw)}",
                            file,
                            hint=f"give `{name}` {_type_name(raw)}",
                        )
                    ]
                )
        else:
            value = raw
        if is_expression(value):
            if variables(value) & failed:
                failed.add(name)  # a consequence of an error already reported
                continue
            try:
                value = evaluate(value, params, None, work.charge)
            except ExprError as exc:
                diagnostics.append(Diagnostic(exc.code, str(exc), file, span, hint=exc.hint))
                failed.add(name)
                continue
        params[name] = value
    return params


def _same_type(value: Any, like: Any) -> bool:
    if isinstance(like, bool) or isinstance(value, bool):
        return type(value) is type(like)
    if isinstance(like, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(like)) or (isinstance(like, list) and isinstance(value, list))


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), "a list" if isinstance(value, list) else "a value"
    )
