package core

import (
	"fmt"
	"runtime"
	"time"
)

// Codec names a compression codec negotiated in the handshake.
type Codec string

// Compression codecs. Snappy is the usual choice when compression is on:
// it compresses within a few percent of zstd's fastest level on JSON-like
// messages at several times its speed (docs/benchmarks.md).
const (
	// CodecSnappy is the Snappy block format (protocol codec 1). The name
	// "s2" is accepted as a synonym.
	CodecSnappy Codec = "snappy"
	// CodecS2 is the former name of CodecSnappy.
	//
	// Deprecated: use CodecSnappy.
	CodecS2 = CodecSnappy
	// CodecZstd is one zstd frame per message (protocol codec 2).
	CodecZstd Codec = "zstd"
)

// Disabled, given as a timeout that has a default (IdleTimeout,
// FrameTimeout, SendStallTimeout), turns it off; zero means the default.
// Any negative duration does the same.
const Disabled time.Duration = -1

// Defaults applied to zero fields of ServerConfig and ClientConfig.
const (
	DefaultPort                    = 8080
	DefaultMaxConnections          = 1000
	DefaultMaxPendingHandshakes    = 256
	DefaultMaxHandshakesPerAddress = 16
	DefaultMessageSizeLimit        = 1 << 20
	DefaultHandshakeTimeout        = 5 * time.Second
	DefaultIdleTimeout             = 30 * time.Second
	DefaultFrameTimeout            = 30 * time.Second
	DefaultSendStallTimeout        = 30 * time.Second
	DefaultSendQueueLimit          = 8 << 20
	DefaultShutdownTimeout         = 5 * time.Second
	DefaultConnectTimeout          = 10 * time.Second
	DefaultMinCompressSize         = 256
	DefaultReconnectInterval       = 500 * time.Millisecond
	DefaultReconnectMax            = 30 * time.Second
	DefaultReconnectQueue          = 10000
	DefaultReconnectQueueBytes     = 64 << 20
	DefaultReconnectQueueTimeout   = 30 * time.Second
	DefaultAckBufferBytes          = 8 << 20
)

// TransportConfig holds the settings servers and clients share. Zero values
// mean "use the default".
type TransportConfig struct {
	// MessageSizeLimit is the largest message accepted from the peer, after
	// decompression (default 1 MiB). Larger frames close the connection with
	// "message too large".
	MessageSizeLimit int
	// SendQueueLimit is the high-water mark, in bytes, of a connection's
	// outbound queue (default 8 MiB). Send fails with ErrBackpressure past it.
	// Control replies (PONG) count too: while the queue is over the mark the
	// connection stops reading from the peer, until it drains below half.
	SendQueueLimit int
	// DisableNoDelay leaves Nagle's algorithm on (TCP_NODELAY is set by default).
	DisableNoDelay bool
	// DisableKeepAlive turns SO_KEEPALIVE off (on by default).
	DisableKeepAlive bool
	// ReceiveBufferSize and SendBufferSize set SO_RCVBUF and SO_SNDBUF when > 0.
	ReceiveBufferSize int
	SendBufferSize    int
	// IdleTimeout closes a connection that received nothing for this long
	// (CLOSE 1008 "idle timeout"); a PING is sent after half of it, or after
	// half the peer's announced timeout if that is shorter, so live peers
	// never hit it. Default 30 s; negative (Disabled) turns it off. It does
	// not run while reading is paused.
	IdleTimeout time.Duration
	// FrameTimeout bounds how long a frame whose first byte arrived may
	// take to complete (CLOSE 1008 "frame timeout"), so a peer trickling a
	// frame cannot hold the connection. Default 30 s; negative turns it off.
	// It does not run while reading is paused.
	FrameTimeout time.Duration
	// SendStallTimeout closes a connection whose queued data could not be
	// written at all for this long (CLOSE 1008 "peer not reading", best
	// effort), releasing its queue. Default 30 s; negative turns it off.
	SendStallTimeout time.Duration
	// Compression lists the codecs this side enables, in order of preference.
	// Empty means no compression.
	Compression []Codec
	// MinCompressSize: smaller messages are sent uncompressed (default 256).
	// Each side compresses with its own threshold.
	MinCompressSize int
	// Transforms names registered transforms (RegisterTransform). A client
	// requests them in this order; a server accepts any of them.
	Transforms []string
	// ShutdownTimeout bounds a graceful close in all: flushing queued data,
	// CLOSE, and delivering what the peer still sends until its CLOSE or
	// EOF (default 5 s).
	ShutdownTimeout time.Duration
	// Acknowledged turns on acknowledged delivery (docs/protocol.md section
	// 4.2), off by default. It takes effect on a connection only when both
	// sides have it; otherwise the connection is an ordinary one (a client
	// reports that fallback through OnError with ErrUnsupported). With it,
	// a client's messages survive a crashed server: the client keeps each
	// message until the server acknowledges it and sends the
	// unacknowledged ones again after reconnecting, and the server drops
	// the ones it already delivered (at-least-once across a server crash,
	// duplicates possible only then). A server's messages are numbered and
	// acknowledged too; those not confirmed when a connection ends are
	// reported with their count (*UndeliveredError).
	Acknowledged bool
	// AckBufferBytes bounds the payload bytes of messages sent and not yet
	// acknowledged that one side keeps: per client (everything it holds,
	// sent or waiting for a connection) and per session (default 8 MiB).
	// Past it Send fails at once with ErrBackpressure, except when nothing
	// is held (one message is always accepted). A message shorter than 32
	// bytes counts as 32 (what keeping it costs), so the memory really held
	// stays within about twice the bound however small the messages are.
	// Only with Acknowledged.
	AckBufferBytes int
}

