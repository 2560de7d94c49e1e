#!/usr/bin/env python3
"""Encoded seeds of the hostile-input corpus that need a JPEG encoder.

The hostile corpus itself (truncated and bit-flipped JPEGs, zero and random bytes, other formats
named .jpg, unreadable files, broken symlinks, link loops, FIFOs, non-UTF-8 and awkward names...)
is assembled at test time in a scratch folder by Tests/FruitFeaturesTests/Reliability/HostileCorpus.swift,
from these files, Fixtures/images and Fixtures/resize (see Docs/reliability.md). Permissions,
symbolic links and raw file names cannot live in git, hence the split.

Writes Fixtures/hostile/
  restart_markers_64x48.jpg   baseline JPEG with a restart interval (DRI) and RSTn markers
  one_by_one.jpg              a 1×1 RGB JPEG
  one_by_one_gray.jpg         a 1×1 grayscale JPEG
  restart_progressive_40x30.jpg  progressive JPEG with a restart interval

Run: /opt/ffref/bin/python Scripts/make_hostile_corpus.py   (needs Pillow and numpy)
Each file is checked to decode with Pillow, so that all of them are good images for the extractor.
"""
import io
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "Fixtures", "hostile"))


def photo_like(width, height, seed):
    """Smooth colour gradients plus seeded noise: compresses like a photo, not like a flat fill."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 128 + 100 * np.sin(x / 7.0 + seed)
    g = 128 + 100 * np.cos(y / 5.0)
    b = 128 + 60 * np.sin((x + y) / 9.0)
    image = np.stack([r, g, b], axis=-1) + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), "RGB")


def save(name, image, **options):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85, **options)
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data)) as check:
        check.load()
    with open(os.path.join(OUT, name), "wb") as handle:
        handle.write(data)
    return data


def main():
    os.makedirs(OUT, exist_ok=True)
    data = save("restart_markers_64x48.jpg", photo_like(64, 48, 1), restart_marker_blocks=1)
    restarts = sum(data.count(bytes([0xFF, 0xD0 + n])) for n in range(8))
    assert b"\xff\xdd" in data and restarts > 4, restarts
    save("one_by_one.jpg", photo_like(1, 1, 2))
    save("one_by_one_gray.jpg", photo_like(1, 1, 3).convert("L"))
    data = save("restart_progressive_40x30.jpg", photo_like(40, 30, 4), progressive=True, restart_marker_rows=1)
    assert b"\xff\xdd" in data and b"\xff\xc2" in data
    for name in sorted(os.listdir(OUT)):
        print(name, os.path.getsize(os.path.join(OUT, name)))


if __name__ == "__main__":
    main()
