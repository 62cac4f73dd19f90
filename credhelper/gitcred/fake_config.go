package gitcred

import "context"

// FakeHelperConfig is a HelperConfig in memory, for tests of code that
// configures git (the gcptoken CLI's configure-git).
type FakeHelperConfig struct {
	// Helpers maps HelperKey(host) to the host's helper values in order,
	// as git config --get-all lists them. ConfigureHelper creates it.
	Helpers map[string][]string
	// Err, when set, is what ConfigureHelper returns, changing nothing.
	Err error
}

// ConfigureHelper records what git would hold after ConfigCommands: the
// empty helper, then helper, for each host.
func (f *FakeHelperConfig) ConfigureHelper(_ context.Context, hosts []string, helper string) error {
	if f.Err != nil {
		return f.Err
	}
	if f.Helpers == nil {
		f.Helpers = map[string][]string{}
	}
	for _, h := range hosts {
		f.Helpers[HelperKey(h)] = []string{"", helper}
	}
	return nil
}
