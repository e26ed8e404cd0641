package main

/*
#include "shims.h"
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/netsys/netsys/core"
)

// cTransform adapts a pair of host functions to core.Transform. The
// functions write into a window of the Go output slice (Go memory without
// pointers, which cgo allows C to write during the call).
type cTransform struct {
	name           string
	encode, decode C.capi_transform_fn
	ud             unsafe.Pointer
}

// Encode implements core.Transform.
func (t *cTransform) Encode(dst, msg []byte) ([]byte, error) {
	return t.run(t.encode, "encode", dst, msg, math.MaxInt)
}

// Decode implements core.Transform.
func (t *cTransform) Decode(dst, msg []byte, limit int) ([]byte, error) {
	return t.run(t.decode, "decode", dst, msg, limit)
}

// run calls fn with a buffer guessed from the input size and, when the
// host answers NETSYS_E_BUFFER_TOO_SMALL, once more with the size it asked
// for (never more than limit: a decoder is not given room to exceed the
// connection's limit). The host's result is appended to dst. Errors name
// the operation and the status; the core prefixes "transform failed:
// <name>: " (the close reason).
func (t *cTransform) run(fn C.capi_transform_fn, op string, dst, msg []byte, limit int) ([]byte, error) {
	start := len(dst)
	want := min(len(msg)+64, max(limit, 1))
	for attempt := 0; attempt < 2; attempt++ {
		if cap(dst)-start < want {
			grown := make([]byte, start, start+want)
			copy(grown, dst)
			dst = grown
		}
		window := dst[start:cap(dst)]
		var inPtr *C.uint8_t
		if len(msg) > 0 {
			inPtr = (*C.uint8_t)(unsafe.Pointer(&msg[0]))
		}
		var outSize C.size_t
		cLimit := C.size_t(math.MaxUint64)
		if limit < math.MaxInt {
			cLimit = C.size_t(limit)
		}
		rc := C.capi_call_transform(fn, t.ud, inPtr, C.size_t(len(msg)),
			(*C.uint8_t)(unsafe.Pointer(&window[0])), C.size_t(len(window)), &outSize, cLimit)
		switch {
		case rc == C.int(statusOK) && int(outSize) <= len(window):
			if int(outSize) > limit {
				return dst[:start], fmt.Errorf("%s produced %d bytes, limit %d", op, int(outSize), limit)
			}
			return dst[:start+int(outSize)], nil
		case rc == C.int(statusOK):
			return dst[:start], fmt.Errorf("%s reported %d bytes in a %d-byte buffer", op, uint64(outSize), len(window))
		case rc == C.int(errBufferTooSmall) && uint64(outSize) > uint64(limit):
			return dst[:start], fmt.Errorf("%s asked for %d bytes, limit %d", op, uint64(outSize), limit)
		case rc == C.int(errBufferTooSmall) && attempt == 0 && uint64(outSize) > uint64(len(window)) && uint64(outSize) <= maxMessage:
			want = int(outSize)
		default:
			return dst[:start], fmt.Errorf("%s returned status %d (%s)", op, int(rc), C.GoString(C.netsys_strerror(rc)))
		}
	}
	return dst[:start], fmt.Errorf("%s kept asking for a larger buffer", op)
}

//export netsys_register_transform
func netsys_register_transform(name *C.char, encode, decode C.capi_transform_fn, ud unsafe.Pointer) (rc status) {
	defer guard(&rc, 0)
	n, rc := goString(name, "name")
	if rc != statusOK {
		return rc
	}
	if encode == nil || decode == nil {
		return fail(errNullPointer, "encode and decode must not be NULL")
	}
	if len(n) == 0 || len(n) > 255 {
		return fail(errInvalidArgument, "transform name must be 1..255 bytes (got %d)", len(n))
	}
	if err := core.RegisterTransform(n, &cTransform{name: n, encode: encode, decode: decode, ud: ud}); err != nil {
		return failErr(err)
	}
	transformNames.Store(n, struct{}{})
	return statusOK
}

//export netsys_unregister_transform
func netsys_unregister_transform(name *C.char) (rc status) {
	defer guard(&rc, 0)
	n, rc := goString(name, "name")
	if rc != statusOK {
		return rc
	}
	if _, ok := transformNames.LoadAndDelete(n); !ok {
		return fail(errNotFound, "no transform %q was registered through the C API", n)
	}
	core.UnregisterTransform(n)
	return statusOK
}
