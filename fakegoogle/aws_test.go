package fakegoogle

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestVerifySigV4Vectors checks the verifier against AWS's published SigV4
// test suite (aws-sig-v4-test-suite, re-typed as data): every vector's
// signature must verify with the suite's secret, and fail when the
// signature, the secret or a signed header is changed.
func TestVerifySigV4Vectors(t *testing.T) {
	t.Parallel()
	const (
		keyID  = "AKIDEXAMPLE"
		secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
		date   = "20150830T123600Z"
	)
	tests := []struct {
		name, method, url, signature string
	}{
		{"get-vanilla", "GET", "https://example.amazonaws.com/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"get-vanilla-query-order-key-case", "GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
		{"post-vanilla", "POST", "https://example.amazonaws.com/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			headers := map[string]string{"host": "example.amazonaws.com", "x-amz-date": date}
			authz := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + tt.signature
			a, err := parseSigV4Authorization(authz)
			if err != nil {
				t.Fatal(err)
			}
			creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
			if err := verifySigV4(tt.method, tt.url, headers, emptyPayloadHash, a, creds); err != nil {
				t.Fatalf("published vector rejected: %v", err)
			}

			tampered := *a
			tampered.signature = flipHex(a.signature)
			if err := verifySigV4(tt.method, tt.url, headers, emptyPayloadHash, &tampered, creds); err == nil {
				t.Error("tampered signature accepted")
			}
			wrong := creds
			wrong.SecretAccessKey = secret + "x"
			if err := verifySigV4(tt.method, tt.url, headers, emptyPayloadHash, a, wrong); err == nil {
				t.Error("signature accepted with the wrong secret")
			}
			later := map[string]string{"host": "example.amazonaws.com", "x-amz-date": "20150830T123601Z"}
			if err := verifySigV4(tt.method, tt.url, later, emptyPayloadHash, a, creds); err == nil {
				t.Error("signature accepted for another x-amz-date")
			}
		})
	}
}

func flipHex(s string) string {
	b := []byte(s)
	if b[0] == '0' {
		b[0] = '1'
	} else {
		b[0] = '0'
	}
	return string(b)
}

// awsToken builds an AWS subject token as Google's libraries do: a
// GetCallerIdentity POST signed with SigV4, serialized as URL-encoded JSON.
type awsToken struct {
	keyID, secret, session string
	region                 string // of the URL and the signature
	signRegion             string // overrides the signature's region
	target                 string
	at                     time.Time
	signTarget             bool // sign x-goog-cloud-target-resource too (as Go does)
	lowerKeys              bool // Node's spelling
	python                 bool // Python's quoting: %20, "/" kept
	tamper                 bool
	dropSession            bool
}

func (a awsToken) build(t *testing.T) string {
	t.Helper()
	u := "https://sts." + a.region + ".amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
	req, err := http.NewRequest(http.MethodPost, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.signTarget {
		req.Header.Set("x-goog-cloud-target-resource", a.target)
	}
	region := a.region
	if a.signRegion != "" {
		region = a.signRegion
	}
	creds := aws.Credentials{AccessKeyID: a.keyID, SecretAccessKey: a.secret, SessionToken: a.session}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, emptyPayloadHash, "sts", region, a.at); err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Host", req.URL.Host)
	if !a.signTarget {
		req.Header.Set("x-goog-cloud-target-resource", a.target)
	}
	if a.tamper {
		h := req.Header.Get("Authorization")
		last := "0"
		if strings.HasSuffix(h, "0") {
			last = "1"
		}
		req.Header.Set("Authorization", h[:len(h)-1]+last)
	}
	if a.dropSession {
		req.Header.Del("X-Amz-Security-Token")
	}
	type kv struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	var hs []kv
	for k, v := range req.Header {
		if a.lowerKeys {
			k = strings.ToLower(k)
		}
		hs = append(hs, kv{k, v[0]})
	}
	b, err := json.Marshal(struct {
		URL     string `json:"url"`
		Method  string `json:"method"`
		Headers []kv   `json:"headers"`
	}{u, "POST", hs})
	if err != nil {
		t.Fatal(err)
	}
	if a.python {
		return strings.ReplaceAll(strings.ReplaceAll(url.QueryEscape(string(b)), "+", "%20"), "%2F", "/")
	}
	return url.QueryEscape(string(b))
}

