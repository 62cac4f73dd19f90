package console

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken/fakegoogle"
)

// filter is the timeline's filter, from the page's query.
type filter struct {
	Q       string // text the entry must contain
	Outcome string // "", "accepted", "refused", "no answer" or "fault"
}

func filterOf(r *http.Request) filter {
	return filter{Q: strings.TrimSpace(r.URL.Query().Get("q")), Outcome: r.URL.Query().Get("outcome")}
}

func (f filter) match(e *entry) bool {
	switch {
	case f.Outcome == "fault" && e.Fault == "":
		return false
	case f.Outcome != "" && f.Outcome != "fault" && e.Outcome() != f.Outcome:
		return false
	}
	return f.Q == "" || strings.Contains(e.search, strings.ToLower(f.Q))
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

func (f filter) outcomes() []option {
	var out []option
	for _, o := range []struct{ v, l string }{{"", "Any"}, {"accepted", "Accepted"}, {"refused", "Refused"}, {"no answer", "No answer"}, {"fault", "Injected fault"}} {
		out = append(out, option{o.v, o.l, o.v == f.Outcome})
	}
	return out
}

// rows is what the "rows" template shows.
type rows struct {
	Base    string
	Entries []*entry
}

type requestsData struct {
	Rows           rows
	Filter         filter
	Outcomes       []option
	Kept, Capacity int
	Newest         uint64
	RefreshURL     string
	NoRequestsYet  bool
	Dropped        int64 // exchanges the console could not keep up with
}

func (c *Console) requestsPage(w http.ResponseWriter, r *http.Request) {
	f := filterOf(r)
	newest := c.timeline.newest()
	entries, kept := c.timeline.list(0, f.match, len(c.timeline.ring))
	c.render(w, r, http.StatusOK, "requests", "Requests", &requestsData{
		Rows: rows{c.path, entries}, Filter: f, Outcomes: f.outcomes(), Kept: kept, Capacity: len(c.timeline.ring),
		Newest: newest, RefreshURL: c.path + "?" + r.URL.RawQuery, NoRequestsYet: kept == 0, Dropped: c.dropped.Load(),
	})
}

// liveWait is how long a live update waits for a new request before the
// page asks again.
const liveWait = 25 * time.Second

// rowsFragment serves the page's live updates: the table rows of requests
// newer than ?after=ID that match the page's filter, waiting (long poll)
// for one when there is none yet. X-Console-Newest names the newest
// request seen, for the next poll; 204 means nothing new.
func (c *Console) rowsFragment(w http.ResponseWriter, r *http.Request) {
	after, err := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	if err != nil {
		http.Error(w, "console: ?after=ID wanted", http.StatusBadRequest)
		return
	}
	c.timeline.wait(r.Context(), after, liveWait)
	newest := c.timeline.newest()
	w.Header().Set("X-Console-Newest", strconv.FormatUint(newest, 10))
	entries, _ := c.timeline.list(after, filterOf(r).match, 100)
	if len(entries) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	c.execute(w, http.StatusOK, "requests", "rows", rows{c.path, entries})
}

func (c *Console) requestPage(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseUint(r.PathValue("id"), 10, 64)
	e := c.timeline.get(id)
	if e == nil {
		c.render(w, r, http.StatusNotFound, "notfound", "Request not kept",
			"Request #"+r.PathValue("id")+" is not kept: the timeline keeps the last "+strconv.Itoa(len(c.timeline.ring))+" requests.")
		return
	}
	c.render(w, r, http.StatusOK, "request", "Request #"+strconv.FormatUint(e.ID, 10), e)
}

// accountView is a service account with its IAM policy.
type accountView struct {
	fakegoogle.ServiceAccount
	Policy fakegoogle.IAMPolicy
}

type identitiesData struct {
	Accounts  []accountView
	Users     []fakegoogle.User
	Clients   []string
	Providers []providerView
	Members   []string // suggestions for the grant forms
	StateFile string
}

type providerView struct {
	fakegoogle.IdentityProvider
	Audience, PoolMember string
}

func (c *Console) identitiesPage(w http.ResponseWriter, r *http.Request) {
	d := &identitiesData{Users: c.fake.Users(), Clients: c.fake.OAuthClients(), StateFile: c.stateFile}
	for _, sa := range c.fake.ServiceAccounts() {
		p, _ := c.fake.IAMPolicy(sa.Email)
		d.Accounts = append(d.Accounts, accountView{sa, p})
		d.Members = append(d.Members, sa.Email)
	}
	for _, u := range d.Users {
		d.Members = append(d.Members, u.Email)
	}
	for _, p := range c.fake.IdentityProviders() {
		d.Providers = append(d.Providers, providerView{p, p.Audience(), p.PoolMember()})
		if !containsString(d.Members, p.PoolMember()) {
			d.Members = append(d.Members, p.PoolMember())
		}
	}
	c.render(w, r, http.StatusOK, "identities", "Identities and IAM", d)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// tokenRow is an issued token for display: never its value.
type tokenRow struct {
	ID        string // tokenID, what the revoke form sends
	Shown     string // maskSecret
	Short     string // shortSecret
	Kind      string
	Principal string
	ClientID  string
	Scopes    string
	Expiry    time.Time
	Origin    string
	Revocable bool
}

type tokensData struct {
	Access, Refresh []tokenRow
	Accounts        []string
	Audience        string // the mint form's default
	Minted          *mintedToken
	Decoded         *decodedToken
}

// mintedToken is an ID token minted on the page: shown whole, once, as the
// user asked for it, and never kept.
type mintedToken struct {
	Token string
	View  *jwtView
}

// decodedToken is what the decoder found in a pasted token.
type decodedToken struct {
	Fingerprint string
	Length      int
	JWT         *jwtView
	Issued      *tokenRow // a token the fake issued
	Unknown     string    // why nothing else could be said
}

func (c *Console) tokensPage(w http.ResponseWriter, r *http.Request) {
	c.renderTokens(w, r, http.StatusOK, nil, nil)
}

func (c *Console) renderTokens(w http.ResponseWriter, r *http.Request, status int, minted *mintedToken, decoded *decodedToken) {
	d := &tokensData{Audience: c.fake.SampleServiceURL(), Minted: minted, Decoded: decoded}
	for _, it := range c.fake.IssuedTokens() {
		row := issuedRow(it)
		if it.Kind == fakegoogle.KindAccessToken {
			d.Access = append(d.Access, row)
		} else {
			d.Refresh = append(d.Refresh, row)
		}
	}
	for _, sa := range c.fake.ServiceAccounts() {
		d.Accounts = append(d.Accounts, sa.Email)
	}
	c.render(w, r, status, "tokens", "Tokens", d)
}

func issuedRow(it fakegoogle.IssuedToken) tokenRow {
	origin := "issued directly"
	switch {
	case it.AccessBoundary != "":
		origin = "downscoped by STS"
	case it.RefreshToken != "":
		origin = "refreshed from " + shortSecret(it.RefreshToken)
	case strings.HasPrefix(it.Principal, "principal:"):
		origin = "federated (STS)"
	}
	return tokenRow{
		ID: tokenID(it.Value), Shown: maskSecret(it.Value), Short: shortSecret(it.Value), Kind: it.Kind, Principal: it.Principal, ClientID: it.ClientID,
		Scopes: strings.Join(it.Scopes, " "), Expiry: it.Expiry, Origin: origin,
		Revocable: it.Kind != fakegoogle.KindWorkforceRefreshToken,
	}
}

type ruleRow struct {
	Index int
	Spec  string
}

type faultsData struct {
	Rules    []ruleRow
	Injected int
	Skew     time.Duration
	RealNow  time.Time
}

func (c *Console) faultsPage(w http.ResponseWriter, r *http.Request) {
	d := &faultsData{Injected: c.fake.FaultsInjected(), Skew: c.fake.ClockSkew()}
	d.RealNow = c.fake.Now().Add(-d.Skew)
	for i, f := range c.fake.Faults() {
		d.Rules = append(d.Rules, ruleRow{i, f.String()})
	}
	c.render(w, r, http.StatusOK, "faults", "Faults and clock", d)
}
