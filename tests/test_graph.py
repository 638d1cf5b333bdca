"""`archc graph`: the SVG and HTML pictures parse, show what they must, and really render."""

from __future__ import annotations

import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from archc.api import check, load, load_text
from archc.cli import app
from archc.dims import format_shape
from archc.draw import render_html, render_svg
from archc.ops import Merge
from tests.chromium import Chromium, needs_chromium
from tests.fuzz import networks, to_spec

ROOT = Path(__file__).parent.parent
SVG = "{http://www.w3.org/2000/svg}"
ZOO = ["googlenet", "resnet18", "densenet", "lenet", "m5", "c3d_small"]

UNET = """\
archc: 1
name: tiny_unet
description: skip connections by ref
input: [N, 3, 32, 32]
body:
  - conv2d: {name: enc1, out_channels: 8, kernel_size: 3, padding: 1}
  - relu
  - maxpool2d: {kernel_size: 2}
  - conv2d: {out_channels: 16, kernel_size: 3, padding: 1}
  - convtranspose2d: {out_channels: 8, kernel_size: 2, stride: 2}
  - concat:
      branches:
        up: []
        skip: [ref: enc1]
  - conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
  - add:
      branches:
        main: [relu]
        side: [ref: enc1, conv2d: {out_channels: 8, kernel_size: 1}]
"""


def network(name: str):
    return check(load(ROOT / "specs" / f"{name}.yaml"))


def rects(svg: str, cls: str) -> list[ET.Element]:
    tree = ET.fromstring(svg)
    return [r for r in tree.iter(f"{SVG}rect") if cls in r.get("class", "").split()]


def texts(svg: str, cls: str | None = None) -> list[str]:
    tree = ET.fromstring(svg)
    return [
        t.text or ""
        for t in tree.iter(f"{SVG}text")
        if cls is None or cls in t.get("class", "").split()
    ]


def outermost_blocks(net) -> list[str]:
    blocks = [p for p, g in net.groups.items() if g.kind == "block"]
    return [p for p in blocks if not any(p.startswith(q + ".") for q in blocks)]


@pytest.mark.parametrize("name", ZOO)
def test_expanded_svg_has_one_box_per_layer_and_every_block_named(name):
    net = network(name)
    svg = render_svg(net, collapse=False)
    merges = [layer for layer in net.layers if isinstance(layer.op, Merge)]
    boxes = rects(svg, "layer")
    assert sorted(r.get("data-path") for r in boxes) == sorted(
        layer.path for layer in net.layers if not isinstance(layer.op, Merge)
    )
    assert sorted(r.get("data-path") for r in rects(svg, "merge")) == sorted(
        layer.path for layer in merges
    )
    frames = {r.get("data-path") for r in rects(svg, "frame")}
    assert frames == set(net.groups) - {layer.path for layer in merges}
    heads = [t.split(" · ")[0] for t in texts(svg, "head")]
    for group in net.groups.values():
        if group.kind != "merge":
            assert group.label in heads


@pytest.mark.parametrize("name", ZOO)
def test_every_layer_output_labels_an_edge(name):
    net = network(name)
    for collapse in (False, True):
        labels = set(texts(render_svg(net, collapse=collapse), "shape"))
        assert format_shape(net.input) in labels
        assert format_shape(net.output_shape) in labels
        if not collapse:
            assert {format_shape(layer.shape) for layer in net.layers} <= labels


def test_collapsed_googlenet_has_one_box_per_block_call():
    net = network("googlenet")
    collapsed, expanded = render_svg(net, collapse=True), render_svg(net, collapse=False)
    boxes = rects(collapsed, "collapsed")
    assert [r.get("data-path") for r in boxes] == outermost_blocks(net)
    names = texts(collapsed, "name")
    assert names.count("inception") == 9 and names.count("pool") == 4
    assert "163,696 params" in texts(collapsed, "note")  # b3's first inception
    assert "(N, 256, 12, 12)" in texts(collapsed, "shape")
    count = len(rects(collapsed, "box"))
    assert count < len(rects(expanded, "box"))


def test_ref_skips_are_edges_from_the_referenced_layer():
    net = check(load_text(UNET, "unet.yaml"))
    assert net.ok
    enc1 = next(i + 1 for i, layer in enumerate(net.layers) if layer.path == "enc1")
    svg = render_svg(net)
    tree = ET.fromstring(svg)
    refs = [p for p in tree.iter(f"{SVG}path") if "ref" in p.get("class", "").split()]
    assert [p.get("data-value") for p in refs] == [str(enc1), str(enc1)]
    assert texts(svg, "refshape") == ["(N, 8, 32, 32)"]  # one lane for the one source


