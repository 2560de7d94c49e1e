#!/usr/bin/env python3
"""Generates the Keras 3 format and MobileNetV3 fixtures, and the tf.keras features the Swift tests compare with.

Run from the repository root with tensorflow-cpu 2.21 (Keras 3), h5py, numpy and Pillow installed (a venv outside
the repository; CI needs none of it, the outputs are committed):

    /work/venv-tf/bin/python Scripts/make_keras3_fixtures.py

Outputs, under Fixtures/weights/keras3/ (weights) and Fixtures/golden/keras3/ (features, index.json):

  MobileNetV2 alpha 0.35 (no top), one set of random weights, as Keras 3 writes it natively:
    mobilenet_v2_0.35.weights.h5          model.save_weights("x.weights.h5"): layers/<name>/vars/<i>
    mobilenet_v2_0.35.keras               model.save("x.keras"): zip (members stored, as Keras writes them)
    classifier_mobilenet_v2_0.35.keras    a fine-tuned classifier: the backbone nested as a layer, pooling,
                                          a Dense head; zip members deflated
  MobileNetV3 (every weight random, BatchNorm statistics calibrated on the fixture images):
    mobilenet_v3_large_1.0_legacy.h5      Keras's legacy save_weights writer (keras-applications layout), no top
    mobilenet_v3_small_1.0_legacy.h5      likewise
    mobilenet_v3_small_minimalistic_0.75_legacy.h5   the minimalistic variant (ReLU, 3x3, no squeeze-excite)
    mobilenet_v3_large_0.75.keras         model.save("x.keras"), no top
    mobilenet_v3_small_0.75_top.keras     include_top=True (10 classes): the features still come from the
                                          pooled last convolutional stage
  Broken archives (made with Python's zipfile from the files above): not a zip, truncated, no weights
  member, a member whose declared size lies, a deflated member of 48 MiB of zeros (a small zip bomb).

Size budget: every dataset is stored as float16 (gzip + shuffle) by rewriting the HDF5 Keras wrote; the random
weights are drawn exactly representable in float16, so nothing changes, and every file is loaded back with
Keras before its features are computed. Alphas below 1.0 where the point is the format.

Features: for every Fixtures/images/**.jpg, Pillow resize to 224 (the notebook), then the model's own
preprocessing — MobileNetV2: preprocess_input (x / 127.5 - 1); MobileNetV3: the [0, 255] image, rescaled by the
model's Rescaling layer (include_preprocessing=True) — and the global-average-pooled output of the last
convolutional stage (include_top=False, pooling="avg": 960 for Large, 576 for Small at alpha 1.0).
The script asserts every feature vector is finite, at most 100 in magnitude, and varies across images
(mean per-feature standard deviation >= 1e-2).
"""

import glob
import io
import json
import os
import shutil
import sys
import tempfile
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402
from keras import Model  # noqa: E402
from keras.applications import MobileNetV2, MobileNetV3Large, MobileNetV3Small  # noqa: E402
from keras.applications.mobilenet_v2 import preprocess_input as mobilenet_v2_preprocess  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIXTURES = os.path.join(ROOT, "Fixtures")
WEIGHTS = os.path.join(FIXTURES, "weights", "keras3")
GOLDEN = os.path.join(FIXTURES, "golden", "keras3")
SIZE = 224
SEED = 20261201
BUDGET = 15 * 1024 * 1024

F16_COMPRESSION = {"compression": "gzip", "compression_opts": 9, "shuffle": True}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def half_exact(values, bits=7):
    """Random values rounded to `bits` mantissa bits and to float16: stored as float16 without loss."""
    mantissa, exponent = np.frexp(np.asarray(values, dtype=np.float64))
    rounded = np.ldexp(np.round(mantissa * (1 << bits)) / (1 << bits), exponent)
    half = rounded.astype(np.float16)
    assert np.all(np.isfinite(half)), "a weight does not fit float16"
    return half.astype(np.float32)


def all_weights(layer):
    return layer.trainable_weights + layer.non_trainable_weights


