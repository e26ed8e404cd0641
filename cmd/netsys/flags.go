package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/netsys/netsys/core"
)

// errUsageShown: the flag package has already printed the problem and the
// usage; exit 2 without saying it again.
var errUsageShown = errors.New("usage error (shown)")

// parse parses the flags and keeps the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w", errUsageShown)
	}
	return fs.Args(), nil
}

// usagef is a command-line mistake found after parsing.
func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// optionalInt is an int flag that knows whether it was given (its default
// is computed later, so --help shows none).
type optionalInt struct {
	n   int
	set bool
}

func (v *optionalInt) String() string {
	if v == nil || !v.set {
		return ""
	}
	return strconv.Itoa(v.n)
}

func (v *optionalInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("%q is not a count", s)
	}
	v.n, v.set = n, true
	return nil
}

// sizeValue is a byte count flag that takes 4096, 64K, 1M, 1MiB, 2G.
type sizeValue struct{ n int }

func (v *sizeValue) String() string {
	if v == nil || v.n == 0 {
		return "" // unset: the library's default, which the usage text names
	}
	return formatSize(v.n)
}

func (v *sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	v.n = n
	return nil
}

func parseSize(s string) (int, error) {
	text := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "IB"), "B")
	multiplier := 1
	if text != "" {
		switch text[len(text)-1] {
		case 'K':
			multiplier = 1 << 10
		case 'M':
			multiplier = 1 << 20
		case 'G':
			multiplier = 1 << 30
		}
		if multiplier > 1 {
			text = text[:len(text)-1]
		}
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < 0 || n > (1<<31-1)/multiplier {
		return 0, fmt.Errorf("%q is not a size (bytes, or with K, M, G: 64K, 1M)", s)
	}
	return n * multiplier, nil
}

func formatSize(n int) string {
	switch {
	case n == 0:
		return "0"
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%dK", n>>10)
	}
	return strconv.Itoa(n)
}

// transportFlags are the settings servers and clients share. A flag left
// unset keeps the library's default (a zero field in core's config).
type transportFlags struct {
	maxMessage      sizeValue
	sendQueue       sizeValue
	compress        string
	minCompress     sizeValue
	idleTimeout     time.Duration
	shutdownTimeout time.Duration
}

// Options for TLS belong next to these once the library has a TLS layer
// (docs/architecture.md, "byte-stream layer"): --tls-cert, --tls-key and
// --tls-ca for servers, --tls-ca and --tls-server-name for clients. They are
// not offered before they do something.
func (t *transportFlags) register(fs *flag.FlagSet) {
	fs.Var(&t.maxMessage, "max-message", "largest message accepted from the peer, as a `SIZE` such as 64K or 1M (default: the library's, 1M)")
	fs.Var(&t.sendQueue, "send-queue", "high-water mark of the outbound queue, a `SIZE` (default: the library's, 8M)")
	fs.StringVar(&t.compress, "compress", "", "enable compression with these `CODECS`: snappy, zstd, or both in order of preference (snappy,zstd)")
	fs.Var(&t.minCompress, "min-compress", "messages smaller than this `SIZE` are sent uncompressed (default: the library's, 256)")
	fs.DurationVar(&t.idleTimeout, "idle-timeout", 0, "close a connection that received nothing for this long; a PING is sent after half (default: the library's)")
	fs.DurationVar(&t.shutdownTimeout, "shutdown-timeout", 0, "how long a graceful stop flushes queued messages (default: the library's, 5s)")
}

func (t *transportFlags) config() (core.TransportConfig, error) {
	codecs, err := parseCodecs(t.compress)
	if err != nil {
		return core.TransportConfig{}, err
	}
	if t.idleTimeout < 0 || t.shutdownTimeout < 0 {
		return core.TransportConfig{}, usagef("timeouts must be positive")
	}
	return core.TransportConfig{
		MessageSizeLimit: t.maxMessage.n,
		SendQueueLimit:   t.sendQueue.n,
		Compression:      codecs,
		MinCompressSize:  t.minCompress.n,
		IdleTimeout:      t.idleTimeout,
		ShutdownTimeout:  t.shutdownTimeout,
	}, nil
}

// parseCodecs maps the wire names of docs/protocol.md to core's codecs.
// "s2" is accepted as the older name of codec 1.
func parseCodecs(list string) ([]core.Codec, error) {
	if list == "" {
		return nil, nil
	}
	var codecs []core.Codec
	for _, name := range strings.Split(list, ",") {
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "snappy", "s2":
			codecs = append(codecs, core.CodecSnappy)
		case "zstd":
			codecs = append(codecs, core.CodecZstd)
		default:
			return nil, usagef("unknown codec %q for --compress (snappy, zstd)", name)
		}
	}
	return codecs, nil
}

