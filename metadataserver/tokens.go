package metadataserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gcptoken/gcptoken"
)

// Token kinds, also the "kind" metric label.
const (
	kindAccess = "access_token"
	kindID     = "id_token"
)

const (
	// upstreamWait bounds how long one request waits for a token. The
	// shared refresh goes on (up to the cache's FetchTimeout) and serves
	// later requests.
	upstreamWait = 30 * time.Second
	// maxScopes bounds ?scopes=; Google's own accounts have a handful.
	maxScopes = 64
	// maxAccessKeys bounds the cached scope sets (besides the default one).
	maxAccessKeys = 100
)

// tokenEntry is the cached provider of one key. It is created before its
// provider so that concurrent cold requests find it and wait on ready
// instead of each building a provider.
type tokenEntry struct {
	ready    chan struct{} // closed when provider or err is set
	built    atomic.Bool   // set with ready, read without the channel's lock
	provider gcptoken.TokenProvider
	err      error
	fetches  atomic.Uint64 // upstream calls finished, to tell hits from misses
	lastUsed atomic.Uint64 // the cache's tick at the last lookup, for LRU eviction
}

// providerCache maps keys to entries, bounded with least-recently-used
// eviction. Lookups of existing keys take no lock (sync.Map plus an atomic
// logical clock); the mutex only serializes inserts and evictions, and is
// never held while a provider is built or a token fetched.
type providerCache struct {
	max  int
	tick atomic.Uint64
	mu   sync.Mutex
	m    sync.Map // string → *tokenEntry
	n    int      // entries in m; guarded by mu
}

// get returns the entry for key, creating it with mk if needed. mk runs at
// most once per entry, outside the lock; concurrent callers wait for it.
func (c *providerCache) get(key string, mk func(*tokenEntry) (gcptoken.TokenProvider, error)) (*tokenEntry, error) {
	if v, ok := c.m.Load(key); ok {
		e := v.(*tokenEntry)
		e.lastUsed.Store(c.tick.Add(1))
		if !e.built.Load() {
			<-e.ready
		}
		return e, e.err
	}
	c.mu.Lock()
	if v, ok := c.m.Load(key); ok { // lost the race: someone else created it
		c.mu.Unlock()
		e := v.(*tokenEntry)
		<-e.ready
		return e, e.err
	}
	e := &tokenEntry{ready: make(chan struct{})}
	e.lastUsed.Store(c.tick.Add(1))
	c.m.Store(key, e)
	if c.n++; c.n > c.max {
		c.evictLocked(key)
	}
	c.mu.Unlock()

	func() {
		defer close(e.ready)
		e.provider, e.err = mk(e)
		e.built.Store(true)
	}()
	if e.err != nil { // do not cache a failure to build
		c.mu.Lock()
		if c.m.CompareAndDelete(key, e) {
			c.n--
		}
		c.mu.Unlock()
	}
	return e, e.err
}

// evictLocked drops the least recently used entry other than keep. A scan is
// O(n), but it only runs when a new key arrives with the cache full, which
// costs an upstream fetch anyway. Requests still holding the evicted entry
// finish normally.
func (c *providerCache) evictLocked(keep string) {
	var oldestKey any
	oldest := uint64(1<<64 - 1)
	c.m.Range(func(k, v any) bool {
		if t := v.(*tokenEntry).lastUsed.Load(); k != keep && t < oldest {
			oldestKey, oldest = k, t
		}
		return true
	})
	if oldestKey != nil {
		c.m.Delete(oldestKey)
		c.n--
	}
}

// newEntryProvider wraps a plain provider from the Source: an instrumented
// layer counts upstream calls, and gcptoken's cache adds early refresh,
// coalescing and retries.
func (s *Server) newEntryProvider(e *tokenEntry, kind, what string, plain gcptoken.TokenProvider) gcptoken.TokenProvider {
	up := gcptoken.TokenProviderFunc(func(ctx context.Context) (*gcptoken.Token, error) {
		start := time.Now()
		tok, err := plain.Token(ctx)
		d := time.Since(start)
		e.fetches.Add(1)
		result := "ok"
		if err != nil {
			result = "error"
		}
		s.m.fetches.With(kind, result).Inc()
		s.m.fetchSeconds.With(kind).Observe(d.Seconds())
		attrs := []slog.Attr{slog.String("kind", kind), slog.String("key", what), slog.Duration("duration", d)}
		if err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "upstream token fetch failed", append(attrs, slog.String("error", oneLine(err.Error())))...)
		} else {
			s.log.LogAttrs(ctx, slog.LevelInfo, "upstream token fetch", attrs...)
		}
		return tok, err
	})
	p, err := gcptoken.NewCachedProvider(up, &gcptoken.CacheOptions{
		RefreshBefore: s.opts.RefreshBefore,
		RefreshJitter: s.opts.RefreshJitter,
		MinRemaining:  s.opts.MinRemaining,
		Now:           s.now,
	})
	if err != nil { // cannot happen: Options.validate checked the durations
		return gcptoken.TokenProviderFunc(func(context.Context) (*gcptoken.Token, error) { return nil, err })
	}
	return p
}

