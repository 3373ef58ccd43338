#ifndef RESIN_CLIBPNG_SHIM_H
#define RESIN_CLIBPNG_SHIM_H
#include <png.h>
#endif
