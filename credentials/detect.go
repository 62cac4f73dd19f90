package credentials

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gcptoken/gcptoken"
	"github.com/gcptoken/gcptoken/internal/gcloudconfig"
)

// Sources of the ADC search, in Google's order, as named in Step.Source.
const (
	SourceExplicit       = "explicit credentials"
	SourceEnv            = envCredentials
	SourceWellKnown      = "gcloud well-known file"
	SourceGcloudAccounts = "gcloud accounts"
	SourceMetadataServer = "metadata server"
)

const wellKnownName = "application_default_credentials.json"

// ErrNoCredentials means the ADC search found no credential anywhere. Errors
// that match it also match gcptoken.ErrInvalidCredentials. Test with
// errors.Is; errors.As with *NoCredentialsError gives the steps tried.
var ErrNoCredentials = errors.New("no Google credentials found")

// NoCredentialsError is Detect's error when no source had credentials.
type NoCredentialsError struct {
	// Steps lists every source tried and why it was not used.
	Steps []Step
}

func (e *NoCredentialsError) Error() string {
	var b strings.Builder
	b.WriteString(ErrNoCredentials.Error())
	b.WriteString(" (")
	for i, s := range e.Steps {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", s.Source, s.Detail)
	}
	b.WriteString("): set GOOGLE_APPLICATION_CREDENTIALS to a credentials file, " +
		"run `gcloud auth application-default login` (or `gcloud auth login`, read with a GcloudStore), " +
		"or name a credentials file explicitly")
	return b.String()
}

// Is makes errors.Is match both ErrNoCredentials and
// gcptoken.ErrInvalidCredentials: the CLI can give "nothing found" its own
// message while still treating it as a credentials problem.
func (e *NoCredentialsError) Is(target error) bool {
	return target == ErrNoCredentials || target == gcptoken.ErrInvalidCredentials
}

// Detect finds Application Default Credentials in Google's order:
//
//  1. Options.CredentialsFile or Options.CredentialsJSON, if set;
//  2. the file named by GOOGLE_APPLICATION_CREDENTIALS, if set: a file
//     that cannot be read or parsed is an error, not skipped, as in
//     Google's libraries;
//  3. gcloud's well-known file, $CLOUDSDK_CONFIG/application_default_credentials.json,
//     else ~/.config/gcloud/application_default_credentials.json
//     (%APPDATA%\gcloud\… on Windows): skipped if absent, an error if broken;
//  4. gcloud's signed-in accounts, with Options.GcloudStore: the active
//     account of gcloud's active configuration (CLOUDSDK_CORE_ACCOUNT,
//     else core/account), its credentials in gcloud's credentials.db,
//     and gcloud's token endpoint, project, impersonation and quota
//     project properties (see gcloud.go). Skipped when no account is set
//     or the store has none for it (on Compute Engine gcloud's account
//     is often the metadata server's); an error if its credential is
//     broken. With Options.GcloudAccount this is the only step;
//  5. the metadata server. When Options.MetadataHost, GCE_METADATA_HOST
//     or GCPTOKEN_EMULATOR_HOST is set it is used without a probe, as
//     Google's Go library does.
//     Otherwise, unless NO_GCE_CHECK=true, one GET of
//     http://$GCE_METADATA_IP/ (default http://169.254.169.254/), bounded by
//     Options.MetadataProbeTimeout, must answer with the header
//     Metadata-Flavor: Google. The server chosen is then asked,
//     concurrently and for at most 2 s, for its service account's email
//     (Principal), its project (ProjectID, unless GOOGLE_CLOUD_PROJECT is
//     set) and its universe domain; what it cannot say is noted in the
//     Step's detail, never an error.
//
// ctx bounds the reading of credential files (which may be FIFOs or
// pipes) and the metadata probe and questions. When nothing is found the
// error is a *NoCredentialsError, matching ErrNoCredentials; it lists what
// was tried and how to fix it.
func Detect(ctx context.Context, opts *Options) (*Credentials, error) {
	s, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	d := &detection{}

	// 1. Explicit file or JSON.
	switch {
	case s.CredentialsJSON != nil:
		c, err := parse(s.CredentialsJSON, origin{source: "credentials JSON (given explicitly)"}, s)
		return d.use(c, err, "credentials JSON")
	case s.CredentialsFile != "":
		o := origin{path: s.CredentialsFile, source: fmt.Sprintf("file %q (given explicitly)", s.CredentialsFile)}
		c, err := fromFile(ctx, s.CredentialsFile, o, s)
		return d.use(c, err, s.CredentialsFile)
	}
	if s.GcloudAccount != "" {
		for range 3 {
			d.skip(fmt.Sprintf("not searched: gcloud account %q was named explicitly", s.GcloudAccount))
		}
		return d.gcloud(ctx, s)
	}
	d.skip("not given")

	// 2. GOOGLE_APPLICATION_CREDENTIALS.
	if p := s.Getenv(envCredentials); p != "" {
		o := origin{path: p, via: envCredentials, source: fmt.Sprintf("%s=%q", envCredentials, p)}
		c, err := fromFile(ctx, p, o, s)
		return d.use(c, err, p)
	}
	d.skip("not set")

	// 3. gcloud's well-known file.
	if p, why := wellKnownFile(s); p == "" {
		d.skip(why)
	} else if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		d.skip(p + " does not exist")
	} else {
		o := origin{path: p, source: fmt.Sprintf("gcloud well-known file %q", p)}
		c, err := fromFile(ctx, p, o, s)
		return d.use(c, err, p)
	}

	// 4. gcloud's signed-in accounts.
	if c, err := d.gcloud(ctx, s); c != nil || err != nil {
		return c, err
	}

	// 5. Metadata server.
	if s.metadataSource != "" {
		return d.useMetadata(ctx, s, s.metadataHost,
			fmt.Sprintf("http://%s (%s is set; not probed)", s.metadataHost, s.metadataSource))
	}
	base := "http://" + s.probeHost
	if s.noProbe {
		d.skip(fmt.Sprintf("%s not set; not probed: %s=true", envMetadataHost, envNoGCECheck))
		return nil, &NoCredentialsError{Steps: d.steps}
	}
	probed := fmt.Sprintf("%s not set; probed %s", envMetadataHost, base)
	if s.probeSource != "" {
		probed += fmt.Sprintf(" (%s)", s.probeSource)
	}
	if err := probeMetadata(ctx, s.metadataClient, base, s.MetadataProbeTimeout); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("credentials: looking for a metadata server: %w", context.Cause(ctx))
		}
		d.skip(fmt.Sprintf("%s: %v", probed, err))
		return nil, &NoCredentialsError{Steps: d.steps}
	}
	return d.useMetadata(ctx, s, s.probeHost, probed+": found (answered with Metadata-Flavor: Google)")
}

