package fakegoogle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sync"
)

// STS's token exchange also takes its request as JSON, which is how
// Google's generated REST clients send it (google.golang.org/api/sts/v1:
// POST /v1/token?alt=json&prettyPrint=false with a
// GoogleIdentityStsV1ExchangeTokenRequest body). The fields are the form's,
// spelt lowerCamel; proto3 JSON parsers accept the proto names
// (grant_type) too. The answer is the same either way: the response
// message's JSON names are snake_case (access_token, issued_token_type,
// token_type, expires_in), as its generated struct tags show.

// stsJSONFields maps each accepted JSON name to the form parameter.
var stsJSONFields = sync.OnceValue(func() map[string]string {
	return map[string]string{
		"grantType": "grant_type", "grant_type": "grant_type",
		"requestedTokenType": "requested_token_type", "requested_token_type": "requested_token_type",
		"subjectToken": "subject_token", "subject_token": "subject_token",
		"subjectTokenType": "subject_token_type", "subject_token_type": "subject_token_type",
		"audience": "audience", "scope": "scope", "options": "options",
	}
})

// parseSTSBody reads the exchange's parameters into r.PostForm, from a
// form or a JSON body, and reports whether to go on; on failure it has
// answered.
func (s *Server) parseSTSBody(w http.ResponseWriter, r *http.Request) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return s.parseForm(w, r)
	}
	form, e := decodeSTSJSON(r)
	if e != nil {
		s.log.Debug("fakegoogle: STS JSON request refused", "path", r.URL.Path, "message", e.message)
		writeAPIError(w, e.code, e.status, e.message, e.details...)
		return false
	}
	r.PostForm = form
	return true
}

// decodeSTSJSON decodes a JSON request body field by field, so that
// unknown fields and wrongly typed values get the texts Google's JSON
// front end gives them (as for IAM Credentials, iamcredentials.go).
func decodeSTSJSON(r *http.Request) (url.Values, *iamError) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return nil, invalidArgument("", "Cannot read request body: "+err.Error())
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(&buf)
	if err := dec.Decode(&raw); err != nil || dec.More() {
		detail := "the body is not one JSON object"
		if err != nil {
			detail = err.Error()
		}
		return nil, invalidArgument("", "Invalid JSON payload received. "+detail)
	}
	form := url.Values{}
	for _, k := range slices.Sorted(maps.Keys(raw)) { // deterministic errors
		field, ok := stsJSONFields()[k]
		if !ok {
			return nil, invalidArgument("", fmt.Sprintf("Invalid JSON payload received. Unknown name %q: Cannot find field.", k))
		}
		if string(raw[k]) == "null" {
			continue // proto3 JSON: null means the default
		}
		var v string
		if json.Unmarshal(raw[k], &v) != nil {
			var c bytes.Buffer
			json.Compact(&c, raw[k])
			return nil, invalidArgument(field, fmt.Sprintf("Invalid value at '%s' (TYPE_STRING), %s", field, c.String()))
		}
		if v != "" { // proto3: an empty string is the field's absence
			form.Set(field, v)
		}
	}
	return form, nil
}
