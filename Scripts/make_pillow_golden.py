#!/usr/bin/env python3
"""Pillow reference outputs for the decode/resize/preprocess tests.

Pillow 13 changed the order of the two resampling passes in one case (the height shrinks and the
width does not: vertical first); Pillow 12's order is recorded too (resized_pillow12_crc32).

Writes
  Fixtures/resize/*.jpg            test images (seeded, photo-like) of various sizes and kinds
  Fixtures/resize/bad/*            bad inputs: empty, truncated, random bytes, other formats
                                   named .jpg, huge header, 12-bit, corrupt Huffman table
  Fixtures/golden/pillow/*.rgb     raw RGB bytes (row-major, R G B) from Pillow
  Fixtures/golden/pillow/*.u8      raw inputs of the synthetic resampler cases
  Fixtures/golden/pillow/index.json  what each raw file is, CRC-32 of every output
                                   (zlib.crc32), expected outcome of each bad input

The reference pipeline is Image.open(io.BytesIO(content)).resize([224, 224]) -> img_to_array
-> mobilenet_v2.preprocess_input. Decoding is recorded as Image.open(...).convert("RGB") (what
FruitFeatures decodes to); resizing as <decoded RGB>.resize((224, 224)), which for RGB JPEGs is
literally the reference pipeline (checked below), and for grayscale equals resize-then-convert
(checked below). CMYK is converted before resizing (the reference pipeline would hand a
4-channel array to the model).

Run: /opt/ffref/bin/python Scripts/make_pillow_golden.py
Needs Pillow and numpy (pip); imagecodecs (pip) for the 12-bit JPEG; TensorFlow optional
(when importable, Keras' own preprocess_input is checked against the numpy formula).
"""
import io
import json
import os
import struct
import zlib

import numpy as np
import PIL
from PIL import Image, features

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "Fixtures"))
RESIZE = os.path.join(FIXTURES, "resize")
BAD = os.path.join(RESIZE, "bad")
GOLDEN = os.path.join(FIXTURES, "golden", "pillow")
SIZE = (224, 224)


def rel(path):
    return os.path.relpath(path, FIXTURES)


def crc(data):
    return zlib.crc32(bytes(data)) & 0xFFFFFFFF


