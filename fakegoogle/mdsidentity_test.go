package fakegoogle

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMintComputeIDToken(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	sa, _ := f.ServiceAccount(DefaultServiceAccount)
	vm := ComputeInstance{
		ProjectID: "vm-project", ProjectNumber: "123456789012", Zone: "europe-west1-b", InstanceID: "4570452845155348778",
		InstanceName: "vm-1", CreationTime: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), LicenseIDs: []string{"111", "222"},
	}
	iat := float64(clock.Now().Unix())
	standard := map[string]any{"aud": "https://svc.example", "azp": sa.UniqueID, "exp": iat + 3600, "iat": iat,
		"iss": "https://accounts.google.com", "sub": sa.UniqueID}
	engine := map[string]any{"instance_creation_timestamp": float64(vm.CreationTime.Unix()), "instance_id": vm.InstanceID,
		"instance_name": "vm-1", "project_id": "vm-project", "project_number": float64(123456789012), "zone": "europe-west1-b"}
	full := func(engine map[string]any) map[string]any {
		c := maps.Clone(standard)
		c["email"], c["email_verified"] = DefaultServiceAccount, true
		c["google"] = map[string]any{"compute_engine": engine}
		return c
	}
	withLicenses := maps.Clone(engine)
	withLicenses["license_id"] = []any{"111", "222"}
	noLicenses := maps.Clone(engine)
	noLicenses["license_id"] = []any{}
	tests := []struct {
		name string
		req  ComputeIDTokenRequest
		want map[string]any
	}{
		{"default is standard: no email", ComputeIDTokenRequest{ServiceAccount: DefaultServiceAccount, Audience: "https://svc.example"}, standard},
		{"standard ignores licenses", ComputeIDTokenRequest{ServiceAccount: DefaultServiceAccount, Audience: "https://svc.example",
			Format: ComputeFormatStandard, Licenses: true, Instance: vm}, standard},
		{"full", ComputeIDTokenRequest{ServiceAccount: DefaultServiceAccount, Audience: "https://svc.example",
			Format: ComputeFormatFull, Instance: vm}, full(engine)},
		{"full with licenses", ComputeIDTokenRequest{ServiceAccount: DefaultServiceAccount, Audience: "https://svc.example",
			Format: ComputeFormatFull, Licenses: true, Instance: vm}, full(withLicenses)},
		{"full with licenses, none", ComputeIDTokenRequest{ServiceAccount: DefaultServiceAccount, Audience: "https://svc.example",
			Format: ComputeFormatFull, Licenses: true, Instance: ComputeInstance{ProjectID: "vm-project", ProjectNumber: "123456789012",
				Zone: "europe-west1-b", InstanceID: vm.InstanceID, InstanceName: "vm-1", CreationTime: vm.CreationTime}}, full(noLicenses)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, exp, err := f.MintComputeIDToken(tt.req)
			if err != nil {
				t.Fatalf("MintComputeIDToken: %v", err)
			}
			if want := clock.Now().Add(time.Hour); !exp.Equal(want) {
				t.Errorf("got expiry %v; want %v", exp, want)
			}
			header, claims := decodeJWT(t, tok)
			if !equalJSON(claims, tt.want) {
				t.Errorf("got claims %v;\nwant %v", claims, tt.want)
			}
			if header["alg"] != "RS256" || header["typ"] != "JWT" || header["kid"] == "" {
				t.Errorf("got header %v; want RS256, JWT and a kid", header)
			}
			// Signed with the keys Google's certs URLs publish: tokeninfo
			// (which checks the signature) accepts it.
			if r := get(t, f.URL+"/tokeninfo?id_token="+tok, nil); r.status != http.StatusOK {
				t.Errorf("tokeninfo: got status %d (%s); want 200", r.status, r.body)
			}
		})
	}
}

func TestMintComputeIDTokenRefuses(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	if _, err := f.AddServiceAccount("off@fake-project.iam.gserviceaccount.com"); err != nil {
		t.Fatal(err)
	}
	if err := f.DisableServiceAccount("off@fake-project.iam.gserviceaccount.com"); err != nil {
		t.Fatal(err)
	}
	vm := ComputeInstance{ProjectID: "p", ProjectNumber: "1", Zone: "z", InstanceID: "2", InstanceName: "n", CreationTime: time.Unix(1, 0)}
	tests := []struct {
		name string
		req  ComputeIDTokenRequest
		want string
	}{
		{"no audience", ComputeIDTokenRequest{ServiceAccount: DefaultServiceAccount}, "audience is required"},
		{"unknown account", ComputeIDTokenRequest{ServiceAccount: "nobody@x.iam.gserviceaccount.com", Audience: "a"}, "no service account"},
		{"disabled account", ComputeIDTokenRequest{ServiceAccount: "off@fake-project.iam.gserviceaccount.com", Audience: "a"}, "disabled"},
		{"bad format", ComputeIDTokenRequest{ServiceAccount: DefaultServiceAccount, Audience: "a", Format: "FULL", Instance: vm}, `format "FULL"`},
		{"full without an instance", ComputeIDTokenRequest{ServiceAccount: DefaultServiceAccount, Audience: "a", Format: "full"}, "needs the instance"},
		{"full with a bad number", ComputeIDTokenRequest{ServiceAccount: DefaultServiceAccount, Audience: "a", Format: "full",
			Instance: ComputeInstance{ProjectID: "p", ProjectNumber: "one", Zone: "z", InstanceID: "2", InstanceName: "n", CreationTime: time.Unix(1, 0)}},
			"decimal numbers"},
	}
	for _, tt := range tests {
		if _, _, err := f.MintComputeIDToken(tt.req); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got error %v; want one containing %q", tt.name, err, tt.want)
		}
	}
}

// equalJSON compares decoded JSON values.
func equalJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return slices.Equal(ja, jb)
}
