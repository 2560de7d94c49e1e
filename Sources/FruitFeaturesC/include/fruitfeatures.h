/*
 * fruitfeatures.h — the C interface of FruitFeatures (libfruitfeatures_c.so).
 *
 * MobileNetV2 features of encoded JPEG images, equal to tf.keras's on the same weights within 1e-4,
 * preprocessed as the reference pipeline does (Pillow decode, bicubic resize to 224×224,
 * x / 127.5 − 1), and the project's PCA (fit, save/load as pca.h5, read back its parts).
 *
 * Conventions
 *   - No function aborts or exits the host process on bad input: every failure is reported through a
 *     return value plus a NUL-terminated message written into a caller-provided buffer (`error`,
 *     `error_size` bytes; the message is truncated to fit, on a UTF-8 character boundary; a NULL
 *     buffer or a size of 0 means "no message wanted").
 *   - Handles are opaque. A handle may be used from several threads at once (every function taking a
 *     `const` handle is thread-safe); `*_close` must be called once, after the last use.
 *   - size_t counts are elements, not bytes, unless the name says bytes.
 *   - Matrices are row-major and dense.
 *
 * ABI stability: FF_ABI_VERSION changes whenever a signature or a meaning in this file changes.
 * Check `ff_abi_version() == FF_ABI_VERSION` after loading the library dynamically. Adding a function changes
 * neither, so the version stays: a host that loads the library dynamically and uses a function added later
 * (marked "Added within" below) looks it up by name (dlsym) and treats its absence as an older library.
 */
#ifndef FRUITFEATURES_H
#define FRUITFEATURES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The version of this header's ABI. */
#define FF_ABI_VERSION 1

/** Per-image outcome written by ff_extractor_features into `status`. */
enum {
    /** The features were computed. */
    FF_STATUS_OK = 0,
    /** The bytes are not an image FruitFeatures can read: empty, not a JPEG, truncated, corrupt,
        unsupported (12-bit, lossless...), too many pixels, or out of memory while decoding. */
    FF_STATUS_INVALID_IMAGE = 1,
    /** The image pointer is NULL while its length is not 0. */
    FF_STATUS_INVALID_ARGUMENT = 2,
    /** The model failed on a well-formed input (should not happen; the message says why). */
    FF_STATUS_EXTRACTION_FAILED = 3
};

/** A loaded MobileNetV2 feature extractor (immutable, thread-safe). */
typedef struct ff_extractor ff_extractor;

/** A fitted PCA model (immutable, thread-safe). */
typedef struct ff_pca ff_pca;

/** The library version, e.g. "0.1.0": a static string, never freed. */
const char *ff_version(void);

/** The ABI version the library implements; compare with FF_ABI_VERSION. */
int32_t ff_abi_version(void);

/* ---------------------------------------------------------------------------------------------- */
/* Feature extraction                                                                              */
/* ---------------------------------------------------------------------------------------------- */

/**
 * Loads MobileNetV2 weights from a Keras .h5 file (e.g. mobilenet_v2_1.0_224 ImageNet weights,
 * with or without the top) and prepares the extractor (224×224 input).
 *
 * Returns the handle, or NULL with a message in `error` (file missing, not HDF5, not MobileNetV2...).
 */
ff_extractor *ff_extractor_open(const char *weights_path, char *error, size_t error_size);

