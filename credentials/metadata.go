package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken"
)

const (
	metadataTokenPath    = "/computeMetadata/v1/instance/service-accounts/default/token"
	metadataIdentityPath = "/computeMetadata/v1/instance/service-accounts/default/identity"
	// metadataMaxBody caps what is read from the metadata server; tokens
	// are a few KiB.
	metadataMaxBody = 1 << 20
)

// metadataServer gets tokens for the instance's default service account
// from the GCE metadata server.
//
// The client is written by hand rather than with
// cloud.google.com/go/compute/metadata: that package takes its host only from
// the process environment (GCE_METADATA_HOST) and memoises detection
// process-wide, so it cannot be pointed at a per-test fake or at
// Options.MetadataHost.
type metadataServer struct {
	base   string // http://host[:port]
	client *http.Client
}

func newMetadata(s *settings, host string) *Credentials {
	base := "http://" + host
	return &Credentials{
		Type:           TypeComputeMetadata,
		Source:         "metadata server at " + base,
		ProjectID:      s.Getenv(envProject),
		QuotaProjectID: s.Getenv(envQuotaProject),
		UniverseDomain: DefaultUniverseDomain,
		impl:           &metadataServer{base: base, client: s.metadataClient},
	}
}

// get makes one request to the metadata server and returns the body of a 200
// answer.
func (m *metadataServer) get(ctx context.Context, op, path string, query url.Values) ([]byte, error) {
	u := m.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := m.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in the *gcptoken.Error
		}
		return nil, gcptoken.NewTransportError(op, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, metadataMaxBody))
	if err != nil {
		return nil, gcptoken.NewTransportError(op, u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, gcptoken.NewResponseError(op, u, resp.StatusCode, body)
	}
	return body, nil
}

func (m *metadataServer) accessTokenProvider(scopes []string) (gcptoken.TokenProvider, error) {
	var q url.Values
	if len(scopes) > 0 {
		q = url.Values{"scopes": {strings.Join(scopes, ",")}}
	}
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		body, err := m.get(ctx, opAccessToken, metadataTokenPath, q)
		if err != nil {
			return nil, err
		}
		var r struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int64  `json:"expires_in"`
			TokenType   string `json:"token_type"`
			Scope       string `json:"scope"`
		}
		u := m.base + metadataTokenPath
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, fmt.Errorf("%s from %s: malformed response: %v", opAccessToken, u, err)
		}
		if r.AccessToken == "" {
			return nil, fmt.Errorf("%s from %s: the response has no access_token", opAccessToken, u)
		}
		if r.ExpiresIn <= 0 {
			return nil, fmt.Errorf("%s from %s: the response has no positive expires_in", opAccessToken, u)
		}
		t := &gcptoken.Token{
			Value:  r.AccessToken,
			Type:   r.TokenType,
			Kind:   gcptoken.AccessToken,
			Expiry: time.Now().Add(time.Duration(r.ExpiresIn) * time.Second),
		}
		if r.Scope != "" {
			t.Metadata = map[string]string{gcptoken.MetaScope: r.Scope}
		}
		return t, nil
	}), nil
}

func (m *metadataServer) idTokenProvider(audience string) (gcptoken.TokenProvider, error) {
	// format=full adds email and instance details, as Google's libraries ask.
	q := url.Values{"audience": {audience}, "format": {"full"}}
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		body, err := m.get(ctx, opIDToken, metadataIdentityPath, q)
		if err != nil {
			return nil, err
		}
		return idToken(strings.TrimSpace(string(body)), opIDToken, m.base+metadataIdentityPath)
	}), nil
}

// identity is the type and the server: every credential of one metadata
// server is the same default service account.
func (m *metadataServer) identity() string { return TypeComputeMetadata + "|" + m.base }

func (m *metadataServer) tokenEndpoints() []string {
	return []string{m.base + metadataTokenPath, m.base + metadataIdentityPath}
}

// probeMetadata asks whether a metadata server answers at base, as Google's
// Go library does: any answer carrying Metadata-Flavor: Google counts,
// whatever its status. Unlike Go's probe, the request carries the flavor
// header too; GKE's metadata server refuses requests without it, and then
// without the response header.
func probeMetadata(ctx context.Context, client *http.Client, base string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Metadata-Flavor", "Google")
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no answer within %v", timeout)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.Header.Get("Metadata-Flavor") != "Google" {
		return fmt.Errorf("answered HTTP %d without the header Metadata-Flavor: Google; not a metadata server", resp.StatusCode)
	}
	return nil
}
