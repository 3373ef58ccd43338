#ifndef RESIN_CZLIB_SHIM_H
#define RESIN_CZLIB_SHIM_H
#include <zlib.h>

// zlib's init entry points are macros that Swift cannot call; wrap them as functions.
static inline int resin_deflateInit2(z_streamp stream, int level, int method, int windowBits,
                                     int memLevel, int strategy) {
    return deflateInit2(stream, level, method, windowBits, memLevel, strategy);
}

static inline int resin_inflateInit2(z_streamp stream, int windowBits) {
    return inflateInit2(stream, windowBits);
}
#endif
