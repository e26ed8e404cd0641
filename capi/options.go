package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/netsys/netsys/core"
)

// Option ids; the values are the ABI and must match netsys_option in
// include/netsys.h.
const (
	optMessageSizeLimit    = 1
	optSendQueueLimit      = 2
	optNoDelay             = 3
	optKeepAlive           = 4
	optReceiveBufferSize   = 5
	optSendBufferSize      = 6
	optIdleTimeoutMS       = 7
	optCompression         = 8
	optMinCompressSize     = 9
	optTransforms          = 10
	optShutdownTimeoutMS   = 11
	optFrameTimeoutMS      = 12
	optSendStallTimeoutMS  = 13
	optAcknowledged        = 14
	optAckBufferBytes      = 15
	optPort                = 20
	optBindAddress         = 21
	optMaxConnections      = 22
	optHandshakeTimeoutMS  = 23
	optLoops               = 24
	optSpinBeforeWaitUS    = 25
	optMaxPendingHandshake = 26
	optMaxHandshakesPerIP  = 27
	optClientID            = 40
	optConnectTimeoutMS    = 41
	optAutoReconnect       = 42
	optReconnectIntervalMS = 43
	optReconnectMaxMS      = 44
	optReconnectQueueLimit = 45
	optReconnectQueueBytes = 46
	optReconnectQueueMS    = 47
	optDelivery            = 60
	optCallbackWorkers     = 61
	optEventQueueLimit     = 62
	optEventQueueBytes     = 63
)

type optionKind int

const (
	intOption optionKind = iota
	boolOption
	stringOption
)

// optionInfo says what an option is and which objects take it.
type optionInfo struct {
	name           string
	kind           optionKind
	server, client bool
}

var options = map[int]optionInfo{
	optMessageSizeLimit:    {"NETSYS_OPT_MESSAGE_SIZE_LIMIT", intOption, true, true},
	optSendQueueLimit:      {"NETSYS_OPT_SEND_QUEUE_LIMIT", intOption, true, true},
	optNoDelay:             {"NETSYS_OPT_NO_DELAY", boolOption, true, true},
	optKeepAlive:           {"NETSYS_OPT_KEEP_ALIVE", boolOption, true, true},
	optReceiveBufferSize:   {"NETSYS_OPT_RECEIVE_BUFFER_SIZE", intOption, true, true},
	optSendBufferSize:      {"NETSYS_OPT_SEND_BUFFER_SIZE", intOption, true, true},
	optIdleTimeoutMS:       {"NETSYS_OPT_IDLE_TIMEOUT_MS", intOption, true, true},
	optCompression:         {"NETSYS_OPT_COMPRESSION", stringOption, true, true},
	optMinCompressSize:     {"NETSYS_OPT_MIN_COMPRESS_SIZE", intOption, true, true},
	optTransforms:          {"NETSYS_OPT_TRANSFORMS", stringOption, true, true},
	optShutdownTimeoutMS:   {"NETSYS_OPT_SHUTDOWN_TIMEOUT_MS", intOption, true, true},
	optFrameTimeoutMS:      {"NETSYS_OPT_FRAME_TIMEOUT_MS", intOption, true, true},
	optSendStallTimeoutMS:  {"NETSYS_OPT_SEND_STALL_TIMEOUT_MS", intOption, true, true},
	optAcknowledged:        {"NETSYS_OPT_ACKNOWLEDGED", boolOption, true, true},
	optAckBufferBytes:      {"NETSYS_OPT_ACK_BUFFER_BYTES", intOption, true, true},
	optPort:                {"NETSYS_OPT_PORT", intOption, true, false},
	optBindAddress:         {"NETSYS_OPT_BIND_ADDRESS", stringOption, true, false},
	optMaxConnections:      {"NETSYS_OPT_MAX_CONNECTIONS", intOption, true, false},
	optHandshakeTimeoutMS:  {"NETSYS_OPT_HANDSHAKE_TIMEOUT_MS", intOption, true, false},
	optLoops:               {"NETSYS_OPT_LOOPS", intOption, true, false},
	optSpinBeforeWaitUS:    {"NETSYS_OPT_SPIN_BEFORE_WAIT_US", intOption, true, false},
	optMaxPendingHandshake: {"NETSYS_OPT_MAX_PENDING_HANDSHAKES", intOption, true, false},
	optMaxHandshakesPerIP:  {"NETSYS_OPT_MAX_HANDSHAKES_PER_ADDRESS", intOption, true, false},
	optClientID:            {"NETSYS_OPT_CLIENT_ID", stringOption, false, true},
	optConnectTimeoutMS:    {"NETSYS_OPT_CONNECT_TIMEOUT_MS", intOption, false, true},
	optAutoReconnect:       {"NETSYS_OPT_AUTO_RECONNECT", boolOption, false, true},
	optReconnectIntervalMS: {"NETSYS_OPT_RECONNECT_INTERVAL_MS", intOption, false, true},
	optReconnectMaxMS:      {"NETSYS_OPT_RECONNECT_MAX_INTERVAL_MS", intOption, false, true},
	optReconnectQueueLimit: {"NETSYS_OPT_RECONNECT_QUEUE_LIMIT", intOption, false, true},
	optReconnectQueueBytes: {"NETSYS_OPT_RECONNECT_QUEUE_BYTES", intOption, false, true},
	optReconnectQueueMS:    {"NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS", intOption, false, true},
	optDelivery:            {"NETSYS_OPT_DELIVERY", intOption, true, true},
	optCallbackWorkers:     {"NETSYS_OPT_CALLBACK_WORKERS", intOption, true, true},
	optEventQueueLimit:     {"NETSYS_OPT_EVENT_QUEUE_LIMIT", intOption, true, true},
	optEventQueueBytes:     {"NETSYS_OPT_EVENT_QUEUE_BYTES", intOption, true, true},
}

