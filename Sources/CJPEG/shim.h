#pragma once
// jpeglib.h needs stdio.h (FILE) and size_t declared before it.
#include <stdio.h>
#include <stddef.h>
#include <jpeglib.h>
