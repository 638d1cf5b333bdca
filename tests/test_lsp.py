"""`archc lsp`, driven over stdio by a real language client (pygls's), as an editor drives it."""

from __future__ import annotations

import pytest

pytest.importorskip("pygls", reason="the lsp extra (pygls) is not installed")

from archc.api import check_file, is_spec
from archc.ops import OPS
from archc.ops.base import field_docs
from tests.conftest import ROOT
from tests.lsp_client import Editor

BAD_SPECS = sorted((ROOT / "tests" / "bad").glob("*.yaml"))
LENET = ROOT / "specs" / "lenet.yaml"
VGG = ROOT / "specs" / "seed-listings" / "vgg_listing.yaml"
RESNET = ROOT / "specs" / "imagenet" / "resnet.yaml"


@pytest.fixture(scope="module")
def editor():
    session = Editor()
    yield session
    session.close()


def position(text: str, line: int, needle: str, offset: int = 0) -> tuple[int, int]:
    """The 0-based position of `needle` (plus `offset`) on 1-based `line` of `text`."""
    return line - 1, text.splitlines()[line - 1].index(needle) + offset


def test_the_server_says_what_it_offers(editor):
    offered = editor.initialize.capabilities
    assert offered.hover_provider and offered.definition_provider
    assert offered.inlay_hint_provider and offered.completion_provider
    assert editor.initialize.server_info.name == "archc"


@pytest.mark.parametrize("path", BAD_SPECS, ids=lambda p: p.name)
def test_every_diagnostic_of_check_is_published(editor, path, monkeypatch):
    monkeypatch.chdir(ROOT)
    # YAML without the top-level `archc:` key is another tool's file: nothing to say.
    expected = check_file(path.relative_to(ROOT)).diagnostics if is_spec(path) else []
    published = editor.diagnostics(editor.open(path))
    assert [(d.code, d.range.start.line + 1, d.range.start.character + 1) for d in published] == [
        (d.code, max(d.line, 1), max(d.column, 1)) for d in expected
    ]
    assert [d.severity.name.lower() for d in published] == [d.severity for d in expected]
    assert all(d.source == "archc" for d in published)


def test_call_sites_are_related_information(editor):
    published = editor.diagnostics(editor.open(VGG))
    in_block = [d for d in published if d.related_information]
    assert [d.range.start.line + 1 for d in in_block] == [17, 21]
    (call,) = in_block[0].related_information
    assert call.location.uri == VGG.as_uri()
    assert (call.location.range.start.line, call.location.range.start.character) == (34, 4)
    assert call.message.startswith("in block `double` called at")
    assert "help: write `in_channels: 256`" in in_block[0].message


def test_diagnostics_follow_every_change(editor, tmp_path):
    text = LENET.read_text()
    path = tmp_path / "net.yaml"
    uri = editor.open(path, text)
    assert editor.diagnostics(uri) == []
    broken = text.replace("out_channels: 16", "out_channels: 0", 1)
    editor.change(uri, broken)
    (error,) = editor.diagnostics(uri)
    assert error.code == "out-of-range"
    line = broken[: broken.index("out_channels: 0")].count("\n")
    assert error.range.start.line == line
    editor.change(uri, text.replace("  - flatten", "  - flaten"))
    (error,) = editor.diagnostics(uri)
    assert (error.code, error.message.splitlines()[-1]) == (
        "unknown-op",
        "help: did you mean `flatten`?",
    )
    editor.change(uri, text + "  - [unclosed\n")
    (error,) = editor.diagnostics(uri)
    assert error.code == "yaml-syntax"
    editor.change(uri, text)
    assert editor.diagnostics(uri) == []


def test_other_yaml_gets_no_diagnostics(editor, tmp_path):
    workflow = tmp_path / "ci.yml"
    uri = editor.open(workflow, "on: push\njobs: {test: {runs-on: ubuntu-latest}}\n")
    assert editor.diagnostics(uri) == []
    assert editor.inlay_hints(uri) == []


def test_positions_count_utf16_units(editor, tmp_path):
    text = (
        LENET.read_text()
        .replace("  - flatten", "  - flaten  # 🙂", 1)
        .replace("name: lenet", "name: lenet 🙂 ")
    )
    line_text = next(line for line in text.splitlines() if "flaten" in line)
    uri = editor.open(tmp_path / "net.yaml", text)
    (error,) = editor.diagnostics(uri)
    assert error.range.start.character == line_text.index("flaten")
    hints = {h.position.line: h for h in editor.inlay_hints(uri)}
    line = text.splitlines().index(line_text)
    assert line not in hints  # nothing flows past the error
    named = text.splitlines()[8]
    hint = hints[8]
    assert hint.position.character == len(named.encode("utf-16-le")) // 2


def test_inlay_hints_give_each_layer_its_output_and_parameters(editor):
    uri = editor.open(LENET)
    hints = {h.position.line: h.label for h in editor.inlay_hints(uri)}
    lines = LENET.read_text().splitlines()
    conv = next(i for i, line in enumerate(lines) if "conv2d" in line)
    # LeNet-5 on 28×28 (d2l): a 5×5 convolution to 6 channels keeps 24×24, 6·(25+1) params.
    assert hints[conv] == "→ (N, 6, 24, 24) · 156"
    linear = max(i for i, line in enumerate(lines) if "linear" in line)
    assert hints[linear] == "→ (N, 10) · 850"  # 84·10 + 10
    assert all(editor.inlay_hints(uri, conv, conv)[0].position.line == conv for _ in "x")


