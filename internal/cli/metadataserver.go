package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/internal/hostcheck"
	"github.com/gcptoken/gcptoken/metadataserver"
)

// maxConfigFile bounds --config: it is a handful of attributes.
const maxConfigFile = 1 << 20

type metadataServerOptions struct {
	creds              credFlags
	listen             string
	configFile         string
	email              string
	project            string
	numericProject     string
	scopes             []string
	instanceName       string
	zone               string
	instanceAttributes map[string]string
	projectAttributes  map[string]string
	logFormat          string
	allowHosts         []string
	allowClientAud     bool
	kube               kubeFlags // metadataserver_kube.go
}

// metadataConfig is the --config file: the same settings as the flags, for
// setups with many attributes. Flags win over the file.
type metadataConfig struct {
	ServiceAccountEmail string            `json:"service_account_email"`
	ProjectID           string            `json:"project_id"`
	NumericProjectID    string            `json:"numeric_project_id"`
	Scopes              []string          `json:"scopes"`
	UniverseDomain      string            `json:"universe_domain"`
	ProjectAttributes   map[string]string `json:"project_attributes"`
	Instance            struct {
		ID          string            `json:"id"`
		Name        string            `json:"name"`
		Zone        string            `json:"zone"`
		Hostname    string            `json:"hostname"`
		Attributes  map[string]string `json:"attributes"`
		MachineType string            `json:"machine_type"`
		Image       string            `json:"image"`
		CPUPlatform string            `json:"cpu_platform"`
		Description string            `json:"description"`
		Tags        []string          `json:"tags"`
		Licenses    []string          `json:"licenses"`
		InternalIP  string            `json:"internal_ip"`
		ExternalIP  string            `json:"external_ip"`
		Network     string            `json:"network"`
		// CreationTimestamp is RFC 3339; full-format ID tokens carry it.
		CreationTimestamp string `json:"creation_timestamp"`
	} `json:"instance"`
}

// instanceOptions copies the config file's description of the VM into
// opts.
func (cfg *metadataConfig) instanceOptions(opts *metadataserver.Options) error {
	in := &cfg.Instance
	opts.MachineType, opts.Image, opts.CPUPlatform, opts.Description = in.MachineType, in.Image, in.CPUPlatform, in.Description
	opts.Tags, opts.Licenses = in.Tags, in.Licenses
	opts.InternalIP, opts.ExternalIP, opts.Network = in.InternalIP, in.ExternalIP, in.Network
	if in.CreationTimestamp != "" {
		t, err := time.Parse(time.RFC3339, in.CreationTimestamp)
		if err != nil {
			return usagef("--config: instance.creation_timestamp %q: want RFC 3339, e.g. 2024-05-06T07:08:09Z", in.CreationTimestamp)
		}
		opts.CreationTime = t
	}
	return nil
}

func newMetadataServerCmd(app *App) *cobra.Command {
	o := &metadataServerOptions{}
	cmd := &cobra.Command{
		Use:     "metadata-server",
		Short:   "Serve a GCE metadata server that hands out tokens from any credential",
		Long:    metadataServerLong,
		Example: metadataServerExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkKubernetesFlags(cmd, &o.kube); err != nil {
				return err
			}
			return metadataServerRun(cmd.Context(), app, o)
		},
	}
	o.bind(cmd.Flags())
	return cmd
}

// bind defines metadata-server's flags on f.
func (o *metadataServerOptions) bind(f *pflag.FlagSet) {
	o.creds.bind(f)
	f.StringVar(&o.listen, "listen", "127.0.0.1:8087", "listen `ADDR` (host:port; loopback by default)")
	f.StringVar(&o.configFile, "config", "", "JSON config `FILE` (see above); flags override it")
	f.StringVar(&o.email, "service-account-email", "", "`EMAIL` of the default service account (default: the credential's account)")
	f.StringVar(&o.project, "project", "", "project `ID` (default: the credential's project, or $GOOGLE_CLOUD_PROJECT)")
	f.StringVar(&o.numericProject, "numeric-project-id", "", "project `NUMBER` (default: derived from the project id)")
	f.StringSliceVar(&o.scopes, "scopes", nil, "`SCOPES` of the default account, used when a client asks for none (default cloud-platform)")
	f.StringVar(&o.instanceName, "instance-name", "", "instance `NAME`")
	f.StringVar(&o.zone, "zone", "", "instance `ZONE`, e.g. us-central1-a")
	f.StringToStringVar(&o.instanceAttributes, "instance-attribute", nil, "instance attribute `KEY=VALUE` (repeatable)")
	f.StringToStringVar(&o.projectAttributes, "project-attribute", nil, "project attribute `KEY=VALUE` (repeatable)")
	f.StringVar(&o.logFormat, "log-format", "text", "access log `FORMAT`: text or json (on stderr; never contains tokens)")
	f.StringArrayVar(&o.allowHosts, "allow-host", nil, "also answer requests addressed to `NAME` (or NAME:PORT), e.g. a DNS name clients use; others get 421 (repeatable)")
	f.BoolVar(&o.allowClientAud, "allow-client-audience", false, "with user credentials, answer identity requests for any audience with the user's ID token, whose audience is the OAuth client")
	o.kube.bind(f)
}

