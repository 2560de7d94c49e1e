#!/usr/bin/env python3
"""Generates the MobileNetV2 weight fixtures and the Keras golden features the Swift tests compare with.

Run from the repository root with TensorFlow (Keras 3), h5py, numpy and Pillow installed:

    python Scripts/make_keras_fixtures.py            # everything
    python Scripts/make_keras_fixtures.py --skip-main  # keep the big alpha-1.0 file, redo the rest

Outputs (all committed, so the Swift tests need no TensorFlow):

  Fixtures/weights/mobilenet_v2_1.0_224_random.h5
      MobileNetV2(alpha=1.0, 224, include_top=True) with every weight random (seeded), including
      BatchNorm gamma/beta/moving mean/moving variance, written in the Keras 2 `save_weights` layout
      the published ImageNet file uses: root attributes `layer_names`, `backend`, `keras_version`
      (fixed-length strings); one group per layer with attribute `weight_names` (`Conv1/kernel:0`,
      `…/depthwise_kernel:0`); datasets at `<layer>/<weight name>`; the old names `input_1`,
      `global_average_pooling2d_1` and `Logits` for layers whose names changed since.
  Fixtures/weights/variants/*.h5
      Small files (alpha 0.35, no top, one shared set of random weights) in each format a user may
      hold, plus broken files. Datasets are stored gzip-compressed where noted (libhdf5 reads them
      transparently) to keep the fixtures small.
  Fixtures/golden/keras/index.json, *.f16, *.f32
      Inputs and the 1280-d features Keras computes for them; see index.json for the layout.

Every weights file is loaded back with Keras (`load_weights` / `load_model`) and the goldens are computed
from the loaded model, so a file Keras cannot read fails here, not in the Swift tests.
"""

import argparse
import glob
import io
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402
from tensorflow.keras import Model  # noqa: E402
from tensorflow.keras.applications.mobilenet_v2 import MobileNetV2, preprocess_input  # noqa: E402
from tensorflow.keras.preprocessing.image import img_to_array  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
FIXTURES = os.path.join(ROOT, "Fixtures")
WEIGHTS = os.path.join(FIXTURES, "weights")
VARIANTS = os.path.join(WEIGHTS, "variants")
GOLDEN = os.path.join(FIXTURES, "golden", "keras")
MAIN_WEIGHTS = os.path.join(WEIGHTS, "mobilenet_v2_1.0_224_random.h5")
SIZE = 224
SEED = 20240611
ALPHAS = [0.35, 0.5, 0.75, 1.0, 1.3, 1.4]

# Small files: compressed datasets, and the HDF5 1.10 file format, whose single-chunk dataset index
# avoids a B-tree node per dataset (readable by libhdf5 ≥ 1.10).
COMPRESSION = {"compression": "gzip", "compression_opts": 9, "shuffle": True}
COMPACT_FORMAT = {"libver": ("v110", "v110")}

# Layer names of the published Keras 2 weight file that differ from today's Keras names.
KERAS2_RENAMES = {"predictions": "Logits"}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def quantize(values, bits=8):
    """Rounds to `bits` significant mantissa bits: still random, but exactly representable and compressible."""
    mantissa, exponent = np.frexp(np.asarray(values, dtype=np.float64))
    return np.ldexp(np.round(mantissa * (1 << bits)) / (1 << bits), exponent).astype(np.float32)


def legacy_weights(layer):
    """The weights of `layer` in the order legacy .h5 files store them (trainable, then non-trainable)."""
    return layer.trainable_weights + layer.non_trainable_weights


def weight_layers(model):
    return [layer for layer in model.layers if legacy_weights(layer)]


def build(alpha, include_top):
    return MobileNetV2(alpha=alpha, input_shape=(SIZE, SIZE, 3), include_top=include_top, weights=None)


def feature_model(model):
    """Inputs → 1280-d (or 1280·alpha) global-average-pooled features."""
    if isinstance(model.layers[-1], keras.layers.Dense):
        return Model(inputs=model.input, outputs=model.layers[-2].output)
    return Model(inputs=model.input, outputs=keras.layers.GlobalAveragePooling2D()(model.output))