// accessEntry returns the entry for the scopes of a ?scopes= value ("" means
// the default scopes).
func (s *Server) accessEntry(param string) (*tokenEntry, error) {
	if param == "" {
		return s.defaultAccess, nil
	}
	scopes := normalizeScopes(param)
	if len(scopes) > maxScopes {
		return nil, errBadRequest(fmt.Sprintf("too many scopes (at most %d)", maxScopes))
	}
	key := strings.Join(scopes, ",")
	if len(scopes) == 0 || key == s.defaultKey {
		return s.defaultAccess, nil
	}
	return s.access.get(key, func(e *tokenEntry) (gcptoken.TokenProvider, error) {
		p, err := s.opts.Source.AccessTokenProvider(scopes)
		if err != nil {
			return nil, err
		}
		return s.newEntryProvider(e, kindAccess, "scopes="+key, p), nil
	})
}

// normalizeScopes splits a comma- (or space-) separated list, then sorts and
// de-duplicates it, so that one scope set is one cache key however it is
// written.
func normalizeScopes(param string) []string {
	scopes := strings.FieldsFunc(param, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	slices.Sort(scopes)
	return slices.Compact(scopes)
}

// idEntry returns the entry for an identity request.
func (s *Server) idEntry(req IDTokenRequest) (*tokenEntry, error) {
	key := req.Format + "\x00" + strconv.FormatBool(req.Licenses) + "\x00" + req.Audience
	return s.ids.get(key, func(e *tokenEntry) (gcptoken.TokenProvider, error) {
		p, err := s.opts.Source.IDTokenProvider(req)
		if err != nil {
			return nil, err
		}
		return s.newEntryProvider(e, kindID, "audience="+req.Audience, p), nil
	})
}

// token gets a token from e and records whether the cache answered it (hit)
// or it waited for an upstream fetch (miss).
//
// The cached provider decides (fresh: served without a lock; stale: served
// while it refreshes in the background; unusable: one shared fetch), bounded
// by upstreamWait. A lookup that overlaps an
// unrelated background refresh may count as a miss; the metric is for
// trends, not accounting.
func (s *Server) token(ctx context.Context, e *tokenEntry, kind string, st *reqState) (*gcptoken.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, s.upstreamWait)
	defer cancel()
	before := e.fetches.Load()
	tok, err := e.provider.Token(ctx)
	st.cache = "hit"
	if err != nil || e.fetches.Load() != before {
		st.cache = "miss"
	}
	s.m.lookups.With(kind, st.cache).Inc()
	if err == nil && !tok.Expiry.IsZero() && tok.ExpiresWithin(s.now(), s.opts.MinRemaining) {
		// The cache already guarantees this; checked again because it is
		// the one promise clients rely on.
		err = fmt.Errorf("token expires at %s, within %s", tok.Expiry.UTC().Format(time.RFC3339), s.opts.MinRemaining)
	}
	return tok, err
}

// serveToken answers …/token[?scopes=a,b]. Other parameters are ignored,
// among them Go's transport=mtls/alts for bound tokens: the Source's tokens
// are plain bearer tokens.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, q query, st *reqState) {
	e, err := s.accessEntry(q.get("scopes"))
	if err != nil {
		s.providerError(w, st, err)
		return
	}
	tok, err := s.token(r.Context(), e, kindAccess, st)
	if err != nil {
		s.upstreamError(w, r, st, err)
		return
	}
	// expires_in is the whole seconds left. A token without an expiry
	// (which the cache refetches every time) is reported as living
	// MinRemaining, so clients come back soon rather than reuse it for an
	// hour.
	left := s.opts.MinRemaining
	if !tok.Expiry.IsZero() {
		left = tok.Expiry.Sub(s.now())
	}
	body := make([]byte, 0, len(tok.Value)+80)
	body = append(body, `{"access_token":`...)
	body = appendJSONString(body, tok.Value)
	body = append(body, `,"expires_in":`...)
	body = strconv.AppendInt(body, max(1, int64(left/time.Second)), 10)
	body = append(body, `,"token_type":`...)
	body = appendJSONString(body, tok.TokenType())
	body = append(body, '}')
	s.write(w, st, http.StatusOK, ctJSON, body, true)
}