// metadataServerLong is metadata-server's help text.
const metadataServerLong = `Serve the Compute Engine metadata server's /computeMetadata/v1/ tree, backed by
the selected credentials, so unmodified programs that use Google's client
libraries (Go, Python, Node, Java, gcloud) get tokens locally exactly as they
do on Compute Engine, GKE or Cloud Run. Point them at it with:

  export GCE_METADATA_HOST=127.0.0.1:8087   # Go, Python, Node
  export GCE_METADATA_IP=127.0.0.1:8087     # Python's and Node's detection
  export GCE_METADATA_ROOT=127.0.0.1:8087   # gcloud

Tokens are cached per scope set and per audience, refreshed in the background
before they expire, and concurrent requests share one upstream fetch. Also
serves /healthz and Prometheus /metrics. Listens on loopback by default:
anyone who can reach the port gets tokens for the credential.

Web pages are kept out: a request whose Host is not an IP address,
localhost, metadata.google.internal, metadata, the --listen host or an
--allow-host name gets 421 (a page that rebinds its DNS name to this
address sends its own name), and one a browser marks as coming from another
site (Sec-Fetch-Site, Origin) gets 403.

User credentials (authorized_user) cannot choose an ID token's audience:
theirs is always the OAuth client. An identity request for another audience
gets 400 with the reason, rather than a token the service would refuse;
--allow-client-audience serves the client's token anyway.

Besides tokens it serves what every VM has (instance/id, name, hostname,
zone, machine-type, image, cpu-platform, tags, network-interfaces/0/...,
licenses/, scheduling/, project/...), with ?recursive=true and ?alt=json|text.
ID tokens are what the credential mints: over a service-account key that is
the token endpoint's claim set (with email, azp the email), whatever format=
asks for; only a VM (or gcptoken emulator's metadata server) adds
google.compute_engine or leaves email out of format=standard.

A config file (--config) holds the same settings as JSON, and the rest of
the VM's description:
  {"project_id": "p", "numeric_project_id": "123", "service_account_email": "…",
   "scopes": ["…"], "project_attributes": {"k": "v"},
   "instance": {"name": "vm", "zone": "us-central1-a", "attributes": {"k": "v"},
     "id": "123", "hostname": "…", "machine_type": "e2-medium", "image": "projects/…",
     "cpu_platform": "…", "description": "…", "tags": ["web"], "licenses": ["123"],
     "internal_ip": "10.128.0.2", "external_ip": "203.0.113.2", "network": "default",
     "creation_timestamp": "2024-05-06T07:08:09Z"}}

On a Kubernetes node (--kubernetes, as a DaemonSet) it serves each pod the
identity of the pod's ServiceAccount, told apart by the source address: a
Kubernetes token of that ServiceAccount (TokenRequest, audience
--workload-identity-provider) exchanged at Google's STS, impersonating the
Google service account of its iam.gke.io/gcp-service-account annotation if
it has one. No credential of its own is used (docs/kubernetes.md).`

// metadataServerExample is metadata-server's help examples.
const metadataServerExample = `  gcptoken metadata-server --credentials key.json
  gcptoken metadata-server --project my-project --instance-attribute env=dev
  gcptoken metadata-server --kubernetes --listen 0.0.0.0:8087 --project my-project \
    --workload-identity-provider //iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/clusters/providers/prod`

// allowedHostNames returns the names a server listening on listen answers
// besides IP addresses and localhost: the listen host when it is a name,
// and the --allow-host values, each checked.
func allowedHostNames(listen string, flags []string) ([]string, error) {
	names, err := hostcheck.ListenNames(listen, flags)
	if err != nil {
		return nil, usagef("--allow-host: %v", err)
	}
	return names, nil
}