// settings is the full configuration of one object: the core's config
// (exactly one of server and client is set) and the C layer's delivery.
type settings struct {
	server   *core.ServerConfig
	client   *core.ClientConfig
	delivery *deliveryConfig
}

func (s settings) transport() *core.TransportConfig {
	if s.server != nil {
		return &s.server.TransportConfig
	}
	return &s.client.TransportConfig
}

// checkOption finds the option and checks that it fits the object and the
// value type; it returns the status to report otherwise.
func (s settings) checkOption(opt int, kind optionKind) (optionInfo, status) {
	info, ok := options[opt]
	if !ok {
		return info, fail(errUnsupported, "unknown option %d (this library is version %s)", opt, core.Version)
	}
	if s.server != nil && !info.server || s.client != nil && !info.client {
		what := "servers"
		if s.client != nil {
			what = "clients"
		}
		return info, fail(errUnsupported, "option %s does not apply to %s", info.name, what)
	}
	if (kind == stringOption) != (info.kind == stringOption) {
		return info, fail(errInvalidArgument, "option %s is not a%s option", info.name,
			map[bool]string{true: " string", false: "n integer"}[kind == stringOption])
	}
	return info, statusOK
}

const maxMillis = math.MaxInt64 / int64(time.Millisecond)

// optionOff is the value that turns off a timeout whose 0 means "the
// default" (the idle, frame and send-stall timeouts).
const optionOff = -1

// hasOff reports whether an option accepts optionOff.
func hasOff(opt int) bool {
	return opt == optIdleTimeoutMS || opt == optFrameTimeoutMS || opt == optSendStallTimeoutMS ||
		opt == optReconnectQueueMS
}

// offOrMillis converts an option value in milliseconds, optionOff
// becoming core.Disabled.
func offOrMillis(v int64) time.Duration {
	if v == optionOff {
		return core.Disabled
	}
	return time.Duration(v) * time.Millisecond
}

// millisOrOff is offOrMillis reversed: a disabled timeout reads as -1.
func millisOrOff(d time.Duration) int64 {
	if d < 0 {
		return optionOff
	}
	return int64(d / time.Millisecond)
}