def randomize(model, rng, calibration, bits=8):
    """Sets every weight randomly, calibrating each BatchNorm on `calibration` so activations stay lively.

    Kernels are He-normal. Each BatchNorm's moving mean/variance are the batch statistics of its input
    (perturbed), so after it the activations are roughly gamma·N(0,1)+beta: before a ReLU6, beta spreads
    channels between mostly-zero and often-clipped-at-6.
    """
    for layer in weight_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            continue
        values = []
        for weight in legacy_weights(layer):
            shape = tuple(weight.shape)
            if weight.path.endswith("bias"):
                values.append(quantize(rng.normal(0.0, 0.1, shape), bits))
                continue
            if isinstance(layer, keras.layers.DepthwiseConv2D):
                fan_in = shape[0] * shape[1]
            else:
                fan_in = int(np.prod(shape[:-1]))
            values.append(quantize(rng.normal(0.0, np.sqrt(2.0 / fan_in), shape), bits))
        layer.set_weights(values)

    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        probe = Model(inputs=model.input, outputs=layer.input)
        x = np.asarray(probe(calibration, training=False), dtype=np.float64)
        mean = x.mean(axis=(0, 1, 2))
        var = x.var(axis=(0, 1, 2))
        channels = mean.shape[0]
        sign = np.where(rng.uniform(size=channels) < 0.1, -1.0, 1.0)
        gamma = quantize(rng.uniform(0.5, 1.5, channels) * sign, bits)
        if layer.name.endswith("project_BN"):
            beta = quantize(rng.normal(0.0, 0.5, channels), bits)
        else:
            beta = quantize(rng.uniform(-0.5, 3.0, channels), bits)
        moving_mean = quantize(mean + 0.2 * np.sqrt(var) * rng.normal(size=channels), bits)
        moving_variance = quantize(np.maximum(var * rng.uniform(0.6, 1.6, channels), 1e-6), bits)
        layer.set_weights([gamma, beta, moving_mean, moving_variance])


def activation_report(model, x):
    """Asserts every ReLU6 in the network is neither dead nor saturated on `x`; returns a summary."""
    relus = [layer for layer in model.layers if isinstance(layer, keras.layers.ReLU)]
    probe = Model(inputs=model.input, outputs=[layer.output for layer in relus])
    outputs = probe(x, training=False)
    report = []
    for layer, out in zip(relus, outputs):
        out = np.asarray(out)
        zeros = float((out == 0).mean())
        sixes = float((out >= 6).mean())
        report.append((layer.name, zeros, sixes, float(out.mean())))
        assert zeros < 0.9 and sixes < 0.5, f"degenerate activations after {layer.name}: {zeros=:.3f} {sixes=:.3f}"
    return report


def check_features(name, features):
    features = np.asarray(features)
    zeros = float((features == 0).mean())
    sixes = float((features >= 6).mean())
    log(f"  {name}: features min {features.min():.4f} max {features.max():.4f} mean {features.mean():.4f} "
        f"std {features.std():.4f} zeros {zeros:.3f} sixes {sixes:.3f}")
    assert zeros < 0.2 and sixes < 0.2 and features.std() > 0.1, f"degenerate golden features for {name}"


# ---------------------------------------------------------------------------------------------
# Inputs


def random_inputs(rng):
    """Two preprocessed 224×224×3 tensors in [-1, 1], exactly representable in float16 (stored that way)."""
    noise = rng.uniform(-1.0, 1.0, (SIZE, SIZE, 3))
    i, j = np.meshgrid(np.arange(SIZE), np.arange(SIZE), indexing="ij")
    smooth = np.zeros((SIZE, SIZE, 3))
    for channel in range(3):
        for _ in range(6):
            fx, fy = rng.uniform(-0.15, 0.15, 2)
            smooth[..., channel] += rng.uniform(0.2, 1.0) * np.sin(fx * i + fy * j + rng.uniform(0, 2 * np.pi))
    smooth = np.clip(smooth / np.abs(smooth).max(), -1.0, 1.0)
    return {
        "noise": noise.astype(np.float16).astype(np.float32),
        "smooth": smooth.astype(np.float16).astype(np.float32),
    }


