package proto

import (
	"fmt"
	"os"
	"strconv"
)

// ListenAddr returns the address a bench server listens on: 127.0.0.1 and
// the port in $PORT, as tests/bench/README.md specifies.
func ListenAddr() (string, error) {
	port, err := strconv.Atoi(os.Getenv("PORT"))
	if err != nil || port <= 0 || port > 65535 {
		return "", fmt.Errorf("PORT must hold a TCP port, got %q", os.Getenv("PORT"))
	}
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}