// serveIdentity answers …/identity?audience=…[&format=…][&licenses=…].
func (s *Server) serveIdentity(w http.ResponseWriter, r *http.Request, q query, st *reqState) {
	req := IDTokenRequest{Audience: q.get("audience"), Format: q.get("format"), Instance: s.instance}
	if req.Audience == "" {
		s.plain(w, st, http.StatusBadRequest, "non-empty audience parameter required") // [emu] wording
		return
	}
	switch req.Format {
	case "":
		req.Format = FormatStandard // Google's documented default [?]
	case FormatStandard, FormatFull:
	default:
		s.plain(w, st, http.StatusBadRequest, `invalid format parameter: want "standard" or "full"`)
		return
	}
	switch l := q.get("licenses"); {
	case l == "" || strings.EqualFold(l, "false"):
	case strings.EqualFold(l, "true"):
		// Compute Engine honours licenses with the full format only, so
		// standard requests share one cache key whatever they say [?].
		req.Licenses = req.Format == FormatFull
	default:
		s.plain(w, st, http.StatusBadRequest, `invalid licenses parameter: want "TRUE" or "FALSE"`)
		return
	}
	e, err := s.idEntry(req)
	if err != nil {
		s.providerError(w, st, err)
		return
	}
	tok, err := s.token(r.Context(), e, kindID, st)
	if err != nil {
		s.upstreamError(w, r, st, err)
		return
	}
	if got := tok.Metadata[gcptoken.MetaAudience]; got != "" && !s.opts.AllowAudienceMismatch && !slices.Contains(strings.Fields(got), req.Audience) {
		// 400, as Google answers a bad audience parameter: no client
		// retries it, and each shows the body. A token for the wrong
		// audience would only fail later, at the service, as a bare 401.
		s.plain(w, st, http.StatusBadRequest, fmt.Sprintf(
			"cannot serve an ID token for audience %s: this credential's ID tokens carry audience %s, which it cannot choose (user credentials: their OAuth client); use a service account, or accept it with --allow-client-audience",
			quoteCapped(req.Audience), quoteCapped(got)))
		return
	}
	// The raw JWT, as text: Python would JSON-decode an application/json
	// body and fail, Node tries JSON and falls back to the text, Go ignores
	// the type. [emu] sends text/html; application/text is what the real
	// server sends for its other scalar values and works for all three.
	s.write(w, st, http.StatusOK, ctText, []byte(tok.Value), true)
}

// badRequest is a client error found while choosing a cache key.
type badRequest string

func (e badRequest) Error() string        { return string(e) }
func errBadRequest(msg string) badRequest { return badRequest(msg) }

// providerError answers a failure to build a provider: a bad request, or
// the Source refusing the parameters (e.g. a credential that cannot choose
// scopes), which is reported as 400 since retrying cannot help.
func (s *Server) providerError(w http.ResponseWriter, st *reqState, err error) {
	var br badRequest
	if errors.As(err, &br) {
		s.plain(w, st, http.StatusBadRequest, br.Error())
		return
	}
	s.plain(w, st, http.StatusBadRequest, "cannot serve this token: "+oneLine(err.Error()))
}

// upstreamError maps a failed token fetch to a status: 504 when this request
// gave up waiting, 503 for transient trouble that outlasted the cache's
// retries (unreachable, 5xx, 429; clients retry these), 502 when the
// upstream refused. The body says why in one line; gcptoken errors never
// carry tokens or keys.
func (s *Server) upstreamError(w http.ResponseWriter, r *http.Request, st *reqState, err error) {
	code := http.StatusBadGateway
	switch {
	case r.Context().Err() != nil:
		st.status = statusClientClosed // nobody to answer
		return
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
		err = fmt.Errorf("no token within %s (the fetch goes on in the background)", s.upstreamWait)
	case gcptoken.IsUnavailable(err):
		code = http.StatusServiceUnavailable
		w.Header()["Retry-After"] = []string{"1"}
	}
	s.plain(w, st, code, "upstream token fetch failed: "+oneLine(err.Error()))
}

// appendJSONString appends s as a JSON string. Tokens are plain ASCII, so
// the common case copies bytes; anything else takes the encoder's path.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return append(b, mustJSON(s)...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// quoteCapped quotes an outside value for a one-line body, capped.
func quoteCapped(v string) string {
	if len(v) > 200 {
		v = strings.ToValidUTF8(v[:200], "") + "…"
	}
	return strconv.Quote(v)
}

// oneLine folds a message onto one line and caps it, for response bodies and
// logs.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 512 {
		s = strings.ToValidUTF8(s[:512], "") + "…"
	}
	return s
}