def fixture_images():
    """(relative path, preprocessed tensor) for every Fixtures/images/**.jpg, with the notebook's preprocessing."""
    paths = sorted(glob.glob(os.path.join(FIXTURES, "images", "**", "*.jpg"), recursive=True))
    images = []
    for path in paths:
        with open(path, "rb") as handle:
            content = handle.read()
        img = Image.open(io.BytesIO(content)).resize([224, 224])
        arr = img_to_array(img)
        images.append((os.path.relpath(path, FIXTURES), preprocess_input(arr)))
    return images


# ---------------------------------------------------------------------------------------------
# Writers


def fixed_strings(strings):
    data = [s.encode("utf8") for s in strings]
    width = max([len(s) for s in data] + [1])
    return np.array(data, dtype=f"S{width}")


def set_strings(attrs, name, strings, variable_length, chunks=1):
    """Writes a string-array attribute, optionally split as Keras does (`name0`, `name1`, …)."""
    if not strings:
        # Keras writes an empty list as np.asarray([]): an empty float64 array.
        attrs[name] = np.asarray([])
        return
    parts = np.array_split(np.array(strings, dtype=object), chunks) if chunks > 1 else [strings]
    for index, part in enumerate(parts):
        key = f"{name}{index}" if chunks > 1 else name
        part = [str(s) for s in part]
        if variable_length:
            attrs.create(key, part, dtype=h5py.string_dtype("utf-8"))
        else:
            attrs.create(key, fixed_strings(part))


def set_scalar_string(attrs, name, value, variable_length):
    if variable_length:
        attrs.create(name, value, dtype=h5py.string_dtype("utf-8"))
    else:
        attrs.create(name, np.bytes_(value.encode("utf8")))


def keras2_weight_name(layer, weight, suffix):
    kind = weight.path.split("/")[-1]
    if isinstance(layer, keras.layers.DepthwiseConv2D) and kind == "kernel":
        kind = "depthwise_kernel"
    return f"{layer.name}/{kind}{suffix}"


def write_keras2_layout(path, model, *, variable_length=False, chunks=1, compress=False, suffix=":0",
                        drop_layer=None, reshape_weight=None, zero_weights=False):
    """Writes `model` like Keras 2's `save_weights('x.h5')` did (the published ImageNet files' layout)."""
    renames = dict(KERAS2_RENAMES)
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            renames[layer.name] = "input_1"
        elif isinstance(layer, keras.layers.GlobalAveragePooling2D):
            renames[layer.name] = "global_average_pooling2d_1"
    options = COMPRESSION if compress else {}
    with h5py.File(path, "w", **(COMPACT_FORMAT if compress else {})) as f:
        layers = [layer for layer in model.layers if layer.name != drop_layer]
        set_strings(f.attrs, "layer_names", [renames.get(layer.name, layer.name) for layer in layers],
                    variable_length, chunks)
        set_scalar_string(f.attrs, "backend", "tensorflow", variable_length)
        set_scalar_string(f.attrs, "keras_version", "2.1.6", variable_length)
        for layer in layers:
            group = f.create_group(renames.get(layer.name, layer.name))
            weights = legacy_weights(layer)
            names = [keras2_weight_name(layer, w, suffix) for w in weights]
            # Split long weight-name lists too (BatchNorm's four) when chunking.
            set_strings(group.attrs, "weight_names", names, variable_length, chunks if len(names) > 1 else 1)
            for name, weight in zip(names, weights):
                value = np.asarray(weight.numpy(), dtype=np.float32)
                if reshape_weight == name:
                    value = value[..., :-8]
                if zero_weights:
                    value = np.zeros_like(value)
                group.create_dataset(name, data=value, **options)


def repack(source, destination):
    """Copies an HDF5 file with gzip+shuffle-compressed datasets, keeping every attribute's exact type."""
    def copy_attrs(src, dst):
        for key in src.attrs:
            attribute = src.attrs.get_id(key)
            dst.attrs.create(key, src.attrs[key], shape=attribute.shape, dtype=attribute.dtype)

    with h5py.File(source, "r") as src, h5py.File(destination, "w", **COMPACT_FORMAT) as dst:
        copy_attrs(src, dst)

        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                copy_attrs(obj, dst.require_group(name))
            else:
                data = obj[()]
                kwargs = COMPRESSION if obj.shape else {}
                dataset = dst.create_dataset(name, data=data, dtype=obj.dtype, **kwargs)
                copy_attrs(obj, dataset)

        src.visititems(visit)


