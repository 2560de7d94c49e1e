"""The ctypes binding: features against tf.keras goldens, per-image errors, PCA against scikit-learn goldens."""

import json
import os
import threading

import numpy as np
import pytest

import fruitfeatures
from fruitfeatures.statistics import ScatterStatistics
from conftest import FIXTURES, WEIGHTS

IMAGES = os.path.join(FIXTURES, "images")


def read(relative):
    with open(os.path.join(IMAGES, relative), "rb") as file:
        return file.read()


def test_version_and_abi():
    lib = fruitfeatures.load_library()
    assert lib.ff_abi_version() == fruitfeatures.ABI_VERSION
    assert fruitfeatures.version().count(".") == 2


def test_features_equal_keras_goldens(extractor, goldens):
    names = sorted(goldens)
    features, errors = extractor.features([read(name) for name in names])
    assert features.shape == (len(names), 1280) and features.dtype == np.float32
    assert errors == [None] * len(names)
    expected = np.stack([goldens[name] for name in names])
    assert np.abs(features - expected).max() <= 1e-4


def test_bad_images_get_messages_and_nan_rows_while_the_rest_succeeds(extractor, goldens):
    good = read("Banana/1_100.jpg")
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    batch = [b"", good, b"not an image at all", None, good[: len(good) // 3], png, bytearray(good)]
    features, errors = extractor.features(batch)
    assert errors[0] == "empty file"
    assert errors[2].startswith("not a JPEG")
    assert errors[3] is not None
    assert "truncated" in errors[4]
    assert "PNG" in errors[5]
    for index in (0, 2, 3, 4, 5):
        assert np.isnan(features[index]).all()
    for index in (1, 6):
        assert errors[index] is None
        assert np.abs(features[index] - goldens["Banana/1_100.jpg"]).max() <= 1e-4


@pytest.mark.parametrize("kind", ["binary", "large_binary"])
def test_arrow_columns_go_to_the_library_as_their_buffers(extractor, goldens, kind):
    import pyarrow as pa
    names = sorted(goldens)
    images = [read(name) for name in names]
    expected, _ = extractor.features(images)
    assert np.abs(expected - np.stack([goldens[name] for name in names])).max() <= 1e-4
    column = pa.array([b"junk", None] + images + [b""], type=getattr(pa, kind)())
    features, errors = extractor.features_arrow(column)
    assert errors[0].startswith("not a JPEG")
    assert errors[1] == "no image bytes (null content)"
    assert errors[-1] == "empty file"
    assert errors[2:-1] == [None] * len(images)
    assert np.isnan(features[[0, 1, -1]]).all()
    # The same bits as the one-image-at-a-time path.
    assert np.array_equal(features[2:-1], expected)
    # A slice: the array's offset is honoured (its buffers are the whole column's).
    window = column.slice(3, 4)
    sliced, sliced_errors = extractor.features_arrow(window)
    assert sliced_errors == [None] * 4
    assert np.array_equal(sliced, expected[1:5])
    # A chunked column, as a pyarrow Table holds it.
    chunked = pa.chunked_array([column.slice(0, 3), column.slice(3)])
    chunked_features, chunked_errors = extractor.features_arrow(chunked)
    assert chunked_errors == errors
    assert np.array_equal(chunked_features[2:-1], expected)
    assert extractor.features_arrow(column.slice(0, 0))[0].shape == (0, 1280)
    with pytest.raises(TypeError):
        extractor.features_arrow(pa.array(["text"]))


def test_empty_batch(extractor):
    features, errors = extractor.features([])
    assert features.shape == (0, 1280) and errors == []


def test_unreadable_weights_raise_with_the_reason(tmp_path):
    with pytest.raises(fruitfeatures.FruitFeaturesError, match="no such file"):
        fruitfeatures.Extractor(tmp_path / "missing.h5")
    broken = os.path.join(FIXTURES, "weights", "variants", "broken_not_hdf5.h5")
    with pytest.raises(fruitfeatures.FruitFeaturesError, match="broken_not_hdf5.h5"):
        fruitfeatures.Extractor(broken)


def test_one_extractor_serves_several_threads(extractor):
    images = [read(name) for name in ("Apple/0_100.jpg", "Lemon/2_100.jpg", "Banana/0_100.jpg")]
    alone, _ = extractor.features(images)
    results = [None] * 4

    def work(slot):
        results[slot] = extractor.features(images)[0]

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        # No kernel's rounding depends on threads or on what shares a call: equal bit for bit.
        assert np.array_equal(result, alone)


def test_closed_extractor_refuses_work():
    extractor = fruitfeatures.Extractor(WEIGHTS)
    extractor.close()
    with pytest.raises(fruitfeatures.FruitFeaturesError, match="closed"):
        extractor.features([b""])


# ------------------------------------------------------------------------------------------------------------
# PCA
# ------------------------------------------------------------------------------------------------------------

def pca_case(name):
    directory = os.path.join(FIXTURES, "golden", "pca")
    with open(os.path.join(directory, "index.json")) as file:
        case = json.load(file)["cases"][name]
    rows, columns, k = case["rows"], case["columns"], case["k"]

    def load(key, dtype, shape):
        return np.fromfile(os.path.join(directory, case["files"][key]), dtype=dtype).reshape(shape)

    return {
        "k": k,
        "data": load("data", "<f4", (rows, columns)),
        "mean": load("mean", "<f8", (columns,)),
        "components": load("components", "<f8", (k, columns)),
        "explained_variance": load("explained_variance", "<f8", (k,)),
        "explained_variance_ratio": load("explained_variance_ratio", "<f8", (k,)),
        "transform": load("transform", "<f8", (rows, k)),
        "transform_uncentred": load("transform_uncentred", "<f8", (rows, k)),
    }


@pytest.mark.parametrize("name", ["lowrank", "offset", "wide"])  # wide: 40 rows of 200, fitted by an SVD of the rows
def test_pca_fit_equals_scikit_learn(name):
    case = pca_case(name)
    model = fruitfeatures.PCA.fit(case["data"], components=case["k"])
    assert model.dimension == case["data"].shape[1] and model.component_count == case["k"]
    assert model.sample_count == case["data"].shape[0] and model.centred
    assert np.abs(model.explained_variance_ratio_ - case["explained_variance_ratio"]).max() <= 1e-6
    assert np.all(np.abs(model.explained_variance_ - case["explained_variance"]) <= 1e-6 * case["explained_variance"])
    assert np.abs(model.components_ - case["components"]).max() <= 1e-6
    assert np.abs(model.project(case["data"]) - case["transform"]).max() <= 1e-4


def test_pca_from_merged_statistics_equals_the_fit_on_all_rows():
    # The offset case (columns around 1e6) fails unless every block is centred before its scatter is formed.
    case = pca_case("offset")
    data = case["data"]
    statistics = ScatterStatistics(data.shape[1])
    for block in np.array_split(data, [7, 150, 151, 390]):
        statistics.merge(ScatterStatistics(data.shape[1]).add(block, block_rows=64))
    assert statistics.count == data.shape[0]
    merged = fruitfeatures.PCA.fit_statistics(statistics.count, statistics.mean, statistics.scatter,
                                              components=case["k"])
    assert np.abs(merged.explained_variance_ratio_ - case["explained_variance_ratio"]).max() <= 1e-6
    assert np.abs(merged.mean_ - case["mean"]).max() <= 1e-9 * np.abs(case["mean"]).max()
    assert np.abs(merged.project(data) - case["transform"]).max() <= 1e-4


def test_pca_variance_share_keeps_the_fewest_components_reaching_it():
    case = pca_case("lowrank")
    with open(os.path.join(FIXTURES, "golden", "pca", "index.json")) as file:
        shares = json.load(file)["cases"]["lowrank"]["variance_share_k"]
    for share, k in shares.items():
        assert fruitfeatures.PCA.fit(case["data"], variance_share=float(share)).component_count == k


def test_pca_uncentred_projection_is_pyspark_s():
    case = pca_case("lowrank")
    model = fruitfeatures.PCA.fit(case["data"], components=case["k"], centred=False)
    assert not model.centred
    assert np.abs(model.project(case["data"]) - case["transform_uncentred"]).max() <= 1e-4


def test_pca_save_and_open_round_trip(tmp_path):
    case = pca_case("lowrank")
    model = fruitfeatures.PCA.fit(case["data"], components=5, centred=False)
    path = tmp_path / "pca.h5"
    model.save(path)
    loaded = fruitfeatures.PCA.open(path)
    for part in ("mean_", "components_", "explained_variance_", "explained_variance_ratio_"):
        assert np.array_equal(getattr(loaded, part), getattr(model, part))
    assert (loaded.centred, loaded.sample_count) == (False, model.sample_count)
    assert np.array_equal(loaded.project(case["data"]), model.project(case["data"]))


def test_pca_open_and_save_keep_the_feature_model_a_run_records(tmp_path):
    # pca.h5 of an extract run records the feature model it was fitted on (Docs/model.md §6); the C ABI reads
    # such a file, and saving the model again keeps the record. A file without it (as save() writes for a model
    # fitted from bare rows) opens as before.
    import h5py
    case = pca_case("lowrank")
    model = fruitfeatures.PCA.fit(case["data"], components=5)
    bare = tmp_path / "bare.h5"
    model.save(bare)
    with h5py.File(bare, "r") as f:
        assert not [name for name in f.attrs if name.startswith("feature_model")]
    recorded = {
        "feature_model_architecture": "mobilenet_v3_large", "feature_model_alpha": 0.75,
        "feature_model_input_size": 224, "feature_model_preprocessing": "keras_mobilenet_v3",
        "feature_model_feature_count": model.dimension, "feature_model_weights_sha256": "ab" * 32,
        "feature_model_kernel_level": "portable",
    }
    with h5py.File(bare, "r+") as f:
        for name, value in recorded.items():
            f.attrs[name] = value
    loaded = fruitfeatures.PCA.open(bare)
    assert np.array_equal(loaded.components_, model.components_)
    copy = tmp_path / "copy.h5"
    loaded.save(copy)
    with h5py.File(copy, "r") as f:
        assert {name: f.attrs[name] for name in recorded} == recorded
    with h5py.File(bare, "r+") as f:
        f.attrs["feature_model_feature_count"] = model.dimension + 1
    with pytest.raises(fruitfeatures.FruitFeaturesError, match="feature_model_feature_count"):
        fruitfeatures.PCA.open(bare)


def test_pca_errors_are_exceptions_with_the_reason(tmp_path):
    rows = np.arange(12, dtype=np.float32).reshape(3, 4)
    with pytest.raises(fruitfeatures.FruitFeaturesError, match="at most 2"):
        fruitfeatures.PCA.fit(rows, components=3)
    rows[1, 2] = np.nan
    with pytest.raises(fruitfeatures.FruitFeaturesError, match="non-finite"):
        fruitfeatures.PCA.fit(rows, components=1)
    with pytest.raises(fruitfeatures.FruitFeaturesError, match="missing.h5"):
        fruitfeatures.PCA.open(tmp_path / "missing.h5")
    with pytest.raises(fruitfeatures.FruitFeaturesError, match="not a FruitFeatures PCA file|cannot read"):
        fruitfeatures.PCA.open(WEIGHTS)


def keras3_goldens():
    """(file, its golden features (images, features), the fixture image paths) for every Keras 3 / MobileNetV3
    fixture file: Fixtures/golden/keras3, written by Scripts/make_keras3_fixtures.py with tf.keras."""
    directory = os.path.join(FIXTURES, "golden", "keras3")
    with open(os.path.join(directory, "index.json")) as file:
        index = json.load(file)
    cases = []
    for name, entry in sorted(index["files"].items()):
        stem = name.replace(".", "_")
        golden = os.path.join(directory, stem + ".f32")
        values = np.fromfile(golden, dtype="<f4").reshape(len(index["images"]), -1)
        cases.append((os.path.join(FIXTURES, entry["weights"]), values, index["images"]))
    return cases


@pytest.mark.parametrize("weights, expected, paths", keras3_goldens(),
                         ids=lambda value: os.path.basename(value) if isinstance(value, str) else "")
def test_every_backbone_and_format_gives_keras_features_through_the_binding(weights, expected, paths):
    """MobileNetV2 from .weights.h5 and .keras, a fine-tuned classifier, MobileNetV3 Large and Small: the C ABI
    and the binding take any file the CLI takes, with the model's own preprocessing."""
    extractor = fruitfeatures.Extractor(weights)
    images = []
    for path in paths:
        with open(os.path.join(FIXTURES, path), "rb") as file:
            images.append(file.read())
    features, errors = extractor.features(images)
    assert errors == [None] * len(images)
    assert features.shape == expected.shape
    assert np.abs(features - expected).max() <= 1e-4
