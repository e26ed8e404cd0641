package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/netsys/netsys/core"
)

// options are the command-line settings of one run.
type options struct {
	Host    string
	Port    int
	Count   int
	Size    int
	Timeout time.Duration
}

func (o options) validate() error {
	switch {
	case o.Port <= 0 || o.Port > 65535:
		return errors.New("--port is required (1..65535)")
	case o.Host == "":
		return errors.New("--host must not be empty")
	case o.Count < 1:
		return errors.New("--count must be at least 1")
	case o.Size < 1:
		return errors.New("--size must be at least 1")
	case o.Timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	return nil
}

// result is what a successful run measured.
type result struct {
	Echoed  int
	Elapsed time.Duration   // first send to last echo
	RTTs    []time.Duration // one round trip per message, sorted
}

// summary is the one line of the shared contract:
// "<lang> client: N/N echoed, X msg/s, p50 Y us".
func (r result) summary(lang string) string {
	rate := float64(r.Echoed) / r.Elapsed.Seconds()
	p50 := r.RTTs[len(r.RTTs)/2]
	return fmt.Sprintf("%s client: %d/%d echoed, %.0f msg/s, p50 %.0f us",
		lang, r.Echoed, r.Echoed, rate, float64(p50)/float64(time.Microsecond))
}

// fill writes message i into msg: its index first, so a reordered or
// duplicated echo is caught, then a pattern that depends on the index.
func fill(msg []byte, i int) {
	var index [8]byte
	binary.BigEndian.PutUint64(index[:], uint64(i))
	n := copy(msg, index[:])
	for j := n; j < len(msg); j++ {
		msg[j] = byte((i*131 + j) % 251)
	}
}

// run sends the messages one at a time, each after the previous echo, so
// that every round trip is measured on its own.
func run(o options) (result, error) {
	deadline := time.Now().Add(o.Timeout)
	cl, err := core.NewClient(core.ClientConfig{ClientID: "go-echo-client", ConnectTimeout: o.Timeout})
	if err != nil {
		return result{}, err
	}
	// The handlers run on the event loop: they must never block, so they
	// hand over through buffered channels and count what does not fit.
	replies := make(chan []byte, 1)
	lost := make(chan string, 1)
	var unexpected atomic.Int64
	cl.OnMessage(func(m []byte) {
		select {
		case replies <- bytes.Clone(m): // m is only valid during the call
		default:
			unexpected.Add(1)
		}
	})
	cl.OnDisconnect(func(reason string) {
		select {
		case lost <- reason:
		default:
		}
	})
	if err := cl.Connect(o.Host, o.Port); err != nil {
		return result{}, fmt.Errorf("cannot connect: %w", err)
	}
	defer cl.Stop()

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	msg := make([]byte, o.Size)
	rtts := make([]time.Duration, 0, o.Count)
	start := time.Now()
	for i := 0; i < o.Count; i++ {
		fill(msg, i)
		sentAt := time.Now()
		// Send copies msg into the connection's queue: it may be reused.
		if err := cl.Send(msg); err != nil {
			return result{}, fmt.Errorf("send message %d: %w", i, err)
		}
		select {
		case got := <-replies:
			if err := compare(i, got, msg); err != nil {
				return result{}, err
			}
		case reason := <-lost:
			return result{}, fmt.Errorf("connection lost after %d of %d echoes: %s", i, o.Count, reason)
		case <-timer.C:
			return result{}, fmt.Errorf("timeout: %d of %d echoes within %v", i, o.Count, o.Timeout)
		}
		rtts = append(rtts, time.Since(sentAt))
		if n := unexpected.Load(); n > 0 {
			return result{}, fmt.Errorf("server sent %d message(s) nobody asked for", n)
		}
	}
	elapsed := time.Since(start)
	slices.Sort(rtts)
	return result{Echoed: o.Count, Elapsed: elapsed, RTTs: rtts}, nil
}

// compare explains how an echo differs from the message sent.
func compare(i int, got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	if len(got) != len(want) {
		return fmt.Errorf("echo %d has %d bytes, sent %d", i, len(got), len(want))
	}
	at := 0
	for got[at] == want[at] {
		at++
	}
	return fmt.Errorf("echo %d differs from the message sent at byte %d", i, at)
}
