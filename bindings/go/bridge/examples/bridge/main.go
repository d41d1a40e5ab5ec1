// Command bridge pushes the default client_golang registry (the Go runtime's and the
// process's metrics, and its own counter) by Remote Write to $PROMRW_URL (default
// http://127.0.0.1:9090/api/v1/write) and prints how many samples were acknowledged.
package main

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	promrw "github.com/promrw/promrw/bindings/go"
	"github.com/promrw/promrw/bindings/go/bridge"
)

var jobs = promauto.NewCounter(prometheus.CounterOpts{Name: "bridge_example_jobs_total", Help: "Jobs done."})

func main() {
	url := envOr("PROMRW_URL", "http://127.0.0.1:9090/api/v1/write")
	s, err := promrw.New("remote_write:\n  - url: " + url + "\n")
	check(err)
	c, err := bridge.New(prometheus.DefaultGatherer, s, 15*time.Second)
	check(err)
	check(c.Start()) // collects now, then every 15 s until Stop
	jobs.Inc()       // the application's work
	c.Stop()
	_, err = c.Push() // a last collection: the final values
	check(err)
	check(s.Close(10 * time.Second)) // flushes: nil once everything is acknowledged
	fmt.Println("samples acked:", s.Stats().SamplesAcked)
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