def weight_layers(model):
    return [layer for layer in model.layers if all_weights(layer)]


def randomize(model, rng, calibration):
    """Sets every weight randomly; each BatchNorm's statistics are those of its input on `calibration`
    (perturbed), so activations neither die nor explode through a random network.

    `calibration` is what the model takes (MobileNetV3: [0, 255] images)."""
    for layer in weight_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            continue
        values = []
        for weight in all_weights(layer):
            shape = tuple(weight.shape)
            if weight.path.endswith("bias"):
                values.append(half_exact(rng.normal(0.0, 0.1, shape)))
                continue
            fan_in = shape[0] * shape[1] if isinstance(layer, keras.layers.DepthwiseConv2D) else int(np.prod(shape[:-1]))
            values.append(half_exact(rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)))
        layer.set_weights(values)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        probe = Model(inputs=model.input, outputs=layer.input)
        x = np.asarray(probe(calibration, training=False), dtype=np.float64)
        mean = x.mean(axis=(0, 1, 2))
        var = x.var(axis=(0, 1, 2))
        channels = mean.shape[0]
        sign = np.where(rng.uniform(size=channels) < 0.1, -1.0, 1.0)
        gamma = half_exact(rng.uniform(0.5, 1.5, channels) * sign)
        if "project" in layer.name:
            beta = half_exact(rng.normal(0.0, 0.5, channels))
        else:
            beta = half_exact(rng.uniform(-0.5, 2.0, channels))
        moving_mean = half_exact(mean + 0.2 * np.sqrt(var) * rng.normal(size=channels))
        moving_variance = half_exact(np.maximum(var * rng.uniform(0.6, 1.6, channels), 1e-3))
        layer.set_weights([gamma, beta, moving_mean, moving_variance])