def test_inlay_hints_in_blocks_say_which_use_they_show(editor):
    uri = editor.open(RESNET)
    text = RESNET.read_text().splitlines()
    hints = {h.position.line: h.label for h in editor.inlay_hints(uri)}
    conv1 = next(i for i, line in enumerate(text) if "name: conv1, out_channels: $planes *" in line)
    # torchvision's layer1.0.conv1: a 1×1 convolution from 64 to 64 channels, no bias.
    assert hints[conv1] == "→ (N, 64, 56, 56) · 4,096 (1 of 16)"
    stem = next(i for i, line in enumerate(text) if line.startswith("  - conv2d: {name: conv1"))
    assert hints[stem] == "→ (N, 64, 112, 112) · 9,408"  # 64·3·7·7


def test_hover_on_a_layer_gives_shapes_params_macs_and_receptive_field(editor):
    uri = editor.open(LENET)
    text = LENET.read_text()
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "conv2d" in t)
    found = editor.hover(uri, *position(text, line, "conv2d", 2))
    value = found.contents.value
    assert value.startswith(f"**conv2d**: {OPS['conv2d'].summary}")
    assert "(N, 1, 28, 28) → (N, 6, 24, 24)" in value
    assert "params 156 · MACs 86,400 · receptive field 5 /1" in value  # 6·24·24·25 MACs
    assert found.range.start.line == line - 1


def test_hover_on_a_block_call_sums_the_call(editor):
    uri = editor.open(RESNET)
    text = RESNET.read_text()
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("  - stage:"))
    value = editor.hover(uri, *position(text, line, "stage", 1)).contents.value
    assert value.startswith("**block `stage`**")
    # torchvision's resnet50.layer1: 215,808 parameters, (64, 56, 56) -> (256, 56, 56).
    assert "`layer1`: (N, 64, 56, 56) → (N, 256, 56, 56)" in value
    assert "params 215,808" in value


def test_hover_on_a_field_gives_its_documentation(editor):
    uri = editor.open(LENET)
    text = LENET.read_text()
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "kernel_size" in t)
    value = editor.hover(uri, *position(text, line, "kernel_size", 1)).contents.value
    description = field_docs(OPS["conv2d"]).get("kernel_size")
    assert description and value == f"**kernel_size** (required): {description}"


def test_completion_of_ops_blocks_fields_and_arguments(editor, tmp_path):
    text = RESNET.read_text()
    uri = editor.open(tmp_path / "resnet.yaml", text)
    editor.diagnostics(uri)
    typed = text.replace("  - relu\n  - maxpool2d", "  - \n  - maxpool2d", 1)
    editor.change(uri, typed)
    line = typed.splitlines().index("  - ")
    labels = {item.label for item in editor.completion(uri, line, 4)}
    assert set(OPS) <= labels
    assert {"repeat", "seq", "ref", "bottleneck", "stage", "downsample"} <= labels
    typed = text.replace("  - relu\n  - maxpool2d", "  - conv2d: {out_channels: 8, \n  - maxpool2d")
    editor.change(uri, typed)
    line = typed.splitlines().index("  - conv2d: {out_channels: 8, ")
    labels = {item.label for item in editor.completion(uri, line, 31)}
    assert set(OPS["conv2d"].model_fields) | {"name", "if"} == labels
    typed = text.replace("  - relu\n  - maxpool2d", "  - stage: {\n  - maxpool2d")
    editor.change(uri, typed)
    line = typed.splitlines().index("  - stage: {")
    labels = {item.label for item in editor.completion(uri, line, 12)}
    assert labels == {"planes", "depth", "stride", "name", "if"}


def test_go_to_definition_of_blocks_refs_and_parameters(editor):
    uri = editor.open(RESNET)
    text = RESNET.read_text()
    lines = text.splitlines()
    call = next(i for i, t in enumerate(lines, 1) if t.startswith("  - stage:"))
    (target,) = editor.definition(uri, *position(text, call, "stage", 1))
    assert lines[target.range.start.line] == "  stage:"
    use = next(i for i, t in enumerate(lines, 1) if "$width_per_group" in t and "conv2d" in t)
    (target,) = editor.definition(uri, *position(text, use, "$width_per_group", 2))
    assert lines[target.range.start.line].startswith("  width_per_group:")
    (target,) = editor.definition(uri, *position(text, use, "$planes", 2))
    assert lines[target.range.start.line].startswith("    args: {planes: int")


def test_go_to_definition_of_a_ref(editor):
    unet = ROOT / "specs" / "unet.yaml"
    uri = editor.open(unet)
    text = unet.read_text()
    lines = text.splitlines()
    use = next(i for i, t in enumerate(lines, 1) if "ref:" in t)
    name = lines[use - 1].split("ref:")[1].strip().strip("}] ")
    (target,) = editor.definition(uri, *position(text, use, name, 1))
    assert f"name: {name}" in lines[target.range.start.line]
