#include "CJPEGDecoder.h"
#include <stdio.h>
#include <jpeglib.h>
int ffjpeg_placeholder(void) { return JPEG_LIB_VERSION; }
