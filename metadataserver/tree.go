package metadataserver

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net"
	"slices"
	"strconv"
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
	array    bool // children are "0/", "1/", …: ?recursive=true gives a JSON array
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

// arrayDir is a directory of numbered entries, kept in order.
func arrayDir(name string, entries ...*node) *node {
	for i, e := range entries {
		e.name = strconv.Itoa(i) + "/"
	}
	return &node{name: name + "/", isDir: true, children: entries, array: true, endpoint: epListing}
}

// entry is an unnamed directory for arrayDir.
func entry(children ...*node) *node { return dir("", false, children...) }

func attributes(m map[string]string, endpoint string) *node {
	var kids []*node
	for k, v := range m {
		kids = append(kids, leaf(k, endpoint, v, v))
	}
	return dir("attributes", true, kids...)
}

// buildTree returns the /computeMetadata/v1/ tree for the defaulted options.
func buildTree(o *Options, scopes []string) *node {
	root := dir("", false,
		instanceTree(o, scopes),
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

// instanceTree is instance/: the values every Compute Engine VM has, with
// the shapes (text, and the JSON types of ?recursive=true) seen on real
// VMs [obs: recursive dumps in public test fixtures].
func instanceTree(o *Options, scopes []string) *node {
	account := func(name string) *node {
		return dir(name, false,
			listLeaf("aliases", epInstance, []string{"default"}),
			leaf("email", epEmail, o.ServiceAccountEmail, o.ServiceAccountEmail),
			&node{name: "identity", kind: kindIdentity, endpoint: epIdentity},
			listLeaf("scopes", epScopes, scopes),
			&node{name: "token", kind: kindToken, endpoint: epToken},
		)
	}
	str := func(name, v string) *node { return leaf(name, epInstance, v, v) }
	zone := "projects/" + o.NumericProjectID + "/zones/" + o.Zone
	tags := o.Tags
	if tags == nil {
		tags = []string{}
	}
	var licenses []*node
	for _, id := range o.Licenses {
		licenses = append(licenses, entry(str("id", id)))
	}
	return dir("instance", false,
		attributes(o.InstanceAttributes, epInstance),
		str("cpu-platform", o.CPUPlatform),
		str("description", o.Description),
		arrayDir("disks", entry(
			str("device-name", "persistent-disk-0"), leaf("index", epInstance, "0", json.Number("0")),
			str("interface", "SCSI"), str("mode", "READ_WRITE"), str("type", "PERSISTENT-BALANCED"),
		)),
		str("hostname", o.Hostname),
		leaf("id", epInstance, o.InstanceID, json.Number(o.InstanceID)),
		str("image", o.Image),
		arrayDir("licenses", licenses...),
		str("machine-type", "projects/"+o.NumericProjectID+"/machineTypes/"+o.MachineType),
		// Values that change on a real VM (a host maintenance, a
		// preemption) and never here; wait_for_change on them waits.
		str("maintenance-event", "NONE"),
		str("name", o.InstanceName),
		arrayDir("network-interfaces", networkInterface(o)),
		str("preempted", "FALSE"),
		leaf("remaining-cpu-time", epInstance, "-1", json.Number("-1")),
		dir("scheduling", false,
			str("automatic-restart", "TRUE"), str("on-host-maintenance", "MIGRATE"), str("preemptible", "FALSE"),
		),
		dir("service-accounts", true, account("default"), account(o.ServiceAccountEmail)),
		// The text is the JSON array too: Go's InstanceTags decodes it.
		leaf("tags", epInstance, string(mustJSON(tags)), tags),
		dir("virtual-clock", false, str("drift-token", "0")),
		str("zone", zone),
	)
}

// networkInterface is network-interfaces/0/ on a subnet of the default
// network: a /20 whose first address is the gateway, and a MAC made of
// 42:01 and the internal address, as Compute Engine assigns them.
func networkInterface(o *Options) *node {
	str := func(name, v string) *node { return leaf(name, epInstance, v, v) }
	ip := net.ParseIP(o.InternalIP).To4()
	mask := net.CIDRMask(20, 32)
	gateway := ip.Mask(mask)
	gateway[3]++
	mac := fmt.Sprintf("42:01:%02x:%02x:%02x:%02x", ip[0], ip[1], ip[2], ip[3])
	return entry(
		arrayDir("access-configs", entry(str("external-ip", o.ExternalIP), str("type", "ONE_TO_ONE_NAT"))),
		listLeaf("dns-servers", epInstance, []string{"169.254.169.254"}),
		arrayDir("forwarded-ips"),
		str("gateway", gateway.String()),
		str("ip", ip.String()),
		arrayDir("ip-aliases"),
		str("mac", mac),
		leaf("mtu", epInstance, "1460", json.Number("1460")),
		str("network", "projects/"+o.NumericProjectID+"/networks/"+o.Network),
		str("subnetmask", net.IP(mask).String()),
		arrayDir("target-instance-ips"),
	)
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
func (n *node) recursive() any {
	if n.array {
		out := make([]any, 0, len(n.children))
		for _, c := range n.children {
			out = append(out, c.recursive())
		}
		return out
	}
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
