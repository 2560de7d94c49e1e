#!/usr/bin/env python3
"""Generate the small labelled sample tree in Fixtures/images (Fruits-360 layout).

Fixtures/images/<Label>/<n>_100.jpg: 100x100 RGB JPEGs (quality 90) showing a
fruit-like shape on a white background, drawn from a fixed seed so that reruns
give the same pictures. Each label has its own shape and colour so that a
nearest-neighbour classifier on the features has signal.

Run: /opt/ffref/bin/python Scripts/make_fixtures.py
The committed images are the reference (TensorFlow goldens are computed on
them); do not regenerate them unless the goldens are regenerated as well.
"""
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "images")
SIZE = 100
PER_LABEL = 3

# label -> (base RGB, half-axes (rx, ry) of the body, rotation in degrees, stalk?)
LABELS = {
    "Apple": ((190, 30, 35), (36, 33), 0, True),
    "Banana": ((235, 205, 60), (44, 15), -30, False),
    "Lemon": ((240, 230, 70), (32, 25), 15, False),
}


def draw_fruit(rng, base, axes, angle, stalk):
    # Draw at 4x and downsample: smooth edges like a photo.
    scale = 4
    big = SIZE * scale
    img = Image.new("RGB", (big, big), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    cx = big / 2 + rng.integers(-6, 7) * scale
    cy = big / 2 + rng.integers(-6, 7) * scale
    rx = (axes[0] + rng.integers(-3, 4)) * scale
    ry = (axes[1] + rng.integers(-3, 4)) * scale
    colour = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in base)
    # Body as a shaded stack of ellipses (darker rim, lighter centre).
    layer = Image.new("RGB", (big, big), (255, 255, 255))
    mask = Image.new("L", (big, big), 0)
    ld = ImageDraw.Draw(layer)
    md = ImageDraw.Draw(mask)
    steps = 12
    for i in range(steps):
        t = i / steps
        shade = 0.7 + 0.45 * t
        c = tuple(int(min(255, v * shade)) for v in colour)
        ex, ey = rx * (1 - 0.6 * t), ry * (1 - 0.6 * t)
        ox, oy = -0.25 * rx * t, -0.25 * ry * t  # highlight towards the top left
        box = [cx + ox - ex, cy + oy - ey, cx + ox + ex, cy + oy + ey]
        ld.ellipse(box, fill=c)
        if i == 0:
            md.ellipse(box, fill=255)
    layer = layer.rotate(angle, resample=Image.BICUBIC, center=(cx, cy), fillcolor=(255, 255, 255))
    mask = mask.rotate(angle, resample=Image.BICUBIC, center=(cx, cy))
    img.paste(layer, (0, 0), mask)
    if stalk:
        draw.line([cx, cy - ry * 0.9, cx + 3 * scale, cy - ry - 8 * scale], fill=(90, 60, 20), width=3 * scale)
    img = img.resize((SIZE, SIZE), Image.LANCZOS)

    # Skin texture: seeded noise inside the fruit only, the background stays white.
    px = np.asarray(img).astype(np.float32)
    small_mask = np.asarray(mask.resize((SIZE, SIZE), Image.BILINEAR)).astype(np.float32)[..., None] / 255.0
    noise = rng.normal(0.0, 9.0, size=(SIZE, SIZE, 1)) + rng.normal(0.0, 4.0, size=(SIZE, SIZE, 3))
    px = px + noise * small_mask
    out = Image.fromarray(np.clip(np.rint(px), 0, 255).astype(np.uint8), "RGB")
    return out.filter(ImageFilter.SMOOTH)


def main():
    rng = np.random.default_rng(360)
    for label, (base, axes, angle, stalk) in LABELS.items():
        folder = os.path.join(ROOT, label)
        os.makedirs(folder, exist_ok=True)
        for n in range(PER_LABEL):
            img = draw_fruit(rng, base, axes, angle + rng.integers(-10, 11), stalk)
            img.save(os.path.join(folder, f"{n}_100.jpg"), "JPEG", quality=90)


if __name__ == "__main__":
    main()
