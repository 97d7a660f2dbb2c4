//go:build js && wasm

// WebAssembly entry: registers globalThis.__dpChartRender(requestJSON) → responseJSON, then waits.

package main

import "syscall/js"

func main() {
	js.Global().Set("__dpChartRender", js.FuncOf(func(_ js.Value, args []js.Value) any {
		return string(Handle([]byte(args[0].String())))
	}))
	select {}
}