def _boxes_of_text(svg: str):
    """Estimated extents of each unrotated text: monospace, 0.6 em per character."""
    found = []
    for t in ET.fromstring(svg).iter(f"{SVG}text"):
        if t.get("transform"):
            continue
        cls = t.get("class", "").split()
        size = 15 if "title" in cls else 10.5 if {"shape", "note", "head"} & set(cls) else 12
        width = len(t.text or "") * size * 0.62
        x, y = float(t.get("x")), float(t.get("y"))
        x -= {"middle": width / 2, "end": width}.get(t.get("text-anchor"), 0)
        found.append((x, y - size * 0.8, x + width, y + size * 0.2, t.text))
    return found


@pytest.mark.parametrize("name", ZOO)
@pytest.mark.parametrize("collapse", [True, False])
def test_no_two_labels_overlap(name, collapse):
    _assert_no_overlap(_boxes_of_text(render_svg(network(name), collapse=collapse)))


def _assert_no_overlap(boxes) -> None:
    boxes.sort()
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if b[0] >= a[2]:
                break
            assert not (a[1] < b[3] and b[1] < a[3]), f"{a[4]!r} overlaps {b[4]!r}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_random_networks_draw_every_layer_without_overlaps(description):
    net = check(load_text(to_spec(*description), "fuzz.yaml"))
    if not net.ok:
        return
    expanded = render_svg(net, collapse=False)
    boxes = len(rects(expanded, "layer")) + len(rects(expanded, "merge"))
    assert boxes == len(net.layers)
    collapsed = render_svg(net, collapse=True)
    assert len(rects(collapsed, "collapsed")) == len(outermost_blocks(net))
    for svg in (expanded, collapsed):
        _assert_no_overlap(_boxes_of_text(svg))


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_html_is_self_contained_with_both_drawings():
    page = render_html(network("resnet18"))
    parser = _Tags()
    parser.feed(page)
    tags = [tag for tag, _ in parser.tags]
    assert tags.count("svg") == 2 and "script" in tags
    for _, attrs in parser.tags:
        for key in ("src", "href"):
            assert not attrs.get(key, "").startswith(("http:", "https:", "//"))
    for start in range(2):
        begin = page.index("<svg", page.index("<svg") + 1 if start else 0)
        ET.fromstring(page[begin : page.index("</svg>", begin) + len("</svg>")])
    ids = [attrs["id"] for _, attrs in parser.tags if "id" in attrs]
    assert len(ids) == len(set(ids))  # arrow markers are per drawing


# The command -------------------------------------------------------------------------------


runner = CliRunner()


