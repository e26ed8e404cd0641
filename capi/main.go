// Command capi is the C ABI of netsys, built with -buildmode=c-shared into
// libnetsys.so. It is a thin translation layer over package core: integer
// handles instead of Go pointers, status codes and a per-thread error
// message instead of Go errors, C callbacks or a pull queue instead of Go
// handlers. It holds no networking logic.
//
// The contract is include/netsys.h; the header cgo generates is internal.
// Every exported function recovers panics (see guard) so that none crosses
// into the host.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -std=gnu11 -Wall
#include "shims.h"
*/
import "C"

// main is required by -buildmode=c-shared and never runs.
func main() {}