// clientFlags configure a core.Client.
type clientFlags struct {
	transportFlags
	id             string
	connectTimeout time.Duration
}

func (c *clientFlags) register(fs *flag.FlagSet, defaultID string) {
	c.transportFlags.register(fs)
	fs.StringVar(&c.id, "id", defaultID, "client id sent in the handshake")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", 0, "bound on connecting, handshake included (default: the library's, 10s)")
}

func (c *clientFlags) config() (core.ClientConfig, error) {
	transport, err := c.transportFlags.config()
	if err != nil {
		return core.ClientConfig{}, err
	}
	if c.connectTimeout < 0 {
		return core.ClientConfig{}, usagef("--connect-timeout must be positive")
	}
	return core.ClientConfig{TransportConfig: transport, ClientID: c.id, ConnectTimeout: c.connectTimeout}, nil
}

// serverFlags configure a core.Server.
type serverFlags struct {
	transportFlags
	bind             string
	port             int
	maxConnections   int
	handshakeTimeout time.Duration
	loops            int
	statsInterval    time.Duration
	duration         time.Duration
}

func (s *serverFlags) register(fs *flag.FlagSet) {
	s.transportFlags.register(fs)
	fs.StringVar(&s.bind, "bind", "127.0.0.1", "address to listen on (0.0.0.0 or :: for every interface)")
	fs.IntVar(&s.port, "port", core.DefaultPort, "port to listen on (0: an ephemeral port, printed at start)")
	fs.IntVar(&s.maxConnections, "max-connections", 0, "open sessions beyond which new clients get REJECT \"server full\" (default: the library's, 1000)")
	fs.DurationVar(&s.handshakeTimeout, "handshake-timeout", 0, "close connections that do not complete the handshake in time (default: the library's)")
	fs.IntVar(&s.loops, "loops", 0, "event loops (default: one per CPU)")
	fs.DurationVar(&s.statsInterval, "stats-interval", 0, "print the server's statistics this often (always printed at exit)")
	fs.DurationVar(&s.duration, "duration", 0, "stop after this long (default: run until SIGINT or SIGTERM)")
}

func (s *serverFlags) config() (core.ServerConfig, error) {
	transport, err := s.transportFlags.config()
	if err != nil {
		return core.ServerConfig{}, err
	}
	if s.port < 0 || s.port > 65535 {
		return core.ServerConfig{}, usagef("--port %d is not in 0..65535", s.port)
	}
	if s.maxConnections < 0 || s.loops < 0 || s.handshakeTimeout < 0 || s.statsInterval < 0 || s.duration < 0 {
		return core.ServerConfig{}, usagef("counts and durations must be positive")
	}
	return core.ServerConfig{
		TransportConfig: transport, BindAddress: s.bind, Port: s.port,
		MaxConnections: s.maxConnections, HandshakeTimeout: s.handshakeTimeout, Loops: s.loops,
	}, nil
}

// splitAddress reads HOST:PORT (IPv6 in brackets).
func splitAddress(address string) (string, int, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, usagef("%q is not HOST:PORT", address)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, usagef("port %q in %q is not in 1..65535", portText, address)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

// formatFlag says how messages are printed: as text lines, Go-quoted, hex, or raw bytes.
type formatFlag struct{ name string }

func (f *formatFlag) String() string { return f.name }

func (f *formatFlag) Set(s string) error {
	switch s {
	case "text", "quoted", "hex", "raw":
		f.name = s
		return nil
	}
	return fmt.Errorf("%q is not text, quoted, hex or raw", s)
}

func registerFormat(fs *flag.FlagSet) *formatFlag {
	f := &formatFlag{name: "text"}
	fs.Var(f, "format", "how messages are printed, a `FORMAT`: text (one per line), quoted (Go syntax, safe for binary), hex, raw (bytes as received, no separator)")
	return f
}

// print writes one message in the chosen format.
func (f *formatFlag) print(w io.Writer, prefix string, msg []byte) {
	switch f.name {
	case "quoted":
		fmt.Fprintf(w, "%s%q\n", prefix, msg)
	case "hex":
		fmt.Fprintf(w, "%s%s\n", prefix, hex.EncodeToString(msg))
	case "raw":
		io.WriteString(w, prefix)
		w.Write(msg)
	default:
		fmt.Fprintf(w, "%s%s\n", prefix, msg)
	}
}
