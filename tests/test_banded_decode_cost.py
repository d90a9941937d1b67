"""The decode budget prices a large PNG or TIFF that the compact read takes in bands (or, an RGB TIFF, in place) at
what that read makes (core.pipeline.memory.COMPACT_BANDED_BYTES_PER_PIXEL), not as a whole decode (issue 13).

Figures worked out by hand on 40 x 30 = 1200-pixel files, with the reader's large size lowered to 1199 pixels:
grey levels 1 byte a pixel; a 16-bit PNG's values 2; a 16-bit TIFF's levels 1 (two passes over its bytes); an RGB
PNG, its luma codes (2; when they run out they are dropped and the samples decoded again from the file's bytes
where they are taken); an out-of-order RGB TIFF, at worst its RGB samples (3) once the codes run out; an RGB TIFF
read in place 1.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from osteo_desktop.core.pipeline.memory import decode_cost
from osteo_desktop.core.reading import raster
from test_colour_luma import _tiff_strips_reversed

PIXELS = 40 * 30


def test_large_pngs_and_tiffs_read_in_bands_cost_what_the_banded_read_makes(tmp_path, monkeypatch):
    grey = (np.arange(PIXELS, dtype=np.uint32).reshape(30, 40) % 251).astype(np.uint8)
    rgb = np.stack([grey, grey // 2, 255 - grey], -1)
    files = {"grey.png": Image.fromarray(grey), "deep.png": Image.fromarray(grey.astype(np.uint16) * 257),
             "rgb.png": Image.fromarray(rgb), "grey.tif": Image.fromarray(grey),
             "deep.tif": Image.fromarray(grey.astype(np.uint16) * 257), "rgb.tif": Image.fromarray(rgb),
             "palette.png": Image.fromarray(rgb).convert("P")}
    for name, image in files.items():
        image.save(tmp_path / name, **({"tiffinfo": {278: 8}} if name == "rgb.tif" else {}))  # 4 strips
    Image.fromarray(rgb).save(tmp_path / "lzw.tif", compression="tiff_lzw")
    _tiff_strips_reversed(tmp_path / "reversed.tif", rgb, 8)
    names = [*files, "lzw.tif", "reversed.tif"]
    with Image.open(tmp_path / "rgb.tif") as image:
        assert len(image.tile) == 4
    whole = {"grey.png": 2 * PIXELS, "deep.png": 3 * PIXELS, "rgb.png": 7 * PIXELS, "grey.tif": 2 * PIXELS,
             "deep.tif": 3 * PIXELS, "rgb.tif": 7 * PIXELS, "palette.png": 12 * PIXELS, "lzw.tif": 7 * PIXELS,
             "reversed.tif": 7 * PIXELS}

    def costs(with_bytes: bool = True) -> dict[str, int]:
        return {n: decode_cost(tmp_path / n, (tmp_path / n).read_bytes() if with_bytes else None) for n in names}

    assert costs() == whole  # not above the large size: whole decodes, as before
    monkeypatch.setattr(raster, "LARGE_RASTER_PIXELS", PIXELS)
    assert costs() == whole  # exactly the large size: not above it
    monkeypatch.setattr(raster, "LARGE_RASTER_PIXELS", PIXELS - 1)
    assert costs() == {"grey.png": PIXELS, "deep.png": 2 * PIXELS, "rgb.png": 2 * PIXELS, "grey.tif": PIXELS,
                       "deep.tif": PIXELS, "rgb.tif": PIXELS, "palette.png": 12 * PIXELS, "lzw.tif": 7 * PIXELS,
                       "reversed.tif": 3 * PIXELS}
    reads = {}
    for name in names:
        data = (tmp_path / name).read_bytes()
        with Image.open(tmp_path / name) as image:
            reads[name] = raster.banded_read(image, data)
    assert reads == {"grey.png": "bands", "deep.png": "bands", "rgb.png": "bands", "grey.tif": "bands",
                     "deep.tif": "bands", "rgb.tif": "in place", "palette.png": None, "lzw.tif": None,
                     "reversed.tif": "bands"}
    assert costs(with_bytes=False) == whole  # without the file's bytes the probe cannot tell: a whole decode
