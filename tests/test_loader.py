"""The YAML loader: YAML 1.2 scalars, positions, and refusals."""

from __future__ import annotations

import pytest

from archc.api import check, load_text
from archc.diagnostics import SpecError, render
from archc.spec.loader import YMap, YSeq, decode, load_yaml


def scalar(text: str):
    return load_yaml(f"v: {text}", "t.yaml")["v"]


def refusal(text: str, loader=load_yaml) -> tuple[str, int, int]:
    with pytest.raises(SpecError) as info:
        loader(text, "t.yaml")
    (diag,) = info.value.diagnostics
    return diag.code, diag.line, diag.column


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("-1", -1),
        ("+7", 7),
        ("0", 0),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("true", True),
        ("false", False),
        ("True", True),
        ("null", None),
        ("~", None),
        ("", None),
        # YAML 1.1 booleans, sexagesimals and dates are strings in YAML 1.2's core schema.
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("1:30", "1:30"),
        ("2001-12-14", "2001-12-14"),
        ("nan", "nan"),
        ("'010'", "010"),
        ('"3"', "3"),
        ('"true"', "true"),
        ("999999999999999999", 999999999999999999),
    ],
)
def test_scalars_follow_yaml_1_2(text, value):
    loaded = scalar(text)
    assert loaded == value and type(loaded) is type(value)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("010", "ambiguous-scalar"),
        ("-010", "ambiguous-scalar"),
        ("00", "ambiguous-scalar"),
        ("0x1f", "ambiguous-scalar"),
        ("0o17", "ambiguous-scalar"),
        ("0b101", "ambiguous-scalar"),
        ("1_000", "ambiguous-scalar"),
        (".nan", "bad-number"),
        (".inf", "bad-number"),
        ("-.Inf", "bad-number"),
        ("1e309", "bad-number"),
        ("9" * 19, "bad-number"),
        ("9" * 5000, "bad-number"),
        ("!!int 3", "yaml-tag"),
        ("!custom x", "yaml-tag"),
    ],
)
def test_refused_scalars(text, code):
    assert refusal(f"v: {text}") == (code, 1, 4)


@pytest.mark.parametrize(
    ("field", "value"),
    [("bias", "no"), ("bias", "yes"), ("bias", "on"), ("bias", "1"), ("ceil_mode", "off")],
)
def test_yaml_1_1_booleans_are_wrong_type_where_a_bool_is_expected(field, value):
    op = (
        "maxpool2d: {kernel_size: 2"
        if field == "ceil_mode"
        else "conv2d: {out_channels: 4, kernel_size: 1"
    )
    line = f"  - {op}, {field}: {value}}}"
    text = f"archc: 1\nname: b\ninput: [N, 3, 8, 8]\nbody:\n{line}\n"
    from archc.api import check

    (diag,) = check(load_text(text, "t.yaml")).diagnostics
    assert (diag.code, diag.line, diag.column) == (
        "wrong-type",
        5,
        line.index(f"{field}:") + len(field) + 3,
    )


def test_quoted_number_is_a_string_and_wrong_type_in_an_int_field():
    from archc.api import check

    line = '  - conv2d: {out_channels: "3", kernel_size: 1}'
    text = f"archc: 1\nname: q\ninput: [N, 3, 8, 8]\nbody:\n{line}\n"
    (diag,) = check(load_text(text, "t.yaml")).diagnostics
    assert (diag.code, diag.line, diag.column) == ("wrong-type", 5, line.index('"3"') + 1)


def test_positions_of_keys_values_and_items():
    data = load_yaml("a: 1\nlist:\n  - x\n  - {k: [1, 2]}\n", "t.yaml")
    assert isinstance(data, YMap)
    assert (data.key_spans["list"].line, data.key_spans["list"].col) == (2, 1)
    assert (data.at("a").line, data.at("a").col) == (1, 4)
    items = data["list"]
    assert isinstance(items, YSeq)
    assert [(s.line, s.col) for s in items.item_spans] == [(3, 5), (4, 5)]
    inner = items[1]["k"]
    assert (inner.at(1).line, inner.at(1).col) == (4, 13)
    span = data.at("a")
    assert (span.end_line, span.end_col) == (1, 5)