// setInt stores an integer option; range checks that the core does not do
// itself (it validates the whole config afterwards) are done here.
func (s settings) setInt(opt int, v int64) status {
	info, rc := s.checkOption(opt, intOption)
	if rc != statusOK {
		return rc
	}
	switch {
	case v == optionOff && hasOff(opt):
	case v < 0 && hasOff(opt):
		return fail(errInvalidArgument, "option %s takes -1 (off), 0 (default) or a positive value (got %d)", info.name, v)
	case v < 0:
		return fail(errInvalidArgument, "option %s must not be negative (got %d)", info.name, v)
	case info.kind == boolOption && v > 1:
		return fail(errInvalidArgument, "option %s takes 0 or 1 (got %d)", info.name, v)
	case v > math.MaxInt32 && !strings.HasSuffix(info.name, "_MS") && !strings.HasSuffix(info.name, "_US"):
		return fail(errInvalidArgument, "option %s: %d is out of range", info.name, v)
	case v > maxMillis:
		return fail(errInvalidArgument, "option %s: %d is out of range", info.name, v)
	}
	n, ms := int(v), time.Duration(v)*time.Millisecond
	t := s.transport()
	switch opt {
	case optMessageSizeLimit:
		t.MessageSizeLimit = n
	case optSendQueueLimit:
		t.SendQueueLimit = n
	case optNoDelay:
		t.DisableNoDelay = v == 0
	case optKeepAlive:
		t.DisableKeepAlive = v == 0
	case optReceiveBufferSize:
		t.ReceiveBufferSize = n
	case optSendBufferSize:
		t.SendBufferSize = n
	case optIdleTimeoutMS:
		t.IdleTimeout = offOrMillis(v)
	case optFrameTimeoutMS:
		t.FrameTimeout = offOrMillis(v)
	case optSendStallTimeoutMS:
		t.SendStallTimeout = offOrMillis(v)
	case optMinCompressSize:
		t.MinCompressSize = n
	case optAcknowledged:
		t.Acknowledged = v == 1
	case optAckBufferBytes:
		t.AckBufferBytes = n
	case optShutdownTimeoutMS:
		t.ShutdownTimeout = ms
	case optPort:
		if v > 65535 {
			return fail(errInvalidArgument, "port %d is outside 0..65535", v)
		}
		s.server.Port = n
	case optMaxConnections:
		s.server.MaxConnections = n
	case optMaxPendingHandshake:
		s.server.MaxPendingHandshakes = n
	case optMaxHandshakesPerIP:
		s.server.MaxHandshakesPerAddress = n
	case optHandshakeTimeoutMS:
		s.server.HandshakeTimeout = ms
	case optLoops:
		if v > 1024 {
			return fail(errInvalidArgument, "%d event loops is more than 1024", v)
		}
		s.server.Loops = n
	case optSpinBeforeWaitUS:
		if v > 1_000_000 {
			return fail(errInvalidArgument, "spin of %d µs is more than one second", v)
		}
		s.server.SpinBeforeWait = time.Duration(v) * time.Microsecond
	case optConnectTimeoutMS:
		s.client.ConnectTimeout = ms
	case optAutoReconnect:
		s.client.AutoReconnect = v == 1
	case optReconnectIntervalMS:
		s.client.ReconnectInterval = ms
	case optReconnectMaxMS:
		s.client.ReconnectMaxInterval = ms
	case optReconnectQueueLimit:
		s.client.ReconnectQueueLimit = n
	case optReconnectQueueBytes:
		s.client.ReconnectQueueBytes = n
	case optReconnectQueueMS:
		s.client.ReconnectQueueTimeout = offOrMillis(v)
	case optDelivery:
		if v > deliveryEvents {
			return fail(errInvalidArgument, "delivery mode %d is neither NETSYS_DELIVERY_CALLBACKS (0) nor NETSYS_DELIVERY_EVENTS (1)", v)
		}
		s.delivery.mode = n
	case optCallbackWorkers:
		if v > maxWorkers {
			return fail(errInvalidArgument, "%d callback workers is more than %d", v, maxWorkers)
		}
		s.delivery.workers = n
	case optEventQueueLimit:
		s.delivery.queueLimit = n
	case optEventQueueBytes:
		s.delivery.queueBytes = n
	}
	return statusOK
}

