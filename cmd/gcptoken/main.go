// Command gcptoken gets, uses and checks Google Cloud bearer tokens. See
// `gcptoken --help`.
package main

import (
	"os"

	"github.com/gcptoken/gcptoken/internal/cli"
)

func main() {
	os.Exit(cli.Main())
}
