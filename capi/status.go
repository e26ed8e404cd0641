package main

/*
#include "shims.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime/debug"
	"syscall"
	"unsafe"

	"github.com/netsys/netsys/core"
)

// status mirrors netsys_status in include/netsys.h.
type status = C.int

// Status codes; the values are the ABI and must match include/netsys.h.
const (
	statusOK           status = 0
	errInvalidHandle   status = 1
	errNullPointer     status = 2
	errInvalidArgument status = 3
	errTooLarge        status = 4
	errWouldBlock      status = 5
	errTimeout         status = 6
	errClosed          status = 7
	errNotConnected    status = 8
	errNotRunning      status = 9
	errAlreadyRunning  status = 10
	errServerFull      status = 11
	errRejected        status = 12
	errProtocol        status = 13
	errNotFound        status = 14
	errBadAddress      status = 15
	errBind            status = 16
	errResolve         status = 17
	errConnect         status = 18
	errNotDelivered    status = 19
	errTransform       status = 20
	errBufferTooSmall  status = 21
	errUnsupported     status = 22
	errWrongMode       status = 23
	errBusy            status = 24
	errDeadlock        status = 25
	errIO              status = 26
	errInternal        status = 27
)

// fail records msg as the calling thread's last error and returns code.
func fail(code status, format string, args ...any) status {
	setLastError(code, fmt.Sprintf(format, args...))
	return code
}

// failErr records err as the last error, with the code it maps to.
func failErr(err error) status {
	code := statusOf(err)
	setLastError(code, err.Error())
	return code
}

func setLastError(code status, msg string) {
	b := unsafe.StringData(msg)
	C.capi_set_last_error(code, (*C.char)(unsafe.Pointer(b)), C.size_t(len(msg)))
}

// statusOf maps an error of the core to a status code by its kind: the
// core wraps every failure around one sentinel, refined where the ABI has a
// finer code (ErrBind, ErrBadAddress, ErrSystem, ErrResolve, ErrConnect),
// so no operation name is looked at. The refined kinds come before the
// broad ones they also match.
func statusOf(err error) status {
	var errno syscall.Errno
	switch {
	case err == nil:
		return statusOK
	case errors.Is(err, core.ErrWouldBlockLoop): // before ErrBackpressure, which it may wrap
		return errDeadlock
	case errors.Is(err, core.ErrTooLarge):
		return errTooLarge
	case errors.Is(err, core.ErrBackpressure):
		return errWouldBlock
	case errors.Is(err, core.ErrServerFull):
		return errServerFull
	case errors.Is(err, core.ErrRejected):
		return errRejected
	case errors.Is(err, core.ErrNotDelivered):
		return errNotDelivered
	case errors.Is(err, core.ErrTransform):
		return errTransform
	case errors.Is(err, core.ErrUnsupported):
		return errUnsupported
	case errors.Is(err, core.ErrHandlerPanic):
		return errInternal
	case errors.Is(err, core.ErrResolve):
		return errResolve
	case errors.Is(err, core.ErrBind):
		return errBind
	case errors.Is(err, core.ErrBadAddress):
		return errBadAddress
	case errors.Is(err, core.ErrSystem):
		return errIO
	case errors.Is(err, core.ErrConnect):
		return errConnect
	case errors.Is(err, core.ErrTimeout):
		return errTimeout
	case errors.Is(err, core.ErrProtocol):
		return errProtocol
	case errors.Is(err, core.ErrNotConnected):
		return errNotConnected
	case errors.Is(err, core.ErrNotRunning):
		return errNotRunning
	case errors.Is(err, core.ErrAlreadyRunning):
		return errAlreadyRunning
	case errors.Is(err, core.ErrNotFound):
		return errNotFound
	case errors.Is(err, core.ErrClosed):
		return errClosed
	case errors.Is(err, core.ErrInvalidArgument):
		return errInvalidArgument
	case errors.As(err, &errno):
		return errIO
	}
	return errInternal
}

// guard is deferred first by every exported function: it turns a panic into
// NETSYS_E_INTERNAL (with the panic and its stack as the last error) and
// reports it to the error callback or event queue of the object the call
// was about, if any. No panic may unwind into C.
func guard(rc *status, handle uint64) {
	r := recover()
	if r == nil {
		return
	}
	msg := fmt.Sprintf("netsys internal error: %v\n%s", r, debug.Stack())
	*rc = fail(errInternal, "%s", msg)
	defer func() { recover() }() // reporting must not panic out either
	if obj, ok := handles.Load(handle); ok {
		obj.(reporter).reportInternal(msg)
	}
}

// reporter is implemented by servers and clients: it delivers an internal
// failure as an error callback or event.
type reporter interface{ reportInternal(msg string) }
