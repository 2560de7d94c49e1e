"""The C header matches the library: a C program compiled against include/fruitfeatures.h uses every function."""

import os
import shutil
import subprocess

import pytest

import fruitfeatures
from conftest import FIXTURES, ROOT, WEIGHTS

HEADER_DIR = os.path.join(ROOT, "Sources", "FruitFeaturesC", "include")

PROGRAM = r"""
#include <fruitfeatures.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *slurp(const char *path, size_t *length) {
    FILE *file = fopen(path, "rb");
    if (!file) return NULL;
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    unsigned char *bytes = malloc((size_t)size);
    *length = fread(bytes, 1, (size_t)size, file);
    fclose(file);
    return bytes;
}

#define CHECK(condition) do { if (!(condition)) { printf("FAILED line %d: %s\n", __LINE__, #condition); return 1; } } while (0)

int main(int argc, char **argv) {
    /* argv: weights, a good image, a missing weights path, a PCA output path */
    CHECK(ff_abi_version() == FF_ABI_VERSION);
    CHECK(strlen(ff_version()) > 0);

    char error[256];
    CHECK(ff_extractor_open(argv[3], error, sizeof error) == NULL);
    CHECK(strstr(error, argv[3]) != NULL);
    char tiny[8];
    CHECK(ff_extractor_open(argv[3], tiny, sizeof tiny) == NULL);
    CHECK(strlen(tiny) == 7);                       /* truncated, NUL-terminated */
    CHECK(ff_extractor_open(NULL, NULL, 0) == NULL); /* no message wanted */
    CHECK(ff_extractor_open_run(argv[3], NULL, error, sizeof error) == NULL);
    CHECK(strstr(error, argv[3]) != NULL);          /* names the folder that is not a run */
    CHECK(ff_extractor_open_run(argv[3], argv[1], error, sizeof error) == NULL);
    CHECK(ff_extractor_open_run(NULL, NULL, NULL, 0) == NULL);

    ff_extractor *extractor = ff_extractor_open(argv[1], error, sizeof error);
    CHECK(extractor != NULL);
    size_t width = ff_extractor_feature_count(extractor);
    CHECK(width == 1280);
    CHECK(ff_extractor_feature_count(NULL) == 0);

    size_t length = 0;
    unsigned char *good = slurp(argv[2], &length);
    CHECK(good != NULL);
    const uint8_t *images[4] = { good, (const uint8_t *)"junk", NULL, NULL };
    size_t lengths[4] = { length, 4, 0, 12 };
    float *out = malloc(4 * width * sizeof(float));
    int32_t status[4];
    char messages[4 * 128];
    CHECK(ff_extractor_features(extractor, images, lengths, 4, out, status, messages, 128) == 3);
    CHECK(status[0] == FF_STATUS_OK && messages[0] == 0);
    CHECK(status[1] == FF_STATUS_INVALID_IMAGE && strstr(messages + 128, "not a JPEG") != NULL);
    CHECK(status[2] == FF_STATUS_INVALID_IMAGE && strcmp(messages + 256, "empty file") == 0);
    CHECK(status[3] == FF_STATUS_INVALID_ARGUMENT);
    CHECK(!isnan(out[0]) && isnan(out[width]) && isnan(out[4 * width - 1]));
    CHECK(ff_extractor_features(extractor, images, lengths, 1, out, status, NULL, 0) == 0);
    CHECK(ff_extractor_features(NULL, images, lengths, 1, out, status, NULL, 0) == -1);
    CHECK(ff_extractor_features(extractor, NULL, lengths, 1, out, status, NULL, 0) == -1);
    CHECK(ff_extractor_features(extractor, NULL, NULL, 0, NULL, NULL, NULL, 0) == 0);

    /* One buffer + offsets (Arrow binary layout): good, "junk", empty, good, then offsets past the end. */
    size_t total = 2 * length + 4;
    uint8_t *column = malloc(total);
    memcpy(column, good, length);
    memcpy(column + length, "junk", 4);
    memcpy(column + length + 4, good, length);
    int32_t offsets[6] = { 0, (int32_t)length, (int32_t)length + 4, (int32_t)length + 4, (int32_t)total, (int32_t)total + 9 };
    int64_t offsets64[6];
    for (int i = 0; i < 6; i++) offsets64[i] = offsets[i];
    float *batch = malloc(5 * width * sizeof(float));
    int32_t batch_status[5];
    char batch_messages[5 * 128];
    CHECK(ff_extractor_features_batch(extractor, column, total, offsets, 5, batch, batch_status, batch_messages, 128) == 3);
    CHECK(batch_status[0] == FF_STATUS_OK && batch_status[3] == FF_STATUS_OK);
    CHECK(batch_status[1] == FF_STATUS_INVALID_IMAGE && strstr(batch_messages + 128, "not a JPEG") != NULL);
    CHECK(batch_status[2] == FF_STATUS_INVALID_IMAGE && strcmp(batch_messages + 256, "empty file") == 0);
    CHECK(batch_status[4] == FF_STATUS_INVALID_ARGUMENT && isnan(batch[4 * width]));
    CHECK(memcmp(batch, out, width * sizeof(float)) == 0);                /* the same bits as one at a time */
    CHECK(memcmp(batch + 3 * width, out, width * sizeof(float)) == 0);
    CHECK(ff_extractor_features_batch64(extractor, column, total, offsets64, 5, batch, batch_status, NULL, 0) == 3);
    CHECK(memcmp(batch + 3 * width, out, width * sizeof(float)) == 0);
    CHECK(ff_extractor_features_batch(extractor, column, total, offsets + 3, 1, batch, batch_status, NULL, 0) == 0);
    CHECK(memcmp(batch, out, width * sizeof(float)) == 0);                /* a slice: offsets advanced */
    CHECK(ff_extractor_features_batch(NULL, column, total, offsets, 1, batch, batch_status, NULL, 0) == -1);
    CHECK(ff_extractor_features_batch(extractor, NULL, 4, offsets, 1, batch, batch_status, NULL, 0) == -1);
    CHECK(ff_extractor_features_batch(extractor, NULL, 0, NULL, 0, NULL, NULL, NULL, 0) == 0);
    free(batch);
    free(column);

    /* PCA: 6 rows of 4 columns. */
    float rows[24];
    for (int i = 0; i < 24; i++) rows[i] = (float)((i * 7919) % 13) + 0.25f * (float)(i % 4);
    ff_pca *pca = ff_pca_fit(rows, 6, 4, 2, 0.0, 1, error, sizeof error);
    CHECK(pca != NULL);
    CHECK(ff_pca_dimension(pca) == 4 && ff_pca_component_count(pca) == 2);
    CHECK(ff_pca_sample_count(pca) == 6 && ff_pca_centred(pca) == 1);
    double mean[4], components[8], variance[2], ratio[2];
    CHECK(ff_pca_copy(pca, mean, components, variance, ratio) == 0);
    CHECK(variance[0] >= variance[1] && ratio[0] > 0 && ratio[0] + ratio[1] <= 1.0 + 1e-12);
    float projected[12];
    CHECK(ff_pca_project(pca, rows, 6, projected, error, sizeof error) == 0);
    CHECK(ff_pca_save(pca, argv[4], error, sizeof error) == 0);
    ff_pca *loaded = ff_pca_open(argv[4], error, sizeof error);
    CHECK(loaded != NULL && ff_pca_component_count(loaded) == 2);
    CHECK(ff_pca_fit(rows, 6, 4, 6, 0.0, 1, error, sizeof error) == NULL && strstr(error, "components") != NULL);
    CHECK(ff_pca_copy(NULL, mean, NULL, NULL, NULL) == -1);
    CHECK(ff_pca_project(NULL, rows, 6, projected, error, sizeof error) == -1);
    CHECK(ff_pca_open(argv[3], error, sizeof error) == NULL);
    ff_pca_close(loaded);
    ff_pca_close(pca);
    ff_pca_close(NULL);

    ff_extractor_close(extractor);
    ff_extractor_close(NULL);
    free(out);
    free(good);
    printf("OK\n");
    return 0;
}
"""


def c_compiler():
    for name in (os.environ.get("CC"), "cc", "clang", "gcc"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(c_compiler() is None, reason="no C compiler")
def test_a_c_program_uses_the_header(tmp_path):
    library = fruitfeatures.library_path()
    source = tmp_path / "program.c"
    source.write_text(PROGRAM)
    binary = tmp_path / "program"
    subprocess.run([c_compiler(), "-std=c11", "-Wall", "-Werror", "-I", HEADER_DIR, str(source), "-o", str(binary),
                    library, "-Wl,-rpath," + os.path.dirname(library), "-lm"], check=True)
    result = subprocess.run([str(binary), WEIGHTS, os.path.join(FIXTURES, "images", "Apple", "0_100.jpg"),
                             str(tmp_path / "missing.h5"), str(tmp_path / "pca.h5")],
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "OK", result.stdout + result.stderr
    assert result.returncode == 0
