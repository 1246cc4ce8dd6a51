"""``kmem vmmap --svg``: rendered with cairo, no text runs outside the canvas or its box, and
sizes are exact (issue 13)."""

from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest

from kmem.commands.vmmap import exact_size, svg
from kmem.spec.constants import MB
from kmem.spec.x86_32_layout import VMSPLIT_PAGE_OFFSET, Era, layout


def _cairosvg():
    try:
        import cairosvg
        from PIL import Image
    except (ImportError, OSError) as exc:  # OSError: the system's libcairo is missing
        if os.environ.get("CI"):
            pytest.fail(f"cairosvg cannot be used in CI ({exc}); .ci/run installs libcairo2")
        pytest.skip(f"cairosvg not usable here: {exc}")
    return cairosvg, Image


MARGIN = 200  # rendered around the canvas: ink there is text that runs outside it
NAME_RED = (255, 0, 0)


def render(text: str, recolor_names: bool = False):
    """The picture with MARGIN white pixels around the canvas, as an RGB image."""
    cairosvg, Image = _cairosvg()
    m = re.match(r'<svg [^>]*width="(\d+)" height="(\d+)" viewBox="0 0 \d+ \d+"', text)
    assert m, text[:200]
    w, h = int(m.group(1)), int(m.group(2))
    grown = text.replace(m.group(0), m.group(0).replace(
        f'width="{w}" height="{h}" viewBox="0 0 {w} {h}"',
        f'width="{w + 2 * MARGIN}" height="{h + 2 * MARGIN}" '
        f'viewBox="{-MARGIN} {-MARGIN} {w + 2 * MARGIN} {h + 2 * MARGIN}"'), 1)
    grown = grown.replace('<rect width="100%" height="100%" fill="white"/>',
                          f'<rect x="{-MARGIN}" y="{-MARGIN}" width="{w + 2 * MARGIN}" '
                          f'height="{h + 2 * MARGIN}" fill="white"/>')
    if recolor_names:
        grown = grown.replace('<text class="name" ', '<text class="name" fill="#ff0000" ')
    png = cairosvg.svg2png(bytestring=grown.encode())
    img = Image.open(io.BytesIO(png)).convert("RGB")
    assert img.size == (w + 2 * MARGIN, h + 2 * MARGIN)
    return img, w, h


def ink_outside(img, w: int, h: int) -> list[tuple[int, int]]:
    """Every non-white pixel outside the canvas, in canvas coordinates."""
    a = np.asarray(img)
    ink = (a != 255).any(axis=2)
    ink[MARGIN:MARGIN + h, MARGIN:MARGIN + w] = False
    ys, xs = np.nonzero(ink)
    return [(int(x) - MARGIN, int(y) - MARGIN) for y, x in zip(ys, xs, strict=True)]


LAYOUTS = [*((split, Era.MODERN, False, True) for split in VMSPLIT_PAGE_OFFSET),
           ("3G", Era.LINUX_2_6_11, False, True), ("3G", Era.MODERN, True, True),
           ("3G", Era.LINUX_2_6_11, True, True), ("3G", Era.MODERN, False, False),
           ("1G", Era.LINUX_2_6_11, False, False)]


@pytest.mark.parametrize(("split", "era", "pae", "highmem"), LAYOUTS)
def test_no_text_outside_the_canvas_or_its_box(split, era, pae, highmem):
    lay = layout(split, era, pae=pae, highmem=highmem)
    text = svg(lay)
    img, w, h = render(text)
    assert ink_outside(img, w, h) == []
    ink = img.getbbox()  # something was drawn at all
    assert ink is not None
    # every region name inside its box: paint names red, then every red pixel lies within
    # the boxes' columns (the boxes share one x range)
    img, w, h = render(text, recolor_names=True)
    box = re.search(r'<rect class="box" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', text)
    left, width = float(box.group(1)), float(box.group(2))
    a = np.asarray(img).astype(int)
    red = (a[..., 0] > 200) & (a[..., 1] < 80) & (a[..., 2] < 80)
    reds = [int(x) - MARGIN for x in np.nonzero(red)[1]]
    assert reds, "no region name was drawn"
    assert left + 2 <= min(reds) and max(reds) <= left + width - 2


def test_a_text_that_would_overflow_is_caught():
    """The check has teeth: a picture with a fixed narrow canvas fails it."""
    text = svg(layout("3G", Era.LINUX_2_6_11))
    narrow = re.sub(r'width="\d+" height="(\d+)" viewBox="0 0 \d+ ',
                    r'width="500" height="\1" viewBox="0 0 500 ', text, count=1)
    img, w, h = render(narrow)
    assert w == 500 and ink_outside(img, w, h)


def test_sizes_are_exact():
    assert exact_size(896 * MB) == "896 MB"
    assert exact_size(114680 * 1024) == "114680 KB (111.9921875 MB)"
    assert exact_size(8192) == "8 KB" and exact_size(1 << 30) == "1 GB"
    text = svg(layout("3G", Era.LINUX_2_6_11))
    assert "111 MB" not in text and "114680 KB (111.9921875 MB): vmalloc area" in text
    for lay in (layout(s, e) for s in VMSPLIT_PAGE_OFFSET for e in Era):
        for r in lay.regions:
            shown = exact_size(r.size)
            number, unit = shown.split()[:2]
            assert int(number) * {"GB": 1 << 30, "MB": MB, "KB": 1024, "bytes": 1}[unit] == r.size
