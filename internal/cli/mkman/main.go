// Command mkman writes gcptoken's man pages, one per command, from the
// command tree: `make man` runs it. It lives beside the CLI, not in it, so
// that the gcptoken binary does not link cobra/doc and go-md2man.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/gcptoken/gcptoken/internal/cli"
)

func main() {
	dir := flag.String("dir", "bin/man/man1", "write the pages (gcptoken.1, gcptoken-print-access-token.1, …) into `DIR`")
	flag.Parse()
	if err := write(*dir); err != nil {
		fmt.Fprintf(os.Stderr, "mkman: %v\n", err)
		os.Exit(1)
	}
}

func write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root := cli.CommandTree()
	root.DisableAutoGenTag = true
	header := &doc.GenManHeader{Title: "GCPTOKEN", Section: "1", Source: "gcptoken", Manual: "gcptoken manual"}
	// Reproducible pages: the date is SOURCE_DATE_EPOCH's when it is set.
	if sec, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		d := time.Unix(sec, 0).UTC()
		header.Date = &d
	}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return fmt.Errorf("write man pages in %s: %w", dir, err)
	}
	return nil
}