def feature_model(model):
    """The model (or the backbone nested in it) → global-average-pooled output of the last conv stage."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    backbone = nested[0] if nested else model
    names = [layer.name for layer in backbone.layers]
    if "conv_1_bn" in names:  # MobileNetV3: the activation after conv_1_bn
        index = names.index("conv_1_bn") + 1
        last = backbone.layers[index].output
    else:  # MobileNetV2: out_relu
        last = backbone.get_layer("out_relu").output
    return Model(backbone.input, keras.layers.GlobalAveragePooling2D()(last))


def features_of(model, batch):
    return np.asarray(feature_model(model).predict(batch, batch_size=4, verbose=0), dtype=np.float32)


def check_features(name, features):
    features = np.asarray(features, dtype=np.float64)
    spread = float(features.std(axis=0).mean())
    log(f"  {name}: {features.shape}, min {features.min():.4f} max {features.max():.4f} "
        f"mean per-feature std {spread:.4f}")
    assert np.all(np.isfinite(features)), f"{name}: non-finite features"
    assert np.abs(features).max() <= 100.0, f"{name}: features larger than 100"
    assert spread >= 1e-2, f"{name}: features barely vary across images ({spread})"


def fixture_images():
    """(relative path, the resized image as float32 [0, 255]) for every Fixtures/images/**.jpg."""
    paths = sorted(glob.glob(os.path.join(FIXTURES, "images", "**", "*.jpg"), recursive=True))
    images = []
    for path in paths:
        with open(path, "rb") as handle:
            content = handle.read()
        image = Image.open(io.BytesIO(content)).resize([SIZE, SIZE])
        images.append((os.path.relpath(path, FIXTURES), np.asarray(image, dtype=np.float32)))
    return images


# ---------------------------------------------------------------------------------------------
# Writers


def repack_float16(source, destination):
    """Copies an HDF5 file with every float dataset stored as float16 (gzip + shuffle), attributes kept exactly."""
    def copy_attrs(src, dst):
        for key in src.attrs:
            attribute = src.attrs.get_id(key)
            dst.attrs.create(key, src.attrs[key], shape=attribute.shape, dtype=attribute.dtype)

    with h5py.File(source, "r") as src, h5py.File(destination, "w", libver=("v110", "v110")) as dst:
        copy_attrs(src, dst)

        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                copy_attrs(obj, dst.require_group(name))
                return
            data = obj[()]
            if obj.dtype.kind == "f" and obj.shape:
                half = np.asarray(data).astype(np.float16)
                assert np.array_equal(half.astype(obj.dtype), data), f"{name} is not float16-exact"
                dataset = dst.create_dataset(name, data=half, **F16_COMPRESSION)
            else:
                dataset = dst.create_dataset(name, data=data, dtype=obj.dtype)
            copy_attrs(obj, dataset)

        src.visititems(visit)


def rezip(source, destination, member_transform, compression):
    """Rewrites a .keras archive: model.weights.h5 through `member_transform`, members stored or deflated."""
    with tempfile.TemporaryDirectory() as scratch:
        with zipfile.ZipFile(source) as archive:
            names = archive.namelist()
            archive.extractall(scratch)
        member_transform(os.path.join(scratch, "model.weights.h5"))
        with zipfile.ZipFile(destination, "w", compression=compression) as archive:
            for name in names:
                archive.write(os.path.join(scratch, name), name)


def save_keras(model, path, compression=zipfile.ZIP_STORED):
    scratch = path + ".scratch.keras"
    model.save(scratch)

    def to_half(member):
        repack_float16(member, member + ".half")
        os.replace(member + ".half", member)

    rezip(scratch, path, to_half, compression)
    os.remove(scratch)


def save_native_weights(model, path):
    scratch = path + ".scratch.weights.h5"
    model.save_weights(scratch)
    repack_float16(scratch, path)
    os.remove(scratch)


def save_legacy_weights(model, path):
    """Keras's own legacy writer (what keras-applications' .h5 files are), datasets as float16."""
    from keras.src.legacy.saving import legacy_h5_format

    scratch = path + ".scratch.h5"
    with h5py.File(scratch, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    repack_float16(scratch, path)
    os.remove(scratch)


def assert_same_weights(expected, actual, what):
    e = [np.asarray(w) for w in expected.get_weights()]
    a = [np.asarray(w) for w in actual.get_weights()]
    assert len(e) == len(a), f"{what}: {len(a)} weights where {len(e)} expected"
    for x, y in zip(e, a):
        assert x.shape == y.shape and np.array_equal(x, y), f"{what}: weights differ after loading"


# ---------------------------------------------------------------------------------------------


def main():
    os.makedirs(WEIGHTS, exist_ok=True)
    os.makedirs(GOLDEN, exist_ok=True)
    for old in glob.glob(os.path.join(WEIGHTS, "*")) + glob.glob(os.path.join(GOLDEN, "*")):
        os.remove(old)
    images = fixture_images()
    log(f"{len(images)} fixture images")
    raw = np.stack([image for _, image in images])           # [0, 255], what MobileNetV3 takes
    v2_input = mobilenet_v2_preprocess(raw.copy())            # [-1, 1], what MobileNetV2 takes
    rng = np.random.default_rng(SEED)
    index = {
        "generator": "Scripts/make_keras3_fixtures.py",
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "layout": "raw little-endian float32, row-major (images, features)",
        "images": [path for path, _ in images],
        "preprocessing": "PIL Image.open(BytesIO(bytes)).resize([224, 224]) -> float32; MobileNetV2: "
                         "mobilenet_v2.preprocess_input; MobileNetV3: as is (the model's Rescaling layer)",
        "files": {},
        "broken": {},
    }

    def record(file_name, model_name, architecture, alpha, features, fmt, note, loaded_features):
        assert np.array_equal(loaded_features, features), f"{file_name}: features differ after loading"
        check_features(file_name, features)
        golden = file_name.replace(".", "_") + ".f32"
        np.asarray(features, dtype="<f4").tofile(os.path.join(GOLDEN, golden))
        index["files"][file_name] = {
            "weights": f"weights/keras3/{file_name}", "format": fmt, "architecture": architecture,
            "alpha": alpha, "model": model_name, "feature_count": int(features.shape[1]),
            "features": golden, "bytes": os.path.getsize(os.path.join(WEIGHTS, file_name)), "note": note,
        }

    # --- MobileNetV2 alpha 0.35 in the Keras 3 formats ---------------------------------------------------
    log("MobileNetV2 alpha 0.35")
    v2 = MobileNetV2(alpha=0.35, input_shape=(SIZE, SIZE, 3), include_top=False, weights=None)
    randomize(v2, rng, v2_input)
    v2_features = features_of(v2, v2_input)

    name = "mobilenet_v2_0.35.weights.h5"
    save_native_weights(v2, os.path.join(WEIGHTS, name))
    loaded = MobileNetV2(alpha=0.35, input_shape=(SIZE, SIZE, 3), include_top=False, weights=None)
    loaded.load_weights(os.path.join(WEIGHTS, name))
    assert_same_weights(v2, loaded, name)
    record(name, "mobilenet_v2", "MobileNetV2", 0.35, v2_features, "keras3-weights",
           "model.save_weights('x.weights.h5')", features_of(loaded, v2_input))

    name = "mobilenet_v2_0.35.keras"
    save_keras(v2, os.path.join(WEIGHTS, name))
    loaded = keras.models.load_model(os.path.join(WEIGHTS, name), compile=False)
    assert_same_weights(v2, loaded, name)
    record(name, "mobilenet_v2", "MobileNetV2", 0.35, v2_features, "keras",
           "model.save('x.keras'), members stored", features_of(loaded, v2_input))

    name = "classifier_mobilenet_v2_0.35.keras"
    backbone = MobileNetV2(alpha=0.35, input_shape=(SIZE, SIZE, 3), include_top=False, weights=None)
    backbone.set_weights(v2.get_weights())
    backbone.trainable = False
    inputs = keras.Input((SIZE, SIZE, 3))
    x = backbone(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(5, activation="softmax", name="fruit")(x)
    classifier = keras.Model(inputs, outputs)
    classifier.get_layer("fruit").set_weights(
        [half_exact(rng.normal(0, 0.05, (1280, 5))), half_exact(rng.normal(0, 0.05, 5))])
    save_keras(classifier, os.path.join(WEIGHTS, name), compression=zipfile.ZIP_DEFLATED)
    loaded = keras.models.load_model(os.path.join(WEIGHTS, name), compile=False)
    assert_same_weights(classifier, loaded, name)
    record(name, "mobilenet_v2", "MobileNetV2", 0.35, v2_features, "keras",
           "fine-tuned classifier (frozen MobileNetV2 nested, pooling, Dense 5), members deflated",
           features_of(loaded, v2_input))

    # --- MobileNetV3 ----------------------------------------------------------------------------------
    def v3(builder, alpha, minimalistic=False, include_top=False):
        kwargs = {"classes": 10} if include_top else {}
        return builder(input_shape=(SIZE, SIZE, 3), alpha=alpha, minimalistic=minimalistic,
                       include_top=include_top, weights=None, include_preprocessing=True, **kwargs)

    specs = [
        ("mobilenet_v3_large_1.0_legacy.h5", MobileNetV3Large, "MobileNetV3Large", 1.0, False, False, "legacy",
         "mobilenet_v3_large"),
        ("mobilenet_v3_small_1.0_legacy.h5", MobileNetV3Small, "MobileNetV3Small", 1.0, False, False, "legacy",
         "mobilenet_v3_small"),
        ("mobilenet_v3_small_minimalistic_0.75_legacy.h5", MobileNetV3Small, "MobileNetV3SmallMinimalistic", 0.75,
         True, False, "legacy", "mobilenet_v3_small_minimalistic"),
        ("mobilenet_v3_large_0.75.keras", MobileNetV3Large, "MobileNetV3Large", 0.75, False, False, "keras",
         "mobilenet_v3_large"),
        ("mobilenet_v3_small_0.75_top.keras", MobileNetV3Small, "MobileNetV3Small", 0.75, False, True, "keras",
         "mobilenet_v3_small"),
    ]
    for name, builder, architecture, alpha, minimalistic, top, fmt, model_name in specs:
        log(f"{name}")
        model = v3(builder, alpha, minimalistic, top)
        randomize(model, rng, raw)
        if top:
            for layer in weight_layers(model):
                if layer.name in ("conv_2", "logits"):
                    layer.set_weights([half_exact(rng.normal(0, 0.05, tuple(w.shape))) for w in all_weights(layer)])
        features = features_of(model, raw)
        path = os.path.join(WEIGHTS, name)
        if fmt == "legacy":
            save_legacy_weights(model, path)
            loaded = v3(builder, alpha, minimalistic, top)
            loaded.load_weights(path)
            note = "Keras's legacy save_weights writer (the keras-applications layout)"
        else:
            save_keras(model, path)
            loaded = keras.models.load_model(path, compile=False)
            note = "model.save('x.keras')" + (", include_top=True (10 classes)" if top else "")
        assert_same_weights(model, loaded, name)
        record(name, model_name, architecture, alpha, features, fmt, note, features_of(loaded, raw))
        keras.backend.clear_session()

    # --- Broken archives ------------------------------------------------------------------------------
    source = os.path.join(WEIGHTS, "mobilenet_v2_0.35.keras")
    with open(source, "rb") as handle:
        archive_bytes = handle.read()

    def broken(name, note, content):
        with open(os.path.join(WEIGHTS, name), "wb") as handle:
            handle.write(content)
        index["broken"][name] = {"file": f"weights/keras3/{name}", "note": note}

    broken("broken_not_zip.keras", "text with the .keras extension", b"not a zip archive at all\n" * 8)
    broken("broken_truncated.keras", "the first half of mobilenet_v2_0.35.keras", archive_bytes[:len(archive_bytes) // 2])
    buffer = io.BytesIO()
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(buffer, "w") as dst:
        for member in ("config.json", "metadata.json"):
            dst.writestr(member, src.read(member))
    broken("broken_no_weights.keras", "config.json and metadata.json only", buffer.getvalue())

    # A deflated weights member whose headers declare 1000 bytes fewer than it inflates to.
    buffer = io.BytesIO()
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for member in src.namelist():
            dst.writestr(member, src.read(member))
    lying = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(lying))) as check:
        info = check.getinfo("model.weights.h5")
    true_size = info.file_size
    local = info.header_offset
    assert lying[local:local + 4] == b"PK\x03\x04"
    lying[local + 22:local + 26] = (true_size - 1000).to_bytes(4, "little")
    for position in range(len(lying) - 4):
        if lying[position:position + 4] == b"PK\x01\x02":
            name_length = int.from_bytes(lying[position + 28:position + 30], "little")
            if lying[position + 46:position + 46 + name_length] == b"model.weights.h5":
                lying[position + 24:position + 28] = (true_size - 1000).to_bytes(4, "little")
    broken("broken_size_lies.keras", "the weights member (deflated) declares 1000 bytes fewer than it holds",
           bytes(lying))

    # A small zip bomb: a deflated member of 48 MiB of zeros (~48 KB compressed), declared honestly.
    buffer = io.BytesIO()
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        dst.writestr("config.json", src.read("config.json"))
        dst.writestr("metadata.json", src.read("metadata.json"))
        dst.writestr("model.weights.h5", bytes(48 * 1024 * 1024), compresslevel=9)
    broken("broken_zip_bomb.keras", "model.weights.h5 is 48 MiB of zeros deflated (declared honestly)",
           buffer.getvalue())

    total = sum(os.path.getsize(path) for path in glob.glob(os.path.join(WEIGHTS, "*")))
    total += sum(os.path.getsize(path) for path in glob.glob(os.path.join(GOLDEN, "*")))
    log(f"total fixture size {total} bytes")
    assert total <= BUDGET, f"fixtures exceed the budget: {total} bytes"
    index["total_bytes"] = total
    with open(os.path.join(GOLDEN, "index.json"), "w") as handle:
        json.dump(index, handle, indent=2)
        handle.write("\n")
    log("done")


if __name__ == "__main__":
    main()