// exchangeForm is an STS token-exchange request.
func exchangeForm(audience, tokenType, subject string) url.Values {
	return url.Values{
		"grant_type":           {grantTokenExchange},
		"requested_token_type": {tokenTypeAccessToken},
		"subject_token_type":   {tokenType},
		"subject_token":        {subject},
		"audience":             {audience},
		"scope":                {cloudPlatform},
	}
}

func TestSTSAWS(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f := newFake(t, &Options{Now: clock.Now})
	keyID, secret := f.AWSAccessKey()
	tmpID, tmpSecret, session := f.AWSRoleCredentials()
	now := clock.Now()
	user := awsToken{keyID: keyID, secret: secret, region: FakeAWSRegion, target: DefaultAWSAudience, at: now}
	role := awsToken{keyID: tmpID, secret: tmpSecret, session: session, region: FakeAWSRegion, target: DefaultAWSAudience, at: now}
	userPrincipal := "principal://iam.googleapis.com/projects/" + DefaultProjectNumber +
		"/locations/global/workloadIdentityPools/fake-pool/subject/arn:aws:iam::111122223333:user/" + FakeAWSUser
	rolePrincipal := "principal://iam.googleapis.com/projects/" + DefaultProjectNumber +
		"/locations/global/workloadIdentityPools/fake-pool/subject/arn:aws:sts::111122223333:assumed-role/" + FakeAWSRole + "/" + fakeAWSInstance

	mod := func(a awsToken, f func(*awsToken)) awsToken { f(&a); return a }
	tests := []struct {
		name      string
		audience  string
		tok       awsToken
		code      string // "" for success
		desc      string
		principal string
	}{
		{"IAM user key (Python spelling)", DefaultAWSAudience, mod(user, func(a *awsToken) { a.python = true }), "", "", userPrincipal},
		{"role credentials, target signed (Go)", DefaultAWSAudience, mod(role, func(a *awsToken) { a.signTarget = true }), "", "", rolePrincipal},
		{"lower-case keys (Node)", DefaultAWSAudience, mod(role, func(a *awsToken) { a.lowerKeys = true }), "", "", rolePrincipal},
		{"target with https:", DefaultAWSAudience, mod(user, func(a *awsToken) { a.target = "https:" + DefaultAWSAudience }), "", "", userPrincipal},
		{"tampered signature", DefaultAWSAudience, mod(user, func(a *awsToken) { a.tamper = true }), "invalid_grant", "signature does not match", ""},
		{"wrong secret", DefaultAWSAudience, mod(user, func(a *awsToken) { a.secret += "x" }), "invalid_grant", "signature does not match", ""},
		{"unknown key", DefaultAWSAudience, mod(user, func(a *awsToken) { a.keyID = "AKIAUNKNOWNUNKNOWN00" }), "invalid_grant", "not a valid key", ""},
		{"session token dropped", DefaultAWSAudience, mod(role, func(a *awsToken) { a.dropSession = true }), "invalid_grant", "x-amz-security-token", ""},
		{"signed 16 minutes ago", DefaultAWSAudience, mod(user, func(a *awsToken) { a.at = now.Add(-16 * time.Minute) }), "invalid_grant", "more than 15 minutes", ""},
		{"wrong target resource", DefaultAWSAudience, mod(user, func(a *awsToken) { a.target = DefaultOIDCAudience }), "invalid_grant", "x-goog-cloud-target-resource", ""},
		{"availability zone as region", DefaultAWSAudience, mod(user, func(a *awsToken) { a.region = "us-east-2b" }), "invalid_grant", "not an AWS region", ""},
		{"signed for another region", DefaultAWSAudience, mod(user, func(a *awsToken) { a.signRegion = "eu-west-1" }), "invalid_grant", `signed for region "eu-west-1"`, ""},
		{"malformed audience", "//iam.googleapis.com/projects/my-project/locations/global/workloadIdentityPools/fake-pool/providers/fake-aws", user, "invalid_request", descBadAudience, ""},
		{"unknown provider", strings.Replace(DefaultAWSAudience, "fake-aws", "nope", 1), user, "invalid_target", descBadTarget, ""},
		{"OIDC provider", DefaultOIDCAudience, mod(user, func(a *awsToken) { a.target = DefaultOIDCAudience }), "invalid_request", "does not fit provider", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postForm(t, f.STSURL(), exchangeForm(tt.audience, SubjectTokenTypeAWS, tt.tok.build(t)), nil)
			if tt.code != "" {
				wantOAuthError(t, r, http.StatusBadRequest, tt.code, "")
				if d, _ := r.json(t)["error_description"].(string); !strings.Contains(d, tt.desc) {
					t.Errorf("error_description = %q; want it to contain %q", d, tt.desc)
				}
				return
			}
			if r.status != http.StatusOK {
				t.Fatalf("status = %d; want 200 (body %s)", r.status, r.body)
			}
			m := r.json(t)
			if m["issued_token_type"] != tokenTypeAccessToken || m["token_type"] != "Bearer" || m["expires_in"] != float64(3599) {
				t.Errorf("response %v; want an access token with expires_in 3599", m)
			}
			tok, _ := m["access_token"].(string)
			info := get(t, f.URL+"/tokeninfo?access_token="+url.QueryEscape(tok), nil).json(t)
			if info["sub"] != tt.principal {
				t.Errorf("tokeninfo sub = %v; want %q", info["sub"], tt.principal)
			}
		})
	}

	// A disabled provider is an invalid target.
	if err := f.SetIdentityProviderDisabled(DefaultAWSAudience, true); err != nil {
		t.Fatal(err)
	}
	r := postForm(t, f.STSURL(), exchangeForm(DefaultAWSAudience, SubjectTokenTypeAWS, user.build(t)), nil)
	wantOAuthError(t, r, http.StatusBadRequest, "invalid_target", descBadTarget)
}

