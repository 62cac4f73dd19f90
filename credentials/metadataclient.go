package credentials

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

const (
	// metadataPrefix is where every metadata value lives.
	metadataPrefix = "/computeMetadata/v1/"
	// metadataMaxBody caps what is read from the metadata server; tokens
	// are a few KiB, and the largest listings far less than this.
	metadataMaxBody = 1 << 20
	// universeDomainTimeout is the budget Google's Go library gives the
	// universe-domain lookup: servers that predate the path may hang.
	universeDomainTimeout = time.Second
)

// Metadata paths, relative to metadataPrefix.
const (
	mdTokenPath       = "instance/service-accounts/default/token"
	mdIdentityPath    = "instance/service-accounts/default/identity"
	mdEmailPath       = "instance/service-accounts/default/email"
	mdScopesPath      = "instance/service-accounts/default/scopes"
	mdProjectIDPath   = "project/project-id"
	mdNumericProjPath = "project/numeric-project-id"
	mdUniversePath    = "universe/universe-domain"
)

// opReadMetadata names plain metadata reads in errors.
const opReadMetadata = "read metadata"

// ErrMetadataNotDefined matches the error of a metadata read that the server
// answered with 404: the value does not exist on this instance (for example
// no service account is attached). Test with errors.Is; errors.As with
// *gcptoken.Error also works and gives StatusCode 404.
var ErrMetadataNotDefined = errors.New("not defined on this metadata server")

// MetadataClient reads the GCE metadata server, as
// cloud.google.com/go/compute/metadata does, but at a host of the caller's
// choosing (that package takes its host only from the process environment
// and memoises it). It makes exactly one request per call: retries belong to
// the caller (the root package's caching wrapper retries token fetches).
//
// Every request carries Metadata-Flavor: Google, and every answer must carry
// it back, as Google's Node library demands: anything else at that address is
// not a metadata server, and its answers are refused.
type MetadataClient struct {
	base    string // http://host[:port]
	client  *http.Client
	hostErr error // a bad host given to NewMetadataClient, returned by every call
}

// NewMetadataClient returns a client of the metadata server at host, a
// host[:port] (an "http://" prefix is tolerated). An empty host means
// DefaultMetadataHost. A nil client means the package's default metadata
// client, which uses no proxy (the server is link-local) and gives up dialling
// after 2 s. An invalid host is reported by every call.
func NewMetadataClient(host string, client *http.Client) *MetadataClient {
	if host == "" {
		host = DefaultMetadataHost
	}
	if client == nil {
		client = defaultMetadataClient()
	}
	h, err := normalizeHost(host)
	if err != nil {
		return &MetadataClient{base: "http://" + host, client: client, hostErr: fmt.Errorf("credentials: metadata host: %w", err)}
	}
	return &MetadataClient{base: "http://" + h, client: client}
}

// URL returns the full URL of path, a path under /computeMetadata/v1/.
func (m *MetadataClient) URL(path string) string {
	return m.base + metadataPrefix + strings.TrimPrefix(path, "/")
}

// Get returns the value at path, relative to /computeMetadata/v1/ (for
// example "instance/zone"; a query such as "?recursive=true" may follow), as
// the server sent it. A 404 gives an error matching ErrMetadataNotDefined;
// any other status but 200 a *gcptoken.Error; an answer without
// Metadata-Flavor: Google an error saying the host is not a metadata server.
func (m *MetadataClient) Get(ctx context.Context, path string) (string, error) {
	body, err := m.get(ctx, opReadMetadata, path, nil)
	return string(body), err
}

// getTrimmed is Get with surrounding white space removed, as Google's Go
// library does for scalar values.
func (m *MetadataClient) getTrimmed(ctx context.Context, path string) (string, error) {
	body, err := m.get(ctx, opReadMetadata, path, nil)
	return strings.TrimSpace(string(body)), err
}

