// Command netsys sends and receives netsys messages from the command line,
// runs echo, listen and chat servers, and measures a server with a short,
// bounded benchmark; think nngcat for the netsys protocol. It is built on the
// Go core only (github.com/netsys/netsys/core).
//
//	netsys send   [flags] HOST:PORT [MESSAGE...]   send messages, print the replies
//	netsys recv   [flags] HOST:PORT                connect and print what arrives
//	netsys listen [flags]                          a server that prints what it receives
//	netsys echo   [flags]                          an echo server
//	netsys chat   [flags]                          a chat server with rooms
//	netsys bench  [flags] [HOST:PORT]              throughput and latency, bounded
//	netsys version
//
// Messages go to stdout, one per line; everything else (listening address,
// statistics, errors) goes to stderr. Exit status: 0 on success, 1 when the
// run failed, 2 for a usage error. docs/netsys-cli.md is the manual.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/netsys/netsys/core"
)

// streams are the standard streams of one run (tests pass their own).
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// command is one subcommand: its usage line, what it does, and its body.
type command struct {
	name    string
	args    string // what follows "netsys NAME [flags]"
	summary string
	details string // printed by --help under the usage line
	run     func(ctx context.Context, s streams, fs *flag.FlagSet, args []string) error
}

// errUsage marks errors caused by the command line; they exit with 2.
var errUsage = errors.New("usage error")

func commands() []command {
	return []command{sendCommand(), recvCommand(), listenCommand(), echoCommand(), chatCommand(), benchCommand()}
}

func main() {
	// SIGINT/SIGTERM end a server or a receiving client gracefully (the
	// context is cancelled); a second signal kills the process as usual.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], streams{os.Stdin, os.Stdout, os.Stderr})
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, s streams) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" && len(args) == 1 {
		printOverview(s.stdout)
		return 0
	}
	name := args[0]
	if name == "help" {
		name, args = args[1], []string{args[1], "--help"}
	}
	if name == "version" || name == "--version" {
		fmt.Fprintf(s.stdout, "netsys %s (protocol version 1)\n", core.Version)
		return 0
	}
	for _, c := range commands() {
		if c.name == name {
			return runCommand(ctx, c, args[1:], s)
		}
	}
	fmt.Fprintf(s.stderr, "netsys: unknown command %q (netsys --help lists them)\n", name)
	return 2
}

func runCommand(ctx context.Context, c command, args []string, s streams) int {
	fs := flag.NewFlagSet("netsys "+c.name, flag.ContinueOnError)
	// Asked for, the usage goes to stdout (netsys send --help | less); after
	// a mistake, to stderr with the error.
	fs.SetOutput(s.stderr)
	if wantsHelp(args) {
		fs.SetOutput(s.stdout)
	}
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "usage: netsys %s [flags] %s\n\n%s\n\nflags:\n", c.name, c.args, c.details)
		fs.PrintDefaults()
	}
	err := c.run(ctx, s, fs, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsageShown):
		return 2
	case errors.Is(err, errUsage):
		fmt.Fprintf(s.stderr, "netsys %s: %v (netsys %s --help)\n", c.name, err, c.name)
		return 2
	default:
		fmt.Fprintf(s.stderr, "netsys %s: %v\n", c.name, err)
		return 1
	}
}

// wantsHelp reports a help flag before the first positional argument.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch {
		case a == "-h" || a == "-help" || a == "--help":
			return true
		case a == "--" || !strings.HasPrefix(a, "-"):
			return false
		}
	}
	return false
}

func printOverview(w io.Writer) {
	fmt.Fprintf(w, "netsys %s: send, receive and serve netsys messages from the command line\n\n", core.Version)
	fmt.Fprintf(w, "usage: netsys COMMAND [flags] [arguments]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-7s %s\n", "version", "print the version")
	fmt.Fprintf(w, "\n`netsys COMMAND --help` describes a command and its flags; docs/netsys-cli.md is the manual.\n")
}
