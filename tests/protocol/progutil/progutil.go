// Package progutil holds what the conformance suite's Go programs (the
// server under tests/protocol/servers and the client driver under
// tests/protocol/drivers) share: JSON event lines on stdout, error kinds,
// the suite's test transforms, and configuration helpers that work against
// every netsys version the suite is run with.
//
// The suite's peer (Python, tests/protocol/peer) shares nothing with this
// package or with core/: these programs are netsys applications under test.
package progutil

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/adler32"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/netsys/netsys/core"
)

var (
	outMu       sync.Mutex
	unsupported bool // an option asked for is missing from this library
)

// Unsupported reports whether SetField met an option this library lacks.
func Unsupported() bool {
	outMu.Lock()
	defer outMu.Unlock()
	return unsupported
}

// Emit writes one JSON object as a line on stdout. Keys and values come in
// pairs; the suite reads these lines to learn what the application saw.
func Emit(event string, kv ...any) {
	m := map[string]any{"ev": event}
	for i := 0; i+1 < len(kv); i += 2 {
		m[fmt.Sprint(kv[i])] = kv[i+1]
	}
	line, err := json.Marshal(m)
	if err != nil {
		line = []byte(fmt.Sprintf(`{"ev":"note","msg":%q}`, err.Error()))
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(line, '\n'))
}

// TextFields describes a string received from the library: JSON cannot
// carry invalid UTF-8, so the raw bytes go along in hex.
func TextFields(name, s string) []any {
	return []any{name, s, name + "_hex", hex.EncodeToString([]byte(s))}
}

// Kind names the sentinel an error matches, in the suite's shared
// vocabulary (the C programs map netsys_status values to the same names).
func Kind(err error) string {
	kinds := []struct {
		sentinel error
		name     string
	}{
		{core.ErrNotDelivered, "not_delivered"},
		{core.ErrServerFull, "server_full"},
		{core.ErrRejected, "rejected"},
		{core.ErrProtocol, "protocol"},
		{core.ErrTimeout, "timeout"},
		{core.ErrTooLarge, "too_large"},
		{core.ErrTransform, "transform"},
		{core.ErrBackpressure, "would_block"},
		{core.ErrNotConnected, "not_connected"},
		{core.ErrClosed, "closed"},
	}
	for _, k := range kinds {
		if errors.Is(err, k.sentinel) {
			return k.name
		}
	}
	return "other"
}

// ErrorFields describes an error for an event line: kind, text, and for
// undelivered messages their count.
func ErrorFields(err error) []any {
	kv := []any{"kind", Kind(err)}
	kv = append(kv, TextFields("msg", err.Error())...)
	var ue *core.UndeliveredError
	if errors.As(err, &ue) {
		kv = append(kv, "count", ue.Count)
		kv = append(kv, TextFields("reason", ue.Reason)...)
	}
	var ce *core.Error
	if errors.As(err, &ce) {
		kv = append(kv, TextFields("reason", ce.Reason)...)
	}
	return kv
}

// xsum appends one checksum byte (the byte sum of the message) on encode
// and checks and strips it on decode: a transform whose failure the suite
// can provoke by sending a wrong checksum.
type xsum struct{}

func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// Encode implements core.Transform.
func (xsum) Encode(dst, msg []byte) ([]byte, error) {
	return append(append(dst, msg...), checksum(msg)), nil
}

// Decode implements core.Transform.
func (xsum) Decode(dst, msg []byte, limit int) ([]byte, error) {
	if len(msg) == 0 {
		return dst, errors.New("missing checksum")
	}
	body := msg[:len(msg)-1]
	if checksum(body) != msg[len(msg)-1] {
		return dst, errors.New("checksum mismatch")
	}
	if len(body) > limit {
		return dst, fmt.Errorf("%d bytes over the limit %d", len(body), limit)
	}
	return append(dst, body...), nil
}

// identity is a transform that changes nothing: registered as "other" so
// that a server can know a name without enabling it.
type identity struct{}

