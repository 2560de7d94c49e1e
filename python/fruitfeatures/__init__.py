"""FruitFeatures from Python: MobileNetV2 features of JPEG bytes and the project's PCA, through the C ABI
of libfruitfeatures_c (Sources/FruitFeaturesC/include/fruitfeatures.h) with ctypes and numpy.

    from fruitfeatures import Extractor
    extractor = Extractor("mobilenet_v2_1.0_224.h5")
    features, errors = extractor.features([open(p, "rb").read() for p in paths])
    # features: (n, 1280) float32; errors[i] is None, or why image i failed (its row is then NaN)

The library is found, in this order, at $FRUITFEATURES_LIB (the .so itself or its directory), next to this
package (fruitfeatures/ or its parent directory), and in the .build/release folder of the source tree this
package sits in (for development). No TensorFlow is needed.
"""

import ctypes
import os
import sys
import threading

import numpy as np

__all__ = ["Extractor", "PCA", "FruitFeaturesError", "library_path", "load_library", "version", "ABI_VERSION"]

#: The ABI version of include/fruitfeatures.h this binding speaks (FF_ABI_VERSION).
ABI_VERSION = 1

#: Per-image status codes (FF_STATUS_*).
STATUS_OK = 0
STATUS_INVALID_IMAGE = 1
STATUS_INVALID_ARGUMENT = 2
STATUS_EXTRACTION_FAILED = 3

_LIBRARY_FILE = "libfruitfeatures_c.dylib" if sys.platform == "darwin" else "libfruitfeatures_c.so"
_MESSAGE_SIZE = 512


class FruitFeaturesError(RuntimeError):
    """A failure reported by the library (weights not loadable, PCA not fittable, file not writable...)."""


def library_path():
    """The path of libfruitfeatures_c that load_library() uses; raises FruitFeaturesError when none is found."""
    tried = []
    configured = os.environ.get("FRUITFEATURES_LIB")
    if configured:
        # A relative path is taken from the working directory (YARN unpacks --archives there) or from the
        # directory Spark fetches --archives/--files into (local mode, standalone, Kubernetes).
        bases = [""] if os.path.isabs(configured) else ["", _spark_files_root()]
        for base in bases:
            if base is None:
                continue
            location = os.path.join(base, configured)
            candidate = os.path.join(location, _LIBRARY_FILE) if os.path.isdir(location) else location
            tried.append(candidate)
            if os.path.isfile(candidate):
                return os.path.abspath(candidate)
        raise FruitFeaturesError(f"FRUITFEATURES_LIB={configured!r}: no {_LIBRARY_FILE} at " + ", ".join(tried))
    package = os.path.dirname(os.path.abspath(__file__))
    source_tree = os.path.dirname(os.path.dirname(package))  # python/fruitfeatures → repository root
    for directory in (package, os.path.dirname(package), os.path.join(source_tree, ".build", "release")):
        candidate = os.path.join(directory, _LIBRARY_FILE)
        tried.append(candidate)
        if os.path.isfile(candidate):
            return candidate
    raise FruitFeaturesError(
        f"{_LIBRARY_FILE} not found; set FRUITFEATURES_LIB or build it (swift build -c release). Tried: "
        + ", ".join(tried))


def _spark_files_root():
    """SparkFiles' root directory inside a Spark task, else None."""
    if "pyspark" not in sys.modules:
        return None
    try:
        from pyspark import SparkFiles
        return SparkFiles.getRootDirectory()
    except Exception:  # not in a Spark process, or no root yet
        return None


_library = None
_library_lock = threading.Lock()


def load_library():
    """The loaded library (loaded once per process), with every function's argument and result types declared."""
    global _library
    with _library_lock:
        if _library is None:
            path = library_path()
            _preload_bundled(os.path.dirname(path))
            try:
                library = ctypes.CDLL(path)
            except OSError as error:
                raise FruitFeaturesError(f"cannot load {path}: {error}") from error
            _declare(library)
            abi = library.ff_abi_version()
            if abi != ABI_VERSION:
                raise FruitFeaturesError(f"{path} implements ABI {abi}, this binding needs {ABI_VERSION}")
            _library = library
        return _library