# ---------------------------------------------------------------------------------------------
# Checks


def assert_same_weights(expected, actual, what):
    e = [w.numpy() for layer in weight_layers(expected) for w in legacy_weights(layer)]
    a = [w.numpy() for layer in weight_layers(actual) for w in legacy_weights(layer)]
    assert len(e) == len(a), what
    for x, y in zip(e, a):
        assert x.shape == y.shape and np.array_equal(x, y), f"{what}: weights differ after loading"


def features_of(model, batch):
    return np.asarray(feature_model(model).predict(batch, batch_size=8, verbose=0), dtype=np.float32)


def write_f32(name, array):
    np.asarray(array, dtype="<f4").tofile(os.path.join(GOLDEN, name))
    return name


# ---------------------------------------------------------------------------------------------


def make_main(rng, inputs, images, calibration):
    log("alpha 1.0: randomizing and calibrating")
    model = build(1.0, include_top=True)
    randomize(model, rng, calibration)
    write_keras2_layout(MAIN_WEIGHTS, model)
    size = os.path.getsize(MAIN_WEIGHTS)
    log(f"  wrote {os.path.relpath(MAIN_WEIGHTS, ROOT)} ({size} bytes)")
    assert size < 16 * 1024 * 1024


def load_main():
    model = build(1.0, include_top=True)
    model.load_weights(MAIN_WEIGHTS)
    return model


