package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// entry is one exchange as the timeline keeps it: summarized and masked
// when recorded (analyze), so that no secret outlives the request.
type entry struct {
	ID                 uint64
	Time               time.Time // on the fake's clock
	Duration, Latency  time.Duration
	Method, Host, Path string
	TLS                bool
	// Client is the client's address; UserAgent and APIClient its
	// User-Agent and x-goog-api-client (Google's libraries name
	// themselves and the credential type there).
	Client, UserAgent, APIClient string
	Endpoint                     string // what the path is, e.g. "token endpoint"
	Grant                        string // grant type or API method
	Principal                    string // who asked, or who the answer was for
	Target                       string // scopes, audience, impersonated account
	Status                       int    // 0: no answer
	ErrorCode, ErrorText         string // Google's error, if any
	Fault                        string // the injected failure, "" for none
	Issued                       []string
	Request, Response            message
	JWTs                         []*jwtView
	search                       string // lower-case text the filter matches
}

// message is one side of an exchange, masked.
type message struct {
	Query, Header, Form []field
	Body                string // JSON or text; "" for a form or no body
	Note                string // what the body is when not shown whole
}

// Outcome is "accepted", "refused" or "no answer".
func (e *entry) Outcome() string {
	switch {
	case e.Status == 0:
		return "no answer"
	case e.Status < 400:
		return "accepted"
	}
	return "refused"
}

// body is a request or response body, parsed; it holds secrets and is
// dropped once the entry is made.
type body struct {
	kind string // "empty", "form", "json", "html", "grpc", "text", "binary"
	form url.Values
	json any
	text string
	size int
}

func parseBody(contentType string, b []byte) body {
	out := body{kind: "empty", size: len(b)}
	if len(b) == 0 {
		return out
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/x-www-form-urlencoded":
		if f, err := url.ParseQuery(string(b)); err == nil {
			out.kind, out.form = "form", f
			return out
		}
	case strings.HasPrefix(mt, "application/grpc"):
		out.kind = "grpc"
		return out
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if json.Valid(b) && dec.Decode(&out.json) == nil {
		out.kind = "json"
		return out
	}
	if mt == "text/html" {
		out.kind, out.text = "html", htmlTitle(b)
		return out
	}
	if utf8.Valid(b) {
		out.kind, out.text = "text", string(b)
		return out
	}
	out.kind = "binary"
	return out
}

var titleRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?is)<title>(.*?)</title>`) })

func htmlTitle(b []byte) string {
	if m := titleRE().FindSubmatch(b); m != nil {
		return strings.TrimSpace(string(m[1]))
	}
	return ""
}

// analyze turns an exchange into an entry: summary first, from the raw
// values, then the masked request and response.
func analyze(fake *fakegoogle.Server, ex *fakegoogle.Exchange) *entry {
	u, err := url.ParseRequestURI(ex.RequestURI)
	if err != nil {
		u = &url.URL{Path: ex.RequestURI}
	}
	if u.IsAbs() && u.Host != "" { // proxy form, from the HTTPS proxy's plain-HTTP side
		u = &url.URL{Path: u.Path, RawQuery: u.RawQuery}
	}
	e := &entry{
		Time: ex.Time, Duration: ex.Duration, Latency: ex.Latency, Method: ex.Method, Host: ex.Host, Path: u.Path,
		TLS: ex.TLS, Client: clientHost(ex.RemoteAddr), UserAgent: ex.Header.Get("User-Agent"),
		APIClient: ex.Header.Get("X-Goog-Api-Client"), Status: ex.Status, Fault: ex.Fault,
	}
	req := parseBody(ex.Header.Get("Content-Type"), ex.Body)
	resp := parseBody(ex.ResponseHeader.Get("Content-Type"), ex.ResponseBody)
	params := u.Query()
	for k, v := range req.form {
		params[k] = append(params[k], v...)
	}
	s := &summarizer{fake: fake, e: e, params: params, req: req, resp: resp, header: ex.Header, respHead: ex.ResponseHeader, at: ex.Time}
	s.summarize()
	m := &masker{jwts: map[string]*jwtView{}, decode: func(where, tok string) *jwtView {
		return decodeJWT(where, tok, atRequest(ex.Time), fake.JWTSigner)
	}}
	e.Request = m.message("request", u.RawQuery, ex.Header, req, ex.BodyTruncated)
	e.Response = m.message("response", "", ex.ResponseHeader, resp, ex.ResponseTruncated)
	if e.Path == imdsTokenPath && resp.kind == "text" {
		e.Response.Body = maskSecret(strings.TrimSpace(resp.text)) // the IMDSv2 session token
	}
	e.ErrorText = m.text("error", e.ErrorText)
	e.Principal = m.text("principal", e.Principal)
	e.Target = m.text("target", e.Target)
	e.JWTs = m.order
	e.search = strings.ToLower(strings.Join([]string{
		e.Method, e.Host, e.Path, e.Client, e.UserAgent, e.APIClient, e.Endpoint, e.Grant, e.Principal,
		e.Target, fmt.Sprint(e.Status), e.ErrorCode, e.ErrorText, e.Fault, e.Outcome(),
	}, "\n"))
	return e
}

// imdsTokenPath is the fake AWS instance metadata's IMDSv2 token
// endpoint, whose answer is a bare session token.
const imdsTokenPath = "/latest/api/token"

func clientHost(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// message masks one side of an exchange.
func (m *masker) message(side, rawQuery string, h map[string][]string, b body, truncated bool) message {
	var msg message
	if rawQuery != "" {
		if q, err := url.ParseQuery(rawQuery); err == nil {
			msg.Query = m.values(side+" query", q)
		}
	}
	msg.Header = m.headers(side, h)
	switch b.kind {
	case "form":
		msg.Form = m.values(side+" form", b.form)
	case "json":
		msg.Body = prettyJSON(m.json(side+" body", b.json))
	case "text":
		msg.Body = m.text(side+" body", b.text)
	case "html":
		msg.Note = fmt.Sprintf("An HTML page of %d bytes, titled %q (not shown).", b.size, b.text)
	case "grpc":
		msg.Note = fmt.Sprintf("A gRPC message of %d bytes (binary protobuf, not shown).", b.size)
	case "binary":
		msg.Note = fmt.Sprintf("%d bytes of binary data (not shown).", b.size)
	}
	if truncated {
		msg.Note = strings.TrimSpace(msg.Note + fmt.Sprintf(" Only the first %d KiB were kept.", fakegoogle.MaxObservedBody>>10))
	}
	return msg
}