/**
 * Opens the feature model of a finished run of `fruitfeatures extract` (its output folder, `run_dir`): the
 * architecture, input size and preprocessing recorded in the run's summary.json (MobileNetV2 or MobileNetV3;
 * a run made before summary.json recorded them is MobileNetV2 with the Keras preprocessing), so that features
 * computed here are the run's raw features (project them with ff_pca_open on the run's pca.h5).
 *
 * The weights follow the rule every `fruitfeatures` command follows:
 *   - `weights_path` non-NULL: that file, which must be the run's (same SHA-256 as summary.json records);
 *     any other file is refused, the message naming it.
 *   - `weights_path` NULL: the first of summary.json's (absolute) path, $FRUITFEATURES_WEIGHTS and the Keras
 *     cache ($KERAS_HOME/models or ~/.keras/models) that holds the run's weights; a candidate that is missing,
 *     unreadable or of another SHA-256 is skipped, and when none is left the message names every place tried
 *     and why each was refused.
 * The environment is read at the call.
 *
 * Returns an extractor as ff_extractor_open does (free it with ff_extractor_close), or NULL with a message in
 * `error` (no such folder, not a finished run, no usable weights, a model this version cannot run...).
 * Added within FF_ABI_VERSION 1 (see "ABI stability": look it up by name when loading the library dynamically).
 */
ff_extractor *ff_extractor_open_run(const char *run_dir, const char *weights_path, char *error, size_t error_size);

/** Floats per feature vector (1280 for MobileNetV2 with alpha ≤ 1); 0 for a NULL handle. */
size_t ff_extractor_feature_count(const ff_extractor *extractor);

/**
 * Computes the features of `count` encoded images.
 *
 *   images[i], lengths[i]   the bytes of image i (a whole JPEG file); images[i] may be NULL when
 *                           lengths[i] is 0 (reported as an empty file)
 *   out                     count × feature_count floats; row i receives image i's features, or NaNs
 *                           when image i failed
 *   status                  count int32s; status[i] is one of FF_STATUS_*
 *   messages                NULL, or count × message_size bytes: message i (NUL-terminated, empty on
 *                           success) starts at messages + i × message_size
 *
 * Images are processed on the calling thread, a few at a time through the network's grouped stage (as
 * ff_extractor_features_batch); call from several threads with disjoint buffers to use several cores.
 * Memory use is independent of `count`.
 *
 * Returns the number of images whose status is not FF_STATUS_OK, or -1 when the call itself is
 * invalid (NULL extractor, NULL images/lengths/out/status with count > 0); nothing is written then.
 */
int64_t ff_extractor_features(const ff_extractor *extractor, const uint8_t *const *images, const size_t *lengths,
                              size_t count, float *out, int32_t *status, char *messages, size_t message_size);

/**
 * Computes the features of `count` encoded images stored one after another in ONE buffer, as an Apache
 * Arrow `binary` column stores them: image i is data[offsets[i] .. offsets[i + 1]) (`count + 1` offsets,
 * non-decreasing, the last ≤ data_length). A column slice is passed as its offsets pointer advanced by the
 * array's offset; its data pointer and length stay those of the whole buffer.
 *
 *   data, data_length       the bytes of all images; data may be NULL when data_length is 0
 *   offsets                 count + 1 int32 offsets into data
 *   out, status, messages   as ff_extractor_features (an image whose offsets are out of order or beyond
 *                           data_length gets FF_STATUS_INVALID_ARGUMENT; an empty one FF_STATUS_INVALID_IMAGE)
 *
 * Runs on the calling thread, images grouped through the network's grouped stage (faster per image than
 * one at a time); memory use is independent of `count`. Features are the same bits as
 * ff_extractor_features gives for the same image.
 *
 * Returns the number of images whose status is not FF_STATUS_OK, or -1 when the call itself is invalid
 * (NULL extractor, NULL offsets/out/status with count > 0, NULL data with data_length > 0).
 */
int64_t ff_extractor_features_batch(const ff_extractor *extractor, const uint8_t *data, size_t data_length,
                                    const int32_t *offsets, size_t count, float *out, int32_t *status,
                                    char *messages, size_t message_size);

/** ff_extractor_features_batch with int64 offsets: an Arrow `large_binary` column. */
int64_t ff_extractor_features_batch64(const ff_extractor *extractor, const uint8_t *data, size_t data_length,
                                      const int64_t *offsets, size_t count, float *out, int32_t *status,
                                      char *messages, size_t message_size);

