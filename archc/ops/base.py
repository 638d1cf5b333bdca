"""The contract every op kind fulfils, the shared field types, and the registry.

An op kind is one pydantic model that declares its fields (PyTorch's argument names), and, side
by side, everything any part of archc asks of it: its shape rule (`infer`), parameter, buffer
and MAC counts, its geometry along each spatial axis and so its receptive-field rule, its
drawing category, its lowering to a `torch.nn.Module`, and executable `examples` that the
registry test runs through PyTorch and ONNX Runtime. Analyses, renderers and the lowering ask
the op; none of them switches on op names. Adding an op is one new class in one file of this
package: `archc.ops` imports every module of the package and each class registers itself.

Spatial axes are the dims after (N, C): none for features and tokens, one for (N, C, L), two
for images, three for volumes. An op states its geometry for as many axes as its input has, and
how it reads dim 1 (`channel_window`). A family of ops of one, two and three axes (conv1d,
conv2d, conv3d) is one `Spatial` class written over per-axis tuples, whose members state only
their rank. Which of the network input's axes a dim holds is not assumed from its position:
after a `permute` the channels may come last, after a `flatten` one dim may hold H and W. An op
that moves, merges, splits or removes dims says so (`axes`), and the analyses follow the network
input's axes through it (archc/analysis/receptive_field.py).

MAC convention: one multiply-accumulate of a convolution, transposed convolution, linear layer
or matmul (attention's q·kᵀ and attn·v, in `matmul` or inside `multiheadattention`) counts 1,
at batch size 1; bias additions, normalization, softmax, activations, pooling and the other
merges count 0. This is the convention of torchvision's published GFLOPS figures (ViT-B/16's
17.56 included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from itertools import pairwise
from math import prod
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, field_validator
from pydantic import Field as Constraint

from archc.dims import Dim, Shape, Sym, Window, axis_letters, format_shape

Category = Literal[
    "conv", "pool", "norm", "dense", "attention", "activation", "layout", "merge", "other"
]


class OpError(Exception):
    """A shape rule's refusal; `field` names the field to point at, if any."""

    def __init__(self, code: str, message: str, field: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.field, self.hint = code, message, field, hint


def _listed(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class Expect:
    """Field metadata: what a field expects, in words, for error messages. `{axes}` stands for
    the per-axis list of the op at hand (`a pair [h, w]`, `a list [d, h, w]`)."""

    def __init__(self, text: str):
        self.text = text

    def describe(self, model: type) -> str:
        """The text for a field of `model`."""
        return self.text.replace("{axes}", _axis_list(getattr(model, "spatial", None)))


class PerAxis(Expect):
    """Field metadata marking a field of a `Spatial` op that holds one value per spatial axis:
    an integer stands for every axis, a list gives each (PyTorch's `_single`, `_pair`,
    `_triple`)."""


def _axis_list(rank: int | None) -> str:
    if rank is None:
        return "a list of them, one per spatial axis"
    letters = ", ".join(letter.lower() for letter in axis_letters(rank))
    return f"a pair [{letters}]" if rank == 2 else f"a list [{letters}]"


PositiveInt = Annotated[int, Constraint(gt=0)]
NonNegativeInt = Annotated[int, Constraint(ge=0)]
Sizes = Annotated[
    PositiveInt | tuple[PositiveInt, ...],
    BeforeValidator(_listed),
    PerAxis("a positive integer or {axes} of them"),
]
NonNegativeSizes = Annotated[
    NonNegativeInt | tuple[NonNegativeInt, ...],
    BeforeValidator(_listed),
    PerAxis("a non-negative integer or {axes} of them"),
]
Padding = Annotated[
    Literal["same", "valid"] | NonNegativeInt | tuple[NonNegativeInt, ...],
    BeforeValidator(_listed),
    PerAxis("`same`, `valid`, a non-negative integer, or {axes}"),
]


@dataclass(frozen=True)
class Example:
    """An executable example of an op: an input shape and the op's fields, as a spec gives them.

    The registry test checks archc's static shape, parameters and MACs against PyTorch, and
    exports the example with a dynamic batch and runs it on ONNX Runtime.
    """

    input: tuple[int, ...]
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field along one spatial axis: size, effective stride, effective padding.

    Strides and paddings are Fractions (upsampling divides the stride); sizes are dims.
    """

    size: Dim
    stride: Fraction
    padding: Fraction

    def to_json(self) -> tuple:
        """(size, stride, padding) as JSON numbers, or a string for a symbolic size."""
        return (_json_number(self.size), _json_number(self.stride), _json_number(self.padding))


def _json_number(value: Any) -> Any:
    if isinstance(value, Sym):
        return str(value)
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    return value


# One per spatial axis of the network's input; None where the field is not applicable: no
# window in input coordinates describes it (a window along a dim that merges H and W).
Fields = tuple[ReceptiveField | None, ...]

# The field of one position: what an op's rule is given along a dim that holds no single input
# axis, so that what it makes of it tells how the op reads that dim.
POSITION = ReceptiveField(1, Fraction(1), Fraction(0))


@cache
def field_docs(model: type[BaseModel]) -> dict[str, str]:
    """Each field's documentation: its `Field(description=...)`, else the docstring written
    under it in the class body (or a base class's), read from the source when first asked."""
    import ast
    import inspect
    import textwrap

    docs: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if not issubclass(klass, BaseModel) or klass.__module__.startswith("pydantic"):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for statement, after in pairwise(body):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[statement.target.id] = inspect.cleandoc(after.value.value)
    for name, info in model.model_fields.items():
        if info.description:
            docs[name] = info.description
    return docs


class Op(BaseModel):
    """Base of every op kind. A subclass sets the class variables and overrides what differs."""

    # defer_build: an op's validator is compiled on first use, so start-up pays only for the
    # ops a spec uses. The docstrings under the fields are read only when asked
    # (`field_docs`): pydantic's `use_attribute_docstrings` reads every op's source at import,
    # about 2 s of start-up on this machine's kind.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    name: ClassVar[str]  # the one name: spec keyword, tables, JSON, ONNX doc strings, drawings
    summary: ClassVar[str]
    category: ClassVar[Category]
    examples: ClassVar[tuple[Example, ...]]
    ranks: ClassVar[tuple[int, ...] | None] = None  # accepted input ranks; None = any >= 1

    def infer(self, x: Shape) -> Shape:
        """The output shape for input shape `x` (batch first); raise OpError to refuse."""
        return x

    def conditions(self, x: Shape) -> list[tuple]:
        """What a symbolic input must meet to be valid: `(left, right, what)` for left ==
        right, or a `Requirement` (its `kind` "positive" for left >= right)."""
        return []

    def params(self, x: Shape) -> int:
        """Trainable parameter count (what `sum(p.numel() for p in m.parameters())` gives)."""
        return 0

    def buffers(self, x: Shape) -> int:
        """Elements of non-trainable state (BatchNorm's running statistics)."""
        return 0

    def buffer_bytes(self, x: Shape, float_bytes: int) -> int:
        """Bytes of that state when its floating-point elements take `float_bytes` each."""
        return self.buffers(x) * float_bytes

    def macs(self, x: Shape, y: Shape) -> Dim:
        return 0

    def detail(self, x: Shape) -> str:
        """What a drawing's label adds to the op's name for input `x` (an attention layer's
        heads and width); empty for most ops, whose kernel and stride fields speak for them."""
        return ""

    def workspace(self, x: Shape) -> Dim:
        """Elements per sample the op holds while it runs, besides its input and output (an
        attention layer's map of heads × L × L); the memory analysis counts them at that layer."""
        return 0

    def stated(self, x: Shape) -> Op:
        """This op with its input-width fields stated from a concrete input `x`: what a layer
        whose width field is left out is built with for the spec's declared input."""
        return self

    def non_defaults(self) -> dict[str, Any]:
        """The fields whose values differ from their defaults (what a drawing's tooltip shows)."""
        return self.model_dump(exclude_defaults=True)

    def adaptive_size(self) -> tuple[int, ...] | None:
        """For an adaptive pool, its output size per spatial axis; None for any other op."""
        return None

    def geometry(self, x: Shape) -> tuple[Window | None, ...]:
        """For each spatial axis of `x`, the window an output position reads along it, or None
        where it reads the whole axis. Every op declares it; there is no default."""
        raise NotImplementedError(f"`{self.name}` declares no geometry")

    def channel_window(self, x: Shape) -> Window | None:
        """How an output position reads dim 1 of `x`: None where it mixes all of it (a
        convolution mixes the channels), `Window()` where it reads the same index (an
        activation). It matters where dim 1 holds a spatial axis (after a `permute`); the
        default, None, is never wrong about a receptive field, at worst too large."""
        return None

    def axes(self, x: Shape) -> tuple[tuple[int, ...], ...]:
        """For each output dim, the input dims whose elements it holds, outermost first.

        `(i,)`: it is input dim i (read through the windows of `geometry`); `(i, j)`: it merges
        them, as a flatten does. An input dim named by several output dims is split among them
        (an unflatten); one named by none is removed (a select). The default keeps every dim
        where it is, for ops whose output has the rank of their input.
        """
        return tuple((axis,) for axis in range(len(x)))

    def receptive_field(self, fields: list[Fields], x: tuple[Shape, ...]) -> Fields:
        """The receptive field of the output, from those of the inputs (`fields`, shapes `x`):
        `fields[i][k]` is input i's along dim k + 2 of `x[i]`. Along a dim that holds no single
        axis of the network input, the analysis passes `POSITION` and reads what the rule makes
        of it. An entry of the result may be None: not applicable. For an op of several inputs
        (a merge), `fields[i][k]` is input i's field along axis k of the network input, which
        the inputs may hold in different dims: the analysis keeps the result only where they
        hold it alike, in dims the op reads position by position (`geometry`).

        Through a window of extent k, stride s and padding p, a field of size r, jump j and
        offset P becomes r + (k - 1) * j, j * s, P + p * j (Araujo, Norris & Sim, Distill 2019).
        An axis read whole becomes the whole padded input along it.
        """
        return tuple(
            whole(f, size) if w is None else through(f, w)
            for f, w, size in zip(fields[0], self.geometry(x[0]), x[0][2:], strict=True)
        )

    def lower(self, x: Shape) -> Any:
        """The `torch.nn.Module` that computes this op on input shape `x`."""
        raise NotImplementedError(self.name)


class Requirement(NamedTuple):
    """A condition on symbolic sizes an op states: left == right, or (kind "positive")
    left >= right."""

    left: Dim
    right: Dim
    what: str
    kind: Literal["equal", "positive"] = "equal"


def _per_axis_schema(schema: dict, cls: type) -> None:
    """The editor schema of a `Spatial` op: each per-axis list has exactly `spatial` items."""
    for name in cls.per_axis_fields():
        _fix_length(schema["properties"][name], cls.spatial)


def _fix_length(schema: Any, length: int) -> None:
    if isinstance(schema, dict):
        if schema.get("type") == "array":
            schema.update(minItems=length, maxItems=length)
        for value in schema.values():
            _fix_length(value, length)
    elif isinstance(schema, list):
        for value in schema:
            _fix_length(value, length)


class Spatial(Op):
    """An op of a fixed number of spatial axes (`spatial`: 1 for conv1d, 3 for conv3d).

    Its per-axis fields (typed `Sizes`, `NonNegativeSizes` or `Padding`) take an integer for
    every axis or a list of one per axis, as PyTorch's do, and hold a tuple of `spatial` values
    once validated; the shape rules of a family (`conv1d`, `conv2d`, `conv3d`) are written once
    over those tuples, and each member only states its rank.
    """

    model_config = ConfigDict(validate_default=True, json_schema_extra=_per_axis_schema)

    spatial: ClassVar[int]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "spatial" in vars(cls):
            cls.ranks = (cls.spatial + 2,)

    @classmethod
    def per_axis_fields(cls) -> tuple[str, ...]:
        """The names of the fields that hold one value per spatial axis."""
        return _per_axis_fields(cls)

    @field_validator("*")
    @classmethod
    def _one_per_axis(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name not in _per_axis_fields(cls) or value is None or isinstance(value, str):
            return value
        if isinstance(value, int):
            return (value,) * cls.spatial
        if len(value) != cls.spatial:
            raise ValueError(f"needs {cls.spatial} values, one per spatial axis")
        return value

    def non_defaults(self) -> dict[str, Any]:
        # A per-axis default (`stride: 1`) holds as one value per axis once validated.
        found = super().non_defaults()
        for name in _per_axis_fields(type(self)):
            default = type(self).model_fields[name].default
            if isinstance(default, int) and found.get(name) == (default,) * self.spatial:
                del found[name]
        return found


@cache
def _per_axis_fields(cls: type[Spatial]) -> tuple[str, ...]:
    return tuple(
        name
        for name, info in cls.model_fields.items()
        if any(isinstance(meta, PerAxis) for meta in _metadata(info))
    )


def _metadata(info: Any) -> list:
    """The metadata of a field's type, including that of the members of a union."""
    found = list(info.metadata)
    for arg in get_args(info.annotation):
        found += list(getattr(arg, "__metadata__", ()))
    return found


def same_geometry(x: Shape) -> tuple[Window, ...]:
    """The geometry of an op that reads each position alone: a 1-wide window on every axis."""
    return (Window(),) * max(len(x) - 2, 0)


def through(f: ReceptiveField, w: Window) -> ReceptiveField | None:
    """A receptive field after one more window along its axis; None (not applicable) for a
    window whose offset depends on a symbolic size (`x[:, :, -1]` of H rows starts at H - 1)."""
    if isinstance(w.padding, Sym):
        return None
    return ReceptiveField(
        plus(f.size, (w.kernel - 1) * f.stride),
        f.stride * w.stride,
        f.padding + w.padding * f.stride,
    )


def whole(f: ReceptiveField, size: Dim) -> ReceptiveField:
    """The field of an output that reads all `size` positions of its input along the axis:
    from -P to (size - 1) * S - P + r - 1."""
    return ReceptiveField(plus(times(size - 1, f.stride), f.size), f.stride, f.padding)


def times(size: Dim, factor: Fraction) -> Dim:
    """size * factor; a symbolic size times a fractional jump rounds down."""
    if isinstance(size, Sym):
        return size * factor.numerator // factor.denominator
    return whole_number(size * factor)


def plus(size: Dim, extra: Any) -> Dim:
    """size + extra; a fractional extra added to a symbolic size rounds down."""
    if isinstance(extra, Fraction) and isinstance(size, Sym):
        extra = extra.numerator // extra.denominator
    if isinstance(size, Fraction) and isinstance(extra, Sym):
        size = size.numerator // size.denominator
    return whole_number(size + extra)


def whole_number(value: Any) -> Any:
    """A Fraction that is an integer, as an int; anything else as it is."""
    return int(value) if isinstance(value, Fraction) and value.denominator == 1 else value


OPS: dict[str, type[Op]] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator adding an op kind to the registry; refuses a kind registered twice."""
    if cls.name in OPS:
        raise ValueError(f"op kind {cls.name!r} is registered twice")
    OPS[cls.name] = cls
    return cls


def channels(x: Shape, field: str | None = None, axis: int = 1) -> int:
    """The channel count of an (N, C, ...) shape (or the width along `axis`: -1 for the
    features of tokens), which must be concrete."""
    if isinstance(x[axis], Sym):
        raise OpError(
            "symbolic-channels",
            f"the channel count `{x[axis]}` depends on a symbolic input dim",
            field,
        )
    return x[axis]


def check_width(stated: int | None, x: Shape, field: str, axis: int = 1) -> int:
    """The incoming width `x[axis]` (the channels); refuses a stated one that disagrees."""
    actual = channels(x, field, axis)
    if stated is not None and stated != actual:
        raise OpError(
            "channel-mismatch",
            f"`{field}: {stated}` disagrees with the {actual} channels flowing in "
            f"(shape {format_shape(x)})",
            field,
            hint=f"write `{field}: {actual}`, or leave it out to infer it",
        )
    return actual


def dim_index(dim: int, x: Shape, field: str) -> int:
    """`dim` of a rank-len(x) input as an index, counting a negative one from the end as
    PyTorch does; refuses one out of range."""
    if not -len(x) <= dim < len(x):
        raise OpError(
            "out-of-range",
            f"`{field}: {dim}` is out of range for a rank-{len(x)} input {format_shape(x)}",
            field,
            hint=f"use a dim from {-len(x)} to {len(x) - 1}",
        )
    return dim % len(x)


def keep_batch(index: int, x: Shape, field: str, what: str) -> None:
    """Refuse an op that would move or merge the batch dim (dim 0), which archc keeps first and
    symbolic: `what` says what the op would do to it."""
    if index == 0:
        raise OpError(
            "batch-dim",
            f"`{field}` {what} the batch dim (dim 0) of {format_shape(x)}",
            field,
            hint="name dims from 1 on: archc keeps the batch as dim 0",
        )


def numel(shape: Shape) -> Dim:
    """Elements of a shape at batch size 1 (the batch dim is left out)."""
    return prod(shape[1:], start=1)