// Email returns the email of the instance's default service account.
func (m *MetadataClient) Email(ctx context.Context) (string, error) {
	return m.getTrimmed(ctx, mdEmailPath)
}

// ProjectID returns the instance's project id.
func (m *MetadataClient) ProjectID(ctx context.Context) (string, error) {
	return m.getTrimmed(ctx, mdProjectIDPath)
}

// NumericProjectID returns the instance's project number, as decimal text.
func (m *MetadataClient) NumericProjectID(ctx context.Context) (string, error) {
	return m.getTrimmed(ctx, mdNumericProjPath)
}

// Scopes returns the OAuth scopes of the default service account's access
// tokens.
func (m *MetadataClient) Scopes(ctx context.Context) ([]string, error) {
	v, err := m.getTrimmed(ctx, mdScopesPath)
	if err != nil {
		return nil, err
	}
	return strings.Fields(v), nil
}

// UniverseDomain returns the instance's universe domain. As in all of
// Google's libraries, a 404 or an empty answer means DefaultUniverseDomain:
// older metadata servers do not know the path. Like Google's Go library it
// allows the request one second.
func (m *MetadataClient) UniverseDomain(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, universeDomainTimeout)
	defer cancel()
	v, err := m.getTrimmed(ctx, mdUniversePath)
	switch {
	case errors.Is(err, ErrMetadataNotDefined):
		return DefaultUniverseDomain, nil
	case err != nil:
		return "", err
	case v == "":
		return DefaultUniverseDomain, nil
	}
	// Endpoints are derived from it: a value that is not a DNS name would
	// point them elsewhere.
	if err := endpoints.CheckUniverseDomain(v); err != nil {
		return "", fmt.Errorf("read %s: %w", mdUniversePath, err)
	}
	return v, nil
}

// get makes one GET of path (relative to metadataPrefix) with query and
// returns the body of a 200 answer. It is the one place that talks to the
// metadata server: it sets and checks the flavor header, caps the body and
// maps failures to errors that name op and the URL.
func (m *MetadataClient) get(ctx context.Context, op, path string, query url.Values) ([]byte, error) {
	if m.hostErr != nil {
		return nil, m.hostErr
	}
	u := m.URL(path)
	endpoint, _, _ := strings.Cut(u, "?") // for messages: queries may be long
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
	if resp.Header.Get("Metadata-Flavor") != "Google" {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // let the connection be reused
		return nil, &notMetadataServerError{op: op, url: endpoint, base: m.base, status: resp.StatusCode}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, metadataMaxBody+1))
	if err != nil {
		return nil, gcptoken.NewTransportError(op, u, err)
	}
	if len(body) > metadataMaxBody {
		return nil, fmt.Errorf("%s from %s: the response is larger than %d bytes", op, endpoint, metadataMaxBody)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return body, nil
	case http.StatusNotFound:
		return nil, &notDefinedError{gcptoken.NewResponseError(op, u, resp.StatusCode, body)}
	}
	return nil, gcptoken.NewResponseError(op, u, resp.StatusCode, body)
}

// notDefinedError is a 404 from the metadata server. Its message leaves out
// the body, which is Google's standard HTML error page.
type notDefinedError struct{ err *gcptoken.Error }

func (e *notDefinedError) Error() string {
	return fmt.Sprintf("%s from %s: HTTP 404: %v", e.err.Op, e.err.URL, ErrMetadataNotDefined)
}
func (e *notDefinedError) Unwrap() error        { return e.err }
func (e *notDefinedError) Is(target error) bool { return target == ErrMetadataNotDefined }

// notMetadataServerError is an answer without Metadata-Flavor: Google.
// Retrying does not help: something else listens at the address.
type notMetadataServerError struct {
	op, url, base string
	status        int
}

func (e *notMetadataServerError) Error() string {
	return fmt.Sprintf("%s from %s: %s is not a metadata server (no Metadata-Flavor: Google response header; it answered HTTP %d)",
		e.op, e.url, e.base, e.status)
}
