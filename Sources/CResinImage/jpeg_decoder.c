// JPEG through libjpeg(-turbo)'s 6.2 API, with the settings Pillow decodes with (accurate integer IDCT, fancy
// upsampling), so that the pixels are Pillow's exactly.
#include "resin_image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

// A crafted progressive file can hold thousands of tiny scans that each cost a pass over the coefficients;
// libjpeg-turbo's own fuzzers stop at 500.
#define RESIN_JPEG_MAX_SCANS 500

struct resin_jpeg_error {
    struct jpeg_error_mgr library;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX + 64];
};

struct resin_jpeg_decoder {
    struct jpeg_decompress_struct info;
    struct resin_jpeg_error error;
    struct jpeg_progress_mgr progress;
    const unsigned char *data;
    size_t size;
    size_t max_memory;
    int has_header;
};

static void fail(j_common_ptr info) {
    struct resin_jpeg_error *error = (struct resin_jpeg_error *)info->err;
    char text[JMSG_LENGTH_MAX];
    (*info->err->format_message)(info, text);
    snprintf(error->message, sizeof error->message, "corrupt JPEG image (%s)", text);
    longjmp(error->jump, 1);
}

// Warnings do not stop decoding (Pillow ignores them too: corrupt entropy data decodes to what libjpeg makes of
// it), except running out of data: Pillow refuses a truncated file, and so do we rather than return gray rows.
static void warn(j_common_ptr info, int level) {
    if (level >= 0) return;
    struct resin_jpeg_error *error = (struct resin_jpeg_error *)info->err;
    if (info->err->msg_code == JWRN_JPEG_EOF) {
        snprintf(error->message, sizeof error->message, "truncated JPEG image (the data ends before the image does)");
        longjmp(error->jump, 1);
    }
    info->err->num_warnings++;
}

static void check_scans(j_common_ptr info) {
    j_decompress_ptr decompress = (j_decompress_ptr)info;
    if (decompress->input_scan_number > RESIN_JPEG_MAX_SCANS) {
        struct resin_jpeg_error *error = (struct resin_jpeg_error *)info->err;
        snprintf(error->message, sizeof error->message, "corrupt JPEG image (more than %d scans)",
                 RESIN_JPEG_MAX_SCANS);
        longjmp(error->jump, 1);
    }
}

resin_jpeg_decoder *resin_jpeg_create(const void *data, size_t size, size_t max_memory) {
    resin_jpeg_decoder *decoder = calloc(1, sizeof *decoder);
    if (decoder == NULL) return NULL;
    decoder->data = data;
    decoder->size = size;
    decoder->max_memory = max_memory;
    return decoder;
}

int resin_jpeg_read_header(resin_jpeg_decoder *decoder, resin_image_header *header) {
    struct jpeg_decompress_struct *info = &decoder->info;
    memset(header, 0, sizeof *header);
    info->err = jpeg_std_error(&decoder->error.library);
    decoder->error.library.error_exit = fail;
    decoder->error.library.emit_message = warn;
    if (setjmp(decoder->error.jump)) return 1;
    jpeg_create_decompress(info);
    decoder->has_header = 1;  // from here on jpeg_destroy_decompress is due
    info->mem->max_memory_to_use = (long)(decoder->max_memory > 0x7fffffff ? 0x7fffffff : decoder->max_memory);
    decoder->progress.progress_monitor = check_scans;
    info->progress = &decoder->progress;
    jpeg_mem_src(info, decoder->data, (unsigned long)decoder->size);
    jpeg_save_markers(info, JPEG_APP0 + 1, 0xffff);
    jpeg_read_header(info, TRUE);

    if (info->jpeg_color_space == JCS_CMYK || info->jpeg_color_space == JCS_YCCK) {
        snprintf(decoder->error.message, sizeof decoder->error.message,
                 "CMYK JPEG images are not supported (convert the image to RGB first)");
        return 1;
    }
    info->out_color_space = JCS_RGB;
    info->dct_method = JDCT_ISLOW;
    info->do_fancy_upsampling = TRUE;
    info->do_block_smoothing = TRUE;
    jpeg_calc_output_dimensions(info);
    if (info->output_components != 3) {
        snprintf(decoder->error.message, sizeof decoder->error.message,
                 "unsupported JPEG color space (%d components)", info->num_components);
        return 1;
    }
    header->width = info->output_width;
    header->height = info->output_height;
    return 0;
}

int resin_jpeg_app1(const resin_jpeg_decoder *decoder, size_t index, const unsigned char **data, size_t *size) {
    if (!decoder->has_header) return 0;
    for (jpeg_saved_marker_ptr marker = decoder->info.marker_list; marker != NULL; marker = marker->next) {
        if (marker->marker != JPEG_APP0 + 1) continue;
        if (index-- > 0) continue;
        *data = marker->data;
        *size = marker->data_length;
        return 1;
    }
    return 0;
}

int resin_jpeg_read_pixels(resin_jpeg_decoder *decoder, unsigned char *rgb, size_t stride) {
    struct jpeg_decompress_struct *info = &decoder->info;
    if (setjmp(decoder->error.jump)) return 1;
    jpeg_start_decompress(info);
    while (info->output_scanline < info->output_height) {
        JSAMPROW rows[4];
        int count = 0;
        for (; count < 4 && info->output_scanline + count < info->output_height; count++)
            rows[count] = rgb + (size_t)(info->output_scanline + count) * stride;
        jpeg_read_scanlines(info, rows, (JDIMENSION)count);
    }
    // No jpeg_finish_decompress: nothing after the last scanline changes the pixels.
    return 0;
}

const char *resin_jpeg_message(const resin_jpeg_decoder *decoder) { return decoder->error.message; }

void resin_jpeg_destroy(resin_jpeg_decoder *decoder) {
    if (decoder == NULL) return;
    if (decoder->has_header) jpeg_destroy_decompress(&decoder->info);
    free(decoder);
}