def _preload_bundled(directory):
    """Loads the libraries Scripts/package_spark.sh copied next to the library (lib/bundled-libraries.txt).

    The library finds its direct dependencies through its RUNPATH ($ORIGIN), but the loader does not search
    $ORIGIN for their own dependencies (libgfortran for OpenBLAS, libsz for HDF5...). Once a library is loaded by
    path, its soname satisfies every later lookup, so loading them all first, dependencies before dependents,
    makes the bundle self-sufficient. The order is found by retrying until no more loads succeed.
    """
    listing = os.path.join(directory, "bundled-libraries.txt")
    if not os.path.isfile(listing):
        return
    with open(listing) as file:
        pending = [os.path.join(directory, line.strip()) for line in file if line.strip()]
    while pending:
        failed = []
        for path in pending:
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                failed.append(path)
        if len(failed) == len(pending):
            break  # what is left fails on its own; loading the library itself reports the missing piece
        pending = failed


def version():
    """The library's version string, e.g. '0.1.0'."""
    return load_library().ff_version().decode()


def _declare(lib):
    c = ctypes
    handle = c.c_void_p
    float_p = c.POINTER(c.c_float)
    double_p = c.POINTER(c.c_double)
    signatures = {
        "ff_version": ([], c.c_char_p),
        "ff_abi_version": ([], c.c_int32),
        "ff_extractor_open": ([c.c_char_p, c.c_char_p, c.c_size_t], handle),
        "ff_extractor_feature_count": ([handle], c.c_size_t),
        "ff_extractor_features": ([handle, c.POINTER(c.c_char_p), c.POINTER(c.c_size_t), c.c_size_t, float_p,
                                   c.POINTER(c.c_int32), c.c_char_p, c.c_size_t], c.c_int64),
        "ff_extractor_features_batch": ([handle, c.c_void_p, c.c_size_t, c.c_void_p, c.c_size_t, float_p,
                                         c.POINTER(c.c_int32), c.c_char_p, c.c_size_t], c.c_int64),
        "ff_extractor_features_batch64": ([handle, c.c_void_p, c.c_size_t, c.c_void_p, c.c_size_t, float_p,
                                           c.POINTER(c.c_int32), c.c_char_p, c.c_size_t], c.c_int64),
        "ff_extractor_close": ([handle], None),
        "ff_pca_fit": ([float_p, c.c_size_t, c.c_size_t, c.c_int32, c.c_double, c.c_int32, c.c_char_p, c.c_size_t],
                       handle),
        "ff_pca_fit_statistics": ([c.c_size_t, c.c_int64, double_p, double_p, c.c_int32, c.c_double, c.c_int32,
                                   c.c_char_p, c.c_size_t], handle),
        "ff_pca_open": ([c.c_char_p, c.c_char_p, c.c_size_t], handle),
        "ff_pca_save": ([handle, c.c_char_p, c.c_char_p, c.c_size_t], c.c_int32),
        "ff_pca_dimension": ([handle], c.c_size_t),
        "ff_pca_component_count": ([handle], c.c_size_t),
        "ff_pca_sample_count": ([handle], c.c_int64),
        "ff_pca_centred": ([handle], c.c_int32),
        "ff_pca_copy": ([handle, double_p, double_p, double_p, double_p], c.c_int32),
        "ff_pca_project": ([handle, float_p, c.c_size_t, float_p, c.c_char_p, c.c_size_t], c.c_int32),
        "ff_pca_close": ([handle], None),
    }
    # Added within ABI 1: an older library lacks them, which only the methods that need them report.
    added = {
        "ff_extractor_open_run": ([c.c_char_p, c.c_char_p, c.c_char_p, c.c_size_t], handle),
    }
    for name, (arguments, result) in list(signatures.items()) + list(added.items()):
        function = getattr(lib, name, None)
        if function is None and name in added:
            continue
        if function is None:
            raise FruitFeaturesError(f"the library has no {name}")
        function.argtypes = arguments
        function.restype = result