// Encode implements core.Transform.
func (identity) Encode(dst, msg []byte) ([]byte, error) { return append(dst, msg...), nil }

// Decode implements core.Transform.
func (identity) Decode(dst, msg []byte, limit int) ([]byte, error) {
	if len(msg) > limit {
		return dst, errors.New("over the limit")
	}
	return append(dst, msg...), nil
}

// RegisterTransforms registers the suite's transforms "xsum" and "other".
func RegisterTransforms() error {
	if err := core.RegisterTransform("xsum", xsum{}); err != nil {
		return err
	}
	return core.RegisterTransform("other", identity{})
}

// List splits a comma-separated flag value; empty items are dropped.
func List(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Codecs maps codec names to core codecs. "snappy" is passed as is; see
// RetryWithS2 for libraries that only know it as "s2".
func Codecs(names []string) []core.Codec {
	out := make([]core.Codec, 0, len(names))
	for _, n := range names {
		out = append(out, core.Codec(n))
	}
	return out
}

// RetryWithS2 reports whether err is a library refusing the codec name
// "snappy" (libraries that call codec 1 "s2"), and rewrites the list.
func RetryWithS2(err error, codecs []core.Codec) bool {
	if err == nil || !strings.Contains(err.Error(), `"snappy"`) {
		return false
	}
	for i, c := range codecs {
		if c == "snappy" {
			codecs[i] = core.CodecSnappy
		}
	}
	Emit("note", "msg", `codec name "snappy" refused, using "s2"`)
	return true
}

// SetField sets a configuration field by name when this version of the
// library has it, so that these programs build against every version the
// suite runs with. A missing field is reported as an "unsupported" event:
// the tests that need it then fail saying so.
func SetField(cfg any, name string, value any) bool {
	v := reflect.ValueOf(cfg).Elem().FieldByName(name)
	if !v.IsValid() || !v.CanSet() {
		markUnsupported()
		Emit("unsupported", "option", name)
		return false
	}
	val := reflect.ValueOf(value)
	if !val.Type().ConvertibleTo(v.Type()) {
		markUnsupported()
		Emit("unsupported", "option", name, "msg", "type "+v.Type().String())
		return false
	}
	v.Set(val.Convert(v.Type()))
	return true
}

// SetAcknowledged turns acknowledged delivery on (docs/protocol.md section
// 4.2) through the fields TransportConfig.Acknowledged and AckBufferBytes,
// set by name: a library without them still builds these programs, and
// reports "unsupported" (the suite then fails the test saying that this
// build has no acknowledged delivery). ackBuffer < 0 leaves the default.
func SetAcknowledged(cfg any, on bool, ackBuffer int) {
	if on {
		SetField(cfg, "Acknowledged", true)
	}
	if ackBuffer >= 0 {
		SetField(cfg, "AckBufferBytes", ackBuffer)
	}
}

func markUnsupported() {
	outMu.Lock()
	unsupported = true
	outMu.Unlock()
}

// Millis turns a millisecond flag into a duration.
func Millis(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }

// Pattern returns message i of a numbered run: its 8-digit index, then
// filler up to size bytes (compressible text).
func Pattern(i, size int) []byte {
	head := []byte(fmt.Sprintf("%08d", i))
	if size <= len(head) {
		return head[:size]
	}
	var b bytes.Buffer
	b.Grow(size)
	b.Write(head)
	filler := []byte(`{"seq":` + strconv.Itoa(i) + `,"text":"the quick brown fox jumps over the lazy dog"}`)
	for b.Len() < size {
		b.Write(filler)
	}
	return b.Bytes()[:size]
}

// Head is the start of a message as text, for event lines.
func Head(msg []byte) string {
	if len(msg) > 24 {
		msg = msg[:24]
	}
	return string(msg)
}

// MessageFields describes a received message for an event line: its
// length, its start as text and the Adler-32 of the whole (cheap to
// compute in every language the suite uses).
func MessageFields(msg []byte) []any {
	return []any{"len", len(msg), "head", Head(msg), "adler32", adler32.Checksum(msg)}
}
