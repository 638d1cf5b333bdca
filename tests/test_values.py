"""Values bounded as data, one error per mistake in a `repeat`, the nesting limit of blocks,
bounded messages and name searches, and `--set` bytes that are not UTF-8 (docs/limits.md)."""

from __future__ import annotations

import subprocess

import pytest

from archc.api import check, load_text
from archc.diagnostics import (
    MAX_MESSAGE,
    NEAREST_MAX_CHOICES,
    NEAREST_MAX_LENGTH,
    Diagnostic,
    SpecError,
    UsageError,
    nearest,
)
from archc.spec import loader, state
from archc.spec.values import MAX_VALUE_SIZE, resolved_size
from tests.conftest import ARCHC, ROOT

_SPEC = "archc: 1\nname: values\ninput: [N, 3, 8, 8]\n"


def _found(text: str) -> list[tuple[str, int]]:
    """(code, line) of each diagnostic of checking `text`."""
    try:
        spec = load_text(text, "spec.yaml")
    except SpecError as exc:
        return [(d.code, d.line) for d in exc.diagnostics]
    return [(d.code, d.line) for d in check(spec).diagnostics]


def test_resolved_size_counts_shared_lists_once_per_use_and_stops_past_the_limit():
    assert resolved_size([1, "ab", [2, 3], {"k": [1]}]) == 1 + 1 + 3 + 3 + (1 + 2 + 2)
    shared = [1, 2, 3, 4]
    for _ in range(19):
        shared = [shared, shared, shared, shared]  # 4^20 leaves, twenty lists
    assert resolved_size(shared) == MAX_VALUE_SIZE + 1
    assert resolved_size(shared, limit=10) == 11
    deep: list = []
    for _ in range(50_000):  # deeper than Python's recursion limit
        deep = [deep]
    assert resolved_size(deep) == 50_001


def test_shared_lists_built_by_parameters_are_refused_as_they_are_built():
    # Twenty parameters, each four copies of the one before: 4^20 items. The evaluator counts
    # a shared list once per use, so the first parameter past its 10,000 items is refused,
    # once; the parameters that use it are not reported again as undefined.
    params = "".join(
        f'  p{k}: "[$p{k - 1}, $p{k - 1}, $p{k - 1}, $p{k - 1}]"\n' for k in range(2, 21)
    )
    text = _SPEC + "params:\n  p1: [1, 2, 3, 4]\n" + params + "body: [relu]\n"
    assert _found(text) == [("bad-expression", 11)]  # p7: 4^7 = 16,384 items


def test_a_field_computed_past_the_limit_is_refused_at_the_field():
    text = (
        _SPEC
        + 'params:\n  n: 9999\n  row: "[0] * $n"\n'
        + 'body:\n  - conv2d: {out_channels: "[$row] * 101", kernel_size: 1}\n'
    )
    assert _found(text) == [("bad-expression", 8)]


def test_limit_resolved_size_of_a_python_override():
    # A Python value shares lists freely; it is measured, boundedly, before anything walks it.
    shared: list = [0] * 1000
    for _ in range(19):
        shared = [shared, shared, shared, shared]
    text = _SPEC + "params:\n  p: [1]\nbody: [relu]\n"
    with pytest.raises(UsageError) as info:
        load_text(text, "spec.yaml", {"p": shared})
    assert [d.code for d in info.value.diagnostics] == ["bad-override"]
    at_limit = ["x" * 1000] * 999  # the list, and 999 strings of 1 + 1,000: 1,000,000
    assert resolved_size(at_limit) == MAX_VALUE_SIZE
    assert load_text(text, "spec.yaml", {"p": at_limit}).params["p"] is at_limit
    with pytest.raises(UsageError):
        load_text(text, "spec.yaml", {"p": [*at_limit, "x"]})