/** Frees the extractor. NULL is allowed. */
void ff_extractor_close(ff_extractor *extractor);

/* ---------------------------------------------------------------------------------------------- */
/* PCA                                                                                             */
/* ---------------------------------------------------------------------------------------------- */
/*
 * Fitting is an eigen-decomposition of the sample covariance (scatter / (n − 1)) with LAPACK, as
 * scikit-learn's svd_solver='covariance_eigh' and pyspark.ml's PCA do; ff_pca_fit on at most d / 4 rows
 * takes an SVD of the centred rows instead (scikit-learn's svd_solver='full'), which agrees to rounding
 * with what ff_pca_fit_statistics gives for the same rows' statistics. Explained variance ratios are
 * eigenvalue / trace (pyspark.ml's PCAModel.explainedVariance). Signs follow scikit-learn: the entry
 * of largest magnitude of each component is positive.
 *
 * `components` ≥ 1 keeps that many components; `components` == 0 keeps the fewest whose cumulative
 * ratio reaches `variance_share` (in (0, 1]). `centred` = 1 projects x − mean (scikit-learn),
 * 0 projects x itself (pyspark.ml's PCAModel.transform).
 */

/** Fits a PCA to `row_count` rows of `dimension` floats (rows: row_count × dimension). NULL on error. */
ff_pca *ff_pca_fit(const float *rows, size_t row_count, size_t dimension, int32_t components,
                   double variance_share, int32_t centred, char *error, size_t error_size);

/**
 * Fits a PCA to statistics gathered elsewhere (e.g. merged from the partitions of a distributed job):
 * the row count, the column means (dimension doubles) and the centred scatter matrix
 * Σ (x − mean)(x − mean)ᵀ (dimension × dimension doubles, only the upper triangle is read).
 * NULL on error.
 */
ff_pca *ff_pca_fit_statistics(size_t dimension, int64_t row_count, const double *mean, const double *scatter,
                              int32_t components, double variance_share, int32_t centred,
                              char *error, size_t error_size);

/** Reads a model saved by ff_pca_save or by `fruitfeatures` (pca.h5). NULL on error. */
ff_pca *ff_pca_open(const char *path, char *error, size_t error_size);

/** Saves the model as an HDF5 file (atomically: written aside, then renamed). 0 on success, -1 on error. */
int32_t ff_pca_save(const ff_pca *pca, const char *path, char *error, size_t error_size);

/** The input dimension d; 0 for a NULL handle. */
size_t ff_pca_dimension(const ff_pca *pca);

/** The number of components k; 0 for a NULL handle. */
size_t ff_pca_component_count(const ff_pca *pca);

/** The number of rows the model was fitted on; -1 for a NULL handle. */
int64_t ff_pca_sample_count(const ff_pca *pca);

/** 1 when projection subtracts the mean first, 0 when not; -1 for a NULL handle. */
int32_t ff_pca_centred(const ff_pca *pca);

/**
 * Copies the model's parts, each into a caller buffer of the size given:
 *   mean d doubles, components k × d doubles (axes as rows), explained_variance k doubles,
 *   explained_variance_ratio k doubles. Any pointer may be NULL (that part is skipped).
 * Returns 0, or -1 for a NULL handle.
 */
int32_t ff_pca_copy(const ff_pca *pca, double *mean, double *components, double *explained_variance,
                    double *explained_variance_ratio);

/**
 * Projects `row_count` rows (row_count × d floats) into `out` (row_count × k floats), in double
 * precision. Returns 0, or -1 with a message (NULL pointers, a NaN or infinity in the rows).
 */
int32_t ff_pca_project(const ff_pca *pca, const float *rows, size_t row_count, float *out,
                       char *error, size_t error_size);

/** Frees the model. NULL is allowed. */
void ff_pca_close(ff_pca *pca);

#ifdef __cplusplus
}
#endif

#endif /* FRUITFEATURES_H */
