//go:build unix

// Command kubetest-build builds (or finds in the cache) the kube-apiserver
// and etcd binaries that package kubetest starts, and prints their paths.
// CI runs it before the tests so that a cold build is not charged to a
// test's timeout.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/gcptoken/gcptoken/kubetest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bins, err := kubetest.EnsureBinaries(ctx, kubetest.BuildOptions{
		Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubetest-build:", err)
		os.Exit(1)
	}
	fmt.Println(bins.APIServer)
	fmt.Println(bins.Etcd)
}
