"""Pictures of networks: `archc graph` draws a compiled network as SVG or as an HTML page.

Pure Python, no new dependency: a spec's network is series-parallel (sequences, and merges of
parallel branches), so recursive boxes lay it out (`svg`); `ref` skips are drawn as extra edges.
The page (`page`) holds the SVG inline, with block calls collapsible.

    >>> from archc.api import check, load
    >>> svg = render_picture(check(load("specs/googlenet.yaml")), "svg")
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from archc.draw.page import render_html
from archc.draw.svg import render_svg
from archc.ir import Network

FORMATS = ("svg", "html")


def render_picture(network: Network, format: str, collapse: bool = True) -> str:
    """The picture of `network` in `format` ("svg" or "html")."""
    if format == "svg":
        return render_svg(network, collapse)
    if format == "html":
        return render_html(network, collapse)
    raise ValueError(f"unknown format {format!r}; the formats are {', '.join(FORMATS)}")


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` through a temporary file, so that `path` is never half written.

    The temporary's name does not grow with `path`'s, so that it fits beside any legal name.
    """
    target = Path(path)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent if str(target.parent) else ".", prefix=".archc-", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


__all__ = ["FORMATS", "render_html", "render_picture", "render_svg", "write_atomic"]
