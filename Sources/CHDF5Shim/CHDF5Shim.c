#include "CHDF5Shim.h"
#include <string.h>

void ffh5_silence_errors(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

struct ffh5_error_capture {
    char *buffer;
    size_t capacity;
    int count;
};

// Walking downward visits the outermost API call first and the innermost cause last; the last
// description seen is the most specific one ("file signature not found", "unable to open file"...).
static herr_t ffh5_capture(unsigned n, const H5E_error2_t *err, void *data) {
    (void)n;
    struct ffh5_error_capture *capture = data;
    capture->count += 1;
    if (capture->capacity > 0 && err != NULL && err->desc != NULL) {
        strncpy(capture->buffer, err->desc, capture->capacity - 1);
        capture->buffer[capture->capacity - 1] = '\0';
    }
    return 0;
}

int ffh5_take_error_message(char *buffer, size_t capacity) {
    struct ffh5_error_capture capture = { buffer, capacity, 0 };
    if (capacity > 0) buffer[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, ffh5_capture, &capture);
    H5Eclear2(H5E_DEFAULT);
    return capture.count;
}

int ffh5_is_hdf5(const char *path) {
#if H5_VERSION_GE(1, 12, 0)
    return (int)H5Fis_accessible(path, H5P_DEFAULT);
#else
    return (int)H5Fis_hdf5(path);
#endif
}

hid_t ffh5_open_image(const void *bytes, size_t count) {
    hid_t access = H5Pcreate(H5P_FILE_ACCESS);
    if (access < 0) return -1;
    hid_t file = -1;
    // The core driver without a backing store reads the file from memory; H5Pset_file_image copies the
    // bytes, so the caller may release them once the file is open.
    if (H5Pset_fapl_core(access, 1 << 16, 0) >= 0 && H5Pset_file_image(access, (void *)bytes, count) >= 0) {
        file = H5Fopen("in-memory image", H5F_ACC_RDONLY, access);
    }
    H5Pclose(access);
    return file;
}
