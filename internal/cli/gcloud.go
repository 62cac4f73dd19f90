package cli

import (
	"github.com/gcptoken/gcptoken/credentials"
	"github.com/gcptoken/gcptoken/credentials/gcloudstore"
)

// gcloudOptions lets the credential search read gcloud's signed-in
// accounts: the active one after the well-known file, or --account alone.
// gcloud's impersonation property is left to impersonateIfAsked when the
// flag or CLOUDSDK_AUTH_IMPERSONATE_SERVICE_ACCOUNT names a chain (which
// it applies to every credential), so that no chain is applied twice; the
// property in gcloud's configuration file applies to gcloud's accounts.
func (f *credFlags) gcloudOptions(app *App, opts *credentials.Options) {
	opts.GcloudStore = gcloudstore.Store{}
	opts.GcloudAccount = f.account
	opts.GcloudNoImpersonation = f.impersonate != "" || app.Getenv(envImpersonate) != ""
}
