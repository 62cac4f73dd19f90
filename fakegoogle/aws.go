package fakegoogle

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The fake AWS side of workload identity federation (protocol.md §8.4): one
// AWS account with an IAM user (a long-term access key, for
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and an EC2 instance role whose
// temporary credentials the instance-metadata service (IMDSv1 and v2) hands
// out. STS verifies AWS subject tokens — signed GetCallerIdentity requests
// — by recomputing their SigV4 signature with these secrets.
//
// The signature is computed with aws-sdk-go-v2's signer (the reference
// implementation) over a request rebuilt from exactly the headers the
// client listed in SignedHeaders; only the parsing around it is by hand.

// The fake AWS account.
const (
	// FakeAWSAccountID is the fake AWS account; DefaultAWSProvider trusts it.
	FakeAWSAccountID = "111122223333"
	// FakeAWSRegion is the region of the fake EC2 instance, whose
	// availability zone is FakeAWSRegion+"b".
	FakeAWSRegion = "us-east-2"
	// FakeAWSRole is the fake instance's IAM role.
	FakeAWSRole = "fakegoogle-workload"
	// FakeAWSUser is the IAM user owning the long-term access key.
	FakeAWSUser = "fakegoogle-user"
	// fakeAWSInstance is the instance id, the role session name.
	fakeAWSInstance = "i-0fa4e900091e5000a"
)

// Instance-metadata paths, served on the fake's base URL.
const (
	imdsTokenPath       = "/latest/api/token"
	imdsRegionPath      = "/latest/meta-data/placement/availability-zone"
	imdsCredentialsPath = "/latest/meta-data/iam/security-credentials"
)

