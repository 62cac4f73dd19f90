package kubeexec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gcptoken/gcptoken"
)

// API versions of the client.authentication.k8s.io group that a plugin can
// answer with. v1alpha1 was removed in Kubernetes 1.24.
const (
	APIVersionV1      = "client.authentication.k8s.io/v1"
	APIVersionV1beta1 = "client.authentication.k8s.io/v1beta1"
)

// EnvExecInfo is the environment variable through which client-go passes
// the ExecCredential request to the plugin.
const EnvExecInfo = "KUBERNETES_EXEC_INFO"

// DefaultAPIVersion answers callers that set no KUBERNETES_EXEC_INFO (client-go
// before 1.22). Every client-go that knows v1 also sets the variable.
const DefaultAPIVersion = APIVersionV1beta1

// kind is the only kind the protocol knows.
const kind = "ExecCredential"

// maxExecInfo bounds KUBERNETES_EXEC_INFO. It holds at most a cluster's
// server, CA bundle and plugin config; anything much larger is not one.
const maxExecInfo = 1 << 20

// ExecInfo is what the caller said about the call in KUBERNETES_EXEC_INFO.
type ExecInfo struct {
	// APIVersion is the version the caller expects back: APIVersionV1 or
	// APIVersionV1beta1.
	APIVersion string
	// Interactive reports whether the plugin may prompt on stdin.
	Interactive bool
	// Server is the cluster's API server URL when the kubeconfig sets
	// provideClusterInfo; empty otherwise.
	Server string
}

// execCredential is the ExecCredential document, read and written. The same
// shape serves v1 and v1beta1: they differ only in which fields are
// required.
type execCredential struct {
	APIVersion string      `json:"apiVersion"`
	Kind       string      `json:"kind"`
	Spec       *spec       `json:"spec,omitempty"`
	Status     *execStatus `json:"status,omitempty"`
}

type spec struct {
	// Interactive is a pointer so that a v1 request that lacks it is
	// recognised: v1 makes the field required.
	Interactive *bool    `json:"interactive,omitempty"`
	Cluster     *cluster `json:"cluster,omitempty"`
}

type cluster struct {
	Server string `json:"server"`
}

type execStatus struct {
	ExpirationTimestamp string `json:"expirationTimestamp,omitempty"`
	Token               string `json:"token"`
}

// ParseExecInfo parses the value of KUBERNETES_EXEC_INFO. An empty value
// means an old caller and yields DefaultAPIVersion. Anything else must be an
// ExecCredential of a known version; a v1 document must say whether the
// call is interactive. Errors name the variable and what is wrong with it.
func ParseExecInfo(value string) (*ExecInfo, error) {
	if value == "" {
		return &ExecInfo{APIVersion: DefaultAPIVersion}, nil
	}
	if len(value) > maxExecInfo {
		return nil, fmt.Errorf("%s is %d bytes, more than %d: not an ExecCredential", EnvExecInfo, len(value), maxExecInfo)
	}
	var doc execCredential
	dec := json.NewDecoder(bytes.NewReader([]byte(value)))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s is not an ExecCredential JSON document: %v", EnvExecInfo, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s has data after the ExecCredential document", EnvExecInfo)
	}
	switch {
	case doc.Kind == "":
		return nil, fmt.Errorf("%s: missing \"kind\" (want %q)", EnvExecInfo, kind)
	case doc.Kind != kind:
		return nil, fmt.Errorf("%s: kind %q, want %q", EnvExecInfo, doc.Kind, kind)
	case doc.APIVersion == "":
		return nil, fmt.Errorf("%s: missing \"apiVersion\" (want %s or %s)", EnvExecInfo, APIVersionV1, APIVersionV1beta1)
	case doc.APIVersion != APIVersionV1 && doc.APIVersion != APIVersionV1beta1:
		return nil, fmt.Errorf("%s: unsupported apiVersion %q (want %s or %s); set the kubeconfig's exec apiVersion to one of them", EnvExecInfo, doc.APIVersion, APIVersionV1, APIVersionV1beta1)
	case doc.Spec == nil:
		return nil, fmt.Errorf("%s: missing \"spec\"", EnvExecInfo)
	case doc.APIVersion == APIVersionV1 && doc.Spec.Interactive == nil:
		return nil, fmt.Errorf("%s: missing \"spec.interactive\", which %s requires", EnvExecInfo, APIVersionV1)
	case doc.Status != nil:
		return nil, fmt.Errorf("%s: a request must not carry \"status\"", EnvExecInfo)
	}
	info := &ExecInfo{APIVersion: doc.APIVersion}
	if doc.Spec.Interactive != nil {
		info.Interactive = *doc.Spec.Interactive
	}
	if doc.Spec.Cluster != nil {
		info.Server = doc.Spec.Cluster.Server
	}
	return info, nil
}

// Marshal renders tok as an ExecCredential of apiVersion. The expiry is
// written in RFC 3339 (UTC, seconds) and left out when unknown, in which
// case client-go asks the plugin again on every request's 401.
func Marshal(apiVersion string, tok *gcptoken.Token) ([]byte, error) {
	if apiVersion != APIVersionV1 && apiVersion != APIVersionV1beta1 {
		return nil, fmt.Errorf("kubeexec: unsupported apiVersion %q", apiVersion)
	}
	if tok == nil {
		return nil, errors.New("kubeexec: empty token")
	}
	// client-go puts the token into an Authorization header.
	if err := gcptoken.CheckTokenValue(tok.Value); err != nil {
		return nil, fmt.Errorf("kubeexec: %w", err)
	}
	doc := execCredential{
		APIVersion: apiVersion,
		Kind:       kind,
		Status:     &execStatus{Token: tok.Value},
	}
	// client-go ignores spec in a response; print it as client-go's own
	// types do, so the output equals theirs.
	f := false
	doc.Spec = &spec{Interactive: &f}
	if !tok.Expiry.IsZero() {
		doc.Status.ExpirationTimestamp = tok.Expiry.UTC().Truncate(time.Second).Format(time.RFC3339)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("kubeexec: encode ExecCredential: %w", err)
	}
	return append(out, '\n'), nil
}

// Write parses execInfo (the value of KUBERNETES_EXEC_INFO), gets a token
// from p and writes the ExecCredential to w. The request is checked first,
// so a malformed one costs no token.
func Write(ctx context.Context, w io.Writer, p gcptoken.TokenProvider, execInfo string) error {
	info, err := ParseExecInfo(execInfo)
	if err != nil {
		return err
	}
	tok, err := p.Token(ctx)
	if err != nil {
		return err
	}
	out, err := Marshal(info.APIVersion, tok)
	if err != nil {
		return err
	}
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("write ExecCredential: %w", err)
	}
	return nil
}