def make_variants(rng, inputs, calibration):
    os.makedirs(VARIANTS, exist_ok=True)
    for old in glob.glob(os.path.join(VARIANTS, "*")):
        os.remove(old)
    log("alpha 0.35: randomizing and calibrating")
    base = build(0.35, include_top=False)
    # Fewer random mantissa bits than the main file: the variants compress better.
    randomize(base, rng, calibration, bits=5)
    batch = np.stack(list(inputs.values()))
    reference = features_of(base, batch)
    scratch = os.path.join(VARIANTS, "scratch.h5")
    variants = {}

    def finish(name, loaded, note):
        assert_same_weights(base, loaded, name)
        got = features_of(loaded, batch)
        assert np.array_equal(got, reference), f"{name}: features differ from the reference"
        variants[name] = {"file": f"variants/{name}", "bytes": os.path.getsize(os.path.join(VARIANTS, name)),
                          "note": note}
        log(f"  {name}: {variants[name]['bytes']} bytes")

    def load_into_fresh(path):
        model = build(0.35, include_top=False)
        model.load_weights(path)
        return model

    # The fixed-length-string Keras 2 layout is the main alpha-1.0 file's; here, chunked attributes.
    name = "keras2_chunked_attributes.h5"
    write_keras2_layout(os.path.join(VARIANTS, name), base, chunks=3, compress=True)
    finish(name, load_into_fresh(os.path.join(VARIANTS, name)),
           "Keras 2 layout with layer_names0..2 and weight_names0..2 chunked attributes")

    # Keras 3's own legacy writer: variable-length strings, names without ':0', depthwise 'kernel'.
    from keras.src.legacy.saving import legacy_h5_format

    name = "keras3_legacy_weights.h5"
    with h5py.File(scratch, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, base)
    repack(scratch, os.path.join(VARIANTS, name))
    finish(name, load_into_fresh(os.path.join(VARIANTS, name)),
           "Keras 3 legacy save_weights layout (weight names without ':0')")

    # Whole model saved with model.save('x.h5'): weights under /model_weights.
    name = "keras3_whole_model.h5"
    base.save(scratch)
    repack(scratch, os.path.join(VARIANTS, name))
    finish(name, keras.models.load_model(os.path.join(VARIANTS, name), compile=False),
           "model.save('x.h5') of MobileNetV2 itself: weights under model_weights")

    # The usual fine-tuned classifier: MobileNetV2 nested as a layer, then pooling and a Dense head.
    def classifier(frozen):
        backbone = build(0.35, include_top=False)
        backbone.set_weights(base.get_weights())
        backbone.trainable = not frozen
        inputs_ = keras.Input((SIZE, SIZE, 3))
        x = backbone(inputs_, training=False)
        x = keras.layers.GlobalAveragePooling2D()(x)
        x = keras.layers.Dropout(0.2)(x)
        outputs = keras.layers.Dense(5, activation="softmax", name="fruit")(x)
        model = keras.Model(inputs_, outputs)
        for layer in weight_layers(model):
            if isinstance(layer, keras.layers.Dense):
                layer.set_weights([quantize(rng.normal(0, 0.05, tuple(w.shape))) for w in legacy_weights(layer)])
        return model, backbone

    def nested_check(name, loaded, note):
        backbone = [layer for layer in loaded.layers if isinstance(layer, keras.Model)][0]
        finish(name, backbone, note)

    name = "classifier_nested_trainable.h5"
    model, _ = classifier(frozen=False)
    model.save(scratch)
    repack(scratch, os.path.join(VARIANTS, name))
    nested_check(name, keras.models.load_model(os.path.join(VARIANTS, name), compile=False),
                 "model.save of a classifier with a trainable nested MobileNetV2 "
                 "(backbone weights stored trainable-first)")

    name = "classifier_nested_frozen_weights.h5"
    model, _ = classifier(frozen=True)
    with h5py.File(scratch, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    repack(scratch, os.path.join(VARIANTS, name))
    fresh, _ = classifier(frozen=True)
    fresh.load_weights(os.path.join(VARIANTS, name))
    nested_check(name, fresh, "Keras 3 legacy save_weights of a classifier with a frozen nested MobileNetV2")

    # A classifier built on the backbone's layers directly (not nested): extra layers after Conv_1_bn.
    name = "classifier_flat.h5"
    flat_base = build(0.35, include_top=False)
    flat_base.set_weights(base.get_weights())
    x = keras.layers.GlobalAveragePooling2D()(flat_base.output)
    x = keras.layers.Dense(3, name="head")(x)
    flat = keras.Model(flat_base.input, x)
    flat.get_layer("head").set_weights([quantize(rng.normal(0, 0.05, (1280, 3))), np.zeros(3, np.float32)])
    flat.save(scratch)
    repack(scratch, os.path.join(VARIANTS, name))
    loaded = keras.models.load_model(os.path.join(VARIANTS, name), compile=False)
    backbone_view = Model(loaded.input, loaded.get_layer("out_relu").output)
    assert_same_weights(base, backbone_view, name)
    assert np.array_equal(features_of(backbone_view, batch), reference), name
    variants[name] = {"file": f"variants/{name}", "bytes": os.path.getsize(os.path.join(VARIANTS, name)),
                      "note": "model.save of a classifier whose head follows the backbone's layers directly"}

    # Broken files.
    broken = {}
    name = "broken_not_hdf5.h5"
    with open(os.path.join(VARIANTS, name), "wb") as handle:
        handle.write(b"This is not an HDF5 file; it only has the extension.\n" * 4)
    broken[name] = "not an HDF5 file"

    name = "broken_truncated.h5"
    with open(os.path.join(VARIANTS, "keras2_chunked_attributes.h5"), "rb") as handle:
        content = handle.read()
    with open(os.path.join(VARIANTS, name), "wb") as handle:
        handle.write(content[:65536])
    broken[name] = "the first 64 KiB of keras2_chunked_attributes.h5"

    name = "broken_missing_layer.h5"
    write_keras2_layout(os.path.join(VARIANTS, name), base, compress=True, drop_layer="block_5_project",
                        zero_weights=True)
    broken[name] = "Keras 2 layout (all weights zero) without layer block_5_project"

    name = "broken_wrong_shape.h5"
    write_keras2_layout(os.path.join(VARIANTS, name), base, compress=True,
                        reshape_weight="block_3_expand/kernel:0", zero_weights=True)
    broken[name] = "Keras 2 layout (all weights zero) whose block_3_expand kernel lacks its last 8 output channels"

    name = "broken_no_weights.h5"
    with h5py.File(os.path.join(VARIANTS, name), "w") as f:
        f.attrs["note"] = "an HDF5 file without Keras weights"
        f.create_dataset("numbers", data=np.arange(10, dtype=np.float64))
    broken[name] = "an HDF5 file without layer_names"

    for name in ["broken_missing_layer.h5", "broken_wrong_shape.h5", "broken_truncated.h5", "broken_not_hdf5.h5",
                 "broken_no_weights.h5"]:
        try:
            load_into_fresh(os.path.join(VARIANTS, name))
        except Exception as error:  # Keras must refuse these too.
            log(f"  {name}: Keras refuses it: {type(error).__name__}: {str(error).splitlines()[0][:120]}")
        else:
            raise AssertionError(f"Keras loaded the broken file {name}")

    os.remove(scratch)
    return variants, broken, reference


def architecture_shapes():
    """For each alpha: the weight shapes of MobileNetV2(include_top=False), layer by layer, in file order."""
    table = {}
    for alpha in ALPHAS:
        model = build(alpha, include_top=False)
        table[str(alpha)] = [
            {"layer": layer.name, "shapes": [list(w.shape) for w in legacy_weights(layer)]}
            for layer in weight_layers(model)
        ]
        keras.backend.clear_session()
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-main", action="store_true", help="reuse the existing alpha-1.0 weights file")
    args = parser.parse_args()
    os.makedirs(GOLDEN, exist_ok=True)
    os.makedirs(WEIGHTS, exist_ok=True)

    rng = np.random.default_rng(SEED)
    inputs = random_inputs(rng)
    images = fixture_images()
    log(f"{len(images)} fixture images")
    calibration = np.stack(list(inputs.values()) + [tensor for _, tensor in images])

    for name, tensor in inputs.items():
        tensor.astype("<f2").tofile(os.path.join(GOLDEN, f"input_{name}.f16"))

    # The main file is made once (it is big); later runs reuse it, with a separate random stream
    # for the variants so they come out the same either way.
    if not args.skip_main or not os.path.exists(MAIN_WEIGHTS):
        make_main(np.random.default_rng(SEED + 1), inputs, images, calibration)
    model = load_main()
    log("alpha 1.0: loaded back with Keras")
    report = activation_report(model, calibration)
    for name, zeros, sixes, mean in report:
        log(f"  {name:28s} zeros {zeros:.3f} sixes {sixes:.3f} mean {mean:.3f}")

    batch = np.stack(list(inputs.values()))
    random_features = features_of(model, batch)
    for name, row in zip(inputs, random_features):
        check_features(name, row)
    image_features = features_of(model, np.stack([t for _, t in images])) if images else np.zeros((0, 1280))
    for (path, _), row in zip(images, image_features):
        check_features(path, row)

    variants, broken, small_features = make_variants(np.random.default_rng(SEED + 2), inputs, calibration)
    for name, row in zip(inputs, small_features):
        check_features(f"alpha 0.35 {name}", row)

    index = {
        "generator": "Scripts/make_keras_fixtures.py",
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "layout": "raw little-endian arrays, row-major; .f16 = float16 (widen to float32 exactly), .f32 = float32",
        "inputs": {
            name: {"file": f"input_{name}.f16", "dtype": "float16", "shape": [SIZE, SIZE, 3]} for name in inputs
        },
        "models": {
            "alpha_1.0": {
                "weights": os.path.relpath(MAIN_WEIGHTS, FIXTURES),
                "feature_count": 1280,
                "inputs": {
                    "file": write_f32("features_alpha_1.0_inputs.f32", random_features),
                    "rows": list(inputs),
                },
                "images": {
                    "file": write_f32("features_alpha_1.0_images.f32", image_features),
                    "rows": [path for path, _ in images],
                    "preprocessing": "PIL Image.open(BytesIO(bytes)).resize([224, 224]) -> img_to_array "
                                     "-> mobilenet_v2.preprocess_input",
                },
            },
            "alpha_0.35": {
                "feature_count": 1280,
                "inputs": {
                    "file": write_f32("features_alpha_0.35_inputs.f32", small_features),
                    "rows": list(inputs),
                },
                "variants": variants,
                "broken": {name: {"file": f"variants/{name}", "note": note} for name, note in broken.items()},
            },
        },
    }
    with open(os.path.join(GOLDEN, "index.json"), "w") as handle:
        json.dump(index, handle, indent=2)
        handle.write("\n")
    with open(os.path.join(GOLDEN, "architecture_shapes.json"), "w") as handle:
        json.dump(architecture_shapes(), handle, separators=(",", ":"))
        handle.write("\n")
    log("done")


if __name__ == "__main__":
    main()
