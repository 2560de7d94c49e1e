#include "CHDF5Shim.h"
#include <stdio.h>
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

hid_t ffh5_open_file(const char *path, int create) {
    hid_t access = H5Pcreate(H5P_FILE_ACCESS);
    if (access < 0) return -1;
#if H5_VERSION_GE(1, 10, 7)
    if (H5Pset_file_locking(access, 0, 1) < 0) {
        H5Pclose(access);
        return -1;
    }
#endif
    hid_t file = create ? H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, access)
                        : H5Fopen(path, H5F_ACC_RDONLY, access);
    H5Pclose(access);
    return file;
}

hid_t ffh5_open_image(const void *bytes, size_t count) {
    hid_t access = H5Pcreate(H5P_FILE_ACCESS);
    if (access < 0) return -1;
    hid_t file = -1;
    // The core driver without a backing store reads the file from memory; H5Pset_file_image copies the
    // bytes, so the caller may release them once the file is open. libhdf5 takes two such files with the same
    // name for one file and hands back the one already open, so every image gets a name of its own.
    static _Atomic unsigned long long opened = 0;
    char name[64];
    snprintf(name, sizeof name, "fruitfeatures in-memory image %llu", ++opened);
    if (H5Pset_fapl_core(access, 1 << 16, 0) >= 0 && H5Pset_file_image(access, (void *)bytes, count) >= 0) {
        file = H5Fopen(name, H5F_ACC_RDONLY, access);
    }
    H5Pclose(access);
    return file;
}

struct ffh5_link_scan {
    char *path;
    size_t path_capacity;
    char *target;
    size_t target_capacity;
    int found;
};

static void ffh5_copy(char *buffer, size_t capacity, const char *text) {
    if (capacity == 0) return;
    strncpy(buffer, text != NULL ? text : "", capacity - 1);
    buffer[capacity - 1] = '\0';
}

// Records the first link that is neither hard nor soft (external or user-defined) and stops the walk.
static herr_t ffh5_note_link(hid_t group, const char *name, int type, void *data) {
    struct ffh5_link_scan *scan = data;
    if (type == H5L_TYPE_HARD || type == H5L_TYPE_SOFT) return 0;
    scan->found = type == H5L_TYPE_EXTERNAL ? 1 : 2;
    ffh5_copy(scan->path, scan->path_capacity, name);
    ffh5_copy(scan->target, scan->target_capacity, "");
    if (type == H5L_TYPE_EXTERNAL) {
        char value[1024];
        const char *file = NULL;
        const char *object = NULL;
        unsigned flags = 0;
        if (H5Lget_val(group, name, value, sizeof value, H5P_DEFAULT) >= 0) {
            value[sizeof value - 1] = '\0';
            if (H5Lunpack_elink_val(value, sizeof value, &flags, &file, &object) >= 0 && file != NULL) {
                char joined[1100];
                snprintf(joined, sizeof joined, "%s:%s", file, object != NULL ? object : "");
                ffh5_copy(scan->target, scan->target_capacity, joined);
            }
        }
    }
    return 1;
}

#if H5_VERSION_GE(1, 12, 0)
static herr_t ffh5_visit_link(hid_t group, const char *name, const H5L_info2_t *info, void *data) {
    return ffh5_note_link(group, name, (int)info->type, data);
}
#else
static herr_t ffh5_visit_link(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    return ffh5_note_link(group, name, (int)info->type, data);
}
#endif

int ffh5_find_outside_link(hid_t file, char *path, size_t path_capacity, char *target, size_t target_capacity) {
    struct ffh5_link_scan scan = { path, path_capacity, target, target_capacity, 0 };
    hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
    if (root < 0) return -1;
#if H5_VERSION_GE(1, 12, 0)
    herr_t status = H5Lvisit2(root, H5_INDEX_NAME, H5_ITER_NATIVE, ffh5_visit_link, &scan);
#else
    herr_t status = H5Lvisit(root, H5_INDEX_NAME, H5_ITER_NATIVE, ffh5_visit_link, &scan);
#endif
    H5Gclose(root);
    if (status < 0) return -1;
    return scan.found;
}

int ffh5_chunk_shape(hid_t dataset, int capacity, hsize_t *dims) {
    hid_t plist = H5Dget_create_plist(dataset);
    if (plist < 0) return -1;
    int rank = 0;
    if (H5Pget_layout(plist) == H5D_CHUNKED) {
        rank = H5Pget_chunk(plist, capacity, dims);
        if (rank < 0 || rank > capacity) rank = -1;
    }
    H5Pclose(plist);
    return rank;
}
