"""A self-contained HTML page of a network: both drawings inline, blocks collapsible.

The page holds the picture twice, block calls collapsed and expanded, and a few lines of script
switch between them: a click anywhere on a block (a collapsed box, its text included, or an
expanded block's frame and header) switches view and scrolls to the same block, its header in
view. Nothing is fetched: no fonts, scripts or styles from the network.
"""

from __future__ import annotations

from html import escape

from archc.dims import format_shape
from archc.draw.svg import render_svg
from archc.draw.tree import Node, build_tree
from archc.ir import Network

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name} · archc graph</title>
<style>
body {{ font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0 24px 24px;
       color: #1f2328; background: #ffffff; }}
h1 {{ font-size: 20px; margin: 16px 0 4px; }}
p {{ margin: 4px 0; color: #57606a; }}
.bar {{ position: sticky; top: 0; background: #ffffff; padding: 8px 0; z-index: 1;
        border-bottom: 1px solid #d0d7de; margin-bottom: 8px; }}
button {{ font: inherit; padding: 4px 12px; border: 1px solid #d0d7de; background: #f6f8fa;
          border-radius: 6px; cursor: pointer; }}
button[aria-pressed="true"] {{ background: #0b4f8a; color: #ffffff; border-color: #0b4f8a; }}
.view svg {{ display: block; }}
.view rect.collapsed, .view rect.frame.block {{ cursor: pointer; }}
.view text, .view path {{ pointer-events: none; }}
.view rect.flash {{ stroke: #c2410c; stroke-width: 3; }}
table {{ border-collapse: collapse; margin-top: 8px; }}
td, th {{ padding: 2px 10px; text-align: left; border-bottom: 1px solid #eaeef2; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
code {{ font-family: ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace; }}
</style>
</head>
<body>
<h1>{name}</h1>
<p>{description}</p>
<p><code>{summary}</code></p>
<div class="bar"{bar_hidden}>
<button id="show-collapsed" aria-pressed="{collapsed_pressed}">Blocks collapsed</button>
<button id="show-expanded" aria-pressed="{expanded_pressed}">Blocks expanded</button>
<span>&nbsp;click a block to open or close it</span>
</div>
<div class="view" id="collapsed"{collapsed_hidden}>
{collapsed_svg}</div>
<div class="view" id="expanded"{expanded_hidden}>
{expanded_svg}</div>
<details><summary>Blocks ({block_count})</summary>
<table><tr><th>path</th><th>block</th><th>params</th><th>output</th></tr>
{block_rows}
</table></details>
<script>
// A block is its rect: labels and edges let the pointer through (see the style above), so a
// click on a collapsed box's name or an open frame's header lands on the block's rect.
// Only block rects carry the paths looked up here: the input and output pills are no blocks.
const BLOCKS = "rect.collapsed, rect.frame.block";
function show(which, path) {{
  for (const id of ["collapsed", "expanded"]) {{
    document.getElementById(id).hidden = id !== which;
    document.getElementById("show-" + id).setAttribute("aria-pressed", id === which);
  }}
  if (!path) return;
  const boxes = new Map();
  for (const box of document.getElementById(which).querySelectorAll(BLOCKS)) {{
    boxes.set(box.dataset.path, box);
  }}
  for (let p = path.split("."); p.length; p.pop()) {{
    const target = boxes.get(p.join("."));
    if (target) {{
      reveal(target);
      target.classList.add("flash");
      setTimeout(() => target.classList.remove("flash"), 1200);
      return;
    }}
  }}
}}
// Scroll a block into view below the sticky bar: centred where it fits, else from its header
// (its top left corner), so that a tall block opens at its name, not in its middle.
function reveal(box) {{
  const bar = document.querySelector(".bar");
  const top = bar.hidden ? 0 : bar.offsetHeight;
  const room = [innerWidth, innerHeight - top];
  const r = box.getBoundingClientRect();
  const start = [r.left, r.top - top];
  const size = [r.width, r.height];
  const [left, down] = [0, 1].map((i) =>
    start[i] - (size[i] + 16 <= room[i] ? (room[i] - size[i]) / 2 : 8));
  window.scrollBy({{left: left, top: down, behavior: "instant"}});
}}
document.getElementById("show-collapsed").onclick = () => show("collapsed");
document.getElementById("show-expanded").onclick = () => show("expanded");
document.addEventListener("click", (event) => {{
  const box = event.target.closest(BLOCKS);
  if (!box) return;
  show(box.classList.contains("collapsed") ? "expanded" : "collapsed", box.dataset.path);
}});
</script>
</body>
</html>
"""


def render_html(network: Network, collapse: bool = True) -> str:
    """A standalone page with the network drawn collapsed and expanded; `collapse` shows first.

    >>> from archc.api import check, load
    >>> page = render_html(check(load("specs/resnet18.yaml")))
    >>> page.count("<svg")
    2
    """
    blocks = _blocks(build_tree(network))
    rows = "\n".join(
        f"<tr><td><code>{escape(node.path)}</code></td><td>{escape(node.label)}</td>"
        f'<td class="n">{node.params:,}</td><td><code>{escape(shape)}</code></td></tr>'
        for node, shape in ((n, _shape(network, n.exit)) for n in blocks)
    )
    summary = (
        f"{format_shape(network.input)} → {format_shape(network.output_shape or ())} · "
        f"{network.params:,} params · "
        + (f"{network.macs:,}" if isinstance(network.macs, int) else str(network.macs))
        + " MACs"
    )
    hidden = " hidden"
    return _PAGE.format(
        name=escape(network.name),
        description=escape(network.description or ""),
        summary=escape(summary),
        bar_hidden="" if blocks else hidden,
        collapsed_pressed=str(collapse).lower(),
        expanded_pressed=str(not collapse).lower(),
        collapsed_hidden="" if collapse else hidden,
        expanded_hidden=hidden if collapse else "",
        collapsed_svg=render_svg(network, collapse=True, prefix="c-"),
        expanded_svg=render_svg(network, collapse=False, prefix="e-"),
        block_count=len(blocks),
        block_rows=rows,
    )


def _blocks(node: Node) -> list[Node]:
    found = [node] if node.kind == "block" else []
    for child in [*node.children, *node.branches]:
        found += _blocks(child)
    return found


def _shape(network: Network, value: int) -> str:
    shape = network.input if value == 0 else network.layers[value - 1].shape
    return format_shape(shape)
