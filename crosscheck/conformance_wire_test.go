package crosscheck_test

// Rows of the conformance matrix for the wire details Google's clients rely
// on beyond tokens: the metadata server's ID-token formats and the values
// every VM has, STS with JSON bodies, and IAM Credentials as Google's
// generated Go client calls it, over gRPC and over REST. The generated
// clients run in crosscheck/gapic, a module of its own (see gapicPeer).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/auth/credentials/idtoken"
	"cloud.google.com/go/compute/metadata"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// Registered in variable initializers, which run before any init (the Go
// peer's child runs from init in conformance_gopeer_test.go).
var (
	_ = registerWireFlows()
	_ = registerWireGoFlows()
)

func registerWireFlows() bool {
	confFlows = append(confFlows, wireConfFlows...)
	return true
}

// Accounts of the IAM rows' error calls: one the caller holds no role on,
// one that does not exist.
const (
	confDeniedSA  = "conformance-nogrant@fake-project.iam.gserviceaccount.com"
	confMissingSA = "conformance-ghost@fake-project.iam.gserviceaccount.com"
)

var wireConfFlows = []confFlow{
	{name: "mds_id_formats", title: "metadata server → ID token, format=standard and full with licenses",
		want: "metadata /computeMetadata/v1/instance/service-accounts/default/identity",
		na: map[string]string{
			"go-oauth2": "golang.org/x/oauth2 has no ID-token source",
			"python":    "google-auth's compute_engine.IDTokenCredentials always asks format=full, without licenses",
			"node":      "google-auth-library's Compute.fetchIdToken always asks format=full, without licenses",
		},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			checkComputeIDToken(t, c, "standard-format ID token", out.Token, "standard", false)
			checkComputeIDToken(t, c, "full-format ID token with licenses", out.IDToken, "full", true)
		}},
	{name: "mds_tree", title: "metadata server → instance values (ip, zone, tags, recursive JSON…)",
		want: "metadata /computeMetadata/v1/instance/",
		na: map[string]string{
			"go-oauth2": "golang.org/x/oauth2 has no metadata API (it uses cloud.google.com/go/compute/metadata, the go-auth cell)",
			"gcloud":    "no gcloud command prints metadata values (it reads project-id, and instance/zone only when prompting for a zone)",
		},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) { checkInstanceValues(t, out) }},
	{name: "sts_json", title: "STS token exchange, JSON body (generated client sts/v1)", want: "sts.googleapis.com /v1/token",
		na: map[string]string{
			"go-oauth2": "golang.org/x/oauth2 posts forms; the generated client is the go-auth cell",
			"python":    "google-auth posts forms; no generated STS client is installed",
			"node":      "google-auth-library posts forms; no generated STS client is installed",
			"gcloud":    "gcloud posts forms",
		},
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			info := c.imp().tokeninfo(t, "federated token (JSON exchange)", out.Token)
			if want := confPoolSubject + confWorkload; info["sub"] != want {
				t.Errorf("federated token's sub = %q; want %q", info["sub"], want)
			}
			if n, _ := strconv.Atoi(out.Results["expires_in"]); n <= 0 || out.Results["issued_token_type"] != "urn:ietf:params:oauth:token-type:access_token" {
				t.Errorf("exchange answered expires_in %q, issued_token_type %q; want both (snake_case fields)",
					out.Results["expires_in"], out.Results["issued_token_type"])
			}
			down := c.imp().tokeninfo(t, "downscoped token (JSON exchange)", out.Results["downscoped_token"])
			if !strings.Contains(down["access_boundary"], "conformance-bucket") {
				t.Errorf("downscoped token's access_boundary = %q; want the rule for conformance-bucket", down["access_boundary"])
			}
		}},
	{name: "iam_grpc", title: "IAM Credentials over gRPC (generated client, all four methods)",
		want: "iamcredentials.googleapis.com /google.iam.credentials.v1.IAMCredentials/GenerateAccessToken",
		na:   gapicNA("gRPC"),
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			c.checkGapicIAM(t, out, "PermissionDenied IAM_PERMISSION_DENIED", "NotFound ")
		}},
	{name: "iam_rest_gen", title: "IAM Credentials, generated REST client (name in the body)",
		want: "iamcredentials.googleapis.com /v1/projects/-/serviceAccounts/" + fakegoogle.DefaultTargetServiceAccount + ":generateAccessToken",
		na:   gapicNA("REST"),
		check: func(t *testing.T, c *confFixture, _ string, out confOut) {
			c.checkGapicIAM(t, out, "403 IAM_PERMISSION_DENIED", "404 ")
		}},
}

