package promrw

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestNativeCopies checks the copies that sync-native.sh makes in include/ and
// lib/linux-amd64/. In a checkout of the repository they win over the repository's header and
// libraries, so a copy left behind by an earlier sync would silently keep the package on an
// old library: when copies exist, all three must be there and equal the repository's files
// (those of $CARGO_TARGET_DIR/release when it is set).
func TestNativeCopies(t *testing.T) {
	release := filepath.Join("..", "..", "target", "release")
	if dir := os.Getenv("CARGO_TARGET_DIR"); dir != "" {
		release = filepath.Join(dir, "release")
	}
	pairs := [][2]string{
		{filepath.Join("include", "promrw.h"), filepath.Join("..", "..", "include", "promrw.h")},
		{filepath.Join("lib", "linux-amd64", "libpromrw.a"), filepath.Join(release, "libpromrw.a")},
		{filepath.Join("lib", "linux-amd64", "libpromrw.so"), filepath.Join(release, "libpromrw.so")},
	}
	var present []string
	for _, p := range pairs {
		if _, err := os.Stat(p[0]); err == nil {
			present = append(present, p[0])
		}
	}
	switch len(present) {
	case 0:
		t.Log("no copies from sync-native.sh: the package is built against ../../include and ../../target/release")
		return
	case len(pairs):
	default:
		t.Fatalf("only some of the copies sync-native.sh makes exist (%q): run bindings/go/sync-native.sh "+
			"to make all of them, or bindings/go/sync-native.sh --clean to build against the repository's files", present)
	}
	for _, p := range pairs {
		repo, err := os.ReadFile(p[1])
		if err != nil {
			t.Logf("not compared with the repository's file: %v", err)
			continue
		}
		copied, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(copied, repo) {
			t.Errorf("%s (made by sync-native.sh, used instead of the repository's file) differs from %s: "+
				"run bindings/go/sync-native.sh to refresh the copies, or bindings/go/sync-native.sh --clean "+
				"to build against the repository's files", p[0], p[1])
		}
	}
}
