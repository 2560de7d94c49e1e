#pragma once
#include <stddef.h>
#include <zstd.h>