func gapicNA(transport string) map[string]string {
	return map[string]string{
		"go-oauth2": "golang.org/x/oauth2 has no IAM Credentials client; the generated one (" + transport + ") is the go-auth cell",
		"python":    "google-auth calls IAM Credentials over REST with its own requests; no generated client is installed",
		"node":      "google-auth-library calls IAM Credentials with its own requests; no generated client is installed",
		"gcloud":    "gcloud calls IAM Credentials with its own REST requests (the imp_* rows)",
	}
}

// confExtraCells run cells that are neither a Go child flow nor a script
// flow of the Python and Node peers.
var confExtraCells = map[string]func(t *testing.T, c *confFixture, p confParams) confOut{
	"go-auth/sts_json":      runGapicCell("sts_json"),
	"go-auth/iam_grpc":      runGapicCell("iam_grpc"),
	"go-auth/iam_rest_gen":  runGapicCell("iam_rest_gen"),
	"gcloud/mds_id_formats": runGcloudIDFormats,
}

// runGcloudIDFormats asks gcloud for a standard-format ID token (its
// default) and a full one with licenses.
func runGcloudIDFormats(t *testing.T, c *confFixture, p confParams) confOut {
	t.Helper()
	env := c.env(t, "mds_id_formats", "CLOUDSDK_CONFIG="+filepath.Join(t.TempDir(), "gcloud"), "CLOUDSDK_CORE_DISABLE_PROMPTS=1",
		"CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1", "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING=true",
		"GCE_METADATA_ROOT="+c.host, "GCE_METADATA_HOST="+c.host)
	gcloud := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(string(run(t, c.dir, env, nil, gcloudPeer().path, append(args, "--verbosity=error")...)))
	}
	return confOut{
		Token:   gcloud("auth", "print-identity-token", "--audiences="+p.Audience),
		IDToken: gcloud("auth", "print-identity-token", "--audiences="+p.Audience, "--token-format=full", "--include-license"),
	}
}

// gapicParams are the matrix's parameters plus the IAM rows' error cases.
type gapicParams struct {
	confParams
	DeniedTarget  string `json:"denied_target"`
	MissingTarget string `json:"missing_target"`
}

// runGapicCell runs the generated-client peer on flow (its name for
// iam_rest_gen is iam_rest).
func runGapicCell(flow string) func(t *testing.T, c *confFixture, p confParams) confOut {
	return func(t *testing.T, c *confFixture, p confParams) confOut {
		t.Helper()
		exe := requirePeer(t, gapicPeer()).path
		if _, ok := c.fake.ServiceAccount(confDeniedSA); !ok {
			if _, err := c.fake.AddServiceAccount(confDeniedSA); err != nil {
				t.Fatal(err)
			}
		}
		in := gapicParams{confParams: p, DeniedTarget: confDeniedSA, MissingTarget: confMissingSA}
		return decode[confOut](t, run(t, c.dir, c.env(t, flow), in, exe, strings.TrimSuffix(flow, "_gen")))
	}
}

// gapicDir holds the built gapic peer; TestMain removes it.
var gapicDir string

func removeGapicPeer() {
	if gapicDir != "" {
		os.RemoveAll(gapicDir)
	}
}

