// Command soak runs gcptoken's load and soak test (package soak) and prints
// its report: `make soak`, or
//
//	go run ./internal/soak/cmd/soak -duration 60s -clients 200
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/gcptoken/gcptoken/internal/soak"
)

func main() {
	var cfg soak.Config
	flag.DurationVar(&cfg.Duration, "duration", 0, "how long to load each server (default 60s)")
	flag.IntVar(&cfg.Clients, "clients", 0, "concurrent clients (default 200)")
	flag.Float64Var(&cfg.ErrorRate, "error-rate", 0, "share of upstream token requests failing with 503 (default 0.2)")
	flag.DurationVar(&cfg.Spike, "spike", 0, "latency spike added to upstream token requests (default 500ms)")
	flag.Float64Var(&cfg.SpikeRate, "spike-rate", 0, "share of upstream token requests with a spike (default 0.2)")
	flag.Uint64Var(&cfg.Seed, "seed", 0, "fault-injection seed (default 1)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	reports, err := soak.Run(ctx, cfg)
	for _, r := range reports {
		fmt.Println(r)
		if r.FirstError != "" {
			fmt.Println("  first error:", r.FirstError)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	for _, r := range reports {
		if r.Errors > 0 {
			os.Exit(1)
		}
	}
}
