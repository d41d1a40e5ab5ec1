module github.com/promrw/promrw/bindings/go/bridge

go 1.19

require (
	github.com/promrw/promrw/bindings/go v0.0.0
	github.com/prometheus/client_golang v1.14.0
	github.com/prometheus/client_model v0.3.0
	google.golang.org/protobuf v1.28.1
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.1.2 // indirect
	github.com/golang/protobuf v1.5.2 // indirect
	github.com/matttproud/golang_protobuf_extensions v1.0.4 // indirect
	github.com/prometheus/common v0.37.0 // indirect
	github.com/prometheus/procfs v0.8.0 // indirect
	golang.org/x/sys v0.3.0 // indirect
)

// The binding: this checkout.
replace github.com/promrw/promrw/bindings/go => ../

// client_golang and its dependencies: Debian's packaged sources
// (apt-get install golang-github-prometheus-client-golang-dev), so that nothing is downloaded.
// With the module proxy, drop these (bindings/go/README.md). Modules whose Debian package has
// no go.mod are replaced by a copy that debian-deps.sh makes in .debian/, modules only in the
// graph (no package of the build) that Debian does not install by a stub in .debian/stub/.
replace (
	github.com/beorn7/perks => /usr/share/gocode/src/github.com/beorn7/perks
	github.com/cespare/xxhash/v2 => /usr/share/gocode/src/github.com/cespare/xxhash
	github.com/google/go-cmp => ./.debian/stub/github.com/google/go-cmp
	github.com/golang/protobuf => /usr/share/gocode/src/github.com/golang/protobuf
	github.com/matttproud/golang_protobuf_extensions => ./.debian/github.com/matttproud/golang_protobuf_extensions
	github.com/prometheus/client_golang => /usr/share/gocode/src/github.com/prometheus/client_golang
	github.com/prometheus/client_model => /usr/share/gocode/src/github.com/prometheus/client_model
	github.com/prometheus/common => /usr/share/gocode/src/github.com/prometheus/common
	github.com/prometheus/procfs => /usr/share/gocode/src/github.com/prometheus/procfs
	golang.org/x/sys => /usr/share/gocode/src/golang.org/x/sys
	google.golang.org/protobuf => /usr/share/gocode/src/google.golang.org/protobuf
)
