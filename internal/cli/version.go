package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X github.com/gcptoken/gcptoken/internal/cli.Version=v1.2.3".
var Version = ""

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

// versionLine is what `gcptoken version` and `gcptoken --version` print
// after "gcptoken ": the version, the VCS commit the binary was built from
// (when the build recorded it) and the Go toolchain and platform.
func versionLine() string {
	var commit, modified string
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = "+modified"
				}
			}
		}
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if commit != "" {
		commit = "commit " + commit + modified + ", "
	}
	return fmt.Sprintf("%s (%s%s, %s/%s)", version(), commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
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
