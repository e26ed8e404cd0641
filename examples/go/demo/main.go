// Command demo is replaced by the full multi-client demo once the core lands.
package main

import "fmt"

func main() { fmt.Println("netsys demo: core not landed yet") }
