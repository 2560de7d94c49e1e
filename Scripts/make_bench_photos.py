"""Writes N distinct 100×100 JPEGs for the benchmarks: TREE/<label>/NNNNNN.jpg, deterministic for a seed.

    python Scripts/make_bench_photos.py TREE N [--seed S]

Each photo is a different picture (gradient background, shaded round blobs, noise), so no two files share
their bytes: runs give each distinct content one network pass, and copies of a few fixture photos would
measure the duplicate shortcut instead of the pipeline. Needs Pillow and NumPy (in .venv).
"""
import argparse
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

LABELS = ["Apple", "Banana", "Lemon", "Kiwi", "Peach"]


def photo(rng, size=100):
    """One 'fruit on a table' picture."""
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0.0, 1.0, size)[:, None, None]
    pixels = (top * (1 - t) + bottom * t) * np.ones((1, size, 1))
    image = Image.fromarray(pixels.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 5))):
        cx, cy = rng.integers(10, size - 10, 2)
        rx, ry = rng.integers(8, 40, 2)
        color = rng.integers(0, 256, 3)
        for step in range(6):  # concentric ellipses, lighter inwards: a round, shaded object
            shrink = 1.0 - step / 7.0
            shade = np.clip(color + step * 18, 0, 255)
            draw.ellipse([cx - rx * shrink, cy - ry * shrink, cx + rx * shrink, cy + ry * shrink],
                         fill=tuple(int(c) for c in shade))
    image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 1.5))))
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(0.0, rng.uniform(2.0, 12.0), (size, size, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree")
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    for index in range(args.count):
        folder = os.path.join(args.tree, LABELS[index % len(LABELS)])
        os.makedirs(folder, exist_ok=True)
        photo(rng).save(os.path.join(folder, f"{index:06d}.jpg"), "JPEG", quality=int(rng.integers(75, 96)))


if __name__ == "__main__":
    main()