const (
	// awsSigningSkew is how far x-amz-date may be from now: AWS refuses
	// requests signed more than 15 minutes off.
	awsSigningSkew = 15 * time.Minute
	// awsTempLifetime is how long the role's temporary credentials last.
	awsTempLifetime = 6 * time.Hour
	awsTimeFormat   = "20060102T150405Z"
	// emptyPayloadHash is SHA-256 of the empty body of GetCallerIdentity.
	emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// awsAccount holds the fake account's secrets; s.mu guards it.
type awsAccount struct {
	KeyID  string `json:"access_key_id"`
	Secret string `json:"secret_access_key"`
	// temp are the role's temporary credentials by access key id; they
	// are not persisted (clients fetch new ones from IMDS).
	temp map[string]*awsTempCreds
	// imdsTokens are IMDSv2 session tokens and their expiry.
	imdsTokens map[string]time.Time
	// v2Only makes metadata GETs require an IMDSv2 session token.
	v2Only bool
}

type awsTempCreds struct {
	keyID, secret, session string
	expiry                 time.Time
}

func newAWSAccount() *awsAccount {
	return &awsAccount{
		KeyID:      "AKIA" + awsID(16),
		Secret:     randomToken(30), // 40 characters, like AWS's
		temp:       map[string]*awsTempCreds{},
		imdsTokens: map[string]time.Time{},
	}
}

// awsID returns n random upper-case letters and digits, the alphabet of
// AWS access key ids.
func awsID(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := []byte(randomToken(n))[:n]
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// AWSAccessKey returns the fake IAM user's long-term access key, for
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. It is persisted with the
// state, like any other key of the fake.
func (s *Server) AWSAccessKey() (accessKeyID, secretAccessKey string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fed.aws.KeyID, s.fed.aws.Secret
}

// AWSEnv returns the environment variables of a workload holding the fake
// IAM user's key in FakeAWSRegion, as "NAME=value" strings.
func (s *Server) AWSEnv() []string {
	id, secret := s.AWSAccessKey()
	return []string{"AWS_ACCESS_KEY_ID=" + id, "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_REGION=" + FakeAWSRegion}
}

// RequireIMDSv2 makes the instance-metadata GETs require a session token
// from PUT /latest/api/token (an instance with "HttpTokens: required"), or
// accept requests without one again.
func (s *Server) RequireIMDSv2(required bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fed.aws.v2Only = required
}

// AWSRoleCredentials returns the instance role's current temporary
// credentials, as IMDS hands them out (new ones once they expire).
func (s *Server) AWSRoleCredentials() (accessKeyID, secretAccessKey, sessionToken string) {
	c := s.roleCredentials()
	return c.keyID, c.secret, c.session
}

func (s *Server) roleCredentials() awsTempCreds {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var best *awsTempCreds
	for id, c := range s.fed.aws.temp {
		switch {
		case !now.Before(c.expiry):
			delete(s.fed.aws.temp, id)
		case best == nil || c.expiry.After(best.expiry):
			best = c
		}
	}
	// AWS rotates credentials well before they expire.
	if best == nil || best.expiry.Sub(now) < awsTempLifetime/2 {
		best = &awsTempCreds{
			keyID: "ASIA" + awsID(16), secret: randomToken(30),
			session: "IQoJb3JpZ2luX2VjEfake" + randomToken(120),
			expiry:  now.Add(awsTempLifetime).UTC().Truncate(time.Second),
		}
		s.fed.aws.temp[best.keyID] = best
	}
	return *best
}

// handleIMDS serves the instance-metadata paths the AWS credential source
// uses: the IMDSv2 session token, the availability zone and the role's
// credentials. Answers are text/plain, as at AWS.
func (s *Server) handleIMDS(w http.ResponseWriter, r *http.Request) {
	text := func(status int, body string) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
	if r.URL.Path == imdsTokenPath {
		if r.Method != http.MethodPut {
			w.Header().Set("Allow", http.MethodPut)
			text(http.StatusMethodNotAllowed, "fakegoogle: IMDSv2 session tokens come from PUT "+imdsTokenPath)
			return
		}
		ttl, err := strconv.Atoi(r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
		if err != nil || ttl < 1 || ttl > 21600 {
			// AWS answers 400 without the TTL header, or out of range.
			text(http.StatusBadRequest, "")
			return
		}
		tok := "AQAEA" + randomToken(40)
		s.mu.Lock()
		now := s.now()
		for t, exp := range s.fed.aws.imdsTokens {
			if !now.Before(exp) {
				delete(s.fed.aws.imdsTokens, t)
			}
		}
		s.fed.aws.imdsTokens[tok] = now.Add(time.Duration(ttl) * time.Second)
		s.mu.Unlock()
		w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", strconv.Itoa(ttl))
		text(http.StatusOK, tok)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		text(http.StatusMethodNotAllowed, "")
		return
	}
	tok := r.Header.Get("X-aws-ec2-metadata-token")
	s.mu.Lock()
	exp, known := s.fed.aws.imdsTokens[tok]
	valid := known && s.now().Before(exp)
	v2Only := s.fed.aws.v2Only
	s.mu.Unlock()
	if (tok != "" && !valid) || (tok == "" && v2Only) {
		text(http.StatusUnauthorized, "") // IMDS's answer to a missing or stale token
		return
	}
	switch p := strings.TrimSuffix(r.URL.Path, "/"); p {
	case imdsRegionPath:
		text(http.StatusOK, FakeAWSRegion+"b")
	case imdsCredentialsPath:
		text(http.StatusOK, FakeAWSRole)
	case imdsCredentialsPath + "/" + FakeAWSRole:
		c := s.roleCredentials()
		w.Header().Set("Content-Type", "text/plain")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			Code            string
			LastUpdated     string
			Type            string
			AccessKeyID     string `json:"AccessKeyId"`
			SecretAccessKey string
			Token           string
			Expiration      string
		}{"Success", s.now().UTC().Format(time.RFC3339), "AWS-HMAC", c.keyID, c.secret, c.session, c.expiry.Format(time.RFC3339)})
	default:
		s.log.Warn("fakegoogle: unmodelled instance-metadata path", "path", r.URL.Path)
		text(http.StatusNotFound, "")
	}
}

// sigV4Auth is a parsed SigV4 Authorization header.
type sigV4Auth struct {
	keyID, date, region, service string
	signedHeaders                []string
	signature                    string
}

// parseSigV4Authorization parses
// "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=hex".
func parseSigV4Authorization(h string) (*sigV4Auth, error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if alg != "AWS4-HMAC-SHA256" {
		return nil, fmt.Errorf("the Authorization header does not use AWS4-HMAC-SHA256")
	}
	var a sigV4Auth
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return nil, fmt.Errorf("the Authorization header's Credential is not ACCESS_KEY/DATE/REGION/SERVICE/aws4_request")
			}
			a.keyID, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	if a.keyID == "" || len(a.signedHeaders) == 0 || a.signature == "" {
		return nil, fmt.Errorf("the Authorization header lacks Credential, SignedHeaders or Signature")
	}
	return &a, nil
}

