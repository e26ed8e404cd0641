module github.com/netsys/netsys

go 1.26.0

require github.com/stretchr/testify v1.12.1

require (
	github.com/klauspost/compress v1.20.3 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
