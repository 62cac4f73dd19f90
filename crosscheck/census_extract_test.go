package crosscheck_test

// Extraction for the endpoint census (census_test.go): every Google URL
// written in a peer's installed source, as host + path template. Scanning
// is by regular expression over the text, with just enough understanding
// of string literals to see URLs that the source builds by concatenation
// ("https://iamcredentials.googleapis.com/v1/projects/-" +
// "/serviceAccounts/{}:generateAccessToken" in Python, adjacent literals,
// "…/serviceAccounts/" + email + ":generateIdToken" in Node) and by
// formatting (Python's {} and {name}, JavaScript's ${…}, Go's %s).

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// censusURL is one host + path template found in a peer's source.
type censusURL struct {
	host, path string
}

func (u censusURL) String() string { return u.host + u.path }

// censusHit is a URL with where it was seen.
type censusHit struct {
	url   censusURL
	where string // file, relative to the peer's root
}

var (
	// literalJoin matches the seam between two string literals that the
	// language joins: a closing quote, then "+" and/or white space
	// (newlines included: Python's adjacent literals), then an opening
	// quote of the same kind.
	literalJoins = []*regexp.Regexp{
		regexp.MustCompile(`"[ \t]*(?:\+[ \t]*)?(?:\r?\n[ \t]*(?:\+[ \t]*)?)?"`),
		regexp.MustCompile(`'[ \t]*(?:\+[ \t]*)?(?:\r?\n[ \t]*(?:\+[ \t]*)?)?'`),
	}
	// urlRE finds https URLs; the host may carry a template for the
	// universe domain ("iamcredentials.{universe_domain}", "sts.%s",
	// "cloudresourcemanager.${this.universeDomain}").
	urlRE = regexp.MustCompile(`https://[A-Za-z0-9.\-_{}$%]+(?:/[^\s"'` + "`" + `<>()\\,;|\]\[*]*)?`)
	// afterLiteral matches what may follow a URL's closing quote and
	// extend it: "+ variable" (a value) or "+ 'literal'".
	plusVariable = regexp.MustCompile(`^\s*\+\s*[A-Za-z_][A-Za-z0-9_.]*(?:\([^()]*\))?`)
	plusLiteral  = regexp.MustCompile(`^\s*\+\s*["'` + "`" + `]([^"'` + "`" + `\n]*)["'` + "`" + `]`)
	// placeholderRE matches the template forms of a variable part.
	placeholderRE = regexp.MustCompile(`\$\{[^}]*\}|\{[^{}/]*\}|%[svdq]|UNIVERSE_DOMAIN|<[A-Za-z_]+>`)
	// universeHostRE is a host whose domain is a template: the service
	// name, then the universe domain as {…}, ${…} or %s.
	universeHostRE = regexp.MustCompile(`^([a-z0-9.-]+\.)(?:\$?\{[^{}]*\}|%s)$`)
	// googleHostRE are the hosts the census counts: Google's.
	googleHostRE = regexp.MustCompile(`(^|\.)(googleapis\.com|google\.com|gstatic\.com|googleusercontent\.com)$`)
)

// extractURLs returns the Google URLs of one file's text.
func extractURLs(text string) []censusURL {
	for _, re := range literalJoins {
		text = re.ReplaceAllString(text, "")
	}
	var out []censusURL
	for _, loc := range urlRE.FindAllStringIndex(text, -1) {
		raw := text[loc[0]:loc[1]]
		raw += concatenated(text[loc[1]:])
		if u, ok := normaliseURL(raw); ok {
			out = append(out, u)
		}
	}
	return out
}

// concatenated returns what the source appends to a URL literal that ends
// at the start of rest: "{}" for each variable, the text of each literal.
func concatenated(rest string) string {
	if len(rest) == 0 || !strings.ContainsRune(`"'`+"`", rune(rest[0])) {
		return "" // the URL did not end at its literal's end
	}
	rest = rest[1:]
	var b strings.Builder
	for range 4 { // "…/" + a + ":b" + c is as long as it gets
		if m := plusLiteral.FindStringSubmatch(rest); m != nil {
			b.WriteString(m[1])
			rest = rest[len(m[0]):]
		} else if m := plusVariable.FindString(rest); m != "" {
			b.WriteString("{}")
			rest = rest[len(m):]
		} else {
			break
		}
	}
	return b.String()
}

