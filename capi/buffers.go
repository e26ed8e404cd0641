package main

/*
#include "shims.h"
*/
import "C"

import "unsafe"

// maxMessage is the largest buffer the API accepts: the protocol's limit
// (1 GiB), so that a garbage size is refused before it is touched.
const maxMessage = 1 << 30

// goString copies a C string argument; NULL is an error naming the argument.
func goString(p *C.char, what string) (string, status) {
	if p == nil {
		return "", fail(errNullPointer, "%s must not be NULL", what)
	}
	return C.GoString(p), statusOK
}

// optString is goString where NULL means "".
func optString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// bytesOf views a caller buffer without copying (the core copies what it
// keeps before returning). data may be NULL only when size is 0.
func bytesOf(data *C.uint8_t, size C.size_t) ([]byte, status) {
	switch {
	case size == 0:
		return []byte{}, statusOK
	case data == nil:
		return nil, fail(errNullPointer, "data is NULL but size is %d", uint64(size))
	case uint64(size) > maxMessage:
		return nil, fail(errTooLarge, "message of %d bytes exceeds the 1 GiB protocol limit", uint64(size))
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(data)), int(size)), statusOK
}

// copyOut implements the size query convention of netsys.h for one string:
// *needed gets len+1; the string is copied (truncated, NUL-terminated) into
// buf; NETSYS_E_BUFFER_TOO_SMALL if it did not fit.
func copyOut(s string, buf *C.char, capacity C.size_t, needed *C.size_t) status {
	return copyPacked([]string{s}, buf, capacity, needed, nil)
}

// copyPacked copies strings one after another, each NUL-terminated, with
// the size query convention; *count (optional) gets the number of strings.
func copyPacked(list []string, buf *C.char, capacity C.size_t, needed *C.size_t, count *C.size_t) status {
	if needed == nil {
		return fail(errNullPointer, "needed must not be NULL")
	}
	if buf == nil && capacity > 0 {
		return fail(errNullPointer, "buf is NULL but capacity is %d", uint64(capacity))
	}
	total := 0
	for _, s := range list {
		total += len(s) + 1
	}
	*needed = C.size_t(total)
	if count != nil {
		*count = C.size_t(len(list))
	}
	if capacity == 0 {
		if total == 0 {
			return statusOK
		}
		return fail(errBufferTooSmall, "buffer of 0 bytes, %d needed", total)
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(capacity))
	n := 0
	for _, s := range list {
		n += copy(dst[n:], s)
		if n < len(dst) {
			dst[n] = 0
			n++
		}
	}
	if total > len(dst) {
		dst[len(dst)-1] = 0
		return fail(errBufferTooSmall, "buffer of %d bytes, %d needed", len(dst), total)
	}
	return statusOK
}

// copyIDs implements the id array convention of netsys.h.
func copyIDs(ids []uint64, out *C.uint64_t, capacity C.size_t, count *C.size_t) status {
	if count == nil {
		return fail(errNullPointer, "count must not be NULL")
	}
	if out == nil && capacity > 0 {
		return fail(errNullPointer, "ids is NULL but capacity is %d", uint64(capacity))
	}
	*count = C.size_t(len(ids))
	if capacity > 0 {
		dst := unsafe.Slice((*uint64)(unsafe.Pointer(out)), int(capacity))
		copy(dst, ids)
	}
	if len(ids) > int(capacity) {
		return fail(errBufferTooSmall, "room for %d ids, %d needed", uint64(capacity), len(ids))
	}
	return statusOK
}

// cBool converts for output parameters.
func cBool(b bool) C.bool { return C.bool(b) }
