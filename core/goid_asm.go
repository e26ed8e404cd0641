//go:build gc && (amd64 || arm64)

package core

// getg returns an identity of the calling goroutine: the address of the
// runtime's descriptor of it, read in two instructions (goid_*.s). It
// stays the same for the goroutine's life and no other live goroutine has
// it; a loop forgets its own before it exits, so a later goroutine reusing
// the descriptor is never mistaken for the loop.
func getg() uintptr
