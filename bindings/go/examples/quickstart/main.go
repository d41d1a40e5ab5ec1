// Command quickstart sends one sample to the Remote Write endpoint in $PROMRW_URL (default
// http://127.0.0.1:9090/api/v1/write) and prints the sender's counters.
package main

import (
	"fmt"
	"log"
	"os"
	"time"

	promrw "github.com/promrw/promrw/bindings/go"
)

func main() {
	url := envOr("PROMRW_URL", "http://127.0.0.1:9090/api/v1/write")
	s, err := promrw.New("remote_write:\n  - url: " + url + "\n")
	check(err)
	ref, err := s.Series(map[string]string{"__name__": "quickstart_up", "job": "go"})
	check(err)
	check(s.Append(ref, time.Now().UnixMilli(), 1))
	check(s.Flush(10 * time.Second)) // everything above is acknowledged
	fmt.Printf("%+v\n", s.Stats())
	check(s.Close(10 * time.Second))
}

// envOr returns the environment variable name, or fallback when it is unset or empty.
func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
