package emulator

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/gcptoken/gcptoken/fakegoogle/googlehosts"
	"github.com/gcptoken/gcptoken/internal/endpoints"
)

// startHTTPS sets up the HTTPS proxy, for programs that cannot be pointed
// at the fake by configuration: it loads or creates the CA (in caDir,
// default the state directory), makes the proxy, and rewrites the
// credential files in the state directory (every JSON file with a "type",
// so files added later are covered too) to name Google's real URLs, which
// the proxy catches.
func (e *Emulator) startHTTPS(caDir string) error {
	if caDir == "" {
		caDir = e.info.StateDir
	} else {
		abs, err := filepath.Abs(caDir)
		if err != nil {
			return optionError("CADir", 0, caDir, err)
		}
		caDir = abs
	}
	universe := e.info.UniverseDomain
	ca, err := googlehosts.LoadOrCreateCA(caDir, nil, googlehosts.HostsIn(universe)...)
	if err != nil {
		return fmt.Errorf("emulator: CA directory %s: %w", caDir, err)
	}
	e.info.CAFile = filepath.Join(caDir, googlehosts.CACertFile)
	// gcloud sends even loopback requests through its proxy property: an
	// AWS external_account's instance-metadata requests to the fake among
	// them.
	opts := &googlehosts.Options{Fake: e.fake, CA: ca, Logger: e.log, UniverseDomain: universe,
		FakeAliases: []string{strings.TrimPrefix(e.info.URL, "http://")}}
	if e.mds != nil {
		opts.Metadata = e.mds
		// gcloud sends GCE_METADATA_HOST's loopback address through its
		// proxy property too.
		opts.MetadataAliases = []string{e.info.MetadataAddr}
	}
	if e.proxy, err = googlehosts.New(opts); err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	return rewriteToGoogleURLs(e.info.StateDir, e.info.URL, universe)
}

// rewriteToGoogleURLs rewrites the credential files in dir, which name
// the fake at base, to name Google's URLs in universe.
func rewriteToGoogleURLs(dir, base, universe string) error {
	credFiles, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	for _, path := range credFiles {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("emulator: %w", err)
		}
		var typed struct{ Type string }
		if json.Unmarshal(data, &typed) != nil || typed.Type == "" {
			continue // state.json and anything else that is not a credential file
		}
		data, err = googlehosts.GoogleURLsIn(data, base, universe)
		if err != nil {
			return fmt.Errorf("emulator: %s: %w", path, err)
		}
		if err := writeFile(path, data); err != nil {
			return err
		}
	}
	return nil
}

// httpsEnv are env.sh's proxy and CA variables.
func (e *Emulator) httpsEnv() string {
	addr := e.info.HTTPSProxyAddr
	host, port, _ := net.SplitHostPort(addr)
	proxyURL := shellQuote("http://" + addr)
	ca := shellQuote(e.info.CAFile)
	env := lines(
		"# --https-proxy: programs reach the fake under Google's own host names",
		"# ("+strings.Join(googlehosts.HostsIn(e.info.UniverseDomain)[:2], ", ")+", ...) through this proxy, trusting",
		"# its local CA. It refuses every other host; loopback goes direct, but for",
		"# gcloud, whose proxy setting covers loopback too: the proxy answers the",
		"# fake's own address (AWS instance metadata) and the metadata server's.",
		"export HTTPS_PROXY="+proxyURL+" https_proxy="+proxyURL,
		"export NO_PROXY='127.0.0.1,localhost,::1' no_proxy='127.0.0.1,localhost,::1'",
		"export SSL_CERT_FILE="+ca+"             # Go, OpenSSL",
		"export REQUESTS_CA_BUNDLE="+ca+"        # Python requests",
		"export NODE_EXTRA_CA_CERTS="+ca+"       # Node",
		"export CURL_CA_BUNDLE="+ca+"            # curl",
		"export CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE="+ca+" # gcloud",
		"export CLOUDSDK_PROXY_TYPE=http CLOUDSDK_PROXY_ADDRESS="+shellQuote(host)+" CLOUDSDK_PROXY_PORT="+shellQuote(port),
		"# gcloud asks Google's token host itself, through the proxy.",
		"unset "+endpoints.EnvGcloudTokenHost,
	)
	if e.mds != nil {
		env += lines(
			"# Plain-HTTP metadata requests (metadata.google.internal) go through it too.",
			"export HTTP_PROXY="+proxyURL+" http_proxy="+proxyURL)
	}
	return env
}