// useMetadata ends the search at the metadata server at host, after asking it
// who and where it is. Only the caller giving up fails it.
func (d *detection) useMetadata(ctx context.Context, s *settings, host, detail string) (*Credentials, error) {
	c, m := newMetadata(s, host)
	notes := m.learn(ctx, c, s.metadataFactsTimeout)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("credentials: asking the metadata server at %s about itself: %w", m.md.base, context.Cause(ctx))
	}
	return d.use(c, nil, detail+"; "+strings.Join(notes, "; "))
}

// detection records the steps of one ADC search.
type detection struct {
	steps []Step
}

var sources = [...]string{SourceExplicit, SourceEnv, SourceWellKnown, SourceGcloudAccounts, SourceMetadataServer}

// skip records that the current source had nothing.
func (d *detection) skip(detail string) {
	d.steps = append(d.steps, Step{Source: sources[len(d.steps)], Detail: detail})
}

// use ends the search at the current source: with c if err is nil, else
// with err (a broken credential is reported, not skipped).
func (d *detection) use(c *Credentials, err error, detail string) (*Credentials, error) {
	if err != nil {
		return nil, err
	}
	if c.Type != TypeComputeMetadata {
		detail = fmt.Sprintf("%s (%s)", detail, c.Type)
	}
	d.steps = append(d.steps, Step{Source: sources[len(d.steps)], Used: true, Detail: detail})
	for len(d.steps) < len(sources) {
		d.steps = append(d.steps, Step{Source: sources[len(d.steps)], Detail: "not tried: an earlier source was used"})
	}
	c.Steps = d.steps
	return c, nil
}

// WellKnownFile returns the path of gcloud's application default
// credentials file: where Detect looks (step 3) and where `gcloud auth
// application-default login` (and `gcptoken login`) write.
// $CLOUDSDK_CONFIG/application_default_credentials.json, else
// ~/.config/gcloud/application_default_credentials.json
// (%APPDATA%\gcloud\… on Windows). Only opts.Getenv and opts.HomeDir are
// used; opts may be nil.
func WellKnownFile(opts *Options) (string, error) {
	s, err := opts.resolve()
	if err != nil {
		return "", err
	}
	p, why := wellKnownFile(s)
	if p == "" {
		return "", fmt.Errorf("credentials: cannot locate gcloud's credentials file: %s", why)
	}
	return p, nil
}

// wellKnownFile returns the path of gcloud's ADC file, or "" and why not.
func wellKnownFile(s *settings) (path, why string) {
	dir, why := gcloudconfig.Dir(s.Getenv, s.HomeDir)
	if dir == "" {
		return "", why
	}
	return filepath.Join(dir, wellKnownName), ""
}
