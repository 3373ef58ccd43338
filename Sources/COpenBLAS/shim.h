#ifndef RESIN_COPENBLAS_SHIM_H
#define RESIN_COPENBLAS_SHIM_H
// Debian's libopenblas-dev puts cblas.h under an alternatives folder that pkg-config names.
#include <cblas.h>
#endif