// ServerConfig configures a Server. Zero values mean "use the default".
type ServerConfig struct {
	TransportConfig
	// Port to listen on; 0 picks an ephemeral port (read it with Port()).
	// NewServer does not apply DefaultPort: callers that want 8080 say so.
	Port int
	// BindAddress to listen on (default "0.0.0.0"; "::" for all IPv6).
	BindAddress string
	// MaxConnections bounds the open sessions (default 1000): a HELLO that
	// arrives when that many are open gets REJECT "server full".
	// Connections still handshaking do not count; see MaxPendingHandshakes.
	MaxConnections int
	// MaxPendingHandshakes bounds the connections accepted whose HELLO has
	// not been processed yet (default 256). A new connection beyond it
	// refuses the oldest pending one (REJECT "server full: too many pending
	// handshakes") and is admitted, so peers that never speak cannot keep
	// others out.
	MaxPendingHandshakes int
	// MaxHandshakesPerAddress is the same bound per source IP address
	// (default 16): a new connection beyond it refuses the oldest pending
	// handshake of that address.
	MaxHandshakesPerAddress int
	// HandshakeTimeout closes connections that send no HELLO in time (5 s).
	HandshakeTimeout time.Duration
	// Loops is the number of event loops (default: one per CPU).
	Loops int
	// SpinBeforeWait makes idle loops poll without sleeping for this long
	// before blocking in epoll_wait: lower latency for more CPU. Zero is off.
	// A spinning loop occupies one of the runtime's GOMAXPROCS slots while it
	// spins; leave spare CPUs (or raise GOMAXPROCS) for the process's other
	// goroutines, or they wait behind it.
	SpinBeforeWait time.Duration
}

