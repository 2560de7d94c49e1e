#pragma once
// A small C layer over libjpeg(-turbo) that decodes a JPEG held in memory into RGB
// the way Pillow's JPEG plug-in does, and that never lets libjpeg exit the process:
// every libjpeg error comes back as a status and a message (setjmp/longjmp).
//
// Use: create → read_header → (caller checks the size, allocates) → decode_rgb → destroy;
// or, to hold only a band of rows at a time: read_header → start_rgb → read_rgb_rows until
// every row is out. The same decoder may then read the next image.
// A decoder handles one image at a time and is not thread-safe; use one per thread.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Outcome of a decoder call.
typedef enum {
    FFJPEG_OK = 0,
    /// The data ended before the last scanline was decoded (Pillow: "image file is truncated").
    FFJPEG_TRUNCATED = 1,
    /// libjpeg refused the data; the message says why.
    FFJPEG_CORRUPT = 2,
    /// A valid JPEG this decoder does not handle (12-bit, lossless, 2 or >4 components...).
    FFJPEG_UNSUPPORTED = 3,
    /// A dimension above libjpeg's maximum (65500); the header holds the claimed size.
    FFJPEG_TOO_LARGE = 4,
    /// libjpeg could not allocate memory.
    FFJPEG_OUT_OF_MEMORY = 5,
    /// The calls came in the wrong order or the output buffer has the wrong size.
    FFJPEG_MISUSE = 6,
} ffjpeg_status;

/// Colour space of the stored data as libjpeg guesses it from the markers (JFIF, Adobe).
typedef enum {
    FFJPEG_CS_UNKNOWN = 0,
    FFJPEG_CS_GRAYSCALE = 1,
    FFJPEG_CS_RGB = 2,
    FFJPEG_CS_YCBCR = 3,
    FFJPEG_CS_CMYK = 4,
    FFJPEG_CS_YCCK = 5,
} ffjpeg_color_space;

/// What the frame header says.
typedef struct {
    uint32_t width;
    uint32_t height;
    int32_t components;
    int32_t color_space;   // ffjpeg_color_space
    int32_t precision;     // bits per sample
    int32_t progressive;   // 1 when the frame is progressive
} ffjpeg_header;

typedef struct ffjpeg_decoder ffjpeg_decoder;

/// A new decoder, or NULL when memory is short.
ffjpeg_decoder *ffjpeg_decoder_create(void);

/// Frees the decoder and everything libjpeg allocated for it. NULL is allowed.
void ffjpeg_decoder_destroy(ffjpeg_decoder *decoder);

/// Parses the markers up to the first scan of `data` (which must stay alive and unchanged
/// until decode_rgb returns) and fills `header`. Allocates nothing image-sized, so the
/// caller can refuse a huge image before any pixel buffer exists.
/// On FFJPEG_TOO_LARGE, `header` holds the size the frame claims.
ffjpeg_status ffjpeg_read_header(ffjpeg_decoder *decoder, const uint8_t *data, size_t size,
                                 ffjpeg_header *header);

/// Decodes the image whose header was read into `rgb` (width*height*3 bytes, row-major RGB).
/// Grayscale is replicated to R=G=B; CMYK/YCCK is converted with Pillow's formula for its
/// Adobe-inverted "CMYK;I" data followed by convert("RGB"):
///   with c, k the bytes libjpeg returns, R = k - MULDIV255(255 - c, k),
///   MULDIV255(a, b) = ((a*b + 128) + ((a*b + 128) >> 8)) >> 8   (likewise G with m, B with y).
ffjpeg_status ffjpeg_decode_rgb(ffjpeg_decoder *decoder, uint8_t *rgb, size_t capacity);

/// Starts decoding the image whose header was read; rows then come out with read_rgb_rows, top to
/// bottom, converted to RGB as decode_rgb converts them.
ffjpeg_status ffjpeg_start_rgb(ffjpeg_decoder *decoder);

/// Decodes the next rows into `rgb` (row-major RGB, width*3 bytes a row), as many as fit in
/// `capacity` bytes, at least one; `*rows_read` gets how many. After the last row the decoder is
/// finished and may read another header. Any failure ends the image.
ffjpeg_status ffjpeg_read_rgb_rows(ffjpeg_decoder *decoder, uint8_t *rgb, size_t capacity,
                                   uint32_t *rows_read);

/// The message of the last failure (libjpeg's own text for FFJPEG_CORRUPT); "" after success.
const char *ffjpeg_message(const ffjpeg_decoder *decoder);

/// The number of libjpeg warnings during the last call (ignored, as Pillow ignores them).
int ffjpeg_warning_count(const ffjpeg_decoder *decoder);

#ifdef __cplusplus
}
#endif
