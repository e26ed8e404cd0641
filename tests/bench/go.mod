// The benchmark harness is its own module so that its peers (gnet, ...) never
// become dependencies of the netsys library itself.
module github.com/netsys/netsys/tests/bench

go 1.26.0

replace github.com/netsys/netsys => ../..

require (
	github.com/netsys/netsys v0.0.0-00010101000000-000000000000
	github.com/panjf2000/gnet/v2 v2.9.7
	golang.org/x/sys v0.49.0
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/panjf2000/ants/v2 v2.11.3 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	go.uber.org/multierr v1.11.0 // indirect
	go.uber.org/zap v1.27.0 // indirect
	golang.org/x/sync v0.11.0 // indirect
	gopkg.in/natefinch/lumberjack.v2 v2.2.1 // indirect
)