// ClientConfig configures a Client. Zero values mean "use the default".
type ClientConfig struct {
	TransportConfig
	// ClientID is sent in HELLO (at most 255 bytes of UTF-8).
	ClientID string
	// ConnectTimeout bounds Connect, including the handshake (10 s).
	ConnectTimeout time.Duration
	// AutoReconnect re-dials after an unexpected disconnect, with exponential
	// backoff from ReconnectInterval to ReconnectMaxInterval and ±20% jitter.
	AutoReconnect        bool
	ReconnectInterval    time.Duration
	ReconnectMaxInterval time.Duration
	// ReconnectQueueLimit bounds the messages queued while disconnected
	// (default 10000); past it Send fails with ErrBackpressure. With
	// Acknowledged, AckBufferBytes bounds them instead.
	ReconnectQueueLimit int
	// ReconnectQueueBytes bounds the payload bytes queued while disconnected
	// (default 64 MiB), whatever their number; past it Send fails with
	// ErrBackpressure. With Acknowledged, AckBufferBytes bounds them instead.
	ReconnectQueueBytes int
	// ReconnectQueueTimeout bounds how long a message waits without an open
	// connection (default 30 s): a message still waiting this long after
	// the later of its Send and the end of the last open connection is
	// reported through OnError (*UndeliveredError) and dropped. It applies
	// to the messages queued while reconnecting and, with Acknowledged, to
	// every message held unacknowledged. It does not run while a
	// connection attempt is under way. Negative turns it off.
	ReconnectQueueTimeout time.Duration
	// Engine runs the connection; nil means the process-wide shared engine.
	Engine *Engine
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// orDisabled applies the default to a zero timeout and maps every negative
// one to Disabled.
func orDisabled(v, def time.Duration) time.Duration {
	if v < 0 {
		return Disabled
	}
	return orDefault(v, def)
}

func (c TransportConfig) withDefaults() (TransportConfig, error) {
	c.MessageSizeLimit = orDefault(c.MessageSizeLimit, DefaultMessageSizeLimit)
	c.SendQueueLimit = orDefault(c.SendQueueLimit, DefaultSendQueueLimit)
	c.MinCompressSize = orDefault(c.MinCompressSize, DefaultMinCompressSize)
	c.ShutdownTimeout = orDefault(c.ShutdownTimeout, DefaultShutdownTimeout)
	c.AckBufferBytes = orDefault(c.AckBufferBytes, DefaultAckBufferBytes)
	c.IdleTimeout = orDisabled(c.IdleTimeout, DefaultIdleTimeout)
	c.FrameTimeout = orDisabled(c.FrameTimeout, DefaultFrameTimeout)
	c.SendStallTimeout = orDisabled(c.SendStallTimeout, DefaultSendStallTimeout)
	if c.MessageSizeLimit < 0 || c.MessageSizeLimit > 1<<30 {
		return c, fmt.Errorf("%w: MessageSizeLimit %d outside 1..%d (1 GiB)", ErrInvalidArgument, c.MessageSizeLimit, 1<<30)
	}
	if err := firstNegative(
		intField("SendQueueLimit", c.SendQueueLimit), intField("ReceiveBufferSize", c.ReceiveBufferSize),
		intField("SendBufferSize", c.SendBufferSize), intField("MinCompressSize", c.MinCompressSize),
		durationField("ShutdownTimeout", c.ShutdownTimeout), intField("AckBufferBytes", c.AckBufferBytes)); err != nil {
		return c, err
	}
	for _, codec := range c.Compression {
		if codecID(codec) == 0 {
			return c, fmt.Errorf("%w: unknown codec %q", ErrInvalidArgument, codec)
		}
	}
	for _, name := range c.Transforms {
		if lookupTransform(name) == nil {
			return c, fmt.Errorf("%w: transform %q is not registered", ErrInvalidArgument, name)
		}
	}
	return c, nil
}

func (c ServerConfig) withDefaults() (ServerConfig, error) {
	var err error
	if c.TransportConfig, err = c.TransportConfig.withDefaults(); err != nil {
		return c, err
	}
	c.BindAddress = orDefault(c.BindAddress, "0.0.0.0")
	c.MaxConnections = orDefault(c.MaxConnections, DefaultMaxConnections)
	c.MaxPendingHandshakes = orDefault(c.MaxPendingHandshakes, DefaultMaxPendingHandshakes)
	c.MaxHandshakesPerAddress = orDefault(c.MaxHandshakesPerAddress, DefaultMaxHandshakesPerAddress)
	c.HandshakeTimeout = orDefault(c.HandshakeTimeout, DefaultHandshakeTimeout)
	c.Loops = orDefault(c.Loops, runtime.NumCPU())
	if c.Port < 0 || c.Port > 65535 {
		return c, fmt.Errorf("%w: Port %d outside 0..65535", ErrInvalidArgument, c.Port)
	}
	return c, firstNegative(
		intField("MaxConnections", c.MaxConnections), intField("MaxPendingHandshakes", c.MaxPendingHandshakes),
		intField("MaxHandshakesPerAddress", c.MaxHandshakesPerAddress), intField("Loops", c.Loops),
		durationField("HandshakeTimeout", c.HandshakeTimeout))
}

func (c ClientConfig) withDefaults() (ClientConfig, error) {
	var err error
	if c.TransportConfig, err = c.TransportConfig.withDefaults(); err != nil {
		return c, err
	}
	c.ConnectTimeout = orDefault(c.ConnectTimeout, DefaultConnectTimeout)
	c.ReconnectInterval = orDefault(c.ReconnectInterval, DefaultReconnectInterval)
	c.ReconnectMaxInterval = orDefault(c.ReconnectMaxInterval, DefaultReconnectMax)
	c.ReconnectQueueLimit = orDefault(c.ReconnectQueueLimit, DefaultReconnectQueue)
	c.ReconnectQueueBytes = orDefault(c.ReconnectQueueBytes, DefaultReconnectQueueBytes)
	c.ReconnectQueueTimeout = orDisabled(c.ReconnectQueueTimeout, DefaultReconnectQueueTimeout)
	if len(c.ClientID) > 255 {
		return c, fmt.Errorf("%w: ClientID of %d bytes is longer than 255", ErrInvalidArgument, len(c.ClientID))
	}
	return c, firstNegative(durationField("ConnectTimeout", c.ConnectTimeout),
		durationField("ReconnectInterval", c.ReconnectInterval),
		intField("ReconnectQueueLimit", c.ReconnectQueueLimit), intField("ReconnectQueueBytes", c.ReconnectQueueBytes))
}

// field is a configuration value checked by firstNegative, with the name a
// caller sees in the error.
type field struct {
	name  string
	value int64
	text  string // the value as the error shows it; empty for a plain number
}

func durationField(name string, d time.Duration) field {
	return field{name: name, value: int64(d), text: d.String()}
}

// firstNegative returns an ErrInvalidArgument error naming the first field
// below zero and its value, or nil.
func firstNegative(fields ...field) error {
	for _, f := range fields {
		if f.value >= 0 {
			continue
		}
		text := f.text
		if text == "" {
			text = fmt.Sprint(f.value)
		}
		return fmt.Errorf("%w: %s is %s, must not be negative", ErrInvalidArgument, f.name, text)
	}
	return nil
}

func intField(name string, v int) field { return field{name: name, value: int64(v)} }
