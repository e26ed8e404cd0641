package main

/*
#include "shims.h"
*/
import "C"

import (
	"sync"
	"sync/atomic"
)

// handles maps the integer handles given to C to their objects (*server or
// *client). C never sees a Go pointer. Handles come from a 64-bit counter
// and are never reused, so a stale handle can only be "not found".
var (
	handles    sync.Map // uint64 -> *server | *client
	lastHandle atomic.Uint64
	liveSrv    atomic.Int64
	liveCli    atomic.Int64
)

func newHandle() uint64 { return lastHandle.Add(1) }

func lookupServer(h C.uint64_t) (*server, status) {
	if obj, ok := handles.Load(uint64(h)); ok {
		if s, ok := obj.(*server); ok {
			return s, statusOK
		}
	}
	return nil, fail(errInvalidHandle, "invalid server handle %d", uint64(h))
}

func lookupClient(h C.uint64_t) (*client, status) {
	if obj, ok := handles.Load(uint64(h)); ok {
		if c, ok := obj.(*client); ok {
			return c, statusOK
		}
	}
	return nil, fail(errInvalidHandle, "invalid client handle %d", uint64(h))
}

// netsys_live_handles reports how many servers and clients exist.
//
//export netsys_live_handles
func netsys_live_handles(servers, clients *C.size_t) (rc status) {
	defer guard(&rc, 0)
	if servers == nil || clients == nil {
		return fail(errNullPointer, "servers and clients must not be NULL")
	}
	*servers = C.size_t(liveSrv.Load())
	*clients = C.size_t(liveCli.Load())
	return statusOK
}

// transformNames records the transforms registered through the C API, so
// unregistering an unknown name can say NETSYS_E_NOT_FOUND (the core's
// UnregisterTransform does not tell).
var transformNames sync.Map // string -> struct{}