// getInt reads an integer option as stored (0 = default, -1 = off).
func (s settings) getInt(opt int) (int64, status) {
	if _, rc := s.checkOption(opt, intOption); rc != statusOK {
		return 0, rc
	}
	t := s.transport()
	b := func(v bool) int64 {
		if v {
			return 1
		}
		return 0
	}
	ms := func(d time.Duration) int64 { return int64(d / time.Millisecond) }
	switch opt {
	case optMessageSizeLimit:
		return int64(t.MessageSizeLimit), statusOK
	case optSendQueueLimit:
		return int64(t.SendQueueLimit), statusOK
	case optNoDelay:
		return b(!t.DisableNoDelay), statusOK
	case optKeepAlive:
		return b(!t.DisableKeepAlive), statusOK
	case optReceiveBufferSize:
		return int64(t.ReceiveBufferSize), statusOK
	case optSendBufferSize:
		return int64(t.SendBufferSize), statusOK
	case optIdleTimeoutMS:
		return millisOrOff(t.IdleTimeout), statusOK
	case optFrameTimeoutMS:
		return millisOrOff(t.FrameTimeout), statusOK
	case optSendStallTimeoutMS:
		return millisOrOff(t.SendStallTimeout), statusOK
	case optMinCompressSize:
		return int64(t.MinCompressSize), statusOK
	case optAcknowledged:
		return b(t.Acknowledged), statusOK
	case optAckBufferBytes:
		return int64(t.AckBufferBytes), statusOK
	case optShutdownTimeoutMS:
		return ms(t.ShutdownTimeout), statusOK
	case optPort:
		return int64(s.server.Port), statusOK
	case optMaxConnections:
		return int64(s.server.MaxConnections), statusOK
	case optMaxPendingHandshake:
		return int64(s.server.MaxPendingHandshakes), statusOK
	case optMaxHandshakesPerIP:
		return int64(s.server.MaxHandshakesPerAddress), statusOK
	case optHandshakeTimeoutMS:
		return ms(s.server.HandshakeTimeout), statusOK
	case optLoops:
		return int64(s.server.Loops), statusOK
	case optSpinBeforeWaitUS:
		return int64(s.server.SpinBeforeWait / time.Microsecond), statusOK
	case optConnectTimeoutMS:
		return ms(s.client.ConnectTimeout), statusOK
	case optAutoReconnect:
		return b(s.client.AutoReconnect), statusOK
	case optReconnectIntervalMS:
		return ms(s.client.ReconnectInterval), statusOK
	case optReconnectMaxMS:
		return ms(s.client.ReconnectMaxInterval), statusOK
	case optReconnectQueueLimit:
		return int64(s.client.ReconnectQueueLimit), statusOK
	case optReconnectQueueBytes:
		return int64(s.client.ReconnectQueueBytes), statusOK
	case optReconnectQueueMS:
		return millisOrOff(s.client.ReconnectQueueTimeout), statusOK
	case optDelivery:
		return int64(s.delivery.mode), statusOK
	case optCallbackWorkers:
		return int64(s.delivery.workers), statusOK
	case optEventQueueLimit:
		return int64(s.delivery.queueLimit), statusOK
	case optEventQueueBytes:
		return int64(s.delivery.queueBytes), statusOK
	}
	return 0, fail(errInternal, "option %d has no getter", opt)
}

// splitList parses a comma-separated list; blanks around names are ignored.
func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// setString stores a string option.
func (s settings) setString(opt int, v string) status {
	if _, rc := s.checkOption(opt, stringOption); rc != statusOK {
		return rc
	}
	t := s.transport()
	switch opt {
	case optCompression:
		t.Compression = nil
		for _, name := range splitList(v) {
			t.Compression = append(t.Compression, core.Codec(name))
		}
	case optTransforms:
		t.Transforms = splitList(v)
	case optBindAddress:
		s.server.BindAddress = v
	case optClientID:
		if len(v) > 255 {
			return fail(errInvalidArgument, "client id of %d bytes is longer than 255", len(v))
		}
		s.client.ClientID = v
	}
	return statusOK
}

// getString reads a string option; lists come back comma-separated.
func (s settings) getString(opt int) (string, status) {
	if _, rc := s.checkOption(opt, stringOption); rc != statusOK {
		return "", rc
	}
	t := s.transport()
	switch opt {
	case optCompression:
		names := make([]string, len(t.Compression))
		for i, c := range t.Compression {
			names[i] = string(c)
		}
		return strings.Join(names, ","), statusOK
	case optTransforms:
		return strings.Join(t.Transforms, ","), statusOK
	case optBindAddress:
		return s.server.BindAddress, statusOK
	case optClientID:
		return s.client.ClientID, statusOK
	}
	return "", fail(errInternal, "option %d has no getter", opt)
}

// optionError describes a config the core refused, for the last error.
func optionError(err error) status {
	return fail(statusOf(err), "invalid configuration: %v", fmt.Sprint(err))
}
