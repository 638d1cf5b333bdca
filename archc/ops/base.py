"""The contract every op kind fulfils, the shared field types, and the registry.

An op kind is one pydantic model that declares its fields (PyTorch's argument names), and, side
by side, its shape rule (`infer`), parameter and buffer counts, MACs, receptive-field window and
lowering to a `torch.nn.Module`. Adding an op is one new class in one file of this package.

MAC convention: one multiply-accumulate of a convolution, transposed convolution or linear layer
counts 1, at batch size 1; bias additions, normalization, activations, pooling and merges count
0. This is the convention of torchvision's published GFLOPS figures.
"""

from __future__ import annotations

from math import prod
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from archc.dims import Dim, Shape, Sym, Window, format_shape


class OpError(Exception):
    """A shape rule's refusal; `field` names the field to point at, if any."""

    def __init__(self, code: str, message: str, field: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.field, self.hint = code, message, field, hint


def _pair(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 2:
        return tuple(value)
    return value


class Expect:
    """Field metadata: what a field expects, in words, for error messages."""

    def __init__(self, text: str):
        self.text = text


PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Pair = Annotated[
    PositiveInt | tuple[PositiveInt, PositiveInt],
    BeforeValidator(_pair),
    AfterValidator(lambda v: (v, v) if isinstance(v, int) else v),
    Expect("a positive integer or a pair [h, w] of them"),
]
NonNegativePair = Annotated[
    NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt],
    BeforeValidator(_pair),
    AfterValidator(lambda v: (v, v) if isinstance(v, int) else v),
    Expect("a non-negative integer or a pair [h, w] of them"),
]
Padding = Annotated[
    Literal["same", "valid"] | NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt],
    BeforeValidator(_pair),
    AfterValidator(lambda v: (v, v) if isinstance(v, int) else v),
    Expect("`same`, `valid`, a non-negative integer, or a pair [h, w]"),
]


class Op(BaseModel):
    """Base of every op kind. Subclasses set `kind` and override what differs from a no-op."""

    # defer_build: an op's validator is compiled on first use, so start-up pays only for the
    # ops a spec uses.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    kind: ClassVar[str]
    torch_name: ClassVar[str | None] = None  # the PyTorch module name, when it differs
    summary: ClassVar[str]
    ranks: ClassVar[tuple[int, ...] | None] = None  # accepted input ranks; None = any ≥ 1

    @property
    def op_name(self) -> str:
        return self.torch_name or self.kind

    def infer(self, x: Shape) -> Shape:
        """The output shape for input shape `x` (batch first); raise OpError to refuse."""
        return x

    def conditions(self, x: Shape) -> list[tuple]:
        """Equalities (left, right, what) that must hold for a symbolic input to be valid."""
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

    def windows(self, x: Shape) -> tuple[Window, Window] | None:
        """Receptive-field geometry for (H, W); None for an op that mixes every position."""
        return (Window(), Window())

    def lower(self, x: Shape) -> Any:
        """The `torch.nn.Module` that computes this op on input shape `x`."""
        raise NotImplementedError(self.kind)


OPS: dict[str, type[Op]] = {}


def register(cls: type[Op]) -> type[Op]:
    """Class decorator adding an op kind to the registry; refuses a kind registered twice."""
    if cls.kind in OPS:
        raise ValueError(f"op kind {cls.kind!r} is registered twice")
    OPS[cls.kind] = cls
    return cls


def channels(x: Shape, field: str | None = None) -> int:
    """The channel count of an (N, C, ...) shape, which must be concrete."""
    if isinstance(x[1], Sym):
        raise OpError(
            "symbolic-channels",
            f"the channel count `{x[1]}` depends on a symbolic input dim",
            field,
        )
    return x[1]


def check_width(stated: int | None, x: Shape, field: str) -> None:
    """Refuse a stated input width that disagrees with the incoming channels `x[1]`."""
    actual = channels(x, field)
    if stated is not None and stated != actual:
        raise OpError(
            "channel-mismatch",
            f"`{field}: {stated}` disagrees with the {actual} channels flowing in "
            f"(shape {format_shape(x)})",
            field,
            hint=f"write `{field}: {actual}`, or leave it out to infer it",
        )


def numel(shape: Shape) -> Dim:
    """Elements of a shape at batch size 1 (the batch dim is left out)."""
    return prod(shape[1:], start=1)
