package fakegoogle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault describes trouble the fake injects into requests, so tests can check
// how clients behave when Google misbehaves. Add rules with Server.AddFault
// (from Go) or `gcptoken emulator --fault` (see ParseFault).
//
// A rule has at most one failure (Status, Hang, Reset, Truncate, Malformed or
// WrongContentType), which fires with probability Rate, and optionally an
// added Latency, which applies with probability LatencyRate before the
// request is answered (or failed).
type Fault struct {
	// Path is a URL path prefix, e.g. "/token"; "" matches every path.
	Path string
	// Rate is the probability in (0, 1] that the failure fires on a
	// matching request. Optional; 0 means always.
	Rate float64
	// Times caps how many times the failure fires; afterwards requests are
	// served normally (latency still applies). Optional; 0 means unlimited.
	// "Fail the next two requests" is Times: 2.
	Times int

	// Status answers with this HTTP status and a Google-shaped error body
	// (OAuth shape, or the API shape on IAM Credentials paths).
	Status int
	// ErrorCode is the error code in that body. Optional; the default
	// follows the status: 500 internal_failure, 503 temporarily_unavailable,
	// 429 rate_limit_exceeded, other 5xx server_error, 4xx invalid_request.
	ErrorCode string
	// Hang holds the request open, without answering, until the client
	// gives up or ClearFaults is called. (httptest.Server.Close waits for
	// running handlers: clear faults before closing a server that may
	// hold hanging requests.)
	Hang bool
	// Reset closes the TCP connection with an RST (SO_LINGER 0) instead of
	// answering.
	Reset bool
	// Truncate serves the real response but closes the connection halfway
	// through its body, after a Content-Length promising all of it.
	Truncate bool
	// Malformed answers 200 with a body that is not JSON.
	Malformed bool
	// WrongContentType serves the real response labelled text/html.
	WrongContentType bool

	// Latency delays matching requests by this much (cut short if the
	// client gives up).
	Latency time.Duration
	// LatencyRate is the probability in (0, 1] that Latency applies, for
	// latency spikes. Optional; 0 means always.
	LatencyRate float64
}

