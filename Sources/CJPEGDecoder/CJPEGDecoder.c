#include "CJPEGDecoder.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

// State of one decoder. libjpeg reaches its error handler and source manager through
// cinfo, so both structs sit inside this one and are found again with a cast.
struct ffjpeg_decoder {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr error;
    struct jpeg_source_mgr source;
    jmp_buf jump;
    int created;            // jpeg_create_decompress succeeded
    int header_read;        // read_header succeeded, start_rgb or decode_rgb may run
    int decoding;           // start_rgb succeeded and rows remain: read_rgb_rows may run
    JSAMPARRAY scratch;     // one row of 1 or 4 components, for the conversion to RGB
    int all_lines_read;     // every scanline is out: running out of data is harmless now
    ffjpeg_status failure;  // status the error handler returns with
    char message[JMSG_LENGTH_MAX + 64];
};

static ffjpeg_decoder *owner_of(j_common_ptr cinfo) {
    // cinfo is the first member of ffjpeg_decoder.
    return (ffjpeg_decoder *)cinfo;
}

// ---- error handling: never exit, never print ---------------------------------------

static void on_error_exit(j_common_ptr cinfo) {
    ffjpeg_decoder *d = owner_of(cinfo);
    if (d->failure == FFJPEG_OK) {
        switch (cinfo->err->msg_code) {
        case JERR_BAD_PRECISION:
        case JERR_SOF_UNSUPPORTED:
        case JERR_NOT_COMPILED:
        case JERR_ARITH_NOTIMPL:
        case JERR_COMPONENT_COUNT:
            d->failure = FFJPEG_UNSUPPORTED;
            break;
        case JERR_IMAGE_TOO_BIG:
            d->failure = FFJPEG_TOO_LARGE;
            break;
        case JERR_OUT_OF_MEMORY:
            d->failure = FFJPEG_OUT_OF_MEMORY;
            break;
        default:
            d->failure = FFJPEG_CORRUPT;
            break;
        }
        (*cinfo->err->format_message)(cinfo, d->message);
    }
    longjmp(d->jump, 1);
}

static void on_output_message(j_common_ptr cinfo) {
    // Warnings ("Corrupt JPEG data: N extraneous bytes", ...) are counted by libjpeg's
    // emit_message and otherwise ignored, as in Pillow.
    (void)cinfo;
}

// ---- source: the whole file is in memory -----------------------------------------

static void source_init(j_decompress_ptr cinfo) { (void)cinfo; }
static void source_term(j_decompress_ptr cinfo) { (void)cinfo; }

static const JOCTET fake_eoi[2] = {0xFF, JPEG_EOI};

static boolean source_fill(j_decompress_ptr cinfo) {
    // Called only when libjpeg wants bytes past the end of the data. Pillow then stops
    // with "image file is truncated" unless every scanline was already decoded (a file
    // lacking only its final EOI marker); the same rule here.
    ffjpeg_decoder *d = owner_of((j_common_ptr)cinfo);
    if (!d->all_lines_read) {
        d->failure = FFJPEG_TRUNCATED;
        snprintf(d->message, sizeof d->message, "the data ends before the image is complete");
        longjmp(d->jump, 1);
    }
    cinfo->src->next_input_byte = fake_eoi;
    cinfo->src->bytes_in_buffer = sizeof fake_eoi;
    return TRUE;
}

static void source_skip(j_decompress_ptr cinfo, long count) {
    struct jpeg_source_mgr *src = cinfo->src;
    if (count <= 0) {
        return;
    }
    while ((size_t)count > src->bytes_in_buffer) {
        count -= (long)src->bytes_in_buffer;
        (void)(*src->fill_input_buffer)(cinfo);
    }
    src->next_input_byte += count;
    src->bytes_in_buffer -= (size_t)count;
}

// ---- public functions -----------------------------------------------------------

ffjpeg_decoder *ffjpeg_decoder_create(void) {
    // volatile: read again after a longjmp.
    ffjpeg_decoder *volatile d = calloc(1, sizeof(ffjpeg_decoder));
    if (d == NULL) {
        return NULL;
    }
    d->cinfo.err = jpeg_std_error(&d->error);
    d->error.error_exit = on_error_exit;
    d->error.output_message = on_output_message;
    if (setjmp(d->jump)) {
        free(d);
        return NULL;
    }
    jpeg_create_decompress(&d->cinfo);
    d->created = 1;
    d->source.init_source = source_init;
    d->source.fill_input_buffer = source_fill;
    d->source.skip_input_data = source_skip;
    d->source.resync_to_restart = jpeg_resync_to_restart;
    d->source.term_source = source_term;
    d->cinfo.src = &d->source;
    return d;
}

