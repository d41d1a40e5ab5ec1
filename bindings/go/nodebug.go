//go:build !debug

package promrw

// debugGC is false in normal builds; see debug.go.
const debugGC = false
