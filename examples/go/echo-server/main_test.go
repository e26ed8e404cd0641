package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netsys/netsys/core"
)

// runAsServer makes the test binary act as the echo-server command, so the
// tests check the real process contract (output, stdin, signals).
const runAsServer = "NETSYS_ECHO_SERVER_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsServer) == "1" {
		os.Args = append([]string{"echo-server"}, strings.Fields(os.Getenv(runAsServer+"_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// server is one echo-server process started by a test.
type server struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	port  int
	exit  chan error
}

func startProcess(t *testing.T, args string) *server {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runAsServer+"=1", runAsServer+"_ARGS="+args)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	s := &server{cmd: cmd, stdin: stdin, exit: make(chan error, 1)}
	t.Cleanup(func() { cmd.Process.Kill() })

	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
		io.Copy(io.Discard, stdout)
		s.exit <- cmd.Wait()
	}()
	select {
	case line := <-lines:
		port, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
		require.True(t, ok, "first line %q", line)
		s.port, err = strconv.Atoi(port)
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("no 'listening on PORT' line within 10 s")
	}
	return s
}

// waitExit waits for the process to end and returns its error.
func (s *server) waitExit(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.exit:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("echo-server did not stop within 10 s")
		return nil
	}
}

// echoOnce connects, sends msg and returns the reply.
func echoOnce(t *testing.T, port int, msg []byte) []byte {
	t.Helper()
	cl, err := core.NewClient(core.ClientConfig{ClientID: "echo-server-test"})
	require.NoError(t, err)
	replies := make(chan []byte, 1)
	cl.OnMessage(func(m []byte) { replies <- bytes.Clone(m) })
	require.NoError(t, cl.Connect("127.0.0.1", port))
	defer cl.Stop()
	require.NoError(t, cl.Send(msg))
	select {
	case got := <-replies:
		return got
	case <-time.After(5 * time.Second):
		t.Fatal("no echo within 5 s")
		return nil
	}
}

func TestEchoesUntilStdinCloses(t *testing.T) {
	s := startProcess(t, "--port 0")
	require.NotZero(t, s.port)
	require.Equal(t, []byte("hello"), echoOnce(t, s.port, []byte("hello")))
	big := bytes.Repeat([]byte("0123456789"), 50_000)
	require.Equal(t, big, echoOnce(t, s.port, big))
	require.NoError(t, s.stdin.Close())
	require.NoError(t, s.waitExit(t), "exit status after stdin EOF")
}

func TestStopsOnSIGTERMAndSIGINT(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		s := startProcess(t, "-port=0")
		require.Equal(t, []byte("x"), echoOnce(t, s.port, []byte("x")))
		require.NoError(t, s.cmd.Process.Signal(sig))
		require.NoError(t, s.waitExit(t), "exit status after %v", sig)
	}
}

func TestBadPortFails(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runAsServer+"=1", runAsServer+"_ARGS=--port 70000")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 2, exit.ExitCode())
	require.Contains(t, string(out), "--port must be in 0..65535")
}
