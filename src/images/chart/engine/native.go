//go:build !(js && wasm)

// Native entry for development and tests: request JSON on stdin, response JSON on stdout.

package main

import (
	"io"
	"os"
)

func main() {
	in, _ := io.ReadAll(os.Stdin)
	os.Stdout.Write(Handle(in))
}