void ffjpeg_decoder_destroy(ffjpeg_decoder *d) {
    if (d == NULL) {
        return;
    }
    if (d->created) {
        jpeg_destroy_decompress(&d->cinfo);
    }
    free(d);
}

static void begin_call(ffjpeg_decoder *d) {
    d->failure = FFJPEG_OK;
    d->message[0] = '\0';
    d->error.num_warnings = 0;
}

static int32_t color_space_code(J_COLOR_SPACE cs) {
    switch (cs) {
    case JCS_GRAYSCALE: return FFJPEG_CS_GRAYSCALE;
    case JCS_RGB: return FFJPEG_CS_RGB;
    case JCS_YCbCr: return FFJPEG_CS_YCBCR;
    case JCS_CMYK: return FFJPEG_CS_CMYK;
    case JCS_YCCK: return FFJPEG_CS_YCCK;
    default: return FFJPEG_CS_UNKNOWN;
    }
}

static void fill_header(const struct jpeg_decompress_struct *cinfo, ffjpeg_header *header) {
    header->width = cinfo->image_width;
    header->height = cinfo->image_height;
    header->components = cinfo->num_components;
    header->color_space = color_space_code(cinfo->jpeg_color_space);
    header->precision = cinfo->data_precision;
    header->progressive = cinfo->progressive_mode ? 1 : 0;
}

ffjpeg_status ffjpeg_read_header(ffjpeg_decoder *d, const uint8_t *data, size_t size,
                                 ffjpeg_header *header) {
    if (d == NULL || header == NULL || (data == NULL && size > 0)) {
        return FFJPEG_MISUSE;
    }
    memset(header, 0, sizeof *header);
    begin_call(d);
    d->header_read = 0;
    d->decoding = 0;
    d->all_lines_read = 0;
    if (setjmp(d->jump)) {
        // On a size refusal the frame header was parsed: report the claimed size.
        fill_header(&d->cinfo, header);
        jpeg_abort_decompress(&d->cinfo);
        return d->failure;
    }
    jpeg_abort_decompress(&d->cinfo);  // back to the start state if an earlier image stopped midway
    d->source.next_input_byte = data;
    d->source.bytes_in_buffer = size;
    // Reading up to the first scan also checks precision and dimensions (initial_setup).
    (void)jpeg_read_header(&d->cinfo, TRUE);
    fill_header(&d->cinfo, header);
    if (d->cinfo.num_components != 1 && d->cinfo.num_components != 3 &&
        d->cinfo.num_components != 4) {
        // Pillow: "cannot handle N-layer images".
        snprintf(d->message, sizeof d->message, "%d colour components (1, 3 or 4 are supported)",
                 d->cinfo.num_components);
        jpeg_abort_decompress(&d->cinfo);
        return FFJPEG_UNSUPPORTED;
    }
    d->header_read = 1;
    return FFJPEG_OK;
}

