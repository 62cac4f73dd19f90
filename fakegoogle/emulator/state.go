package emulator

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gcptoken/gcptoken/fakegoogle"
	"github.com/gcptoken/gcptoken/internal/fileutil"
)

// stateFile is the fake's saved state in the state directory.
const stateFile = "state.json"

// prepareStateDir creates dir 0700 (or a temporary one when empty) and
// returns its absolute path. It holds private keys.
func prepareStateDir(dir string) (string, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "gcptoken-emulator-")
		if err != nil {
			return "", fmt.Errorf("emulator: create state directory: %w", err)
		}
		return d, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", optionError("StateDir", 0, dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("emulator: state directory %s: %w", abs, err)
	}
	if err := os.Chmod(abs, 0o700); err != nil {
		return "", fmt.Errorf("emulator: state directory %s: %w", abs, err)
	}
	return abs, nil
}

// loadState loads path into fake, if it exists.
func loadState(fake *fakegoogle.Server, path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("emulator state: %w", err)
	}
	if err := fake.LoadState(data); err != nil {
		return fmt.Errorf("emulator state %s: %w (delete it to start afresh)", path, err)
	}
	return nil
}

// saveState writes fake's state to path.
func saveState(fake *fakegoogle.Server, path string) error {
	data, err := fake.MarshalState()
	if err != nil {
		return fmt.Errorf("emulator: save state: %w", err)
	}
	if err := fileutil.WriteAtomic(path, data, 0o600); err != nil {
		return fmt.Errorf("emulator: save state %s: %w", path, err)
	}
	return nil
}

// applyIAM applies the IAM options to the fake; they persist in its state.
func applyIAM(fake *fakegoogle.Server, o *Options) error {
	for i, g := range o.TokenCreators {
		if err := fake.GrantTokenCreator(g.Member, g.ServiceAccount); err != nil {
			return optionError("TokenCreators", i, g.Member+"="+g.ServiceAccount, err)
		}
	}
	for i, g := range o.RevokedTokenCreators {
		if err := fake.RevokeTokenCreator(g.Member, g.ServiceAccount); err != nil {
			return optionError("RevokedTokenCreators", i, g.Member+"="+g.ServiceAccount, err)
		}
	}
	for i, sa := range o.LifetimeExtensions {
		if err := fake.AllowLifetimeExtension(sa, true); err != nil {
			return optionError("LifetimeExtensions", i, sa, err)
		}
	}
	for i, d := range o.DomainDelegations {
		if err := fake.AllowDomainWideDelegation(d.ServiceAccount, d.Scopes); err != nil {
			return optionError("DomainDelegations", i, d.ServiceAccount, err)
		}
	}
	return nil
}

// applyFaults sets the fake's clock skew, fault seed and faults.
func applyFaults(fake *fakegoogle.Server, o *Options) error {
	fake.SetFaultSeed(o.FaultSeed)
	fake.SetClockSkew(o.ClockSkew)
	for i, f := range o.Faults {
		if err := fake.AddFault(f); err != nil {
			return optionError("Faults", i, "", err)
		}
	}
	return nil
}
