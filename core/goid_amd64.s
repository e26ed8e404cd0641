//go:build gc

#include "textflag.h"

// func getg() uintptr
//
// The runtime keeps the running goroutine's g in thread-local storage; its
// address is constant for the goroutine's life and unique among live ones.
TEXT ·getg(SB),NOSPLIT,$0-8
	MOVQ (TLS), AX
	MOVQ AX, ret+0(FP)
	RET