def test_positions_after_a_bom_and_crlf():
    data = load_yaml(decode(b"\xef\xbb\xbfa: 1\r\nb: [x, y]\r\n", "t.yaml"), "t.yaml")
    assert data == {"a": 1, "b": ["x", "y"]}
    assert (data["b"].at(1).line, data["b"].at(1).col) == (2, 8)


# YAML 1.2 breaks lines at \n, \r\n and \r only; libyaml, like YAML 1.1, also at these.
OLD_BREAKS = ["\u2028", "\u2029", "\x85"]


@pytest.mark.parametrize("char", OLD_BREAKS)
def test_old_line_breaks_neither_end_a_comment_nor_count_as_lines(char):
    line = "  - conv2d: {out_channels: 6, kernel_size: 5, bogus: 1}"
    text = (
        f"archc: 1\nname: x  # a{char} note: on{char}e line\n"
        f"input: [N, 1, 28, 28]\n# {char}{char}\nbody:\n  - relu\n{line}\n"
    )
    (diag,) = check(load_text(text, "t.yaml")).diagnostics
    assert (diag.code, diag.line, diag.column) == ("unknown-field", 7, line.index("bogus") + 1)
    snippet = render(diag, text).splitlines()
    assert snippet[3] == f"7 | {line}"


@pytest.mark.parametrize("char", OLD_BREAKS)
def test_old_line_breaks_stay_in_values(char):
    data = load_yaml(f"a: 'x{char}y'\nb: \"{char}\"\nc{char}d: p{char}q\n", "t.yaml")
    assert data == {"a": f"x{char}y", "b": char, f"c{char}d": f"p{char}q"}
    assert data.key_spans[f"c{char}d"].line == 3


def test_a_lone_carriage_return_is_a_line_break():
    assert refusal("a: 1\rb: !!set 1\n") == ("yaml-tag", 2, 4)
    assert refusal(b"a: 1\rb: caf\xe9\n", decode) == ("bad-encoding", 2, 7)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\na: 2\n", ("duplicate-key", 2, 1)),
        ("a: {b: 1, b: 2}\n", ("duplicate-key", 1, 11)),
        ("- {b: 1}\n- {c: [{d: 1, d: 2}]}\n", ("duplicate-key", 2, 15)),
        ("a: &x [1, *x]\n", ("recursive-alias", 1, 4)),
        ("a: *nothing\n", ("yaml-syntax", 1, 4)),
        ("a: 1\n---\nb: 2\n", ("yaml-syntax", 2, 1)),
        ("a: [1, 2\n", ("yaml-syntax", 1, 4)),
        ("a: 'open\n", ("yaml-syntax", 1, 4)),
        ("a:\n\t- 1\n", ("yaml-syntax", 2, 1)),
        ("{[a]: 1}\n", ("bad-key", 1, 2)),
        ("b: &b {x: 1}\nc: {<<: *b}\n", ("yaml-tag", 2, 5)),
        ("a: !!python/object/apply:os.system [true]\n", ("yaml-tag", 1, 4)),
        ("", ("empty-spec", 1, 1)),
        ("# only\n", ("empty-spec", 1, 1)),
    ],
)
def test_refusals_are_located(text, expected):
    assert refusal(text) == expected


def test_syntax_hints():
    with pytest.raises(SpecError) as info:
        load_yaml("a:\n\t- 1\n", "t.yaml")
    assert info.value.diagnostics[0].hint == "indent with spaces, not tabs"
    with pytest.raises(SpecError) as info:
        load_yaml("a: [1, 2\n", "t.yaml")
    assert info.value.diagnostics[0].hint == "close it with `]`"
    with pytest.raises(SpecError) as info:
        load_yaml("a: 1\n---\nb: 2\n", "t.yaml")
    assert info.value.diagnostics[0].hint == "put one network in each file"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a: caf\xe9\n", ("bad-encoding", 1, 7)),
        (b"a: 1\nb: x\x00y\n", ("bad-encoding", 2, 5)),
        ("a: 1\n".encode("utf-16"), ("bad-encoding", 1, 1)),
    ],
)
def test_decode_refuses_what_is_not_utf8(data, expected):
    assert refusal(data, decode) == expected


def test_deep_nesting_is_refused_before_parsing_completes():
    # libyaml's composer crashed at ~40,000 levels and its scanner is quadratic in depth.
    assert refusal("[" * 100_000 + "]" * 100_000)[0] == "too-deep"
    assert refusal("- " * 100_000 + "1")[0] == "too-deep"
