package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Version and Commit are set at build time, for builds that record no VCS
// information (GOFLAGS=-buildvcs=false, a source archive, a container
// build without .git): the Makefile's build, install, demo and image
// targets pass
//
//	-ldflags "-X github.com/gcptoken/gcptoken/internal/cli.Version=v1.2.3 -X github.com/gcptoken/gcptoken/internal/cli.Commit=<git rev-parse HEAD>"
var (
	Version = ""
	Commit  = ""
)

// version returns the release version, else the module version recorded by
// `go install`, else "devel".
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// commit returns the VCS commit the binary was built from (shortened, with
// "+modified" for a tree with changes): Commit, else what the Go
// toolchain recorded, else "".
func commit() string {
	c, modified := Commit, ""
	if bi, ok := debug.ReadBuildInfo(); ok && c == "" {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				c = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = "+modified"
				}
			}
		}
	}
	c, m := strings.CutSuffix(c, "+modified")
	if m {
		modified = "+modified"
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if c == "" {
		return ""
	}
	return c + modified
}

// versionLine is what `gcptoken version` and `gcptoken --version` print
// after "gcptoken ": the version, the VCS commit the binary was built from
// (or that it is unknown) and the Go toolchain and platform.
func versionLine() string {
	c := "commit unknown"
	if id := commit(); id != "" {
		c = "commit " + id
	}
	return fmt.Sprintf("%s (%s, %s, %s/%s)", version(), c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newVersionCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(app.Out, "gcptoken %s\n", versionLine())
			return err
		},
	}
}
