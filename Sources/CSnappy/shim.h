#pragma once
// Snappy's C interface (the library itself is C++; snappy-c.h exposes plain C functions).
#include <stddef.h>
#include <snappy-c.h>
