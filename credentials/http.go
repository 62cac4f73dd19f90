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

	"github.com/gcptoken/gcptoken"
)

// The HTTP exchange of every request this package makes, but the metadata
// server's (metadataclient.go), which checks a header of its own.

const (
	// maxResponseBody caps what is read of an answer; real ones are a few
	// KiB.
	maxResponseBody = 1 << 20
	contentTypeForm = "application/x-www-form-urlencoded"
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
	status, data, err := send(client, req, op)
	if err != nil {
		return nil, err
	}
	if status < 200 || status > 299 {
		return nil, apiError(op, endpoint, status, data)
	}
	return data, nil
}

// get sends one GET and returns the body of a 2xx answer; failures are
// *gcptoken.Error naming op and u. The body of a refusal is dropped: the
// answers of instance metadata and subject-token URLs are no use in an
// error and may echo a secret.
func get(ctx context.Context, client *http.Client, op, u string, h http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return sendExpectingOK(client, req, op)
}

// sendExpectingOK is send for answers whose refusal keeps the status only
// (see get).
func sendExpectingOK(client *http.Client, req *http.Request, op string) ([]byte, error) {
	status, data, err := send(client, req, op)
	if err != nil {
		return nil, err
	}
	if status < 200 || status > 299 {
		return nil, gcptoken.NewResponseError(op, req.URL.String(), status, nil)
	}
	return data, nil
}

// send makes one request and reads at most maxResponseBody of the answer.
// Failing to get one is a *gcptoken.Error naming op and the URL.
func send(client *http.Client, req *http.Request, op string) (status int, body []byte, err error) {
	endpoint := req.URL.String()
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is already in the *gcptoken.Error
		}
		return 0, nil, gcptoken.NewTransportError(op, endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
	if err != nil {
		return 0, nil, gcptoken.NewTransportError(op, endpoint, err)
	}
	if len(data) > maxResponseBody {
		return 0, nil, fmt.Errorf("%s from %s: the response is larger than %d bytes", op, endpoint, maxResponseBody)
	}
	return resp.StatusCode, data, nil
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