// verifySigV4 recomputes the signature of a request (headers keyed in lower
// case, payloadHash the hex SHA-256 of its body) with the secret of creds,
// over exactly the headers a lists, and compares it with a's.
func verifySigV4(method, rawURL string, headers map[string]string, payloadHash string, a *sigV4Auth, creds aws.Credentials) error {
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		return fmt.Errorf("bad url: %v", err)
	}
	req.Header = http.Header{}
	creds.SessionToken = "" // signed only if listed
	var date string
	for _, h := range a.signedHeaders {
		v, ok := headers[h]
		if !ok {
			return fmt.Errorf("signed header %q is missing", h)
		}
		switch h {
		case "host":
			req.Host = v
		case "x-amz-date":
			date = v
		case "x-amz-security-token":
			creds.SessionToken = v
		case "content-length":
			if req.ContentLength, err = strconv.ParseInt(v, 10, 64); err != nil {
				return fmt.Errorf("bad content-length")
			}
		default:
			req.Header[http.CanonicalHeaderKey(h)] = []string{v}
		}
	}
	t, err := time.Parse(awsTimeFormat, date)
	if err != nil {
		return fmt.Errorf("x-amz-date %q is missing from the signed headers or not YYYYMMDDTHHMMSSZ", date)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, payloadHash, a.service, a.region, t); err != nil {
		return fmt.Errorf("recompute signature: %v", err)
	}
	mine, err := parseSigV4Authorization(req.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	if got, want := strings.Join(a.signedHeaders, ";"), strings.Join(mine.signedHeaders, ";"); got != want {
		return fmt.Errorf("SignedHeaders %q are not the canonical %q (lower case, sorted, host and x-amz-date included)", got, want)
	}
	if !hmac.Equal([]byte(mine.signature), []byte(a.signature)) {
		return errors.New("the signature does not match")
	}
	return nil
}

// awsRegionRE matches AWS region names like us-east-2 or us-gov-west-1.
var awsRegionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`) })

// awsSTSHost matches GetCallerIdentity hosts: sts.amazonaws.com, or
// sts.{region}.amazonaws.com (the form the libraries use).
var awsSTSHost = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^sts(-fips)?(\.([a-z0-9-]+))?\.amazonaws\.com$`) })

// verifyAWSSubjectToken checks an AWS subject token (protocol.md §8.4) for
// provider p and returns the caller's ARN, the federated subject. Its
// errors are invalid_grant descriptions. [?] Google's own texts for these
// failures were not observed; these say precisely what is wrong.
func (s *Server) verifyAWSSubjectToken(tok string, p *IdentityProvider, audience string) (string, error) {
	st, err := parseAWSSubjectToken(tok)
	if err != nil {
		return "", err
	}
	a, err := s.checkAWSRequest(st, audience)
	if err != nil {
		return "", err
	}
	creds, arn, err := s.awsCaller(a, st.headers)
	if err != nil {
		return "", err
	}
	if err := verifySigV4(st.method, st.url, st.headers, emptyPayloadHash, a, creds); err != nil {
		return "", fmt.Errorf("The AWS signature of the subject token is invalid: %v.", err)
	}
	if p.AWSAccountID != FakeAWSAccountID {
		return "", fmt.Errorf("The AWS account %s of the caller is not the account %s that provider %s trusts.", FakeAWSAccountID, p.AWSAccountID, p.Audience())
	}
	return arn, nil
}

// awsSubjectToken is a parsed AWS subject token: a signed GetCallerIdentity
// request.
type awsSubjectToken struct {
	url, method string
	headers     map[string]string // lower-case names
	host        string            // the url's
	urlRegion   string            // the url's region, "" for sts.amazonaws.com
}