// normaliseURL turns a raw URL into host + path template: placeholders
// become "{}", a templated universe domain becomes googleapis.com, the
// query, fragment and trailing punctuation go. Non-Google hosts and hosts
// that are wholly a variable are dropped.
func normaliseURL(raw string) (censusURL, bool) {
	raw = strings.TrimPrefix(raw, "https://")
	host, path, _ := strings.Cut(raw, "/")
	path = "/" + path
	host = strings.ToLower(strings.ReplaceAll(host, "UNIVERSE_DOMAIN", "{}"))
	if m := universeHostRE.FindStringSubmatch(host); m != nil {
		host = m[1] + "googleapis.com" // a templated universe domain: the default
	} else if strings.ContainsAny(host, "{$%") {
		return censusURL{}, false
	}
	host = strings.TrimSuffix(strings.TrimRight(host, ".:"), ".")
	if !googleHostRE.MatchString(host) {
		return censusURL{}, false
	}
	path, _, _ = strings.Cut(path, "?")
	path, _, _ = strings.Cut(path, "#")
	path = placeholderRE.ReplaceAllString(path, "{}")
	path = strings.TrimRight(path, ".:'`\"")
	if path == "/" {
		path = ""
	}
	return censusURL{host: host, path: path}, true
}

// scanTree extracts the URLs of every file under root that keep accepts.
func scanTree(root string, keep func(rel string) bool) ([]censusHit, error) {
	var hits []censusHit
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() || !keep(rel) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		hits = append(hits, hitsOf(string(data), rel)...)
		return nil
	})
	return hits, err
}

// hitsOf extracts the distinct URLs of one file's text.
func hitsOf(text, where string) []censusHit {
	seen := map[censusURL]bool{}
	var hits []censusHit
	for _, u := range extractURLs(text) {
		if !seen[u] {
			seen[u] = true
			hits = append(hits, censusHit{u, where})
		}
	}
	return hits
}

// TestExtractURLs pins the extraction on the forms the peers' sources use.
func TestExtractURLs(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"python concatenation", "_IAM = (\n    \"https://iamcredentials.googleapis.com/v1/projects/-\"\n    + \"/serviceAccounts/{}:signJwt\"\n)",
			[]string{"iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{}:signJwt"}},
		{"python adjacent literals", "_URL = (\n    \"https://www.googleapis.com/robot/v1/metadata/x509\"\n    \"/securetoken@system.gserviceaccount.com\"\n)",
			[]string{"www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com"}},
		{"python named placeholder and universe", `_DEFAULT_TOKEN_URL = "https://sts.{universe_domain}/v1/token"`, []string{"sts.googleapis.com/v1/token"}},
		{"javascript template literal", "const u = `https://cloudresourcemanager.${this.universeDomain}/v1/projects/${n}`;",
			[]string{"cloudresourcemanager.googleapis.com/v1/projects/{}"}},
		{"javascript variable between literals", `const u = 'https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/' + email + ':generateIdToken';`,
			[]string{"iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{}:generateIdToken"}},
		{"go format verbs", `const u = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/%s/allowedLocations"`,
			[]string{"iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{}/allowedLocations"}},
		{"go universe constant", `defaultTokenURL = "https://sts.UNIVERSE_DOMAIN/v1/token"`, []string{"sts.googleapis.com/v1/token"}},
		{"query and trailing punctuation", "// See https://oauth2.googleapis.com/revoke?token=x. And https://cloud.google.com/docs/quota.",
			[]string{"oauth2.googleapis.com/revoke", "cloud.google.com/docs/quota"}},
		{"other hosts dropped", `"https://sts.{region}.amazonaws.com?Action=GetCallerIdentity" "https://{}/"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, u := range extractURLs(tt.src) {
				got = append(got, u.String())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("extractURLs = %q; want %q", got, tt.want)
			}
		})
	}
}