func (f *Fault) validate() error {
	if f.Path != "" && !strings.HasPrefix(f.Path, "/") {
		return fmt.Errorf("fakegoogle: fault path %q must start with /", f.Path)
	}
	if f.Rate < 0 || f.Rate > 1 || f.LatencyRate < 0 || f.LatencyRate > 1 {
		return fmt.Errorf("fakegoogle: fault rates must be within [0, 1]")
	}
	if f.Times < 0 || f.Latency < 0 {
		return fmt.Errorf("fakegoogle: fault times and latency must not be negative")
	}
	if f.Status != 0 && (f.Status < 400 || f.Status > 599) {
		return fmt.Errorf("fakegoogle: fault status %d is not an HTTP error status (400-599)", f.Status)
	}
	n := 0
	for _, set := range []bool{f.Status != 0, f.Hang, f.Reset, f.Truncate, f.Malformed, f.WrongContentType} {
		if set {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("fakegoogle: a fault rule has at most one of status, hang, reset, truncate, malformed, wrong content type; add several rules instead")
	}
	if f.ErrorCode != "" && f.Status == 0 {
		return fmt.Errorf("fakegoogle: fault error code %q needs a status", f.ErrorCode)
	}
	if n == 0 && f.Latency == 0 {
		return fmt.Errorf("fakegoogle: the fault rule for %q injects nothing", f.Path)
	}
	return nil
}

// failure names the rule's failure kind, "" for latency-only rules.
func (f *Fault) failure() string {
	switch {
	case f.Status != 0:
		return "status"
	case f.Hang:
		return "hang"
	case f.Reset:
		return "reset"
	case f.Truncate:
		return "truncate"
	case f.Malformed:
		return "malformed"
	case f.WrongContentType:
		return "content-type"
	}
	return ""
}

// ParseFault parses the emulator's fault spec: "[PATH:]KEY[=VALUE],…", e.g.
// "/token:rate=0.2,status=503" or "/token:latency=500ms,latency-rate=0.1".
// Keys: rate, times, status, code, hang, reset, truncate, malformed,
// content-type, latency, latency-rate. Boolean keys take no value.
func ParseFault(spec string) (Fault, error) {
	var f Fault
	rest := spec
	if strings.HasPrefix(spec, "/") {
		path, opts, ok := strings.Cut(spec, ":")
		if !ok {
			return f, fmt.Errorf("fault %q: want PATH:KEY=VALUE,… e.g. /token:rate=0.2,status=503", spec)
		}
		f.Path, rest = path, opts
	}
	for _, kv := range strings.Split(rest, ",") {
		key, val, hasVal := strings.Cut(strings.TrimSpace(kv), "=")
		var err error
		flag := func(b *bool) {
			if hasVal {
				*b, err = strconv.ParseBool(val)
			} else {
				*b = true
			}
		}
		switch key {
		case "rate":
			f.Rate, err = strconv.ParseFloat(val, 64)
		case "latency-rate":
			f.LatencyRate, err = strconv.ParseFloat(val, 64)
		case "times":
			f.Times, err = strconv.Atoi(val)
		case "status":
			f.Status, err = strconv.Atoi(val)
		case "code":
			f.ErrorCode = val
		case "latency":
			f.Latency, err = time.ParseDuration(val)
		case "hang":
			flag(&f.Hang)
		case "reset":
			flag(&f.Reset)
		case "truncate":
			flag(&f.Truncate)
		case "malformed":
			flag(&f.Malformed)
		case "content-type":
			flag(&f.WrongContentType)
		case "":
			err = fmt.Errorf("empty key")
		default:
			err = fmt.Errorf("unknown key %q (want rate, times, status, code, hang, reset, truncate, malformed, content-type, latency or latency-rate)", key)
		}
		if err != nil {
			return Fault{}, fmt.Errorf("fault %q: %s: %w", spec, key, err)
		}
	}
	if err := f.validate(); err != nil {
		return Fault{}, fmt.Errorf("fault %q: %s", spec, strings.TrimPrefix(err.Error(), "fakegoogle: "))
	}
	return f, nil
}

// String returns the rule in ParseFault's grammar, e.g.
// "/token:rate=0.2,status=503"; ParseFault reads it back as the same rule.
func (f Fault) String() string {
	var kv []string
	add := func(set bool, s string) {
		if set {
			kv = append(kv, s)
		}
	}
	add(f.Rate != 0, "rate="+strconv.FormatFloat(f.Rate, 'g', -1, 64))
	add(f.Times != 0, "times="+strconv.Itoa(f.Times))
	add(f.Status != 0, "status="+strconv.Itoa(f.Status))
	add(f.ErrorCode != "", "code="+f.ErrorCode)
	add(f.Hang, "hang")
	add(f.Reset, "reset")
	add(f.Truncate, "truncate")
	add(f.Malformed, "malformed")
	add(f.WrongContentType, "content-type")
	add(f.Latency != 0, "latency="+f.Latency.String())
	add(f.LatencyRate != 0, "latency-rate="+strconv.FormatFloat(f.LatencyRate, 'g', -1, 64))
	spec := strings.Join(kv, ",")
	if f.Path != "" {
		spec = f.Path + ":" + spec
	}
	return spec
}

// faultInjector holds a Server's fault rules; its zero value injects
// nothing.
type faultInjector struct {
	skew atomic.Int64 // nanoseconds added to the fake's clock

	mu       sync.Mutex
	rules    []*faultRule
	rng      *rand.Rand
	injected int
	release  chan struct{} // closed by ClearFaults to end hangs
}

type faultRule struct {
	Fault
	fired int
}

// AddFault adds a fault rule. Rules apply in the order added: every matching
// rule's latency adds up, and the first matching rule whose failure fires
// decides the failure. Safe to call while serving.
func (s *Server) AddFault(f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.rules = append(s.faults.rules, &faultRule{Fault: f})
	return nil
}

// Faults returns the fault rules, in the order they apply.
func (s *Server) Faults() []Fault {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	out := make([]Fault, len(s.faults.rules))
	for i, r := range s.faults.rules {
		out[i] = r.Fault
	}
	return out
}

// RemoveFault removes the rule at index i of Faults. Requests the rule
// holds with Hang stay held until ClearFaults.
func (s *Server) RemoveFault(i int) error {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if i < 0 || i >= len(s.faults.rules) {
		return fmt.Errorf("fakegoogle: remove fault %d: there are %d rules", i, len(s.faults.rules))
	}
	s.faults.rules = slices.Delete(s.faults.rules, i, i+1)
	return nil
}

// ClearFaults removes every fault rule (but not the clock skew) and ends
// the requests held by Hang, which then get no answer (the connection
// closes).
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.rules = nil
	if s.faults.release != nil {
		close(s.faults.release)
		s.faults.release = nil
	}
}

// hangRelease returns the channel that ClearFaults closes.
func (fi *faultInjector) hangRelease() <-chan struct{} {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.release == nil {
		fi.release = make(chan struct{})
	}
	return fi.release
}