// Pillow's MULDIV255: a*b/255 rounded, in integers.
static inline int muldiv255(int a, int b) {
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

static inline uint8_t clip8(int v) {
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

ffjpeg_status ffjpeg_start_rgb(ffjpeg_decoder *d) {
    if (d == NULL) {
        return FFJPEG_MISUSE;
    }
    if (!d->header_read) {
        snprintf(d->message, sizeof d->message, "start_rgb called without a successful read_header");
        return FFJPEG_MISUSE;
    }
    struct jpeg_decompress_struct *cinfo = &d->cinfo;
    begin_call(d);
    d->header_read = 0;
    d->decoding = 0;
    d->all_lines_read = 0;
    if (setjmp(d->jump)) {
        jpeg_abort_decompress(cinfo);
        return d->failure;
    }

    // Pillow picks the output from the number of components (L, RGB, CMYK;I) and trusts
    // libjpeg's guess of the stored colour space; libjpeg's defaults are Pillow's too:
    // JDCT_ISLOW, fancy upsampling, block smoothing, no scaling.
    const int components = cinfo->num_components;
    cinfo->out_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
    cinfo->dct_method = JDCT_ISLOW;
    cinfo->do_fancy_upsampling = TRUE;
    cinfo->scale_num = 1;
    cinfo->scale_denom = 1;

    (void)jpeg_start_decompress(cinfo);
    if (cinfo->output_width != cinfo->image_width || cinfo->output_height != cinfo->image_height ||
        cinfo->output_components != components) {
        d->failure = FFJPEG_CORRUPT;
        snprintf(d->message, sizeof d->message, "unexpected output geometry");
        longjmp(d->jump, 1);
    }
    d->scratch = NULL;
    if (components != 3) {
        // One row at a time through a scratch row owned by libjpeg (freed with the image).
        d->scratch = (*cinfo->mem->alloc_sarray)((j_common_ptr)cinfo, JPOOL_IMAGE,
                                                 (JDIMENSION)(cinfo->output_width * (JDIMENSION)components), 1);
    }
    d->decoding = 1;
    return FFJPEG_OK;
}

// One row of 1 or 4 components from d->scratch to RGB.
static void convert_row(const JSAMPLE *in, int components, size_t width, uint8_t *out) {
    if (components == 1) {
        for (size_t x = 0; x < width; x++, out += 3) {
            out[0] = out[1] = out[2] = in[x];
        }
    } else {
        // Pillow reads libjpeg's CMYK as Adobe-inverted ("CMYK;I": C = 255 - c)
        // and convert("RGB") computes R = (255-K) - MULDIV255(C, 255-K).
        for (size_t x = 0; x < width; x++, in += 4, out += 3) {
            const int k = in[3];
            out[0] = clip8(k - muldiv255(255 - in[0], k));
            out[1] = clip8(k - muldiv255(255 - in[1], k));
            out[2] = clip8(k - muldiv255(255 - in[2], k));
        }
    }
}

ffjpeg_status ffjpeg_read_rgb_rows(ffjpeg_decoder *d, uint8_t *rgb, size_t capacity, uint32_t *rows_read) {
    if (d == NULL || rgb == NULL || rows_read == NULL) {
        return FFJPEG_MISUSE;
    }
    *rows_read = 0;
    if (!d->decoding) {
        snprintf(d->message, sizeof d->message, "read_rgb_rows called without a successful start_rgb");
        return FFJPEG_MISUSE;
    }
    struct jpeg_decompress_struct *cinfo = &d->cinfo;
    const size_t row_bytes = (size_t)cinfo->output_width * 3;
    const size_t room = capacity / row_bytes;
    if (room == 0) {
        snprintf(d->message, sizeof d->message, "output buffer of %zu bytes for rows of %zu bytes",
                 capacity, row_bytes);
        return FFJPEG_MISUSE;
    }
    begin_call(d);
    if (setjmp(d->jump)) {
        d->decoding = 0;
        jpeg_abort_decompress(cinfo);
        return d->failure;
    }
    const int components = cinfo->output_components;
    uint32_t done = 0;
    while (cinfo->output_scanline < cinfo->output_height && done < room) {
        if (components == 3) {
            // Straight into the caller's buffer.
            JSAMPROW rows[16];
            JDIMENSION wanted = cinfo->output_height - cinfo->output_scanline;
            if (wanted > 16) wanted = 16;
            if (wanted > room - done) wanted = (JDIMENSION)(room - done);
            for (JDIMENSION i = 0; i < wanted; i++) {
                rows[i] = rgb + (done + i) * row_bytes;
            }
            done += jpeg_read_scanlines(cinfo, rows, wanted);
        } else if (jpeg_read_scanlines(cinfo, d->scratch, 1) == 1) {
            convert_row(d->scratch[0], components, cinfo->output_width, rgb + done * row_bytes);
            done += 1;
        }
    }
    *rows_read = done;
    if (cinfo->output_scanline == cinfo->output_height) {
        d->all_lines_read = 1;
        d->decoding = 0;
        (void)jpeg_finish_decompress(cinfo);
    }
    return FFJPEG_OK;
}

ffjpeg_status ffjpeg_decode_rgb(ffjpeg_decoder *d, uint8_t *rgb, size_t capacity) {
    if (d == NULL || rgb == NULL) {
        return FFJPEG_MISUSE;
    }
    if (!d->header_read) {
        snprintf(d->message, sizeof d->message, "decode_rgb called without a successful read_header");
        return FFJPEG_MISUSE;
    }
    const size_t width = d->cinfo.image_width;
    const size_t height = d->cinfo.image_height;
    if (width == 0 || height == 0 || capacity / 3 / width < height || capacity != width * height * 3) {
        snprintf(d->message, sizeof d->message, "output buffer of %zu bytes for a %zux%zu RGB image",
                 capacity, width, height);
        return FFJPEG_MISUSE;
    }
    ffjpeg_status status = ffjpeg_start_rgb(d);
    size_t row = 0;
    while (status == FFJPEG_OK && row < height) {
        uint32_t rows = 0;
        status = ffjpeg_read_rgb_rows(d, rgb + row * width * 3, (height - row) * width * 3, &rows);
        if (status == FFJPEG_OK && rows == 0) {
            // Cannot happen with a source that never suspends; stops rather than loops.
            snprintf(d->message, sizeof d->message, "libjpeg returned no rows");
            jpeg_abort_decompress(&d->cinfo);
            d->decoding = 0;
            status = FFJPEG_CORRUPT;
        }
        row += rows;
    }
    return status;
}

const char *ffjpeg_message(const ffjpeg_decoder *d) {
    return d == NULL ? "" : d->message;
}

int ffjpeg_warning_count(const ffjpeg_decoder *d) {
    return d == NULL ? 0 : (int)d->error.num_warnings;
}
