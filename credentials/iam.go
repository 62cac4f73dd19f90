package credentials

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken"
)

// This file holds the wire calls of impersonation: the IAM Credentials API
// (JSON over POST, Google API error bodies) and the one OAuth token-endpoint
// exchange that domain-wide delegation needs. They are written by hand
// because cloud.google.com/go/auth keeps its IAM client in
// auth/credentials/impersonate, which pulls in ~200 packages, hard-codes
// iamcredentials.googleapis.com, and sends generateIdToken without an
// Authorization header (google-cloud-go #19939).

const (
	// maxResponseBody caps what is read of an IAM or token-endpoint answer;
	// real ones are a few KiB.
	maxResponseBody = 1 << 20

	opSignJWT        = "sign JWT"
	opExchangeJWT    = "exchange signed JWT for access token"
	jwtBearerGrant   = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	iamAccessTokenOp = ":generateAccessToken"
	iamIDTokenOp     = ":generateIdToken"
	iamSignJWTOp     = ":signJwt"
)

// post sends one POST and returns the body of a 2xx answer. Failures are
// *gcptoken.Error naming op and endpoint; a Google API error body's
// ErrorInfo details are folded into the description (see apiError).
func post(ctx context.Context, client *http.Client, op, endpoint, contentType string, body []byte, header http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in the *gcptoken.Error
		}
		return nil, gcptoken.NewTransportError(op, endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return nil, gcptoken.NewTransportError(op, endpoint, err)
	}
	if len(data) > maxResponseBody {
		return nil, fmt.Errorf("%s from %s: the response is larger than %d bytes", op, endpoint, maxResponseBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, apiError(op, endpoint, resp.StatusCode, data)
	}
	return data, nil
}

// iamPost makes one IAM Credentials API call: in as JSON, authorized with
// the caller's token, the answer decoded into out.
func iamPost(ctx context.Context, client *http.Client, op, endpoint string, bearer *gcptoken.Token, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	h := http.Header{"Authorization": {bearer.TokenType() + " " + bearer.Value}}
	data, err := post(ctx, client, op, endpoint, "application/json", body, h)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s from %s: malformed response: %v", op, endpoint, jsonMessage(err))
	}
	return nil
}

// exchangeJWT posts a signed assertion to an OAuth token endpoint
// (the JWT-bearer grant) and returns the access token.
func exchangeJWT(ctx context.Context, client *http.Client, tokenURL, assertion string) (*gcptoken.Token, error) {
	form := url.Values{"grant_type": {jwtBearerGrant}, "assertion": {assertion}}
	data, err := post(ctx, client, opExchangeJWT, tokenURL, "application/x-www-form-urlencoded", []byte(form.Encode()), nil)
	if err != nil {
		return nil, err
	}
	var r struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   int64           `json:"expires_in"`
		Scope       string          `json:"scope"`
		Error       json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s from %s: malformed response: %v", opExchangeJWT, tokenURL, jsonMessage(err))
	}
	switch {
	case len(r.Error) > 0 && string(r.Error) != "null": // Go's oauth2 treats this as failure too
		return nil, apiError(opExchangeJWT, tokenURL, http.StatusOK, data)
	case r.AccessToken == "":
		return nil, fmt.Errorf("%s from %s: the response has no access_token", opExchangeJWT, tokenURL)
	case r.ExpiresIn <= 0:
		return nil, fmt.Errorf("%s from %s: the response has no positive expires_in", opExchangeJWT, tokenURL)
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
	return checked(t, tokenURL)
}

// errorInfo is a google.rpc.ErrorInfo from an API error's details.
type errorInfo struct {
	Reason   string
	Metadata map[string]string
}

// apiError is gcptoken.NewResponseError plus what the root package does not
// read yet: the google.rpc.ErrorInfo details of a Google API error, whose
// metadata often names what the message only hints at ("denied on resource
// (or it may not exist)" names neither the resource nor, for delegation, the
// hop). They are appended to the description, values already in the
// message left out. The details are read from the whole body, not the 1 KiB
// the Error keeps.
func apiError(op, endpoint string, status int, body []byte) *gcptoken.Error {
	e := gcptoken.NewResponseError(op, endpoint, status, body)
	var extra []string
	for _, info := range errorInfos(body) {
		if info.Reason != "" && !strings.Contains(e.Description, info.Reason) {
			extra = append(extra, "reason "+info.Reason)
		}
		for _, k := range slices.Sorted(maps.Keys(info.Metadata)) {
			if v := info.Metadata[k]; v != "" && !strings.Contains(e.Description, v) {
				extra = append(extra, k+" "+v)
			}
		}
	}
	if len(extra) > 0 {
		d := strings.Join(extra, "; ")
		if len(d) > 512 {
			d = d[:512] + "…"
		}
		e.Description = strings.TrimSpace(e.Description + " [" + d + "]")
	}
	return e
}

// errorInfos returns the ErrorInfo details of a Google API error body.
func errorInfos(body []byte) []errorInfo {
	var b struct {
		Error struct {
			Details []struct {
				Type     string            `json:"@type"`
				Reason   string            `json:"reason"`
				Metadata map[string]string `json:"metadata"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &b) != nil {
		return nil
	}
	var infos []errorInfo
	for _, d := range b.Error.Details {
		if d.Type == "type.googleapis.com/google.rpc.ErrorInfo" {
			infos = append(infos, errorInfo{Reason: d.Reason, Metadata: d.Metadata})
		}
	}
	return infos
}

// jsonMessage words a decoding error without quoting the document, which
// may hold a token.
func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q must not be %s", te.Field, te.Value)
	}
	return "not JSON"
}
