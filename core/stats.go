package core

import (
	"sync/atomic"
	"time"
)

// ServerStatistics is a snapshot of a server's counters since start or the
// last ResetStatistics.
type ServerStatistics struct {
	TotalConnections    uint64 // connections accepted (handshaking or open)
	CurrentConnections  uint64 // connections open now
	RejectedConnections uint64 // refused with REJECT (server full, bad hello, ...)
	MessagesSent        uint64
	MessagesReceived    uint64
	BytesSent           uint64 // message payload bytes, before compression
	BytesReceived       uint64 // message payload bytes, after decompression
	ProtocolErrors      uint64 // connections closed for a protocol violation
	OversizeMessages    uint64 // connections closed for "message too large"
	// DuplicatesDropped counts messages of acknowledged delivery received
	// again after a reconnect and dropped because they were delivered.
	DuplicatesDropped uint64
	StartTime         time.Time
	LastActivity      time.Time
}

// SessionStatistics is a snapshot of one session's counters. What a read
// of the connection brings, and what its handlers send back to it from
// that read, is counted (here and in the server's totals) when the read's
// handlers have all returned: a handler sees the counters as they were
// before its read.
type SessionStatistics struct {
	MessagesSent     uint64
	MessagesReceived uint64
	BytesSent        uint64
	BytesReceived    uint64
	Errors           uint64
	LastMessageTime  time.Time
}

// ClientStatistics is a snapshot of a client's counters.
type ClientStatistics struct {
	MessagesSent     uint64
	MessagesReceived uint64
	BytesSent        uint64
	BytesReceived    uint64
	Errors           uint64
	Reconnects       uint64
	LastMessageTime  time.Time
}

// traffic counts messages and bytes in both directions; all fields atomic.
type traffic struct {
	msgsSent, msgsRecv   atomic.Uint64
	bytesSent, bytesRecv atomic.Uint64
	lastMessage          atomic.Int64 // unix nanoseconds
}

func (t *traffic) sent(n int) { t.sentMany(1, uint64(n)) }

// Bytes are added before messages, and Statistics loads messages before
// bytes: a reader that sees a message counted sees its bytes too (the two
// counters are not one atomic value).
func (t *traffic) sentMany(msgs, bytes uint64) {
	t.bytesSent.Add(bytes)
	t.msgsSent.Add(msgs)
}

func (t *traffic) recv(msgs, bytes uint64, now time.Time) {
	t.bytesRecv.Add(bytes)
	t.msgsRecv.Add(msgs)
	t.lastMessage.Store(now.UnixNano())
}

func (t *traffic) reset() {
	t.msgsSent.Store(0)
	t.msgsRecv.Store(0)
	t.bytesSent.Store(0)
	t.bytesRecv.Store(0)
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