// gapicPeer builds crosscheck/gapic, a module of its own so that the
// generated clients and their dependencies stay out of gcptoken's go.mod.
// Building needs those modules (from the module proxy, or its cache).
var gapicPeer = sync.OnceValue(func() peer {
	p := peer{name: "generated Go clients (crosscheck/gapic)", version: "per crosscheck/gapic/go.mod",
		install: "cd crosscheck/gapic && go mod download (needs the Go module proxy once)"}
	dir, err := os.MkdirTemp("", "gcptoken-gapic-")
	if err != nil {
		p.missing = err.Error()
		return p
	}
	gapicDir, p.path = dir, filepath.Join(dir, "gapic")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", p.path, ".")
	cmd.Dir = "gapic"
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		p.missing = fmt.Sprintf("go build: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return p
})

// checkGapicIAM checks the generated client's four calls and its two
// refused ones (denied, missing: "status reason" prefixes).
func (c *confFixture) checkGapicIAM(t *testing.T, out confOut, denied, missing string) {
	t.Helper()
	c.checkImpToken(t, "go-auth", "generated client's access token", out.Token)
	c.checkExpiry(t, out, impLifetime)
	c.imp().checkImpIDToken(t, "generated client's ID token", out.IDToken, c.target)
	r := out.Results
	if jwt := claimsOf(r["signed_jwt"]); jwt["sub"] != "gapic" || r["jwt_key_id"] != c.target.KeyID {
		t.Errorf("SignJwt: key %q, claims %v; want the target's key %s and the payload", r["jwt_key_id"], jwt, c.target.KeyID)
	}
	if sig, err := base64.StdEncoding.DecodeString(r["signed_blob"]); err != nil || len(sig) < 128 || r["blob_key_id"] != c.target.KeyID {
		t.Errorf("SignBlob: key %q, signature %q; want the target's key and an RSA signature", r["blob_key_id"], r["signed_blob"])
	}
	if !strings.HasPrefix(r["denied"], denied) {
		t.Errorf("call without a grant: got %q; want %q", r["denied"], denied)
	}
	if !strings.HasPrefix(r["missing"], missing) {
		t.Errorf("call on a missing account: got %q; want %q…", r["missing"], missing)
	}
}

// claimsOf decodes a JWT's claims, or returns nil.
func claimsOf(tok string) map[string]any {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	if err != nil || json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// checkComputeIDToken checks an ID token of the conformance metadata
// server, which mints Compute Engine's claim sets: format standard has no
// email; full adds email and google.compute_engine (license_id only with
// licenses). The sample service must accept it either way.
func checkComputeIDToken(t *testing.T, c *confFixture, what, tok, format string, licenses bool) {
	t.Helper()
	if tok == "" {
		t.Fatalf("%s is empty", what)
	}
	got := claims(t, what, tok)
	keys := []string{"aud", "azp", "exp", "iat", "iss", "sub"}
	if format == "full" {
		keys = []string{"aud", "azp", "email", "email_verified", "exp", "google", "iat", "iss", "sub"}
	}
	if k := slices.Sorted(maps.Keys(got)); !slices.Equal(k, keys) {
		t.Errorf("%s has claims %v; want exactly %v (format=%s)", what, k, keys, format)
	}
	checkClaims(t, what, got, map[string]string{"aud": c.sampleURL, "iss": googleIssuer, "azp": c.sa.UniqueID, "sub": c.sa.UniqueID})
	if format == "full" {
		checkClaims(t, what, got, map[string]string{"email": c.sa.Email})
		ce, _ := got["google"].(map[string]any)["compute_engine"].(map[string]any)
		num, _ := strconv.ParseFloat(mdsNumericProjectID, 64)
		want := map[string]any{"instance_id": mdsInstanceID, "instance_name": mdsInstanceName, "project_id": mdsProjectID,
			"project_number": num, "zone": mdsZone}
		for k, v := range want {
			if ce[k] != v {
				t.Errorf("%s google.compute_engine.%s = %v; want %v", what, k, ce[k], v)
			}
		}
		if ts, ok := ce["instance_creation_timestamp"].(float64); !ok || ts <= 0 {
			t.Errorf("%s instance_creation_timestamp = %v; want a number", what, ce["instance_creation_timestamp"])
		}
		if lic, has := ce["license_id"]; has != licenses || licenses && fmt.Sprint(lic) != "["+mdsLicense+"]" {
			t.Errorf("%s license_id = %v; want [%s] only with licenses=TRUE", what, lic, mdsLicense)
		}
	}
	// A token without email names its caller by the account's unique id:
	// a service that wants the email must ask for format=full.
	caller := c.sa.UniqueID
	if format == "full" {
		caller = c.sa.Email
	}
	checkSampleServiceCaller(t, c.fixture, what, tok, caller)
}

// checkInstanceValues checks what a peer read of the VM: each value the
// conformance metadata server was given, and the recursive JSON's shape.
func checkInstanceValues(t *testing.T, out confOut) {
	t.Helper()
	got := maps.Clone(out.Results)
	if got == nil {
		got = map[string]string{}
	}
	dec := json.NewDecoder(strings.NewReader(string(out.Recursive)))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("instance/?recursive=true as the peer read it: %v (%s)", err, out.Recursive)
	}
	recursiveValues(doc, got)
	tags, _ := json.Marshal(mdsTags)
	want := map[string]string{
		"instance_id": mdsInstanceID, "name": mdsInstanceName, "zone": mdsZone,
		"hostname": mdsInstanceName + ".c." + mdsProjectID + ".internal", "internal_ip": mdsInternalIP,
		"external_ip": mdsExternalIP, "machine_type": "projects/" + mdsNumericProjectID + "/machineTypes/" + mdsMachineType,
		"tags": string(tags), "project_id": mdsProjectID, "numeric_project_id": mdsNumericProjectID,
		// From instance/?recursive=true: camelCase keys, arrays for
		// numbered directories.
		"recursive.networkInterfaces[0].accessConfigs[0].externalIp": mdsExternalIP,
		"recursive.networkInterfaces[0].ip":                          mdsInternalIP,
		"recursive.machineType":                                      "projects/" + mdsNumericProjectID + "/machineTypes/" + mdsMachineType,
		"recursive.licenses[0].id":                                   mdsLicense,
		"recursive.id":                                               mdsInstanceID,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q; want %q", k, got[k], v)
		}
	}
}

