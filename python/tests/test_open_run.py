"""Extractor.for_run (ff_extractor_open_run): a finished run's feature model, its weights found by the one rule every
`fruitfeatures` command follows (an explicit file must be the run's; else summary.json's path, $FRUITFEATURES_WEIGHTS,
the Keras cache, skipping files of another SHA-256)."""

import csv
import os
import shutil
import subprocess

import numpy as np
import pytest

import fruitfeatures
from conftest import FIXTURES, ROOT, WEIGHTS

CLI = os.path.join(ROOT, ".build", "release", "fruitfeatures")
IMAGES = os.path.join(FIXTURES, "images")
# A real Keras weights file, but not the run's: another SHA-256.
OTHER_WEIGHTS = os.path.join(FIXTURES, "weights", "keras3", "mobilenet_v2_0.35.weights.h5")
KERAS_FILE_NAME = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not os.access(CLI, os.X_OK):
        raise RuntimeError(f"{CLI} is missing: build with `swift build -c release -Xswiftc -enable-testing --build-tests` first")
    scratch = tmp_path_factory.mktemp("open-run")
    weights = scratch / "weights" / "mobilenet_v2.h5"
    weights.parent.mkdir()
    shutil.copyfile(WEIGHTS, weights)
    out = scratch / "run"
    subprocess.run([CLI, "extract", IMAGES, "--weights", str(weights), "--output", str(out), "--components", "4",
                    "--no-progress"], check=True, capture_output=True, timeout=300, env=_clean_environment(scratch))
    return {"scratch": scratch, "weights": str(weights), "out": str(out)}


def _clean_environment(scratch):
    environment = {k: v for k, v in os.environ.items() if k != "FRUITFEATURES_WEIGHTS"}
    environment["KERAS_HOME"] = str(scratch / "no-keras-home")
    return environment


@pytest.fixture
def environment(run, monkeypatch, tmp_path):
    """No $FRUITFEATURES_WEIGHTS and an empty Keras cache (never the machine's own); returns the cache folder."""
    monkeypatch.delenv("FRUITFEATURES_WEIGHTS", raising=False)
    keras_home = tmp_path / "keras"
    (keras_home / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    return keras_home / "models"


@pytest.fixture
def moved_weights(run, tmp_path):
    """Moves the run's weights file away from the path summary.json records for one test; returns the new path."""
    moved = tmp_path / "elsewhere" / "weights.h5"
    moved.parent.mkdir()
    shutil.move(run["weights"], moved)
    yield str(moved)
    shutil.move(moved, run["weights"])


def cli_features(out):
    """features.csv of the run, as the CLI wrote it: the image paths and the (n, k) float32 PCA features."""
    with open(os.path.join(out, "features.csv"), newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0][:3] == ["path", "label", "feature_0"]
    paths = [row[0] for row in rows[1:]]
    return paths, np.array([[float(value) for value in row[2:]] for row in rows[1:]], dtype=np.float32)


def features_through(extractor, out, paths):
    """The run's PCA features of `paths` computed here: the extractor's raw features projected with the run's pca.h5."""
    images = []
    for path in paths:
        with open(path if os.path.isabs(path) else os.path.join(IMAGES, path), "rb") as file:
            images.append(file.read())
    raw, errors = extractor.features(images)
    assert errors == [None] * len(paths)
    pca = fruitfeatures.PCA.open(os.path.join(out, "pca.h5"))
    return pca.project(raw)


def test_a_run_s_extractor_gives_the_cli_s_features(run, environment):
    paths, expected = cli_features(run["out"])
    assert len(paths) == 9 and expected.shape == (9, 4)
    with fruitfeatures.Extractor.for_run(run["out"]) as extractor:  # summary.json's path
        assert extractor.feature_count == 1280
        assert np.array_equal(features_through(extractor, run["out"], paths), expected)
    with fruitfeatures.Extractor.for_run(run["out"], weights=run["weights"]) as extractor:  # the run's file, named
        assert np.array_equal(features_through(extractor, run["out"], paths), expected)


def test_a_run_whose_weights_moved_is_found_through_the_environment(run, environment, moved_weights, monkeypatch):
    with pytest.raises(fruitfeatures.FruitFeaturesError) as failure:
        fruitfeatures.Extractor.for_run(run["out"])
    message = str(failure.value)
    # One error naming every place tried and why each was refused.
    assert f"summary.json's path {run['weights']}: No such file or directory" in message, message
    assert f"the Keras cache {environment / KERAS_FILE_NAME}: No such file or directory" in message, message
    monkeypatch.setenv("FRUITFEATURES_WEIGHTS", moved_weights)
    paths, expected = cli_features(run["out"])
    with fruitfeatures.Extractor.for_run(run["out"]) as extractor:
        assert np.array_equal(features_through(extractor, run["out"], paths), expected)


def test_candidates_of_another_sha_256_are_skipped(run, environment, moved_weights, monkeypatch):
    monkeypatch.setenv("FRUITFEATURES_WEIGHTS", OTHER_WEIGHTS)
    with pytest.raises(fruitfeatures.FruitFeaturesError) as failure:
        fruitfeatures.Extractor.for_run(run["out"])
    message = str(failure.value)
    assert f"$FRUITFEATURES_WEIGHTS {OTHER_WEIGHTS}: its SHA-256" in message and "is not the run's" in message, message
    # The run's file in the Keras cache is found past the wrong one in the environment.
    shutil.copyfile(moved_weights, environment / KERAS_FILE_NAME)
    paths, expected = cli_features(run["out"])
    with fruitfeatures.Extractor.for_run(run["out"]) as extractor:
        assert np.array_equal(features_through(extractor, run["out"], paths), expected)


def test_an_explicit_file_of_another_sha_256_is_refused_naming_it(run, environment):
    # Refused although summary.json's path holds the right file: an explicit file is the only candidate.
    with pytest.raises(fruitfeatures.FruitFeaturesError) as failure:
        fruitfeatures.Extractor.for_run(run["out"], weights=OTHER_WEIGHTS)
    message = str(failure.value)
    assert OTHER_WEIGHTS in message and "SHA-256" in message and "is not the run's" in message, message
    missing = os.path.join(str(run["scratch"]), "missing.h5")
    with pytest.raises(fruitfeatures.FruitFeaturesError, match="missing.h5.*No such file"):
        fruitfeatures.Extractor.for_run(run["out"], weights=missing)


def test_a_folder_without_a_finished_run_is_refused(tmp_path, environment):
    with pytest.raises(fruitfeatures.FruitFeaturesError, match="summary.json"):
        fruitfeatures.Extractor.for_run(tmp_path)
    with pytest.raises(fruitfeatures.FruitFeaturesError, match="not an existing folder"):
        fruitfeatures.Extractor.for_run(tmp_path / "nowhere")