def test_graph_writes_svg_and_html(tmp_path):
    for suffix in ("svg", "html"):
        out = tmp_path / f"g.{suffix}"
        result = runner.invoke(app, ["graph", str(ROOT / "specs/googlenet.yaml"), "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert out.read_text().count("<svg") == (1 if suffix == "svg" else 2)
    out = tmp_path / "r34.svg"
    args = ["graph", str(ROOT / "specs/resnet18.yaml"), "-o", str(out), "--expand"]
    result = runner.invoke(app, [*args, "--set", "depths=[3,4,6,3]"])
    assert result.exit_code == 0, result.output
    assert rects(out.read_text(), "merge") and not rects(out.read_text(), "collapsed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.html", "g.svg", "r34.svg"]


@pytest.mark.parametrize("out", ["g.png", "g.pdf", "g"])
def test_other_formats_are_usage_errors(tmp_path, out):
    result = runner.invoke(
        app, ["graph", str(ROOT / "specs/lenet.yaml"), "-o", str(tmp_path / out)]
    )
    assert result.exit_code == 2
    assert ".svg, .html" in result.output
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_a_usage_error(tmp_path):
    out = tmp_path / "missing" / "g.svg"
    result = runner.invoke(app, ["graph", str(ROOT / "specs/lenet.yaml"), "-o", str(out)])
    assert result.exit_code == 2
    assert "cannot write" in result.output


def test_invalid_spec_prints_diagnostics_and_keeps_output(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(UNET.replace("kernel_size: 2}", "kernel_size: 64}"))
    out = tmp_path / "g.svg"
    out.write_text("old")
    result = runner.invoke(app, ["graph", str(spec), "-o", str(out)])
    assert result.exit_code == 1
    assert "error[" in result.output and "bad.yaml:8:" in result.output
    assert out.read_text() == "old"
    missing = runner.invoke(app, ["graph", str(tmp_path / "none.yaml"), "-o", str(out)])
    assert missing.exit_code == 2


def test_check_does_not_import_the_drawing_code():
    code = (
        "import sys, archc; archc.check(archc.load('specs/googlenet.yaml')); "
        "print(any(m.startswith('archc.draw') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_readme_picture_is_up_to_date():
    # Regenerate with: archc graph specs/googlenet.yaml -o docs/googlenet.svg
    shipped = (ROOT / "docs" / "googlenet.svg").read_text()
    assert shipped == render_svg(network("googlenet"), collapse=True)


# Rendering in a browser ----------------------------------------------------------------------


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit, non-interlaced RGB(A) PNG into rows of pixel bytes (stdlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    assert depth == 8 and interlace == 0 and color in (2, 6), (depth, color, interlace)
    n = 3 if color == 2 else 4
    raw, stride = zlib.decompress(idat), width * n
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - n] if i >= n else 0
            b = prev[i]
            c = prev[i - n] if i >= n else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 255
        rows.append(bytes(line))
        prev = line
    pixels = [bytes(row[i : i + 3]) for row in rows for i in range(0, stride, n)]
    return width, height, pixels


@needs_chromium
def test_html_renders_in_headless_chromium(tmp_path):
    page = tmp_path / "googlenet.html"
    page.write_text(render_html(network("googlenet")))
    with Chromium(tmp_path / "profile", width=640, height=640) as browser:
        browser.open(page.as_uri())
        shot = browser.screenshot()
    width, height, pixels = _png_pixels(shot)
    assert (width, height) == (640, 640)
    colors = set(pixels)
    dark = sum(1 for p in pixels if max(p) < 128)
    assert len(colors) > 20  # text, boxes in several fills, edges: not a blank page
    assert dark > 0.005 * len(pixels)  # enough dark ink for the title, text and edges
    assert bytes([0xE0, 0xF2, 0xFE]) in colors  # the fill of a collapsed block: the SVG was drawn


def _boxes(svg: str) -> dict[str, tuple[float, float]]:
    """(x, y) of each box of an SVG picture, by its data-path."""
    root = ET.fromstring(svg)
    return {
        rect.get("data-path"): (float(rect.get("x")), float(rect.get("y")))
        for rect in root.iter(f"{SVG}rect")
        if rect.get("data-path")
    }


def test_a_split_is_drawn_as_a_fork_and_several_outputs_side_by_side():
    spec = load_text(
        """
archc: 1
name: fork
input: [N, 8, 16, 16]
outputs: [x1, head]
body:
  - chunk: {chunks: 2, names: [x1, x2]}
  - conv2d: {name: head, out_channels: 4, kernel_size: 1}
""",
        "t.yaml",
    )
    boxes = _boxes(render_svg(check(spec)))
    assert boxes["x1"][1] == boxes["x2"][1] and boxes["x1"][0] < boxes["x2"][0]
    assert boxes["head"][1] > boxes["x2"][1]  # the flow goes on from the last part
    first, second = boxes["output:x1"], boxes["output:head"]
    assert first[1] == second[1] > boxes["head"][1] and first[0] < second[0]


# Clicking in the page, as a user does ---------------------------------------------------------

# Read the page as the user sees it. A block's name is the text labelling it: a collapsed box's
# name, or an open frame's header, whichever lies in the top 22 px of the block's rect.
PROBE = """
window.probe = {
  view: () => document.querySelector(".view:not([hidden])").id,
  block: (path) => [...document.querySelectorAll(".view:not([hidden]) rect")].find(
    (r) => r.dataset.path === path && r.matches(".collapsed, .frame.block")),
  name(path) {
    const r = probe.block(path).getBoundingClientRect();
    const view = document.querySelector(".view:not([hidden])");
    const t = [...view.querySelectorAll("text.name, text.head")].map((t) =>
      t.getBoundingClientRect()).find((b) => b.x > r.left && b.right < r.right &&
      b.y + b.height / 2 > r.top && b.y + b.height / 2 < r.top + 22);
    return {x: t.x + t.width / 2, y: t.y + t.height / 2, box: [t.left, t.top, t.right, t.bottom]};
  },
  centre(path) {
    const r = [...document.querySelectorAll(".view:not([hidden]) rect")].find(
      (r) => r.dataset.path === path).getBoundingClientRect();
    return {x: r.x + r.width / 2, y: r.y + r.height / 2};
  },
  viewport: () => [0, document.querySelector(".bar").getBoundingClientRect().bottom,
                   innerWidth, innerHeight],
  hit: (x, y) => [document.elementFromPoint(x, y)].map((e) => [e.tagName, e.dataset.path])[0],
  shown: (paths) => paths.filter((p) => [...document.querySelectorAll(
    ".view:not([hidden]) rect.box")].some((r) => r.dataset.path === p && r.checkVisibility() &&
    r.getBoundingClientRect().width > 0)),
  flashed: [],
};
new MutationObserver((changes) => changes.forEach((c) => c.target.classList.contains("flash") &&
  probe.flashed.push([c.target.getAttribute("class"), c.target.dataset.path]))).observe(
  document.body, {attributes: true, attributeFilter: ["class"], subtree: true});
"""


def _within(box: list[float], viewport: list[float]) -> bool:
    return (
        viewport[0] <= box[0]
        and viewport[1] <= box[1]
        and box[2] <= viewport[2]
        and (box[3] <= viewport[3])
    )


def _page(tmp_path: Path, net, browser: Chromium) -> None:
    page = tmp_path / f"{net.name}.html"
    page.write_text(render_html(net))
    browser.open(page.as_uri())
    browser.evaluate(PROBE)


@needs_chromium
def test_a_click_on_a_block_name_opens_it_header_in_view_and_its_header_closes_it(tmp_path):
    net = network("resnet18")
    inner = [layer.path for layer in net.layers if layer.path.startswith("resnet_block2.")]
    with Chromium(tmp_path / "profile", width=800, height=600) as browser:
        _page(tmp_path, net, browser)
        assert browser.evaluate("probe.view()") == "collapsed"
        assert browser.evaluate(f"probe.shown({inner!r})") == []
        name = browser.evaluate("probe.name('resnet_block2')")
        browser.click(name["x"], name["y"])  # on the label, not the rect's bare area

        assert browser.evaluate("probe.view()") == "expanded"
        assert browser.evaluate(f"probe.shown({inner!r})") == inner
        viewport = browser.evaluate("probe.viewport()")
        frame = browser.evaluate("probe.block('resnet_block2').getBoundingClientRect().height")
        assert frame > viewport[3]  # taller than the window: centring it would hide its header
        header = browser.evaluate("probe.name('resnet_block2')")
        assert _within(header["box"], viewport), (header, viewport)
        hit = browser.evaluate(f"probe.hit({header['x']}, {header['y']})")
        assert hit == ["rect", "resnet_block2"]  # not under the sticky bar
        browser.click(header["x"], header["y"])

        assert browser.evaluate("probe.view()") == "collapsed"
        assert browser.evaluate(f"probe.shown({inner!r})") == []
        box = browser.evaluate("probe.name('resnet_block2')")
        assert _within(box["box"], browser.evaluate("probe.viewport()"))


@needs_chromium
def test_output_pills_are_not_blocks_to_the_page(tmp_path):
    # A block named `input` and two named outputs: pills carry `input` and `output:NAME`.
    net = check(
        load_text(
            """
archc: 1
name: two_heads
input: [N, 3, 32, 32]
outputs: [features, logits]
blocks:
  stage:
    args: {out: int}
    body: [conv2d: {out_channels: $out, kernel_size: 3, padding: 1}, relu]
body:
  - stage: {name: features, out: 8}
  - stage: {name: input, out: 4}
  - globalavgpool2d
  - flatten
  - linear: {name: logits, out_features: 10}
""",
            "two_heads.yaml",
        )
    )
    assert net.ok
    with Chromium(tmp_path / "profile") as browser:
        _page(tmp_path, net, browser)
        for view in ("collapsed", "expanded"):
            pill = browser.evaluate("probe.centre('output:features')")
            browser.click(pill["x"], pill["y"])
            assert browser.evaluate("probe.view()") == view
            assert browser.evaluate("probe.flashed") == []
            name = browser.evaluate("probe.name('input')")
            browser.click(name["x"], name["y"])
            block = "frame block" if view == "collapsed" else "box collapsed"
            assert browser.evaluate("probe.flashed") == [[f"{block} flash", "input"]]
            browser.evaluate("probe.flashed = []")


def test_layout_ops_are_drawn_as_layout_boxes_with_their_shapes():
    text = """\
archc: 1
name: tokens
input: [N, 4, 8, 8]
body:
  - channelshuffle: {groups: 2}
  - pixelunshuffle: {downscale_factor: 2}
  - flatten: {start_dim: 2}
  - transpose: {dim0: 1, dim1: 2}
  - select: {dim: 1, index: 0}
  - reshape: {shape: [N, 4, -1]}
  - permute: {dims: [0, 2, 1]}
  - slice: {dim: 1, start: 1}
  - unflatten: {dim: -1, sizes: [2, 2]}
"""
    net = check(load_text(text, "tokens.yaml"))
    assert net.ok
    svg = render_svg(net, collapse=False)
    assert [r.get("data-path") for r in rects(svg, "op-layout")] == [
        layer.path for layer in net.layers
    ]
    assert format_shape(net.output_shape) in texts(svg, "shape")