def photo_like(rng, width, height):
    """Smooth gradients, hard-edged shapes (pure black and white too) and a little noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    img = np.stack([
        200 * u + 40 * np.sin(7 * v),
        120 + 100 * np.sin(3 * u + 2 * v),
        230 * (1 - v) * (0.5 + 0.5 * np.cos(5 * u)),
    ], axis=-1)
    for _ in range(6):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.05, 0.3) * min(width, height) + 2
        colour = rng.choice([0, 255], size=3) if rng.uniform() < 0.4 else rng.uniform(0, 255, size=3)
        if rng.uniform() < 0.5:
            mask = (x - cx) ** 2 + (y - cy) ** 2 < r ** 2
        else:
            mask = (abs(x - cx) < r) & (abs(y - cy) < r * 0.6)
        img[mask] = colour
    img += rng.normal(0, 3, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def save_jpeg(path, array, mode="RGB", **options):
    im = Image.fromarray(array, "RGB")
    if mode != "RGB":
        im = im.convert(mode)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    im.save(path, "JPEG", **options)
    return path


def make_resize_inputs(rng):
    """name -> (path, store raw resized output?)."""
    out = {}
    j = lambda n: os.path.join(RESIZE, n)
    out["down_640x427"] = (save_jpeg(j("down_640x427.jpg"), photo_like(rng, 640, 427), quality=85), True)
    out["tall_37x300"] = (save_jpeg(j("tall_37x300.jpg"), photo_like(rng, 37, 300), quality=90), True)
    out["wide_300x37"] = (save_jpeg(j("wide_300x37.jpg"), photo_like(rng, 300, 37), quality=90), True)
    out["odd_157x93_422"] = (save_jpeg(j("odd_157x93_422.jpg"), photo_like(rng, 157, 93), quality=90,
                                       subsampling="4:2:2"), True)
    out["gray_120x90"] = (save_jpeg(j("gray_120x90.jpg"), photo_like(rng, 120, 90), mode="L", quality=90), False)
    out["cmyk_96x64"] = (save_jpeg(j("cmyk_96x64.jpg"), photo_like(rng, 96, 64), mode="CMYK", quality=90), False)
    out["progressive_200x150"] = (save_jpeg(j("progressive_200x150.jpg"), photo_like(rng, 200, 150), quality=88,
                                            progressive=True), False)
    out["rgb444_61x47"] = (save_jpeg(j("rgb444_61x47.jpg"), photo_like(rng, 61, 47), quality=95,
                                     subsampling="4:4:4"), False)
    # EXIF orientation 6 ("rotate 90"): Pillow's open does not apply it, nor does FruitFeatures.
    exif = Image.Exif()
    exif[0x0112] = 6
    out["exif_rotated_48x32"] = (save_jpeg(j("exif_rotated_48x32.jpg"), photo_like(rng, 48, 32), quality=90,
                                           exif=exif.tobytes()), False)
    # YCCK (Adobe transform 2): Pillow cannot write it; imagecodecs' libjpeg-turbo can.
    # Its own generator keeps the draws of the other fixtures unchanged.
    try:
        import imagecodecs  # noqa: PLC0415
        cmyk = np.asarray(Image.fromarray(photo_like(np.random.default_rng(4), 64, 48), "RGB").convert("CMYK"))
        path = j("ycck_64x48.jpg")
        with open(path, "wb") as f:
            f.write(imagecodecs.jpeg8_encode(cmyk, level=90, colorspace="CMYK", outcolorspace="YCCK"))
        with Image.open(path) as im:
            assert im.mode == "CMYK" and im.info.get("adobe_transform") == 2
        out["ycck_64x48"] = (path, False)
    except ImportError:
        print("imagecodecs missing: no YCCK JPEG")
    return out


def smooth_large(rng, width, height):
    """A large, smooth photo-like image that compresses well: a small photo_like image enlarged (bicubic),
    soft shading, a few hard-edged shapes at full resolution (the filter clips at them) and very mild noise."""
    from PIL import ImageDraw  # noqa: PLC0415
    small = Image.fromarray(photo_like(rng, max(width // 16, 8), max(height // 16, 8)), "RGB")
    im = small.resize((width, height), Image.BICUBIC)
    draw = ImageDraw.Draw(im)
    for _ in range(5):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.03, 0.12) * min(width, height) + 2
        colour = tuple(int(v) for v in (rng.choice([0, 255], size=3) if rng.uniform() < 0.5
                                        else rng.integers(0, 256, size=3)))
        box = [cx - r, cy - r * 0.7, cx + r, cy + r * 0.7]
        if rng.uniform() < 0.5:
            draw.ellipse(box, fill=colour)
        else:
            draw.rectangle(box, fill=colour)
    array = np.asarray(im).astype(np.int16)
    array += rng.integers(-1, 2, size=array.shape, dtype=np.int16)
    return np.clip(array, 0, 255).astype(np.uint8)


def make_large_inputs():
    """Phone-photo sizes and odd sizes, shrunk to 224 (issue 16). Their own generator keeps the draws of the
    other fixtures unchanged; smooth content keeps the files small. Only CRC-32s of the outputs are stored."""
    rng = np.random.default_rng(16)
    out = {}
    for name, (w, h), quality in [
        ("phone_4032x3024", (4032, 3024), 70), ("phone_3000x4000", (3000, 4000), 70),
        ("hd_1920x1080", (1920, 1080), 75), ("odd_2049x1531", (2049, 1531), 75),
        ("odd_1001x333", (1001, 333), 80), ("tall_97x1203", (97, 1203), 85),
    ]:
        out[name] = (save_jpeg(os.path.join(RESIZE, f"{name}.jpg"), smooth_large(rng, w, h), quality=quality), False)
    return out


def horizontal_first(im, size):
    """Pillow <= 12's order (horizontal pass, then vertical), as two one-pass resizes.

    Pillow 13 runs the vertical pass first when the height shrinks and the width does not;
    a resize changing one dimension only runs that one pass, so chaining two gives the old order.
    """
    return im.resize((size[0], im.size[1])).resize(size)


def keras_scale_numpy(resized_rgb):
    x = np.asarray(resized_rgb, dtype=np.float32)  # keras img_to_array: float32 array of the bytes
    x /= 127.5  # mobilenet_v2.preprocess_input, mode "tf", in place on float32
    x -= 1.0
    return x


def keras_scale_checked(resized_rgb):
    x = keras_scale_numpy(resized_rgb)
    try:
        from keras.applications import mobilenet_v2  # noqa: PLC0415
        from keras.utils import img_to_array  # noqa: PLC0415
    except Exception:  # TensorFlow/Keras not installed: the numpy formula is the reference
        return x, False
    k = mobilenet_v2.preprocess_input(img_to_array(resized_rgb))
    assert k.dtype == np.float32 and np.array_equal(k.view(np.uint32), x.view(np.uint32)), "Keras differs"
    return x, True


def synthetic_cases(rng):
    """Resampler alone on exact inputs: (name, input array, size, box)."""
    src = rng.integers(0, 256, size=(17, 23, 3), dtype=np.uint8)
    src[3:9, 4:12] = 255  # hard edges to make the negative lobes clip
    src[10:15, 14:20] = 0
    cases = [
        ("syn_23x17_to_7x5", src, (7, 5), None),
        ("syn_23x17_to_50x40", src, (50, 40), None),
        ("syn_23x17_to_23x40", src, (23, 40), None),  # width unchanged: vertical pass only
        ("syn_23x17_to_9x17", src, (9, 17), None),  # height unchanged: horizontal pass only
        ("syn_23x17_to_23x9", src, (23, 9), None),  # width unchanged: vertical pass only
        ("syn_23x17_to_40x9", src, (40, 9), None),  # height shrinks, width grows: vertical first (Pillow 13)
        ("syn_23x17_to_23x5_box", src, (23, 5), (1.5, 0.0, 22.0, 16.5)),  # vertical first on a region
        ("syn_23x17_to_1x1", src, (1, 1), None),
        ("syn_23x17_to_224x224", src, (224, 224), None),
        ("syn_23x17_box_frac", src, (30, 20), (2.5, 1.25, 20.75, 16.0)),
        ("syn_23x17_box_shrink", src, (5, 4), (3.0, 2.0, 21.0, 15.0)),
        ("syn_23x17_box_crop", src, (10, 8), (4.0, 5.0, 14.0, 13.0)),  # integer box of output size: crop
        ("syn_23x17_box_same", src, (23, 17), (0.5, 0.0, 23.0, 17.0)),
    ]
    return src, cases


def patch_sof(data, width=None, height=None):
    data = bytearray(data)
    i = 2
    while i < len(data):
        assert data[i] == 0xFF
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            if height is not None:
                data[i + 5:i + 7] = struct.pack(">H", height)
            if width is not None:
                data[i + 7:i + 9] = struct.pack(">H", width)
            return bytes(data)
        i += 2 + length
    raise ValueError("no SOF")


def break_huffman(data):
    """Make the first DHT claim more than 256 codes: libjpeg's 'Bogus Huffman table definition'."""
    data = bytearray(data)
    i = data.index(b"\xff\xc4")
    for n in range(16):
        data[i + 5 + n] = 0xFF
    return bytes(data)


