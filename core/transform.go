package core

import (
	"fmt"
	"sync"
)

// Transform is a named, symmetric encoding of one message (for example an
// application cipher or a custom codec), negotiated by name in the handshake.
// Implementations must be safe for concurrent use: every connection using
// the transform calls it from its own event loop.
type Transform interface {
	// Encode appends the encoded form of msg to dst and returns it.
	Encode(dst, msg []byte) ([]byte, error)
	// Decode appends the decoded form of msg to dst and returns it. It must
	// fail rather than produce (or allocate for) more than limit bytes. A
	// failure closes the connection with CLOSE 1011 "transform failed:
	// <name>: <error text>".
	Decode(dst, msg []byte, limit int) ([]byte, error)
}

var transforms sync.Map // name -> Transform

// RegisterTransform makes a transform available under name to every server
// and client of the process. Registering a name twice replaces the first.
func RegisterTransform(name string, t Transform) error {
	if name == "" || len(name) > 255 || t == nil {
		return fmt.Errorf("%w: transform name must be 1..255 bytes and transform non-nil", ErrInvalidArgument)
	}
	transforms.Store(name, t)
	return nil
}

// UnregisterTransform removes a transform. Connections that negotiated it
// keep the instance they resolved at handshake time.
func UnregisterTransform(name string) { transforms.Delete(name) }

func lookupTransform(name string) Transform {
	if t, ok := transforms.Load(name); ok {
		return t.(Transform)
	}
	return nil
}

// encodeTransforms runs msg through the agreed transforms in order. It
// allocates: the result is copied into the send queue right after.
func encodeTransforms(p *connParams, msg []byte) ([]byte, error) {
	var err error
	for i, t := range p.xforms {
		if msg, err = t.Encode(nil, msg); err != nil {
			return nil, &transformError{name: p.xformNames[i], err: err}
		}
	}
	return msg, nil
}