// SetFaultSeed seeds the random source that decides whether probabilistic
// faults fire, so a run can be reproduced. Without it the seed is 1.
func (s *Server) SetFaultSeed(seed uint64) {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// FaultsInjected returns how many failures (not latencies) the fake has
// injected so far.
func (s *Server) FaultsInjected() int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.injected
}

// SetClockSkew shifts the fake's clock by d (positive: the fake runs ahead
// of its clients), as a server with a wrong clock would: issued tokens carry
// iat/exp and expires_in counted from the skewed time, and assertions are
// checked against it.
func (s *Server) SetClockSkew(d time.Duration) { s.faults.skew.Store(int64(d)) }

// ClockSkew returns the skew set by SetClockSkew.
func (s *Server) ClockSkew() time.Duration { return s.faults.clockSkew() }

// clockSkew returns the skew set by SetClockSkew.
func (fi *faultInjector) clockSkew() time.Duration { return time.Duration(fi.skew.Load()) }

// plan decides, for one request, the latency to add and the rule whose
// failure fires (nil for none).
func (fi *faultInjector) plan(path string) (time.Duration, *Fault) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if len(fi.rules) == 0 {
		return 0, nil
	}
	if fi.rng == nil {
		fi.rng = rand.New(rand.NewPCG(1, 1^0x9e3779b97f4a7c15))
	}
	var delay time.Duration
	var fail *Fault
	for _, r := range fi.rules {
		if !strings.HasPrefix(path, r.Path) {
			continue
		}
		if r.Latency > 0 && (r.LatencyRate == 0 || fi.rng.Float64() < r.LatencyRate) {
			delay += r.Latency
		}
		if fail != nil || r.failure() == "" || (r.Times > 0 && r.fired >= r.Times) {
			continue
		}
		if r.Rate == 0 || fi.rng.Float64() < r.Rate {
			r.fired++
			fi.injected++
			f := r.Fault
			fail = &f
		}
	}
	return delay, fail
}

// serve answers r through next unless a fault rule says otherwise.
func (s *Server) serveWithFaults(w http.ResponseWriter, r *http.Request, next http.Handler) {
	delay, fail := s.faults.plan(r.URL.Path)
	noteFault(w, delay, fail) // for an observer (observe.go)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if fail == nil {
		next.ServeHTTP(w, r)
		return
	}
	s.log.Debug("fakegoogle: injecting fault", "path", r.URL.Path, "fault", fail.failure())
	switch {
	case fail.Status != 0:
		writeFaultStatus(w, r, fail)
	case fail.Hang:
		// net/http notices a client hanging up only once the request body
		// has been read.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-s.faults.hangRelease():
			panic(http.ErrAbortHandler) // drop the connection unanswered
		}
	case fail.Reset:
		resetConn(w)
	case fail.Malformed:
		w.Header().Set("Content-Type", contentTypeOAuth)
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"access_token": <fakegoogle: malformed on purpose>, "expires_in": }` + "\n"))
	case fail.Truncate, fail.WrongContentType:
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		if fail.WrongContentType {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(rec.Code)
			w.Write(body)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		w.Write(body[:len(body)/2])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		resetConn(w)
	}
}

// writeFaultStatus writes an error in the shape the path's real server
// uses.
func writeFaultStatus(w http.ResponseWriter, r *http.Request, f *Fault) {
	code := f.ErrorCode
	if code == "" {
		switch {
		case f.Status == http.StatusInternalServerError:
			code = "internal_failure"
		case f.Status == http.StatusServiceUnavailable:
			code = "temporarily_unavailable"
		case f.Status == http.StatusTooManyRequests:
			code = "rate_limit_exceeded"
		case f.Status >= 500:
			code = "server_error"
		default:
			code = "invalid_request"
		}
	}
	desc := fmt.Sprintf("fakegoogle: injected fault (HTTP %d)", f.Status)
	var body any = oauthError{Error: code, Description: desc}
	ctype := contentTypeOAuth
	if strings.HasPrefix(r.URL.Path, "/v1/projects/") {
		// IAM Credentials answers in the API error shape.
		type apiError struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		}
		body = struct {
			Error apiError `json:"error"`
		}{apiError{f.Status, desc, strings.ToUpper(code)}}
		ctype = contentTypeGoogle
	}
	var buf bytes.Buffer
	json.NewEncoder(&buf).Encode(body)
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", noStore)
	if f.Status == http.StatusTooManyRequests || f.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(f.Status)
	w.Write(buf.Bytes())
}

// resetConn drops the client's connection with a TCP RST. Where the
// connection cannot be taken over (HTTP/2), it aborts the stream instead.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, bufw, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if bufw != nil {
		bufw.Flush()
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}