// parseAWSSubjectToken reads the token's JSON and checks that it is a
// GetCallerIdentity POST to an AWS STS host.
func parseAWSSubjectToken(tok string) (*awsSubjectToken, error) {
	raw, err := url.QueryUnescape(tok)
	if err != nil {
		raw = tok
	}
	var j struct {
		URL     string `json:"url"`
		Method  string `json:"method"`
		Headers []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"headers"`
	}
	if err := json.Unmarshal([]byte(raw), &j); err != nil {
		return nil, errors.New("The AWS subject token is not a URL-encoded JSON object {url, method, headers}.")
	}
	st := &awsSubjectToken{url: j.URL, method: j.Method, headers: map[string]string{}}
	for _, h := range j.Headers {
		st.headers[strings.ToLower(h.Key)] = h.Value
	}
	if st.method != http.MethodPost {
		return nil, fmt.Errorf("The AWS subject token's method is %q; want POST.", st.method)
	}
	u, err := url.Parse(st.url)
	if err != nil || u.Scheme != "https" {
		return nil, errors.New("The AWS subject token's url is not an https URL.")
	}
	m := awsSTSHost().FindStringSubmatch(u.Host)
	q := u.Query()
	if m == nil || q.Get("Action") != "GetCallerIdentity" || q.Get("Version") != "2011-06-15" {
		return nil, fmt.Errorf("The AWS subject token's url %q is not an AWS STS GetCallerIdentity request (https://sts.REGION.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15).", st.url)
	}
	st.host, st.urlRegion = u.Host, m[3]
	return st, nil
}

// checkAWSRequest checks the request's target resource, host, signature
// scope and time, and returns its SigV4 Authorization.
func (s *Server) checkAWSRequest(st *awsSubjectToken, audience string) (*sigV4Auth, error) {
	target := st.headers["x-goog-cloud-target-resource"]
	if target != audience && "https:"+target != audience && target != "https:"+audience {
		return nil, fmt.Errorf("The AWS subject token's x-goog-cloud-target-resource %q is not the audience %q.", target, audience)
	}
	if h := st.headers["host"]; h != st.host {
		return nil, fmt.Errorf("The AWS subject token's host header %q does not match its url's host %q.", h, st.host)
	}
	a, err := parseSigV4Authorization(st.headers["authorization"])
	if err != nil {
		return nil, fmt.Errorf("The AWS subject token is not signed: %v.", err)
	}
	switch {
	case !awsRegionRE().MatchString(a.region):
		return nil, fmt.Errorf("The AWS region %q in the subject token's signature is not an AWS region name (like us-east-2).", a.region)
	case st.urlRegion != "" && st.urlRegion != a.region:
		return nil, fmt.Errorf("The AWS subject token is signed for region %q but addressed to %s.", a.region, st.host)
	case a.service != "sts":
		return nil, fmt.Errorf("The AWS subject token is signed for service %q, not sts.", a.service)
	}
	t, err := time.Parse(awsTimeFormat, st.headers["x-amz-date"])
	if err != nil {
		return nil, errors.New("The AWS subject token has no x-amz-date header in the form YYYYMMDDTHHMMSSZ.")
	}
	if now := s.now(); t.Before(now.Add(-awsSigningSkew)) || t.After(now.Add(awsSigningSkew)) {
		return nil, fmt.Errorf("The AWS subject token was signed at %s, more than 15 minutes from now: it has expired (or the clock is off).", t.Format(time.RFC3339))
	}
	if a.date != t.Format("20060102") {
		return nil, errors.New("The AWS subject token's credential scope date does not match its x-amz-date.")
	}
	return a, nil
}

// awsCaller finds the fake AWS account's credentials for the signing key
// (the IAM user's long-term key, or the instance role's temporary one,
// whose session token the request must carry and sign) and the caller's
// ARN.
func (s *Server) awsCaller(a *sigV4Auth, headers map[string]string) (aws.Credentials, string, error) {
	s.mu.Lock()
	acct := s.fed.aws
	var secret, session, arn string
	known := true
	switch {
	case a.keyID == acct.KeyID:
		secret, arn = acct.Secret, "arn:aws:iam::"+FakeAWSAccountID+":user/"+FakeAWSUser
	case acct.temp[a.keyID] != nil && s.now().Before(acct.temp[a.keyID].expiry):
		c := acct.temp[a.keyID]
		secret, session = c.secret, c.session
		arn = "arn:aws:sts::" + FakeAWSAccountID + ":assumed-role/" + FakeAWSRole + "/" + fakeAWSInstance
	default:
		known = false
	}
	s.mu.Unlock()
	if !known {
		return aws.Credentials{}, "", fmt.Errorf("The AWS access key %q in the subject token is not a valid key of the fake AWS account (unknown, or expired temporary credentials).", a.keyID)
	}
	if got := headers["x-amz-security-token"]; got != session {
		if session == "" {
			return aws.Credentials{}, "", errors.New("The AWS subject token carries x-amz-security-token, but its access key is a long-term key.")
		}
		return aws.Credentials{}, "", errors.New("The AWS subject token's x-amz-security-token is missing or wrong for its temporary credentials.")
	}
	if session != "" && !slices.Contains(a.signedHeaders, "x-amz-security-token") {
		return aws.Credentials{}, "", errors.New("The AWS subject token does not sign x-amz-security-token.")
	}
	return aws.Credentials{AccessKeyID: a.keyID, SecretAccessKey: secret, SessionToken: session}, arn, nil
}

// hexSHA256 is the hex SHA-256 of b, the payload hash of SigV4.
func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
