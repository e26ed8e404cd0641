// Command netsysgo is netsys used from pure Go: a core.Server whose message
// handler follows the bench server contract (tests/bench/README.md) in a few
// lines, exactly as an application would write it.
//
// Environment: PORT (required); SPIN_US turns on the opt-in low-latency
// mode (ServerConfig.SpinBeforeWait); CPUPROFILE names a file that receives
// a pprof CPU profile of the whole run (written at SIGTERM); HEAPPROFILE
// names a file that receives a heap profile on each SIGUSR1 (to see what
// idle connections cost while they are open).
package main

import (
	"log"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/netsys/netsys/core"
	"github.com/netsys/netsys/tests/bench/internal/proto"
)

func main() {
	port, err := strconv.Atoi(os.Getenv("PORT"))
	if err != nil {
		log.Fatalf("PORT must hold a TCP port, got %q", os.Getenv("PORT"))
	}
	var spin time.Duration
	if s := os.Getenv("SPIN_US"); s != "" {
		us, err := strconv.Atoi(s)
		if err != nil || us < 0 {
			log.Fatalf("SPIN_US must be a number of microseconds, got %q", s)
		}
		spin = time.Duration(us) * time.Microsecond
	}
	if path := os.Getenv("CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if path := os.Getenv("HEAPPROFILE"); path != "" {
		runtime.MemProfileRate = 512 // fine-grained: small per-connection objects matter
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		go func() {
			for range usr1 {
				runtime.GC() // the profile reflects the heap as of the last GC
				if f, err := os.Create(path); err == nil {
					_ = pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
		}()
	}
	srv, err := core.NewServer("bench", core.ServerConfig{
		Port:        port,
		BindAddress: "127.0.0.1",
		// The idle scenario holds 10,000 connections; the default cap is 1,000.
		MaxConnections: 20000,
		// The load generator, on one address, pipelines 256 handshakes at
		// a time: more than the per-address default (16) admits.
		MaxPendingHandshakes:    20000,
		MaxHandshakesPerAddress: 20000,
		SpinBeforeWait:          spin,
	})
	if err != nil {
		log.Fatal(err)
	}
	srv.OnMessage(func(s *core.Session, msg []byte) {
		if len(msg) > 0 && msg[0] == proto.SinkByte {
			return
		}
		if err := s.Send(msg); err != nil {
			log.Printf("send: %v", err)
		}
	})
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	srv.Stop()
}
