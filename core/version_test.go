package core

import (
	"os"
	"strings"
	"testing"
)

// The constant must follow the repository's VERSION file (mk/set-version.sh
// updates both).
func TestVersionMatchesVersionFile(t *testing.T) {
	raw, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatalf("reading the repository's VERSION file: %v", err)
	}
	if want := strings.TrimSpace(string(raw)); Version != want {
		t.Fatalf("core.Version = %q, VERSION file says %q (run: sh mk/set-version.sh %s)", Version, want, want)
	}
}