def _message_buffer():
    return ctypes.create_string_buffer(_MESSAGE_SIZE)


def _pointer(array, ctype):
    return array.ctypes.data_as(ctypes.POINTER(ctype))


def _encode_path(path):
    return os.fsencode(os.fspath(path))


class Extractor:
    """MobileNetV2 (cut before its classifier) with the reference preprocessing, loaded from Keras .h5 weights.

    One instance may be used from several threads at once; the library releases the GIL while it computes.
    """

    def __init__(self, weights_path):
        self._lib = load_library()
        error = _message_buffer()
        self._adopt(self._lib.ff_extractor_open(_encode_path(weights_path), error, len(error)), error)

    @classmethod
    def for_run(cls, run_dir, weights=None):
        """The feature model of a finished `fruitfeatures extract` run (its output folder), as every command opens it.

        The architecture, input size and preprocessing are the run's (summary.json). The weights are `weights` when
        given, which must be the run's file (same SHA-256, else FruitFeaturesError naming it); otherwise the first of
        summary.json's path, $FRUITFEATURES_WEIGHTS and the Keras cache that holds the run's weights, skipping any of
        another SHA-256 (the error names every place tried). features() then gives the run's raw features: project
        them with PCA.open(os.path.join(run_dir, "pca.h5")) to get the run's features.
        """
        lib = load_library()
        if not hasattr(lib, "ff_extractor_open_run"):
            raise FruitFeaturesError(f"{library_path()} is older than ff_extractor_open_run: update the library")
        extractor = cls.__new__(cls)
        extractor._lib = lib
        error = _message_buffer()
        weights_path = None if weights is None else _encode_path(weights)
        extractor._adopt(lib.ff_extractor_open_run(_encode_path(run_dir), weights_path, error, len(error)), error)
        return extractor

    def _adopt(self, handle, error):
        """Takes ownership of a handle just opened, or raises with the library's message."""
        if not handle:
            self._handle = None
            raise FruitFeaturesError(error.value.decode(errors="replace"))
        self._handle = handle
        #: Floats per feature vector (1280 for MobileNetV2).
        self.feature_count = int(self._lib.ff_extractor_feature_count(handle))

    def features(self, images):
        """The features of each encoded image (bytes-like: bytes, bytearray, memoryview; None counts as failed).

        Returns (features, errors): features is an (n, feature_count) float32 array; errors is a list of n
        entries, None where image i succeeded, else a message saying why it failed (its row is then NaN).
        """
        self._check_open()
        images = list(images)
        count = len(images)
        features = np.empty((count, self.feature_count), dtype=np.float32)
        errors = [None] * count
        if count == 0:
            return features, errors
        contents = []
        for index, image in enumerate(images):
            if image is None:
                errors[index] = "no image bytes (null content)"
                contents.append(b"")
            elif isinstance(image, bytes):
                contents.append(image)
            else:
                contents.append(bytes(image))
        pointers = (ctypes.c_char_p * count)(*contents)
        lengths = (ctypes.c_size_t * count)(*(len(content) for content in contents))
        status = np.empty(count, dtype=np.int32)
        messages = ctypes.create_string_buffer(count * _MESSAGE_SIZE)
        result = self._lib.ff_extractor_features(
            self._handle, pointers, lengths, count, _pointer(features, ctypes.c_float),
            _pointer(status, ctypes.c_int32), messages, _MESSAGE_SIZE)
        if result < 0:
            raise FruitFeaturesError("ff_extractor_features rejected its arguments")
        if result > 0:
            raw = messages.raw
            for index in np.flatnonzero(status != STATUS_OK):
                if errors[index] is None:
                    start = int(index) * _MESSAGE_SIZE
                    errors[index] = raw[start:start + _MESSAGE_SIZE].split(b"\0", 1)[0].decode(errors="replace")
        for index, error in enumerate(errors):
            if error is not None:
                features[index] = np.nan
        return features, errors

    def features_arrow(self, array):
        """The features of the images of an Arrow column, handed to the library as the column's own buffers.

        `array` is a pyarrow BinaryArray or LargeBinaryArray (a slice included: its offset is honoured), or a
        ChunkedArray of them. No per-image Python work: the data and offsets buffers go to
        ff_extractor_features_batch(64) as they are, and the images run through the network's grouped stage.

        Returns (features, errors) as features() does: an (n, feature_count) float32 array, NaN rows where image i
        failed, and a list with None or the reason for each image (null entries: "no image bytes (null content)").
        """
        import pyarrow as pa
        self._check_open()
        if isinstance(array, pa.ChunkedArray):
            parts = [self.features_arrow(chunk) for chunk in array.chunks]
            if not parts:
                return np.empty((0, self.feature_count), dtype=np.float32), []
            return np.concatenate([p[0] for p in parts]), [e for p in parts for e in p[1]]
        if pa.types.is_binary(array.type):
            function, offset_type = self._lib.ff_extractor_features_batch, np.int32
        elif pa.types.is_large_binary(array.type):
            function, offset_type = self._lib.ff_extractor_features_batch64, np.int64
        else:
            raise TypeError(f"expected a binary or large_binary Arrow array, got {array.type}")
        count = len(array)
        features = np.empty((count, self.feature_count), dtype=np.float32)
        errors = [None] * count
        if count == 0:
            return features, errors
        _, offsets, data = array.buffers()
        offsets_address = offsets.address + array.offset * np.dtype(offset_type).itemsize
        data_address, data_length = (data.address, data.size) if data is not None else (None, 0)
        status = np.empty(count, dtype=np.int32)
        messages = ctypes.create_string_buffer(count * _MESSAGE_SIZE)
        result = function(self._handle, data_address, data_length, offsets_address, count,
                          _pointer(features, ctypes.c_float), _pointer(status, ctypes.c_int32), messages, _MESSAGE_SIZE)
        if result < 0:
            raise FruitFeaturesError("ff_extractor_features_batch rejected its arguments")
        failed = np.flatnonzero(status != STATUS_OK)
        if array.null_count:
            nulls = np.asarray(array.is_null().to_numpy(zero_copy_only=False))
            for index in np.flatnonzero(nulls):
                errors[index] = "no image bytes (null content)"
                features[index] = np.nan
        raw = messages.raw if len(failed) else b""
        for index in failed:
            if errors[index] is None:
                start = int(index) * _MESSAGE_SIZE
                errors[index] = raw[start:start + _MESSAGE_SIZE].split(b"\0", 1)[0].decode(errors="replace")
        return features, errors

    def close(self):
        """Frees the model now (otherwise when the object is collected)."""
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            self._lib.ff_extractor_close(handle)

    def _check_open(self):
        if not self._handle:
            raise FruitFeaturesError("the extractor is closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class PCA:
    """A fitted PCA model of the library: fit from rows or from merged statistics, or read from a pca.h5 file.

    Attributes (numpy float64, scikit-learn's names): mean_ (d), components_ (k, d), explained_variance_ (k),
    explained_variance_ratio_ (k); plus dimension, component_count, sample_count, centred.
    """

    def __init__(self, handle):
        self._lib = load_library()
        self._handle = handle
        lib = self._lib
        self.dimension = int(lib.ff_pca_dimension(handle))
        self.component_count = int(lib.ff_pca_component_count(handle))
        self.sample_count = int(lib.ff_pca_sample_count(handle))
        self.centred = bool(lib.ff_pca_centred(handle) == 1)
        d, k = self.dimension, self.component_count
        self.mean_ = np.empty(d, dtype=np.float64)
        self.components_ = np.empty((k, d), dtype=np.float64)
        self.explained_variance_ = np.empty(k, dtype=np.float64)
        self.explained_variance_ratio_ = np.empty(k, dtype=np.float64)
        lib.ff_pca_copy(handle, *(_pointer(a, ctypes.c_double) for a in (
            self.mean_, self.components_, self.explained_variance_, self.explained_variance_ratio_)))

    @staticmethod
    def _rule(components, variance_share):
        if variance_share is not None:
            return 0, float(variance_share)
        return int(components), 0.0

    @classmethod
    def fit(cls, rows, components=200, variance_share=None, centred=True):
        """Fits to an (n, d) array of rows; keeps `components` components, or the fewest reaching `variance_share`."""
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        if rows.ndim != 2:
            raise ValueError(f"rows must be a 2-d array, not {rows.ndim}-d")
        count, share = cls._rule(components, variance_share)
        lib, error = load_library(), _message_buffer()
        handle = lib.ff_pca_fit(_pointer(rows, ctypes.c_float), rows.shape[0], rows.shape[1], count, share,
                                1 if centred else 0, error, len(error))
        if not handle:
            raise FruitFeaturesError(error.value.decode(errors="replace"))
        return cls(handle)

    @classmethod
    def fit_statistics(cls, count, mean, scatter, components=200, variance_share=None, centred=True):
        """Fits to statistics merged elsewhere: row count, column means (d) and centred scatter matrix (d, d)."""
        mean = np.ascontiguousarray(mean, dtype=np.float64)
        scatter = np.ascontiguousarray(scatter, dtype=np.float64)
        d = mean.shape[0]
        if mean.ndim != 1 or scatter.shape != (d, d):
            raise ValueError(f"mean must be (d,) and scatter (d, d); got {mean.shape} and {scatter.shape}")
        k, share = cls._rule(components, variance_share)
        lib, error = load_library(), _message_buffer()
        handle = lib.ff_pca_fit_statistics(d, int(count), _pointer(mean, ctypes.c_double),
                                           _pointer(scatter, ctypes.c_double), k, share, 1 if centred else 0,
                                           error, len(error))
        if not handle:
            raise FruitFeaturesError(error.value.decode(errors="replace"))
        return cls(handle)

    @classmethod
    def open(cls, path):
        """Reads a model saved by save() or by the `fruitfeatures` command line (pca.h5)."""
        lib, error = load_library(), _message_buffer()
        handle = lib.ff_pca_open(_encode_path(path), error, len(error))
        if not handle:
            raise FruitFeaturesError(error.value.decode(errors="replace"))
        return cls(handle)

    def save(self, path):
        """Writes the model as an HDF5 file (atomically), readable by PCA.open, the command line and h5py."""
        error = _message_buffer()
        if self._lib.ff_pca_save(self._handle, _encode_path(path), error, len(error)) != 0:
            raise FruitFeaturesError(error.value.decode(errors="replace"))

    def project(self, rows):
        """Projects an (n, d) array onto the components in double precision; returns (n, k) float32."""
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.dimension:
            raise ValueError(f"rows must be (n, {self.dimension}), not {rows.shape}")
        out = np.empty((rows.shape[0], self.component_count), dtype=np.float32)
        error = _message_buffer()
        if self._lib.ff_pca_project(self._handle, _pointer(rows, ctypes.c_float), rows.shape[0],
                                    _pointer(out, ctypes.c_float), error, len(error)) != 0:
            raise FruitFeaturesError(error.value.decode(errors="replace"))
        return out

    def close(self):
        """Frees the model now (otherwise when the object is collected)."""
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            self._lib.ff_pca_close(handle)

    def __del__(self):
        self.close()
