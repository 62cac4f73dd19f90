package dockercred

import (
	"encoding/json"
	"sort"
)

// FakeHelperConfig is a HelperConfig in memory, for tests of code that
// configures docker (the gcptoken CLI's configure-docker).
type FakeHelperConfig struct {
	// CredHelpers is the configuration's credHelpers: registry to helper
	// name. UseHelper creates it.
	CredHelpers map[string]string
	// Err, when set, is what UseHelper returns, changing nothing.
	Err error
}

// UseHelper maps registries in CredHelpers, unless dryRun. Content is
// {"credHelpers": …} as config.json would have it.
func (f *FakeHelperConfig) UseHelper(registries []string, dryRun bool) (*ConfigChange, error) {
	if f.Err != nil {
		return nil, f.Err
	}
	helpers := map[string]string{}
	for k, v := range f.CredHelpers {
		helpers[k] = v
	}
	var changed []string
	for _, r := range registries {
		if helpers[r] != HelperName {
			helpers[r] = HelperName
			changed = append(changed, r)
		}
	}
	sort.Strings(changed)
	data, err := json.MarshalIndent(map[string]any{"credHelpers": helpers}, "", "\t")
	if err != nil {
		return nil, err
	}
	if !dryRun {
		f.CredHelpers = helpers
	}
	return &ConfigChange{Path: "fake docker config", Content: append(data, '\n'), Changed: changed}, nil
}

// Routes looks host up in CredHelpers.
func (f *FakeHelperConfig) Routes(host string) bool { return routes(f.CredHelpers, host) }
