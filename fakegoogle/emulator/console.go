package emulator

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/gcptoken/gcptoken/fakegoogle/console"
)

// startConsole makes the web console, which records the fake's exchanges
// from now on and saves its edits to state.json, and says where it is.
func (e *Emulator) startConsole() error {
	about := []console.Fact{{Name: "Fake Google", Value: e.info.URL}, {Name: "State directory", Value: e.info.StateDir}}
	if e.info.MetadataAddr != "" {
		about = append(about, console.Fact{Name: "Metadata server", Value: "http://" + e.info.MetadataAddr})
	}
	if e.info.HTTPSProxyAddr != "" {
		about = append(about, console.Fact{Name: "HTTPS proxy", Value: "http://" + e.info.HTTPSProxyAddr})
	}
	c, err := console.New(&console.Options{
		Fake: e.fake, SaveState: func() error { return saveState(e.fake, e.statePath) }, StateFile: e.statePath,
		About: about, Logger: e.log,
	})
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	e.console = c
	e.info.ConsoleURL = consoleURL(e.fakeLn.Addr(), c.Path())
	return nil
}

// consoleURL is where a browser on this machine reaches the console: the
// fake's address, or loopback when it listens on every address; "" when
// it listens on another machine-facing address only, where no loopback
// client can reach it.
func consoleURL(addr net.Addr, path string) string {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return ""
	}
	ip := ap.Addr().Unmap()
	switch {
	case ip.IsUnspecified() && ip.Is4():
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case ip.IsUnspecified():
		ip = netip.IPv6Loopback()
	case !ip.IsLoopback():
		return ""
	}
	return "http://" + netip.AddrPortFrom(ip, ap.Port()).String() + path
}
