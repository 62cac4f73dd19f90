package emulator_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gcptoken/gcptoken/fakegoogle/emulator"
)

// An emulator for a test: the files are written when New returns, so a
// program under test can be started with env.sh's variables at once.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "emulator-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	em, err := emulator.New(&emulator.Options{StateDir: dir, MetadataListen: "127.0.0.1:0", RSAKeyBits: 1024})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- em.Serve(ctx) }()

	info := em.Info()
	fmt.Println(info.EnvFile == filepath.Join(dir, "env.sh"), info.MetadataAddr != "")

	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output: true true
}
