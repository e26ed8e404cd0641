package core

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/netsys/netsys/core/internal/wire"
)

// Sentinel errors. Every error returned by this package matches one of them
// with errors.Is, so callers (and the C ABI) can map failures to codes.
var (
	// ErrClosed: the server, client or session is stopped or closing.
	ErrClosed = errors.New("netsys: closed")
	// ErrTimeout: an operation did not finish within its deadline.
	ErrTimeout = errors.New("netsys: timeout")
	// ErrTooLarge: a message exceeds the local or the peer's size limit.
	ErrTooLarge = errors.New("netsys: message too large")
	// ErrBackpressure: the connection's outbound queue is at its high-water mark.
	ErrBackpressure = errors.New("netsys: send queue full")
	// ErrServerFull: the server refused the connection at max_connections.
	ErrServerFull = errors.New("netsys: server full")
	// ErrProtocol: the peer violated the wire protocol.
	ErrProtocol = errors.New("netsys: protocol error")
	// ErrRejected: the server answered the handshake with REJECT.
	ErrRejected = errors.New("netsys: connection rejected")
	// ErrInvalidArgument: a parameter is out of range or malformed.
	ErrInvalidArgument = errors.New("netsys: invalid argument")
	// ErrNotConnected: the client has no open connection and no reconnect queue.
	ErrNotConnected = errors.New("netsys: not connected")
	// ErrNotRunning: the server or client has not been started.
	ErrNotRunning = errors.New("netsys: not running")
	// ErrAlreadyRunning: Start or Connect was called on a running object.
	ErrAlreadyRunning = errors.New("netsys: already running")
	// ErrNotFound: no session has the given id.
	ErrNotFound = errors.New("netsys: not found")
	// ErrNotDelivered: a message accepted by Send could not be delivered.
	ErrNotDelivered = errors.New("netsys: message not delivered")
	// ErrTransform: a compression codec or transform failed on a message.
	ErrTransform = errors.New("netsys: transform failed")
	// ErrUnsupported: the peer does not support a feature this side asked
	// for; the connection goes on without it (acknowledged delivery not
	// agreed by the server: the default delivery guarantees apply).
	ErrUnsupported = errors.New("netsys: not supported by the peer")
	// ErrHandlerPanic: a user handler panicked; the loop and the connection
	// carry on, and the panic is reported through OnError.
	ErrHandlerPanic = errors.New("netsys: handler panicked")
	// ErrWouldBlockLoop: the call would have to wait for an event loop, and
	// it was made on one (inside a handler, of any server or client): the
	// loop that must do the work, or one another loop waits for, is the
	// caller. Such calls fail at once with it instead of stalling or
	// deadlocking; ConnectAsync, Send without a timeout and Stop (which
	// returns at once from a handler) never need to wait.
	ErrWouldBlockLoop = errors.New("netsys: would block an event loop")
)

// Refined kinds: each also matches the broader sentinel named in its
// comment with errors.Is, so code written against the broader one keeps
// working, while the C ABI (and any caller) tells them apart by kind
// instead of by the operation's name.
var (
	// ErrBadAddress: the bind address is not an IP literal or "localhost"
	// (also ErrInvalidArgument).
	ErrBadAddress error = &refinedKind{"netsys: bad address", ErrInvalidArgument}
	// ErrBind: the system refused to listen on the address, e.g. it is in
	// use or not local (also ErrInvalidArgument).
	ErrBind error = &refinedKind{"netsys: cannot listen", ErrInvalidArgument}
	// ErrSystem: a system resource the engine needs (its event loops)
	// could not be created (also ErrInvalidArgument).
	ErrSystem error = &refinedKind{"netsys: system resources", ErrInvalidArgument}
	// ErrResolve: the host name could not be resolved (also ErrInvalidArgument).
	ErrResolve error = &refinedKind{"netsys: cannot resolve", ErrInvalidArgument}
	// ErrConnect: a connection attempt failed before the handshake
	// completed: refused, unreachable, or closed during it (also ErrClosed).
	ErrConnect error = &refinedKind{"netsys: connect failed", ErrClosed}
)

// refinedKind is a sentinel that narrows a broader one (see above).
type refinedKind struct {
	text  string
	broad error
}

func (k *refinedKind) Error() string { return k.text }

// Unwrap makes errors.Is match the broader sentinel too.
func (k *refinedKind) Unwrap() error { return k.broad }

// listenKind is the kind of a failure to listen: the system's refusal
// (an errno) is ErrBind, anything else about the address ErrBadAddress.
func listenKind(cause error) error {
	var errno syscall.Errno
	if errors.As(cause, &errno) {
		return ErrBind
	}
	return ErrBadAddress
}

