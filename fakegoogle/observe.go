package fakegoogle

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"slices"
	"time"
)

// Exchange is one request the fake answered and its answer, as an observer
// (Observe) sees them: what went over the wire, tokens, client secrets and
// assertions included. Whoever keeps or shows one must treat it as a
// secret; the emulator's console masks it before it keeps anything.
type Exchange struct {
	// Time is when the request arrived, on the fake's clock (Now).
	Time time.Time
	// Duration is how long the answer took, injected latency included.
	Duration time.Duration
	// RemoteAddr is the client's address, as net/http reports it.
	RemoteAddr string
	// Method, Host and RequestURI are the request line and Host header,
	// as received; TLS is set for requests through the HTTPS proxy.
	Method, Host, RequestURI string
	TLS                      bool
	// Header is the request's header; Body the start of its body, up to
	// MaxObservedBody bytes of what the handler read (BodyTruncated when
	// there was more).
	Header        http.Header
	Body          []byte
	BodyTruncated bool
	// Status is the answer's HTTP status: 0 when the fake answered
	// nothing (the connection was dropped, or the client gave up).
	Status int
	// ResponseHeader and ResponseBody are the answer's (the header with
	// any trailers), the body up to
	// MaxObservedBody bytes (ResponseTruncated when there was more).
	ResponseHeader    http.Header
	ResponseBody      []byte
	ResponseTruncated bool
	// Fault names the failure a fault rule injected ("status", "hang",
	// "reset", "truncate", "malformed", "content-type"), "" for none;
	// Latency is the delay rules added.
	Fault   string
	Latency time.Duration
}

// MaxObservedBody caps the request and response bodies an Exchange
// carries; every real request and answer of the fake is far smaller.
const MaxObservedBody = 64 << 10

// observer is the function Observe set.
type observer func(*Exchange)

// Observe makes the fake call fn with every request it answers, once the
// answer is written (or the connection dropped), on the request's
// goroutine: fn should be quick. There is one observer at a time; a nil fn
// stops observing. Without an observer, requests cost nothing extra.
func (s *Server) Observe(fn func(*Exchange)) {
	if fn == nil {
		s.observer.Store(nil)
		return
	}
	o := observer(fn)
	s.observer.Store(&o)
}

// Now returns the time on the fake's clock: Options.Now plus any clock
// skew (SetClockSkew). Issued tokens and every expiry check use it.
func (s *Server) Now() time.Time { return s.now() }

// exchangeRecorder is the ResponseWriter a request is answered through
// while the fake is observed: it keeps a copy of what is written.
type exchangeRecorder struct {
	http.ResponseWriter
	ex      Exchange
	reqBody capped
	body    capped
	wrote   bool
	start   time.Time
}

// observeStart wraps w and r's body to record the exchange.
func (s *Server) observeStart(w http.ResponseWriter, r *http.Request) *exchangeRecorder {
	rec := &exchangeRecorder{ResponseWriter: w, start: time.Now()}
	rec.ex = Exchange{
		Time: s.now(), RemoteAddr: r.RemoteAddr, Method: r.Method, Host: r.Host, RequestURI: r.RequestURI,
		TLS: r.TLS != nil, Header: r.Header.Clone(),
	}
	if rec.ex.RequestURI == "" { // a request made in-process rather than read from a connection
		rec.ex.RequestURI = r.URL.RequestURI()
	}
	r.Body = teeBody{ReadCloser: r.Body, copy: &rec.reqBody}
	return rec
}

// finish hands the exchange to fn. It runs deferred, so also when the
// handler panics to drop the connection (http.ErrAbortHandler).
func (rec *exchangeRecorder) finish(fn observer) {
	ex := &rec.ex
	ex.Duration = time.Since(rec.start)
	ex.Body, ex.BodyTruncated = rec.reqBody.buf.Bytes(), rec.reqBody.truncated
	ex.ResponseBody, ex.ResponseTruncated = rec.body.buf.Bytes(), rec.body.truncated
	if ex.ResponseHeader == nil {
		ex.ResponseHeader = rec.Header().Clone()
	}
	for k, v := range rec.Header() { // trailers, set after the header was sent (gRPC's status)
		if _, sent := ex.ResponseHeader[k]; !sent {
			ex.ResponseHeader[k] = slices.Clone(v)
		}
	}
	fn(ex)
}

func (rec *exchangeRecorder) WriteHeader(status int) {
	if !rec.wrote && status >= 200 {
		rec.wrote = true
		rec.ex.Status = status
		rec.ex.ResponseHeader = rec.Header().Clone()
	}
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *exchangeRecorder) Write(p []byte) (int, error) {
	if !rec.wrote {
		rec.WriteHeader(http.StatusOK)
	}
	rec.body.Write(p)
	return rec.ResponseWriter.Write(p)
}

// Flush and Hijack pass through, for the faults that truncate answers and
// reset connections (faults.go).
func (rec *exchangeRecorder) Flush() {
	if f, ok := rec.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (rec *exchangeRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := rec.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	rec.ex.Status = 0 // whatever was written, the connection is cut
	return h.Hijack()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (rec *exchangeRecorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// noteFault records the fault rules' verdict on an observed request.
func noteFault(w http.ResponseWriter, latency time.Duration, fail *Fault) {
	rec, ok := w.(*exchangeRecorder)
	if !ok {
		return
	}
	rec.ex.Latency = latency
	if fail != nil {
		rec.ex.Fault = fail.failure()
	}
}

// capped keeps the first MaxObservedBody bytes written to it.
type capped struct {
	buf       bytes.Buffer
	truncated bool
}

func (c *capped) Write(p []byte) {
	room := MaxObservedBody - c.buf.Len()
	if len(p) > room {
		p, c.truncated = p[:max(room, 0)], true
	}
	c.buf.Write(p)
}

// teeBody copies what the handler reads of a request body.
type teeBody struct {
	io.ReadCloser
	copy *capped
}

func (t teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	t.copy.Write(p[:n])
	return n, err
}
