/* Includes promrw.h for this package's cgo code, or stops with a message naming what to run.
 *
 * The #cgo CFLAGS in promrw.go search, in this order:
 *   1. ${SRCDIR}/include        the module's own copy, made by sync-native.sh (vendored trees
 *                               and the module cache have only this one);
 *   2. ${SRCDIR}/../../include  the repository's header, when the module is used from a
 *                               checkout of the repository.
 * This file is named promrw_cgo.h, not promrw.h, so that the #include below searches those
 * directories instead of finding this file again. */
#ifndef PROMRW_GO_CGO_H
#define PROMRW_GO_CGO_H

#if defined(__has_include)
#if !__has_include("promrw.h")
#error "promrw.h not found: run cargo build --release at the repository root, or bindings/go/sync-native.sh --build (see bindings/go/README.md)"
#endif
#endif

#include "promrw.h"

/* The version this package was written for: compiling it against any other minor version of
 * promrw.h fails here (the ABI may change with any release before 1.0). */
#if PROMRW_VERSION_MAJOR != 0 || PROMRW_VERSION_MINOR != 1
#error "this version of the promrw Go package needs promrw.h 0.1.x: check out the matching repository version and run cargo build --release at its root (and bindings/go/sync-native.sh if you use a synced copy)"
#endif

#endif
