// PNG through libpng, transformed to 8-bit RGB the way Pillow's `convert("RGB")` sees the file: palette
// entries looked up, gray replicated, low bit depths scaled to 0...255, alpha and tRNS dropped, 16-bit
// samples cut to their high byte.
#include "resin_image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>

// Dimensions beyond this are refused by libpng itself, before any row is allocated.
#define RESIN_PNG_MAX_SIDE 65535

struct resin_png_decoder {
    png_structp png;
    png_infop info;
    /// The chunks after the image data.
    png_infop end_info;
    const unsigned char *data;
    size_t size;
    size_t offset;
    size_t max_chunk;
    char message[256];
    /// The last warning: libpng says what is wrong with a header in warnings, then fails with a summary.
    char warning[128];
};

static void fail(png_structp png, png_const_charp text) {
    resin_png_decoder *decoder = png_get_error_ptr(png);
    // The read callback already said why, more precisely than libpng can.
    if (decoder->message[0] == 0 && strcmp(text, "Invalid IHDR data") == 0 && decoder->warning[0] != 0)
        snprintf(decoder->message, sizeof decoder->message, "corrupt PNG image (%s: %s)", text, decoder->warning);
    else if (decoder->message[0] == 0)
        snprintf(decoder->message, sizeof decoder->message, "corrupt PNG image (%s)", text);
    png_longjmp(png, 1);
}

// Warnings (including the benign errors below) never stop decoding.
static void warn(png_structp png, png_const_charp text) {
    resin_png_decoder *decoder = png_get_error_ptr(png);
    snprintf(decoder->warning, sizeof decoder->warning, "%s", text);
}

static void read_bytes(png_structp png, png_bytep target, size_t count) {
    resin_png_decoder *decoder = png_get_io_ptr(png);
    if (count > decoder->size - decoder->offset) {
        snprintf(decoder->message, sizeof decoder->message,
                 "truncated PNG image (the data ends at byte %zu, inside a chunk)", decoder->size);
        png_longjmp(png, 1);
    }
    memcpy(target, decoder->data + decoder->offset, count);
    decoder->offset += count;
}

// libpng allocates a chunk's declared length before reading it, so a 40-byte file declaring a 1 GiB text
// chunk would have it allocate 1 GiB. No block a real file needs is larger than the file (a chunk's data) or
// the limit on what an ancillary chunk may inflate to (rows are at most 65535 x 8 bytes), so larger requests
// fail, and libpng reports them as an error.
static png_voidp bounded_malloc(png_structp png, png_alloc_size_t size) {
    const resin_png_decoder *decoder = png_get_mem_ptr(png);
    size_t limit = (decoder->size > decoder->max_chunk ? decoder->size : decoder->max_chunk) + 65536;
    return size <= limit ? malloc(size) : NULL;
}

static void bounded_free(png_structp png, png_voidp block) {
    (void)png;
    free(block);
}

resin_png_decoder *resin_png_create(const void *data, size_t size, size_t max_chunk) {
    resin_png_decoder *decoder = calloc(1, sizeof *decoder);
    if (decoder == NULL) return NULL;
    decoder->data = data;
    decoder->size = size;
    decoder->max_chunk = max_chunk;
    return decoder;
}

int resin_png_read_header(resin_png_decoder *decoder, resin_image_header *header) {
    memset(header, 0, sizeof *header);
    decoder->png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, decoder, fail, warn, decoder, bounded_malloc,
                                            bounded_free);
    if (decoder->png == NULL) {
        snprintf(decoder->message, sizeof decoder->message, "out of memory");
        return 1;
    }
    png_structp png = decoder->png;
    if (setjmp(png_jmpbuf(png))) return 1;
    decoder->info = png_create_info_struct(png);
    if (decoder->info == NULL) png_error(png, "out of memory");
    png_set_read_fn(png, decoder, read_bytes);
    png_set_user_limits(png, RESIN_PNG_MAX_SIDE, RESIN_PNG_MAX_SIDE);
    // Bounds what a compressed text or ICC profile chunk may inflate to, and how many such chunks are kept.
    png_set_chunk_malloc_max(png, decoder->max_chunk);
    png_set_chunk_cache_max(png, 128);
    png_set_benign_errors(png, 1);
    png_read_info(png, decoder->info);

    png_uint_32 width, height;
    int depth, color_type, interlace;
    png_get_IHDR(png, decoder->info, &width, &height, &depth, &color_type, &interlace, NULL, NULL);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    png_set_strip_alpha(png);
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, decoder->info);
    if (png_get_channels(png, decoder->info) != 3 || png_get_bit_depth(png, decoder->info) != 8) {
        snprintf(decoder->message, sizeof decoder->message,
                 "unsupported PNG layout (color type %d, %d bits)", color_type, depth);
        return 1;
    }
    header->width = width;
    header->height = height;
    return 0;
}

int resin_png_read_pixels(resin_png_decoder *decoder, unsigned char *rgb, size_t stride) {
    png_structp png = decoder->png;
    png_uint_32 height = png_get_image_height(png, decoder->info);
    // Row pointers in a small fixed block per pass would need libpng's row-at-a-time API; the image's own
    // rows are what png_read_image fills, interlaced or not.
    png_bytep *rows = malloc(sizeof(png_bytep) * (height > 0 ? height : 1));
    if (rows == NULL) {
        snprintf(decoder->message, sizeof decoder->message, "out of memory");
        return 1;
    }
    for (png_uint_32 row = 0; row < height; row++) rows[row] = rgb + (size_t)row * stride;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        return 1;
    }
    png_read_image(png, rows);
    free(rows);
    // The chunks after the image data may carry EXIF or XMP; a file cut short after its pixels (no IEND) is
    // still an image, as it is to Pillow, so an error here only ends the reading.
    decoder->end_info = png_create_info_struct(png);
    if (decoder->end_info != NULL && setjmp(png_jmpbuf(png)) == 0) png_read_end(png, decoder->end_info);
    return 0;
}

int resin_png_exif(const resin_png_decoder *decoder, const unsigned char **data, size_t *size) {
    png_infop infos[2] = {decoder->info, decoder->end_info};
    for (int i = 0; i < 2; i++) {
        png_uint_32 count = 0;
        png_bytep exif = NULL;
        if (infos[i] != NULL && png_get_eXIf_1(decoder->png, infos[i], &count, &exif) != 0 && exif != NULL) {
            *data = exif;
            *size = count;
            return 1;
        }
    }
    return 0;
}

int resin_png_xmp(const resin_png_decoder *decoder, const unsigned char **data, size_t *size) {
    png_infop infos[2] = {decoder->info, decoder->end_info};
    for (int i = 0; i < 2; i++) {
        png_textp texts = NULL;
        int count = 0;
        if (infos[i] == NULL) continue;
        png_get_text(decoder->png, infos[i], &texts, &count);
        for (int t = 0; t < count; t++) {
            if (strcmp(texts[t].key, "XML:com.adobe.xmp") != 0) continue;
            *data = (const unsigned char *)texts[t].text;
            *size = texts[t].compression >= PNG_ITXT_COMPRESSION_NONE ? texts[t].itxt_length : texts[t].text_length;
            return 1;
        }
    }
    return 0;
}

const char *resin_png_message(const resin_png_decoder *decoder) { return decoder->message; }

void resin_png_destroy(resin_png_decoder *decoder) {
    if (decoder == NULL) return;
    if (decoder->png != NULL)
        png_destroy_read_struct(&decoder->png, decoder->info ? &decoder->info : NULL,
                                decoder->end_info ? &decoder->end_info : NULL);
    free(decoder);
}
