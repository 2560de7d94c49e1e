"""Shared test set-up: the package on sys.path (and on PYTHONPATH for Spark's Python workers), fixture paths."""

import json
import os
import sys

import numpy as np
import pytest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(PYTHON_DIR)
FIXTURES = os.path.join(ROOT, "Fixtures")
WEIGHTS = os.path.join(FIXTURES, "weights", "mobilenet_v2_1.0_224_random.h5")

sys.path.insert(0, PYTHON_DIR)
# Local-mode Spark workers are separate Python processes: they import the package through PYTHONPATH.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in [PYTHON_DIR, os.environ.get("PYTHONPATH")] if p)


def keras_image_goldens():
    """{'Apple/0_100.jpg': tf.keras features (1280,) float32} for Fixtures/images, from Fixtures/golden/keras."""
    directory = os.path.join(FIXTURES, "golden", "keras")
    with open(os.path.join(directory, "index.json")) as file:
        images = json.load(file)["models"]["alpha_1.0"]["images"]
    rows = images["rows"]
    values = np.fromfile(os.path.join(directory, images["file"]), dtype="<f4").reshape(len(rows), -1)
    return {row[len("images/"):]: values[i] for i, row in enumerate(rows)}


@pytest.fixture(scope="session")
def goldens():
    return keras_image_goldens()


@pytest.fixture(scope="session")
def extractor():
    import fruitfeatures
    return fruitfeatures.Extractor(WEIGHTS)