def test_limit_characters_with_aliases():
    def load(copies: int, extra: int) -> list[str]:
        text = f"a: &a {'x' * 10_000}\nb: [{', '.join(['*a'] * copies)}]\nc: {'y' * extra}\n"
        try:
            loader.load_yaml(text, "spec.yaml")
        except SpecError as exc:
            return [(d.code, d.line) for d in exc.diagnostics]
        return []

    copies = loader.MAX_CHARS // 10_000 - 2
    extra = loader.MAX_CHARS - len("abc") - (copies + 1) * 10_000
    assert load(copies, extra) == []
    assert load(copies, extra + 1) == [("too-many-nodes", 3)]


def test_an_error_in_a_repeat_is_reported_once_in_the_iteration_that_meets_it():
    text = _SPEC + (
        "body:\n  - repeat:\n      times: 1000000\n"
        '      body: [conv2d: {out_channels: 8, kernel_size: 1, if: "$i == 3"}, rleu]\n'
    )
    spec = load_text(text, "spec.yaml")
    diagnostics = check(spec).diagnostics
    assert [(d.code, d.line) for d in diagnostics] == [("unknown-op", 7)]
    assert diagnostics[0].notes == ("in iteration `i = 0` of the `repeat` at spec.yaml:5:5",)


def test_a_recovered_error_in_a_repeat_lets_later_iterations_report_theirs():
    # The channel mismatch is recovered from; the collapse comes iterations later.
    text = _SPEC + (
        "body:\n  - repeat:\n      times: 6\n"
        "      body:\n        - conv2d: {in_channels: 4, out_channels: 4, kernel_size: 1}\n"
        "        - maxpool2d: {kernel_size: 2}\n"
    )
    assert [code for code, _ in _found(text)] == ["channel-mismatch", "spatial-collapse"]


def _chain(blocks: int) -> str:
    lines = "".join(f"  b{i}: {{body: [b{i + 1}]}}\n" for i in range(blocks - 1))
    last = f"  b{blocks - 1}: {{body: [relu]}}\n"
    return _SPEC + "blocks:\n" + lines + last + "body: [b0]\n"


def test_limit_nesting_of_block_calls():
    assert _found(_chain(state.MAX_NESTING)) == []
    # The call of the 65th block, in the 64th block's body (line 4 + 64).
    assert _found(_chain(state.MAX_NESTING + 1)) == [("too-deep-expansion", 4 + 64)]
    assert _found(_chain(1000)) == [("too-deep-expansion", 4 + 64)]


def test_nesting_counts_groups_inside_blocks_too():
    # Each block is two levels: its call and the `seq` in it.
    blocks = state.MAX_NESTING // 2 + 1
    lines = "".join(f"  b{i}: {{body: [seq: {{body: [b{i + 1}]}}]}}\n" for i in range(blocks))
    text = _SPEC + "blocks:\n" + lines + f"  b{blocks}: {{body: [relu]}}\n" + "body: [b0]\n"
    # The 65th level is the call of b32, in b31's body (line 5 + 31).
    assert _found(text) == [("too-deep-expansion", 36)]


def test_nearest_name_searches_are_bounded():
    assert nearest("rleu", ["relu", "gelu", "conv2d"]) == "relu"
    assert nearest("r" * (NEAREST_MAX_LENGTH + 1), ["r" * NEAREST_MAX_LENGTH]) is None
    many = [f"name{i:06d}" for i in range(100_000)]
    assert nearest("name000001x", many) == "name000001"
    assert nearest("x", many) is None
    assert NEAREST_MAX_CHOICES >= 1_000


def test_a_message_quotes_at_most_a_short_excerpt():
    diag = Diagnostic("unknown-op", "`" + "x" * 10**6 + "` is unknown", "f", hint="h" * 10**6)
    assert len(diag.message) <= MAX_MESSAGE + 1
    assert len(diag.hint) <= MAX_MESSAGE + 1


def test_set_with_bytes_that_are_not_utf8_is_a_usage_error():
    result = subprocess.run(
        [*ARCHC, "check", "specs/lenet.yaml", "--set", b"classes=\xff\xfe"],
        cwd=ROOT,
        capture_output=True,
    )
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, err
    assert "Traceback" not in err
    assert err.startswith("error[bad-arguments]: --set")
