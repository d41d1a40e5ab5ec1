// Package linuxamd64 holds libpromrw.a (and, for the promrw_dynamic build tag,
// libpromrw.so) for linux/amd64, copied in by ../../sync-native.sh. It exists so that
// `go mod vendor` keeps this directory (see ../../includebuild.go); it has no API.
package linuxamd64