func TestIMDS(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	put := func(ttl string) response {
		req, _ := http.NewRequest(http.MethodPut, f.URL+imdsTokenPath, nil)
		if ttl != "" {
			req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", ttl)
		}
		return do(t, req)
	}
	if r := put(""); r.status != http.StatusBadRequest {
		t.Errorf("PUT token without TTL: status %d; want 400", r.status)
	}
	if r := put("21601"); r.status != http.StatusBadRequest {
		t.Errorf("PUT token with TTL 21601: status %d; want 400", r.status)
	}
	tr := put("300")
	if tr.status != http.StatusOK || len(tr.body) == 0 {
		t.Fatalf("PUT token: status %d body %q", tr.status, tr.body)
	}
	session := http.Header{"X-Aws-Ec2-Metadata-Token": {string(tr.body)}}
	bad := http.Header{"X-Aws-Ec2-Metadata-Token": {"nope"}}

	for _, v2 := range []bool{false, true} {
		f.RequireIMDSv2(v2)
		tests := []struct {
			name   string
			path   string
			hdr    http.Header
			status int
			body   string
		}{
			{"zone", imdsRegionPath, session, 200, FakeAWSRegion + "b"},
			{"role", imdsCredentialsPath, session, 200, FakeAWSRole},
			{"role with slash", imdsCredentialsPath + "/", session, 200, FakeAWSRole},
			{"bad session token", imdsRegionPath, bad, 401, ""},
			{"no session token", imdsRegionPath, nil, map[bool]int{false: 200, true: 401}[v2], ""},
			{"unknown path", "/latest/meta-data/ami-id", session, 404, ""},
		}
		for _, tt := range tests {
			r := get(t, f.URL+tt.path, tt.hdr)
			if r.status != tt.status || (tt.body != "" && string(r.body) != tt.body) {
				t.Errorf("v2 required %v: %s: got %d %q; want %d %q", v2, tt.name, r.status, r.body, tt.status, tt.body)
			}
		}
	}
	r := get(t, f.URL+imdsCredentialsPath+"/"+FakeAWSRole, session)
	var c struct {
		Code, AccessKeyId, SecretAccessKey, Token, Expiration string
	}
	if err := json.Unmarshal(r.body, &c); err != nil {
		t.Fatalf("credentials %q: %v", r.body, err)
	}
	id, sec, tok := f.AWSRoleCredentials()
	if c.Code != "Success" || c.AccessKeyId != id || c.SecretAccessKey != sec || c.Token != tok || !strings.HasPrefix(id, "ASIA") {
		t.Errorf("credentials %+v; want Success with the role's credentials", c)
	}
	if _, err := time.Parse(time.RFC3339, c.Expiration); err != nil {
		t.Errorf("Expiration %q: %v", c.Expiration, err)
	}
}
