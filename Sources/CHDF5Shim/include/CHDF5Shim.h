#pragma once
#include <hdf5.h>
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
