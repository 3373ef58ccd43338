#ifndef RESIN_CPROTOBUFC_SHIM_H
#define RESIN_CPROTOBUFC_SHIM_H
#include <protobuf-c/protobuf-c.h>
#endif
