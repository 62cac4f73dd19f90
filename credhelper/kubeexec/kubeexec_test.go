package kubeexec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gcptoken/gcptoken"
)

// What client-go 1.22+ puts in KUBERNETES_EXEC_INFO (captured from
// client-go's exec plugin: its encoder prints spec.interactive always and the
// cluster only with provideClusterInfo).
const (
	execInfoV1        = `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`
	execInfoV1beta1   = `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":true}}`
	execInfoV1Cluster = `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"cluster":{"server":"https://10.0.0.1","certificate-authority-data":"AAAA","config":{"x":1}},"interactive":false}}`
)

func TestParseExecInfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		in          string
		wantVersion string
		wantInter   bool
		wantServer  string
		wantErr     string // fragment; empty means success
	}{
		{name: "unset", in: "", wantVersion: APIVersionV1beta1},
		{name: "v1", in: execInfoV1, wantVersion: APIVersionV1},
		{name: "v1beta1 interactive", in: execInfoV1beta1, wantVersion: APIVersionV1beta1, wantInter: true},
		{name: "v1 with cluster", in: execInfoV1Cluster, wantVersion: APIVersionV1, wantServer: "https://10.0.0.1"},
		{name: "v1beta1 without interactive", in: `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{}}`, wantVersion: APIVersionV1beta1},
		{name: "garbled", in: `{"kind":`, wantErr: "not an ExecCredential JSON document"},
		{name: "not an object", in: `[1,2]`, wantErr: "not an ExecCredential JSON document"},
		{name: "trailing data", in: execInfoV1 + `{}`, wantErr: "data after"},
		{name: "missing kind", in: `{"apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`, wantErr: `missing "kind"`},
		{name: "wrong kind", in: `{"kind":"Pod","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}`, wantErr: `kind "Pod"`},
		{name: "missing apiVersion", in: `{"kind":"ExecCredential","spec":{"interactive":false}}`, wantErr: `missing "apiVersion"`},
		{name: "v1alpha1", in: `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1","spec":{}}`, wantErr: `unsupported apiVersion "client.authentication.k8s.io/v1alpha1"`},
		{name: "missing spec", in: `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1"}`, wantErr: `missing "spec"`},
		{name: "v1 missing interactive", in: `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{}}`, wantErr: `missing "spec.interactive"`},
		{name: "interactive not bool", in: `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":"no"}}`, wantErr: "not an ExecCredential JSON document"},
		{name: "status in request", in: `{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false},"status":{"token":"x"}}`, wantErr: `must not carry "status"`},
		{name: "huge", in: strings.Repeat(" ", maxExecInfo+1), wantErr: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseExecInfo(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseExecInfo(%q) = %+v; want an error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), EnvExecInfo) {
					t.Errorf("got error %q; want it to name %s and contain %q", err, EnvExecInfo, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseExecInfo(%q): %v", tt.in, err)
			}
			if got.APIVersion != tt.wantVersion || got.Interactive != tt.wantInter || got.Server != tt.wantServer {
				t.Errorf("got %+v; want version %s, interactive %t, server %q", got, tt.wantVersion, tt.wantInter, tt.wantServer)
			}
		})
	}
}

// TestMarshalDecodesWithClientGoTypes decodes the output strictly with
// client-go's own ExecCredential types of both versions.
// decodedCredential is what the tests read back; crosscheck's
// TestKubeexecDecodesWithClientGoTypes decodes the same output strictly with
// client-go's own types, which this module does not depend on.
type decodedCredential struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Status     *struct {
		Token               string     `json:"token"`
		ExpirationTimestamp *time.Time `json:"expirationTimestamp"`
	} `json:"status"`
}

func decodeCredential(t *testing.T, data []byte) decodedCredential {
	t.Helper()
	var c decodedCredential
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	return c
}

func TestMarshalRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		version string
		tok     *gcptoken.Token
	}{
		{"unknown version", "client.authentication.k8s.io/v1alpha1", &gcptoken.Token{Value: "t"}},
		{"nil token", APIVersionV1, nil},
		{"empty token", APIVersionV1, &gcptoken.Token{}},
		{"token with a space", APIVersionV1, &gcptoken.Token{Value: "ya29 x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := Marshal(tt.version, tt.tok); err == nil {
				t.Errorf("Marshal = %s; want an error", out)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	t.Parallel()
	calls := 0
	p := gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) {
		calls++
		return &gcptoken.Token{Value: "ya29.w", Expiry: time.Now().Add(time.Hour)}, nil
	})
	var buf bytes.Buffer
	if err := Write(context.Background(), &buf, p, execInfoV1); err != nil {
		t.Fatal(err)
	}
	cred := decodeCredential(t, buf.Bytes())
	if cred.APIVersion != APIVersionV1 || cred.Status.Token != "ya29.w" {
		t.Errorf("got %+v; want v1 with the token", cred)
	}

	// A malformed request costs no token.
	buf.Reset()
	if err := Write(context.Background(), &buf, p, `{"kind":"ExecCredential"}`); err == nil {
		t.Error("Write accepted a request without apiVersion")
	}
	if calls != 1 || buf.Len() != 0 {
		t.Errorf("got %d token calls and output %q after a bad request; want 1 call, no output", calls, buf.String())
	}

	// Provider errors come back unchanged.
	sentinel := errors.New("boom")
	failing := gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) { return nil, sentinel })
	if err := Write(context.Background(), &buf, failing, ""); !errors.Is(err, sentinel) {
		t.Errorf("got %v; want the provider's error", err)
	}
}

func FuzzParseExecInfo(f *testing.F) {
	for _, s := range []string{"", execInfoV1, execInfoV1beta1, execInfoV1Cluster, `{"kind":"ExecCredential"}`, `null`, `{"spec":null}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		info, err := ParseExecInfo(in)
		if err != nil {
			if !strings.Contains(err.Error(), EnvExecInfo) {
				t.Errorf("error %q does not name %s", err, EnvExecInfo)
			}
			return
		}
		if info.APIVersion != APIVersionV1 && info.APIVersion != APIVersionV1beta1 {
			t.Errorf("accepted %q with apiVersion %q", in, info.APIVersion)
		}
		if _, err := Marshal(info.APIVersion, &gcptoken.Token{Value: "t"}); err != nil {
			t.Errorf("cannot answer accepted request %q: %v", in, err)
		}
	})
}
