package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// script writes an executable shell script and returns a program running it.
func script(t *testing.T, dir, name, body string) program {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	return program{Argv: []string{path}, Needs: []string{path}}
}

const (
	// goodServer follows the contract without networking: the clients below
	// are fakes too, so the tests check the demo's judgement, not netsys.
	goodServer = `echo "listening on 4242"; cat >/dev/null; exit 0`
	goodClient = `echo "fake client: 1000/1000 echoed, 1234 msg/s, p50 56 us"`
)

// runDemo runs the demo over langs (the first is the hub) in root.
func runDemo(t *testing.T, root string, langs []language) (bool, []row, string) {
	t.Helper()
	var out bytes.Buffer
	d := &demo{root: root, count: 1000, size: 64, langs: langs}
	ok := d.run(&out)
	return ok, d.rows, out.String()
}

func TestAllPassing(t *testing.T) {
	dir := t.TempDir()
	hub := language{Name: "go", Server: script(t, dir, "srv", goodServer), Client: script(t, dir, "cli", goodClient)}
	other := language{Name: "c", Server: script(t, dir, "srv2", goodServer), Client: script(t, dir, "cli2", goodClient)}
	ok, rows, out := runDemo(t, dir, []language{hub, other})
	require.True(t, ok, out)
	require.Len(t, rows, 3, "go/go, go/c, c/go")
	for _, r := range rows {
		require.Equal(t, passed, r.Verdict, out)
		require.Equal(t, "1234", r.Rate)
		require.Equal(t, "56", r.P50)
	}
	require.Contains(t, out, "crossdemo: OK: 3 runs passed, 0 skipped")
}

func TestClientFailuresFailTheDemo(t *testing.T) {
	for name, body := range map[string]string{
		"exit status":  `echo "fake client: 1000/1000 echoed, 1 msg/s, p50 1 us"; echo broken >&2; exit 1`,
		"short count":  `echo "fake client: 999/1000 echoed, 1 msg/s, p50 1 us"`,
		"no summary":   `echo "all good, trust me"`,
		"wrong format": `echo "fake client: 1000/1000 echoed"`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			hub := language{Name: "go", Server: script(t, dir, "srv", goodServer), Client: script(t, dir, "cli", goodClient)}
			bad := language{Name: "c", Server: script(t, dir, "srv2", goodServer), Client: script(t, dir, "cli2", body)}
			ok, rows, out := runDemo(t, dir, []language{hub, bad})
			require.False(t, ok, out)
			require.Equal(t, failed, rows[1].Verdict, out)
			require.Equal(t, passed, rows[2].Verdict, "the c server still passes: %s", out)
			require.Contains(t, out, "c client against the go server:")
		})
	}
}

func TestMissingProgramFailsOnlyOnceItsFragmentExists(t *testing.T) {
	dir := t.TempDir()
	hub := language{Name: "go", Server: script(t, dir, "srv", goodServer), Client: script(t, dir, "cli", goodClient)}
	missing := program{Argv: []string{filepath.Join(dir, "nope")}, Needs: []string{filepath.Join(dir, "nope")}}
	later := language{Name: "c++", Fragment: "mk/cpp.mk", Server: missing, Client: missing}

	ok, rows, out := runDemo(t, dir, []language{hub, later})
	require.True(t, ok, "no mk/cpp.mk yet: skipped, not failed\n%s", out)
	require.Equal(t, skipped, rows[1].Verdict)
	require.Contains(t, out, "skipped: mk/cpp.mk does not exist yet")

	require.NoError(t, os.MkdirAll(filepath.Join(dir, "mk"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mk", "cpp.mk"), nil, 0o644))
	ok, rows, out = runDemo(t, dir, []language{hub, later})
	require.False(t, ok, "mk/cpp.mk exists: a missing program fails\n%s", out)
	require.Equal(t, failed, rows[1].Verdict)
	require.Contains(t, out, "client not built: nope is missing")
	require.Contains(t, out, "server not built: nope is missing")
}

func TestServerContractViolations(t *testing.T) {
	for name, c := range map[string]struct{ body, says string }{
		"no listening line": {`echo "ready!"; cat >/dev/null`, "server did not start"},
		"dies at once":      {`exit 3`, "exited before printing"},
		"bad exit on EOF":   {`echo "listening on 4242"; cat >/dev/null; exit 4`, "after stdin EOF it exited with exit status 4"},
		"ignores EOF":       {`echo "listening on 4242"; exec sleep 60`, "ignored stdin EOF"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // most of the time is spent waiting for timeouts
			dir := t.TempDir()
			hub := language{Name: "go", Server: script(t, dir, "srv", goodServer), Client: script(t, dir, "cli", goodClient)}
			bad := language{Name: "python", Server: script(t, dir, "srv2", c.body), Client: script(t, dir, "cli2", goodClient)}
			start := time.Now()
			ok, _, out := runDemo(t, dir, []language{hub, bad})
			require.False(t, ok, out)
			require.Contains(t, out, c.says)
			require.Less(t, time.Since(start), startLimit+eofLimit+signalLimit+5*time.Second)
		})
	}
}
