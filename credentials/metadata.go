package credentials

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/safetext"
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
	md *MetadataClient
	// email is the default service account, when Detect learnt it. It is
	// part of identity: after the instance's service account is changed,
	// tokens cached for the old one must not be reused.
	email string
}

func newMetadata(s *settings, host string) (*Credentials, *metadataServer) {
	m := &metadataServer{md: NewMetadataClient(host, s.metadataClient)}
	return &Credentials{
		Type:           TypeComputeMetadata,
		Source:         "metadata server at " + m.md.base,
		ProjectID:      s.Getenv(envProject),
		QuotaProjectID: s.Getenv(envQuotaProject),
		UniverseDomain: DefaultUniverseDomain,
		impl:           m,
		client:         s.client,
		ends:           s.ends,
		memo:           newTokenMemo(),
	}, m
}

// noServiceAccount adds a hint to a 404 from a token path: on GCE it means
// that no service account is attached to the instance.
func noServiceAccount(err error) error {
	if errors.Is(err, ErrMetadataNotDefined) {
		return fmt.Errorf("%w (is a service account attached to the instance?)", err)
	}
	return err
}

func (m *metadataServer) accessTokenProvider(scopes []string) (gcptoken.TokenProvider, error) {
	var q url.Values
	if len(scopes) > 0 {
		q = url.Values{"scopes": {strings.Join(scopes, ",")}}
	}
	reply := tokenReply{opAccessToken, m.md.URL(mdTokenPath)}
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		body, err := m.md.get(ctx, opAccessToken, mdTokenPath, q)
		if err != nil {
			return nil, noServiceAccount(err)
		}
		a, err := reply.oauth(body)
		if err != nil {
			return nil, err
		}
		return reply.accessToken(a, expiryRule{required: true}, "")
	}), nil
}

// idTokenProvider asks for format=full unless standard was chosen, as
// Google's Go and Python libraries do, and sends licenses only when the
// caller chose a format or licenses.
func (m *metadataServer) idTokenProvider(audience string, o IDTokenOptions) (gcptoken.TokenProvider, error) {
	q := url.Values{"audience": {audience}, "format": {o.formatOrDefault()}}
	switch {
	case o.Licenses:
		q.Set("licenses", "TRUE") // upper case, as Google documents
	case o.TokenFormat != "":
		q.Set("licenses", "FALSE")
	}
	reply := tokenReply{opIDToken, m.md.URL(mdIdentityPath)}
	return gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		body, err := m.md.get(ctx, opIDToken, mdIdentityPath, q)
		if err != nil {
			return nil, noServiceAccount(err)
		}
		return reply.jwt(strings.TrimSpace(string(body)))
	}), nil
}

// identity is the type, the server and the default service account's email
// (empty if Detect could not learn it).
func (m *metadataServer) identity() string {
	return TypeComputeMetadata + "|" + m.md.base + "|" + m.email
}

func (m *metadataServer) tokenEndpoints() []string {
	return []string{m.md.URL(mdTokenPath), m.md.URL(mdIdentityPath)}
}

// learn asks the metadata server, concurrently and within budget, for the
// service account's email, the project (unless GOOGLE_CLOUD_PROJECT set it)
// and the universe domain, and records them in c. Nothing here fails: a
// credential that cannot describe itself can still mint tokens. It returns
// one note per fact for the Step's detail.
func (m *metadataServer) learn(ctx context.Context, c *Credentials, budget time.Duration) []string {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	var (
		wg                         sync.WaitGroup
		email, project, universe   string
		emailErr, projErr, univErr error
		askProject                 = c.ProjectID == ""
	)
	wg.Go(func() { email, emailErr = m.md.Email(ctx) })
	if askProject {
		wg.Go(func() { project, projErr = m.md.ProjectID(ctx) })
	}
	wg.Go(func() { universe, univErr = m.md.UniverseDomain(ctx) })
	wg.Wait()
	// The answers end up in Principal, ProjectID, UniverseDomain (and so in
	// explain's output, cache keys and transport's host rules): a server
	// that answers with terminal escapes or spaces is not believed.
	email, emailErr = plainFact(email, emailErr)
	project, projErr = plainFact(project, projErr)
	universe, univErr = plainFact(universe, univErr)

	why := func(err error, within time.Duration) string {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Sprintf("unavailable: no answer within %v", within)
		}
		return "unavailable: " + err.Error()
	}
	var notes []string
	switch {
	case emailErr != nil:
		notes = append(notes, "email: "+why(emailErr, budget))
	case email == "":
		notes = append(notes, "email: unavailable: empty answer")
	default:
		m.email, c.Principal = email, email
		notes = append(notes, "email: "+email)
	}
	switch {
	case !askProject:
		notes = append(notes, fmt.Sprintf("project: %s (from %s)", c.ProjectID, envProject))
	case projErr != nil:
		notes = append(notes, "project: "+why(projErr, budget))
	case project == "":
		notes = append(notes, "project: unavailable: empty answer")
	default:
		c.ProjectID = project
		notes = append(notes, "project: "+project)
	}
	if univErr != nil {
		notes = append(notes, fmt.Sprintf("universe: %s; assuming %s", why(univErr, min(budget, universeDomainTimeout)), DefaultUniverseDomain))
	} else {
		c.UniverseDomain = universe
		notes = append(notes, "universe: "+universe)
	}
	return notes
}

// plainFact passes on a metadata server's answer if it is one word of
// printable text, else turns it into an error that does not repeat it.
func plainFact(v string, err error) (string, error) {
	if err != nil || (safetext.Escape(v) == v && !strings.ContainsAny(v, " \u00a0")) {
		return v, err
	}
	return "", errors.New("the answer holds spaces or control characters")
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