// Error carries the operation, the peer and the reason of a failure and
// wraps one of the sentinel errors above.
type Error struct {
	Op     string // operation, e.g. "listen", "connect", "read"
	Addr   string // peer or local address, if any
	Kind   error  // one of the sentinels
	Reason string // human readable detail (the close reason on the wire)
	Err    error  // underlying cause, e.g. a syscall error
}

func (e *Error) Error() string {
	s := e.Op
	if e.Addr != "" {
		s += " " + e.Addr
	}
	s += ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap exposes both the sentinel kind and the cause to errors.Is/As.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

func newError(op, addr string, kind error, reason string, cause error) *Error {
	if reason == "" {
		reason = kind.Error()
	}
	return &Error{Op: op, Addr: addr, Kind: kind, Reason: reason, Err: cause}
}

// UndeliveredError reports messages accepted by Send that never reached the
// peer: sent before a REJECT, or still queued when a connection ended.
type UndeliveredError struct {
	Count  int    // number of messages lost
	Reason string // why they were not delivered
}

func (e *UndeliveredError) Error() string {
	return fmt.Sprintf("netsys: %d message(s) not delivered: %s", e.Count, e.Reason)
}

// Unwrap makes errors.Is(err, ErrNotDelivered) true.
func (e *UndeliveredError) Unwrap() error { return ErrNotDelivered }

// kindOfWireError maps a failure of a frame's processing to a sentinel, a
// close code and the close reason (which the Go error carries too).
func kindOfWireError(err error) (kind error, code uint16, reason string) {
	var pe *wire.ProtocolError
	var te *transformError
	switch {
	case errors.Is(err, wire.ErrTooLarge):
		return ErrTooLarge, wire.CloseTooLarge, err.Error()
	case errors.As(err, &pe):
		return ErrProtocol, wire.CloseProtocolError, pe.Error()
	case errors.As(err, &te):
		return ErrTransform, wire.CloseInternal, te.Error()
	}
	return ErrProtocol, wire.CloseProtocolError, wire.Reason(wire.ReasonProtocol, err.Error())
}

// wireDetail is the detail part of a reason for err: what follows a
// prefix such as "bad hello".
func wireDetail(err error) string {
	var pe *wire.ProtocolError
	if errors.As(err, &pe) {
		return pe.Detail
	}
	return err.Error()
}

// closeCodeError is the kind of a connection the peer closed with a code
// that is neither a normal end nor one of the known error codes: it matches
// ErrClosed but the end is reported as an error (see endedInError).
type closeCodeError struct{ code uint16 }

func (e *closeCodeError) Error() string {
	return fmt.Sprintf("netsys: closed by peer with code %d", e.code)
}

// Unwrap makes errors.Is(err, ErrClosed) true.
func (e *closeCodeError) Unwrap() error { return ErrClosed }

// kindOfCloseCode maps the code of a CLOSE received to the kind the end is
// reported with: 1000 and 1001 are normal ends, every other code an error.
func kindOfCloseCode(code uint16) error {
	switch code {
	case wire.CloseNormal, wire.CloseGoingAway:
		return ErrClosed
	case wire.CloseProtocolError:
		return ErrProtocol
	case wire.CloseTimeout:
		return ErrTimeout
	case wire.CloseTooLarge:
		return ErrTooLarge
	case wire.CloseInternal:
		return ErrTransform
	}
	return &closeCodeError{code: code}
}

// endedInError reports whether a connection that ended with kind ended in
// error (reported through OnError, session state SessionError).
func endedInError(kind error) bool {
	var cce *closeCodeError
	return !errors.Is(kind, ErrClosed) || errors.As(kind, &cce)
}

// transformError is a transform that failed on a message; its text is the
// close reason "transform failed: <name>: <error>".
type transformError struct {
	name string
	err  error
}

func (e *transformError) Error() string {
	// A transform's own error may already say "netsys: transform failed".
	text := strings.TrimPrefix(e.err.Error(), ErrTransform.Error()+": ")
	return wire.Reason(wire.ReasonTransformFailed, e.name+": "+text)
}

// Unwrap exposes both ErrTransform and the transform's own error.
func (e *transformError) Unwrap() []error { return []error{ErrTransform, e.err} }

// formatSizes is the detail of a size over its limit: "2000000 > 1048576".
func formatSizes(size, limit int) string { return fmt.Sprintf("%d > %d", size, limit) }

// reportHandlerPanic gives report (an OnError handler) the error for a
// handler's panic value r, if there was a panic; a panic of report itself
// is dropped, so a failing error handler cannot stop a loop either.
func reportHandlerPanic(r any, report func(error)) {
	if r == nil {
		return
	}
	defer func() { recover() }()
	report(newError("handler", "", ErrHandlerPanic, fmt.Sprintf("handler panicked: %v", r), nil))
}