func metadataServerRun(ctx context.Context, app *App, o *metadataServerOptions) error {
	host, _, err := net.SplitHostPort(o.listen)
	if err != nil {
		return usagef("--listen %q: want host:port, e.g. 127.0.0.1:8087", o.listen)
	}
	hosts, err := allowedHostNames(o.listen, o.allowHosts)
	if err != nil {
		return err
	}
	logger, err := newLogger(app.Err, o.logFormat)
	if err != nil {
		return err
	}
	cfg, err := readMetadataConfig(o.configFile)
	if err != nil {
		return err
	}
	creds := &credentials.Credentials{ProjectID: app.Getenv("GOOGLE_CLOUD_PROJECT")}
	if !o.kube.enabled { // with it, each pod's identity is its own
		if creds, err = o.creds.load(ctx, app); err != nil {
			return err
		}
	}
	opts := &metadataserver.Options{
		Source:                metadataserver.FromCredentials(creds),
		ServiceAccountEmail:   firstNonEmpty(o.email, cfg.ServiceAccountEmail, creds.Principal),
		ProjectID:             firstNonEmpty(o.project, cfg.ProjectID, creds.ProjectID),
		NumericProjectID:      firstNonEmpty(o.numericProject, cfg.NumericProjectID),
		Scopes:                parseScopes(o.scopes),
		InstanceID:            cfg.Instance.ID,
		InstanceName:          firstNonEmpty(o.instanceName, cfg.Instance.Name),
		Zone:                  firstNonEmpty(o.zone, cfg.Instance.Zone),
		Hostname:              cfg.Instance.Hostname,
		InstanceAttributes:    mergeAttributes(cfg.Instance.Attributes, o.instanceAttributes),
		ProjectAttributes:     mergeAttributes(cfg.ProjectAttributes, o.projectAttributes),
		UniverseDomain:        firstNonEmpty(cfg.UniverseDomain, creds.UniverseDomain),
		AllowedHosts:          hosts,
		AllowAudienceMismatch: o.allowClientAud,
		Logger:                logger,
		Now:                   app.Now,
	}
	if len(opts.Scopes) == 0 {
		opts.Scopes = parseScopes(cfg.Scopes)
	}
	if err := cfg.instanceOptions(opts); err != nil {
		return err
	}
	if o.kube.enabled {
		return metadataServerKubernetesRun(ctx, app, o, opts)
	}
	if opts.ServiceAccountEmail == "" {
		return usagef("metadata-server: the %s credentials name no account: pass --service-account-email", creds.Type)
	}
	if opts.ProjectID == "" {
		return usagef("metadata-server: no project id: pass --project or set GOOGLE_CLOUD_PROJECT")
	}
	srv, err := metadataserver.New(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return listenError("metadata-server: --listen", o.listen, err)
	}
	printMetadataBanner(app, o, opts, creds.Type, host, ln.Addr().String())
	if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("metadata-server: %w", err)
	}
	fmt.Fprintln(app.Out, "Stopped.")
	return nil
}

// printMetadataBanner says where the server listens, how to point clients
// at it, and what it will not do.
func printMetadataBanner(app *App, o *metadataServerOptions, opts *metadataserver.Options, credType, host, addr string) {
	if !isLoopback(host) {
		fmt.Fprintf(app.Err, "gcptoken: WARNING: serving tokens for %s on the non-loopback address %s: anyone who can reach it gets them\n",
			opts.ServiceAccountEmail, addr)
	}
	switch {
	case o.allowClientAud:
		fmt.Fprintln(app.Err, "gcptoken: WARNING: --allow-client-audience: identity requests for any audience get the credential's ID token even when it carries another audience (user credentials: always the OAuth client); services that check the audience refuse it")
	case credType == credentials.TypeAuthorizedUser:
		fmt.Fprintf(app.Out, "ID tokens: %s credentials cannot choose their audience (always the OAuth client): identity requests for another audience get 400 (--allow-client-audience serves them anyway)\n",
			credType)
	}
	fmt.Fprintf(app.Out, "Metadata server for %s (project %s, %s credentials) listening on http://%s\n",
		opts.ServiceAccountEmail, opts.ProjectID, credType, addr)
	fmt.Fprintf(app.Out, "Point clients at it with:\n  export GCE_METADATA_HOST=%s GCE_METADATA_IP=%s GCE_METADATA_ROOT=%s\n", addr, addr, addr)
	fmt.Fprintf(app.Out, "Health: http://%s/healthz  Metrics: http://%s/metrics\n", addr, addr)
}

func readMetadataConfig(path string) (*metadataConfig, error) {
	cfg := &metadataConfig{}
	if path == "" {
		return cfg, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--config: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, usagef("--config %s: %v", path, err)
	}
	if len(data) > maxConfigFile {
		return nil, usagef("--config %s: larger than %d KiB", path, maxConfigFile>>10)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		return nil, usagef("--config %s: %v", path, err)
	}
	return cfg, nil
}

func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, usagef("--log-format %q: want text or json", format)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// mergeAttributes returns base overlaid with override (flags win).
func mergeAttributes(base, override map[string]string) map[string]string {
	if len(base) == 0 && len(override) == 0 {
		return nil
	}
	out := make(map[string]string, len(base)+len(override))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range override {
		out[k] = v
	}
	return out
}
