package kubeexec

import "context"

// FakeKubeconfig is a Kubeconfig in memory, for tests of code that
// configures kubectl (the gcptoken CLI's configure-kubectl).
type FakeKubeconfig struct {
	// Users are the user entries by name. SetUser creates it.
	Users map[string]User
	// Contexts map each context to its user's name. A context must be
	// here for SetUser to set it.
	Contexts map[string]string
	// Err, when set, is what SetUser returns, changing nothing.
	Err error
}

// SetUser records user and points context at it.
func (f *FakeKubeconfig) SetUser(_ context.Context, u *User, context string) (string, error) {
	if f.Err != nil {
		return "", f.Err
	}
	if err := u.validate(); err != nil {
		return "", err
	}
	if _, ok := f.Contexts[context]; context != "" && !ok {
		return "", &NoContextError{Context: context, Path: "fake kubeconfig"}
	}
	if f.Users == nil {
		f.Users = map[string]User{}
	}
	f.Users[u.Name] = *u
	if context != "" {
		f.Contexts[context] = u.Name
	}
	return "", nil
}
