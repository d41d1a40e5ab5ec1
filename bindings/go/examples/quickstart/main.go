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
	url := os.Getenv("PROMRW_URL")
	if url == "" {
		url = "http://127.0.0.1:9090/api/v1/write"
	}
	s, err := promrw.New("remote_write:\n  - url: " + url + "\n")
	check(err)
	ref, err := s.Series(map[string]string{"__name__": "quickstart_up", "job": "go"})
	check(err)
	check(s.Append(ref, time.Now().UnixMilli(), 1))
	check(s.Flush(10 * time.Second))
	fmt.Printf("%+v\n", s.Stats())
	check(s.Close(10 * time.Second))
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