// recursiveValues flattens the parts of instance/?recursive=true the
// matrix checks, the same way for every peer.
func recursiveValues(doc map[string]any, out map[string]string) {
	str := func(v any) string {
		switch v := v.(type) {
		case string:
			return v
		case json.Number:
			return v.String()
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return fmt.Sprint(v)
	}
	first := func(v any) map[string]any {
		a, _ := v.([]any)
		if len(a) == 0 {
			return nil
		}
		m, _ := a[0].(map[string]any)
		return m
	}
	nic := first(doc["networkInterfaces"])
	out["recursive.networkInterfaces[0].accessConfigs[0].externalIp"] = str(first(nic["accessConfigs"])["externalIp"])
	out["recursive.networkInterfaces[0].ip"] = str(nic["ip"])
	out["recursive.machineType"] = str(doc["machineType"])
	out["recursive.licenses[0].id"] = str(first(doc["licenses"])["id"])
	out["recursive.id"] = str(doc["id"])
}

func registerWireGoFlows() bool {
	goConfFlows["go-auth/mds_id_formats"] = func(ctx context.Context, p *confParams) (*confOut, error) {
		std, err := confAuthToken(ctx)(idtoken.NewCredentials(&idtoken.Options{Audience: p.Audience,
			ComputeTokenFormat: idtoken.ComputeTokenFormatStandard}))
		if err != nil {
			return nil, err
		}
		full, err := confAuthToken(ctx)(idtoken.NewCredentials(&idtoken.Options{Audience: p.Audience,
			ComputeTokenFormat: idtoken.ComputeTokenFormatFullWithLicense}))
		if err != nil {
			return nil, err
		}
		return &confOut{Token: std.Token, IDToken: full.Token}, nil
	}
	goConfFlows["go-auth/mds_tree"] = goInstanceValues
	return true
}

// goInstanceValues reads the VM with cloud.google.com/go/compute/metadata,
// which cloud.google.com/go/auth uses.
func goInstanceValues(ctx context.Context, _ *confParams) (*confOut, error) {
	c := metadata.NewClient(nil)
	out := map[string]string{}
	for k, get := range map[string]func(context.Context) (string, error){
		"instance_id": c.InstanceIDWithContext, "name": c.InstanceNameWithContext, "zone": c.ZoneWithContext,
		"hostname": c.HostnameWithContext, "internal_ip": c.InternalIPWithContext, "external_ip": c.ExternalIPWithContext,
		"project_id": c.ProjectIDWithContext, "numeric_project_id": c.NumericProjectIDWithContext,
		"machine_type": func(ctx context.Context) (string, error) { return c.GetWithContext(ctx, "instance/machine-type") },
	} {
		v, err := get(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = v
	}
	tags, err := c.InstanceTagsWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("tags: %w", err)
	}
	b, _ := json.Marshal(tags)
	out["tags"] = string(b)
	rec, err := c.GetWithContext(ctx, "instance/?recursive=true")
	if err != nil {
		return nil, fmt.Errorf("recursive: %w", err)
	}
	return &confOut{Results: out, Recursive: json.RawMessage(rec)}, nil
}
