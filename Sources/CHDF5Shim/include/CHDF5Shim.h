#pragma once
#include <hdf5.h>
#include <stddef.h>
// HDF5's predefined types and property lists are macros that expand to H5open() calls;
// Swift imports none of them, so each is exposed as a function.
static inline hid_t ffh5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t ffh5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t ffh5_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t ffh5_c_s1(void) { return H5T_C_S1; }
static inline hid_t ffh5_p_default(void) { return H5P_DEFAULT; }
static inline hid_t ffh5_s_all(void) { return H5S_ALL; }
static inline hid_t ffh5_p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t ffh5_p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t ffh5_p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t ffh5_e_default(void) { return H5E_DEFAULT; }
static inline size_t ffh5_t_variable(void) { return H5T_VARIABLE; }

/// Turns off HDF5's automatic printing of error stacks to stderr (errors become Swift errors instead).
void ffh5_silence_errors(void);

/// Copies the description of the innermost (most specific) error on the calling thread's default
/// HDF5 error stack into `buffer` (NUL-terminated, truncated to `capacity`), then clears the stack.
/// Returns the number of errors that were on the stack.
int ffh5_take_error_message(char *buffer, size_t capacity);

/// 1 if `path` is an HDF5 file, 0 if it is not, negative if it cannot be checked (e.g. unreadable).
int ffh5_is_hdf5(const char *path);

/// Opens the HDF5 file at `path` read-only, or creates it (truncating) when `create` is nonzero, with
/// libhdf5's own file locking turned off. Returns the file identifier, or a negative value (error stack set).
///
/// libhdf5 (1.10.7+) takes an flock on every file it opens; a process spawned by another thread while the
/// file is open inherits that lock, so reading back a file just written could fail with EAGAIN. Runs are
/// guarded by the library's own folder lock and files are replaced by rename, so its lock adds nothing.
hid_t ffh5_open_file(const char *path, int create);

/// Opens an HDF5 file held in memory (`count` bytes at `bytes`, copied) read-only, with the core driver and
/// no backing store. Returns the file identifier, or a negative value on failure (error stack set).
hid_t ffh5_open_image(const void *bytes, size_t count);

/// Walks every link of the file from the root and finds the first one that leaves the file: an external
/// link (returns 1) or a user-defined link (returns 2); 0 when there is none, negative when the walk
/// failed. The link's path goes to `path`, an external link's `file:object` to `target` (NUL-terminated,
/// truncated to the capacities).
int ffh5_find_outside_link(hid_t file, char *path, size_t path_capacity, char *target, size_t target_capacity);

/// The chunk extents of a chunked dataset into `dims` (at most `capacity`), returning the rank; 0 for a
/// dataset that is not chunked; negative on failure.
int ffh5_chunk_shape(hid_t dataset, int capacity, hsize_t *dims);
