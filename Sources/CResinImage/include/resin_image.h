#ifndef RESIN_IMAGE_H
#define RESIN_IMAGE_H
#include <stddef.h>

// JPEG and PNG decoding to 8-bit interleaved RGB. libjpeg and libpng report errors by longjmp; every setjmp
// and every longjmp stays inside these C functions, so no Swift frame is ever jumped over. Each call returns
// 0 on success, or non-zero with the reason in the decoder's message.
//
// Decoding is two calls so that the caller allocates the pixels itself, after checking the size the header
// declares: read the header (dimensions, EXIF), then the pixels into a buffer of height rows of `stride` bytes.

/// The dimensions a header declares.
typedef struct resin_image_header {
    size_t width;
    size_t height;
} resin_image_header;

typedef struct resin_jpeg_decoder resin_jpeg_decoder;
typedef struct resin_png_decoder resin_png_decoder;

/// A JPEG decoder reading `size` bytes at `data` (not copied: they must outlive the decoder), using at most
/// `max_memory` bytes of the library's working memory (progressive coefficients, buffers). NULL if out of memory.
resin_jpeg_decoder *resin_jpeg_create(const void *data, size_t size, size_t max_memory);
int resin_jpeg_read_header(resin_jpeg_decoder *decoder, resin_image_header *header);
int resin_jpeg_read_pixels(resin_jpeg_decoder *decoder, unsigned char *rgb, size_t stride);
/// After the header: the payload of the `index`th APP1 marker (EXIF, XMP) in file order, owned by the
/// decoder. Returns 0 when the file has fewer.
int resin_jpeg_app1(const resin_jpeg_decoder *decoder, size_t index, const unsigned char **data, size_t *size);
const char *resin_jpeg_message(const resin_jpeg_decoder *decoder);
void resin_jpeg_destroy(resin_jpeg_decoder *decoder);

/// A PNG decoder reading `size` bytes at `data` (not copied). Ancillary chunks are held to `max_chunk` bytes.
resin_png_decoder *resin_png_create(const void *data, size_t size, size_t max_chunk);
int resin_png_read_header(resin_png_decoder *decoder, resin_image_header *header);
/// Reads the pixels, then the chunks after them (where EXIF and XMP may also sit; a failure there is ignored,
/// since the pixels are complete).
int resin_png_read_pixels(resin_png_decoder *decoder, unsigned char *rgb, size_t stride);
/// After the pixels: the eXIf chunk's payload (a TIFF header onwards), owned by the decoder; 0 if none.
int resin_png_exif(const resin_png_decoder *decoder, const unsigned char **data, size_t *size);
/// After the pixels: the XMP packet of an iTXt chunk "XML:com.adobe.xmp", owned by the decoder; 0 if none.
int resin_png_xmp(const resin_png_decoder *decoder, const unsigned char **data, size_t *size);
const char *resin_png_message(const resin_png_decoder *decoder);
void resin_png_destroy(resin_png_decoder *decoder);

#endif