def pillow_outcome(path):
    try:
        with Image.open(path) as im:
            im.load()
            return "ok", f"{im.format} {im.mode} {im.size[0]}x{im.size[1]}"
    except Exception as e:  # recorded, not hidden: the tests expect FruitFeatures to refuse
        return "error", f"{type(e).__name__}: {e}".replace(FIXTURES + os.sep, "")


def make_bad(rng, base_jpeg, progressive_jpeg):
    os.makedirs(BAD, exist_ok=True)
    tiny = Image.fromarray(photo_like(rng, 16, 16), "RGB")
    entries = []

    def write(name, data, expect):
        path = os.path.join(BAD, name)
        with open(path, "wb") as f:
            f.write(data)
        status, detail = pillow_outcome(path)
        entries.append({"file": rel(path), "expect": expect, "pillow": status, "pillow_detail": detail})
        return path

    def encoded(fmt, **kw):
        buf = io.BytesIO()
        tiny.save(buf, fmt, **kw)
        return buf.getvalue()

    write("empty.jpg", b"", "emptyFile")
    random_bytes = rng.integers(0, 256, size=2048, dtype=np.uint8).tobytes()
    assert not random_bytes.startswith(b"\xff\xd8")
    write("random.jpg", random_bytes, "notJPEG:unknown")
    write("png_named.jpg", encoded("PNG"), "notJPEG:png")
    write("gif_named.jpg", encoded("GIF"), "notJPEG:gif")
    write("webp_named.jpg", encoded("WEBP", quality=80), "notJPEG:webP")
    write("bmp_named.jpg", encoded("BMP"), "notJPEG:bmp")
    write("tiff_named.jpg", encoded("TIFF"), "notJPEG:tiff")
    write("truncated_header.jpg", base_jpeg[:120], "truncated")
    write("truncated_half.jpg", base_jpeg[: len(base_jpeg) // 2], "truncated")
    write("truncated_progressive.jpg", progressive_jpeg[: len(progressive_jpeg) * 7 // 10], "truncated")
    # Only the final EOI marker missing: whatever Pillow does is the expectation.
    path = os.path.join(BAD, "missing_eoi.jpg")
    with open(path, "wb") as f:
        f.write(base_jpeg[:-2])
    status, detail = pillow_outcome(path)
    entry = {"file": rel(path), "expect": "ok" if status == "ok" else "truncated", "pillow": status,
             "pillow_detail": detail}
    if status == "ok":
        with Image.open(path) as im:
            entry["crc32"] = crc(im.convert("RGB").tobytes())
    entries.append(entry)
    write("huge_60000x60000.jpg", patch_sof(base_jpeg, 60000, 60000), "tooLarge")
    write("huge_65535x65535.jpg", patch_sof(base_jpeg, 65535, 65535), "tooLarge")
    write("bad_huffman.jpg", break_huffman(base_jpeg), "corrupt")
    try:
        import imagecodecs  # noqa: PLC0415
        twelve = (photo_like(rng, 32, 24).astype(np.uint16) * 16).astype(np.uint16)
        write("twelve_bit.jpg", imagecodecs.jpeg8_encode(twelve, level=90, bitspersample=12), "unsupported")
        # Lossless JPEG (SOF3): Pillow 13's libjpeg-turbo 3 decodes it, Debian 12's 2.1 cannot.
        lossless = photo_like(np.random.default_rng(5), 32, 24)
        write("lossless.jpg", imagecodecs.jpeg8_encode(lossless, lossless=True, predictor=1), "unsupported")
        entries[-1]["deviation"] = "Pillow's libjpeg-turbo 3 decodes lossless JPEG; the system libjpeg-turbo 2.1 cannot"
    except ImportError:
        print("imagecodecs missing: no 12-bit or lossless JPEG")
    for e in entries:
        if e["expect"] != "ok" and not e["expect"].startswith("notJPEG:") and "deviation" not in e:
            assert e["pillow"] == "error", e  # Pillow refuses these too
    return entries


def main():
    rng = np.random.default_rng(20240224)
    os.makedirs(GOLDEN, exist_ok=True)
    for name in os.listdir(GOLDEN):
        os.remove(os.path.join(GOLDEN, name))

    index = {
        "generator": "Scripts/make_pillow_golden.py",
        "pillow": PIL.__version__,
        "libjpeg": features.version("jpg"),
        "numpy": np.__version__,
        "size": list(SIZE),
        "images": [],
        "synthetic": [],
        "keras": {},
        "bad": [],
    }

    inputs = make_resize_inputs(rng)
    samples = sorted(
        os.path.join(d, f) for d, _, fs in os.walk(os.path.join(FIXTURES, "images")) for f in fs if f.endswith(".jpg"))
    jobs = [(f"sample_{os.path.basename(os.path.dirname(p))}_{os.path.splitext(os.path.basename(p))[0]}", p,
             p == samples[0]) for p in samples]
    jobs += [(name, path, raw) for name, (path, raw) in inputs.items()]
    jobs += [(name, path, raw) for name, (path, raw) in make_large_inputs().items()]

    keras_images = []
    for name, path, store_resized in jobs:
        with open(path, "rb") as f:
            content = f.read()
        with Image.open(io.BytesIO(content)) as im:
            mode = im.mode
            decoded = im.convert("RGB")
        resized = decoded.resize(SIZE)
        if mode == "RGB":
            literal = Image.open(io.BytesIO(content)).resize([224, 224])
            assert literal.tobytes() == resized.tobytes()
        if mode == "L":
            assert Image.open(io.BytesIO(content)).resize(SIZE).convert("RGB").tobytes() == resized.tobytes()
        entry = {
            "name": name, "file": rel(path), "mode": mode,
            "width": decoded.size[0], "height": decoded.size[1],
            "decoded_crc32": crc(decoded.tobytes()), "resized_crc32": crc(resized.tobytes()),
            "resized_pillow12_crc32": crc(horizontal_first(decoded, SIZE).tobytes()),
        }
        if decoded.size[0] * decoded.size[1] <= 40000:
            raw = os.path.join(GOLDEN, f"{name}.decoded.rgb")
            with open(raw, "wb") as f:
                f.write(decoded.tobytes())
            entry["decoded_raw"] = rel(raw)
        if store_resized:
            raw = os.path.join(GOLDEN, f"{name}.resized.rgb")
            with open(raw, "wb") as f:
                f.write(resized.tobytes())
            entry["resized_raw"] = rel(raw)
        index["images"].append(entry)
        if name.startswith("sample_") or name == "down_640x427":
            keras_images.append((name, path, resized))

    # preprocess_input on every byte value, and on whole images (CRC of the float32 LE bytes).
    table, via_keras = keras_scale_checked(np.arange(256, dtype=np.uint8).reshape(1, 256, 1).repeat(3, axis=2))
    index["keras"]["checked_with_keras"] = via_keras
    index["keras"]["scale_table_bits"] = [int(b) for b in table[0, :, 0].view(np.uint32)]
    index["keras"]["images"] = []
    for name, path, resized in keras_images[:3] + keras_images[-1:]:
        x, _ = keras_scale_checked(resized)
        index["keras"]["images"].append({
            "name": name, "file": rel(path), "shape": list(x.shape),
            "float32le_crc32": crc(x.astype("<f4").tobytes()),
            "first_values": [float(v) for v in x.reshape(-1)[:48]],
        })

    src, cases = synthetic_cases(rng)
    src_path = os.path.join(GOLDEN, "syn_23x17.u8")
    with open(src_path, "wb") as f:
        f.write(src.tobytes())
    src_im = Image.fromarray(src, "RGB")
    for name, _, size, box in cases:
        out = src_im.resize(size, box=box)
        raw = os.path.join(GOLDEN, f"{name}.rgb")
        with open(raw, "wb") as f:
            f.write(out.tobytes())
        index["synthetic"].append({
            "name": name, "input": rel(src_path), "input_width": src.shape[1], "input_height": src.shape[0],
            "width": size[0], "height": size[1], "box": list(box) if box else None, "raw": rel(raw)})

    with open(inputs["rgb444_61x47"][0], "rb") as f:
        base = f.read()
    with open(inputs["progressive_200x150"][0], "rb") as f:
        progressive = f.read()
    index["bad"] = make_bad(rng, base, progressive)

    with open(os.path.join(GOLDEN, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(d, n)) for top in (RESIZE, GOLDEN) for d, _, ns in os.walk(top)
                for n in ns)
    print(f"wrote {len(index['images'])} images, {len(index['synthetic'])} synthetic cases, "
          f"{len(index['bad'])} bad inputs; {total / 1e6:.2f} MB in resize/ and golden/pillow/")


if __name__ == "__main__":
    main()
