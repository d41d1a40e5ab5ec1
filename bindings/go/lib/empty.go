// Package lib holds the native promrw libraries, one directory per platform, copied in by
// ../sync-native.sh. It exists so that `go mod vendor` keeps this directory (see
// ../includebuild.go); it has no API.
package lib
