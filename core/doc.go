// Package core is netsys's messaging engine for Go programs: a TCP message
// transport whose connections are served by a small set of event loops
// (epoll on Linux, kqueue on the BSDs and macOS) instead of a goroutine per
// connection. The C library libnetsys and its C++ and Python bindings are
// built on this package, so a Go server and a C++ or Python client speak the
// same protocol (docs/protocol.md).
//
// The surface follows the kcenon/network_system C++ library:
//
//   - [Server] (messaging_server) listens, accepts clients after a short
//     handshake and calls its handlers with a [Session] for each peer.
//   - [Client] (messaging_client) connects to a server, optionally
//     reconnecting by itself, and sends and receives messages.
//   - [Session] (messaging_session) is one connected peer on the server side.
//
// A message is a byte slice delivered whole: the transport frames it, may
// compress it (snappy or zstd, negotiated per connection) and never splits or
// merges messages.
//
// # Handlers and threading
//
// Handlers run on the event loop that owns the connection, one at a time per
// connection and in the order the messages arrived. A handler must not block
// for long: the loop serves other connections too. The byte slice a message
// handler receives is valid only until the handler returns; copy it to keep
// it. Every method of Server, Client and Session is safe for concurrent use,
// including from handlers; a call that would have to wait for the very loop
// it is called from fails at once instead of deadlocking.
//
// # Errors
//
// Every error returned by this package matches one of the sentinel errors
// ([ErrClosed], [ErrTimeout], [ErrTooLarge], ...) with errors.Is. Failures
// that concern an operation or a peer are an [*Error], which names the
// operation, the address and the reason, and wraps the system error behind
// it when there is one (so errors.Is(err, syscall.ECONNREFUSED) works for a
// refused connect). Messages accepted by Send that never reached the peer are
// reported as an [*UndeliveredError]: nothing is dropped silently.
//
// # Bounds
//
// Memory held for a peer follows the bytes it really sent, every queue is
// bounded in bytes, and a peer that breaks the protocol is closed with a
// reason without disturbing the others. The limits are fields of
// [ServerConfig] and [ClientConfig]; their zero values select the defaults
// listed with the Default constants.
package core
