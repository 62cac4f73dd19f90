package metadataserver

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
)

// The metadata tree is static apart from token and identity, so every other
// answer (text, JSON, listings, recursive forms) is rendered once in New and
// served from a map: the hot path neither allocates nor locks.

// kind says how a route is answered.
type kind uint8

const (
	kindStatic kind = iota
	kindToken
	kindIdentity
)

// Endpoint labels for metrics: a fixed set, never a path.
const (
	epToken    = "token"
	epIdentity = "identity"
	epEmail    = "email"
	epScopes   = "scopes"
	epProject  = "project"
	epInstance = "instance"
	epUniverse = "universe"
	epListing  = "listing"
	epRoot     = "root"
	epOther    = "other"
)

// Content types. The real server sends application/text for scalars and
// listings [obs]; Python decodes a body as JSON only when the type is
// application/json, so only JSON documents may say so.
const (
	ctText = "application/text"
	ctJSON = "application/json"
)

// rep is one rendered representation with its ETag.
type rep struct {
	body  []byte
	etag  string
	ctype string
}

func newRep(body []byte, ctype string) rep { return rep{body: body, etag: etagOf(body), ctype: ctype} }

// etagOf is a 16-hex-digit hash of body, the form the emulators use [emu];
// Go's Subscribe only compares it for equality.
func etagOf(body []byte) string {
	h := fnv.New64a()
	h.Write(body)
	return fmt.Sprintf("%016x", h.Sum64())
}

// route is one path of the tree, relative to /computeMetadata/v1/.
type route struct {
	kind     kind
	endpoint string
	dir      bool
	// Leaves: text and JSON (?alt=json). Directories: the listing as text
	// and as a JSON array [?], and the ?recursive=true forms.
	text, json       rep
	recText, recJSON rep
}

// node is the tree while it is built.
type node struct {
	name     string // directories end with "/"
	isDir    bool
	children []*node
	raw      bool // children's names are data (attribute keys, emails): never camelCased
	kind     kind
	endpoint string
	text     string
	list     []string // multi-valued leaves (scopes, aliases)
	jsonVal  any
}

func leaf(name, endpoint, text string, j any) *node {
	return &node{name: name, endpoint: endpoint, text: text, jsonVal: j}
}

func listLeaf(name, endpoint string, list []string) *node {
	var b strings.Builder
	for _, s := range list {
		b.WriteString(s + "\n")
	}
	return &node{name: name, endpoint: endpoint, text: b.String(), list: list, jsonVal: list}
}

func dir(name string, raw bool, children ...*node) *node {
	slices.SortFunc(children, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	return &node{name: name + "/", isDir: true, children: children, raw: raw, endpoint: epListing}
}

func attributes(m map[string]string, endpoint string) *node {
	var kids []*node
	for k, v := range m {
		kids = append(kids, leaf(k, endpoint, v, v))
	}
	return dir("attributes", true, kids...)
}

// buildTree returns the /computeMetadata/v1/ tree for the defaulted options.
func buildTree(o *Options, scopes []string) *node {
	account := func(name string) *node {
		return dir(name, false,
			listLeaf("aliases", epInstance, []string{"default"}),
			leaf("email", epEmail, o.ServiceAccountEmail, o.ServiceAccountEmail),
			&node{name: "identity", kind: kindIdentity, endpoint: epIdentity},
			listLeaf("scopes", epScopes, scopes),
			&node{name: "token", kind: kindToken, endpoint: epToken},
		)
	}
	zone := "projects/" + o.NumericProjectID + "/zones/" + o.Zone
	root := dir("", false,
		dir("instance", false,
			attributes(o.InstanceAttributes, epInstance),
			leaf("hostname", epInstance, o.Hostname, o.Hostname),
			leaf("id", epInstance, o.InstanceID, json.Number(o.InstanceID)),
			leaf("name", epInstance, o.InstanceName, o.InstanceName),
			dir("service-accounts", true, account("default"), account(o.ServiceAccountEmail)),
			leaf("zone", epInstance, zone, zone),
		),
		dir("project", false,
			attributes(o.ProjectAttributes, epProject),
			leaf("numeric-project-id", epProject, o.NumericProjectID, json.Number(o.NumericProjectID)),
			leaf("project-id", epProject, o.ProjectID, o.ProjectID),
		),
		dir("universe", false,
			leaf("universe-domain", epUniverse, o.UniverseDomain, o.UniverseDomain),
		),
	)
	root.name = "" // its path is /computeMetadata/v1/ itself
	return root
}

// flatten renders every node into routes keyed by path ("" is the root
// directory, directories end with "/").
func flatten(n *node, prefix string, routes map[string]*route) {
	path := prefix + n.name
	r := &route{kind: n.kind, endpoint: n.endpoint, dir: n.isDir}
	routes[path] = r
	if n.kind != kindStatic {
		return
	}
	if !r.dir {
		r.text = newRep([]byte(n.text), ctText)
		r.json = newRep(mustJSON(n.jsonVal), ctJSON)
		return
	}
	var listing strings.Builder
	names := []string{}
	for _, c := range n.children {
		listing.WriteString(c.name + "\n")
		names = append(names, c.name)
		flatten(c, path, routes)
	}
	r.text = newRep([]byte(listing.String()), ctText)
	r.json = newRep(mustJSON(names), ctJSON)
	r.recJSON = newRep(mustJSON(n.recursive()), ctJSON)
	var lines []string
	n.recursiveText("", &lines)
	r.recText = newRep([]byte(strings.Join(lines, "")), ctText)
}

// recursive is the ?recursive=true JSON of a directory: camelCase keys
// (numericProjectId, serviceAccounts) as the real server uses [emu], data keys
// as they are. token and identity are not values and are left out.
func (n *node) recursive() map[string]any {
	out := map[string]any{}
	for _, c := range n.children {
		if c.kind != kindStatic {
			continue
		}
		key := strings.TrimSuffix(c.name, "/")
		if !n.raw {
			key = camelCase(key)
		}
		if c.isDir {
			out[key] = c.recursive()
		} else {
			out[key] = c.jsonVal
		}
	}
	return out
}

// recursiveText is ?recursive=true&alt=text: one "path value" line per
// value, paths relative to the directory, as in Google's documentation [?].
func (n *node) recursiveText(prefix string, lines *[]string) {
	for _, c := range n.children {
		switch {
		case c.kind != kindStatic:
		case c.isDir:
			c.recursiveText(prefix+c.name, lines)
		case c.list != nil:
			for _, v := range c.list {
				*lines = append(*lines, prefix+c.name+" "+v+"\n")
			}
		default:
			*lines = append(*lines, prefix+c.name+" "+c.text+"\n")
		}
	}
}

func camelCase(s string) string {
	parts := strings.Split(s, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("metadataserver: " + err.Error()) // only strings, numbers, lists and maps
	}
	return b
}
