package fakegoogle

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Compute Engine's metadata server mints ID tokens for the VM's service
// account itself (…/identity?audience=…&format=…&licenses=…); no public
// Google endpoint does it for anyone else, so the fake offers it as a
// method, for a metadata server that emulates a VM of the fake (`gcptoken
// emulator --metadata-listen`). The claim sets are protocol.md §3.2 (C),
// checked against tokens decoded on real VMs [obs]:
//
//	standard: aud, azp (the account's unique id), exp, iat, iss, sub
//	full:     the same, plus email, email_verified and
//	          google.compute_engine{instance_creation_timestamp, instance_id,
//	          instance_name, [license_id], project_id, project_number, zone}

// Formats of ComputeIDTokenRequest, as the identity endpoint spells them.
const (
	ComputeFormatStandard = "standard"
	ComputeFormatFull     = "full"
)

// ComputeInstance is the VM a Compute Engine ID token names in its
// google.compute_engine claim (format "full").
type ComputeInstance struct {
	// ProjectID is the VM's project id. Required for format "full".
	ProjectID string
	// ProjectNumber is the project number, decimal. Required for format
	// "full".
	ProjectNumber string
	// Zone is the zone's short name, e.g. "us-central1-a". Required for
	// format "full".
	Zone string
	// InstanceID is the VM's numeric id, decimal. Required for format
	// "full".
	InstanceID string
	// InstanceName is the VM's name. Required for format "full".
	InstanceName string
	// CreationTime is when the VM was created. Required for format "full".
	CreationTime time.Time
	// LicenseIDs are the license ids of its boot image, claimed with
	// ComputeIDTokenRequest.Licenses. Optional.
	LicenseIDs []string
}

// ComputeIDTokenRequest asks for the ID token a VM's metadata server
// returns for its service account.
type ComputeIDTokenRequest struct {
	// ServiceAccount is the email of a registered, enabled service
	// account. Required.
	ServiceAccount string
	// Audience is the token's aud. Required.
	Audience string
	// Format is ComputeFormatStandard or ComputeFormatFull. Optional;
	// default standard, as on Compute Engine.
	Format string
	// Licenses adds license_id to the google.compute_engine claim. It
	// only counts with format "full", as on Compute Engine.
	Licenses bool
	// Instance is the VM. Required with format "full".
	Instance ComputeInstance
}

// computeIDTokenClaims are the claims of a metadata-server ID token, in
// the (alphabetical) order Google's carry them.
type computeIDTokenClaims struct {
	Aud           string         `json:"aud"`
	Azp           string         `json:"azp"`
	Email         string         `json:"email,omitempty"`
	EmailVerified bool           `json:"email_verified,omitempty"`
	Exp           int64          `json:"exp"`
	Google        *computeGoogle `json:"google,omitempty"`
	Iat           int64          `json:"iat"`
	Iss           string         `json:"iss"`
	Sub           string         `json:"sub"`
}

type computeGoogle struct {
	ComputeEngine computeEngineClaim `json:"compute_engine"`
}

// computeEngineClaim has Google's JSON types: instance_id is a string,
// project_number and instance_creation_timestamp are numbers.
type computeEngineClaim struct {
	InstanceCreationTimestamp int64       `json:"instance_creation_timestamp"`
	InstanceID                string      `json:"instance_id"`
	InstanceName              string      `json:"instance_name"`
	LicenseID                 *[]string   `json:"license_id,omitempty"`
	ProjectID                 string      `json:"project_id"`
	ProjectNumber             json.Number `json:"project_number"`
	Zone                      string      `json:"zone"`
}

// MintComputeIDToken returns an ID token for req.ServiceAccount shaped as
// Compute Engine's metadata server mints it, signed with Google's (the
// fake's) keys like every Google ID token, and its expiry (an hour, or
// Options.TokenLifetime). The format "standard" carries no email: a
// service that reads the email claim must ask for "full" there too.
func (s *Server) MintComputeIDToken(req ComputeIDTokenRequest) (string, time.Time, error) {
	fail := func(format string, args ...any) (string, time.Time, error) {
		return "", time.Time{}, fmt.Errorf("fakegoogle: mint Compute Engine ID token: "+format, args...)
	}
	if req.Audience == "" {
		return fail("audience is required")
	}
	sa, ok := s.ServiceAccount(req.ServiceAccount)
	switch {
	case !ok:
		return fail("no service account %q", req.ServiceAccount)
	case sa.Disabled:
		return fail("service account %s is disabled", sa.Email)
	}
	now := s.now()
	expiry := now.Add(s.lifetime).Truncate(time.Second)
	c := computeIDTokenClaims{
		Aud: req.Audience, Azp: sa.UniqueID, Exp: expiry.Unix(), Iat: now.Unix(), Iss: googleIssuer, Sub: sa.UniqueID,
	}
	switch req.Format {
	case "", ComputeFormatStandard:
	case ComputeFormatFull:
		claim, err := req.Instance.claim(req.Licenses)
		if err != nil {
			return fail("%v", err)
		}
		c.Email, c.EmailVerified = sa.Email, true
		c.Google = &computeGoogle{ComputeEngine: claim}
	default:
		return fail("format %q: want %q or %q", req.Format, ComputeFormatStandard, ComputeFormatFull)
	}
	tok, err := signJWT(s.signingKey(), c)
	if err != nil {
		return fail("%v", err)
	}
	s.log.Debug("fakegoogle: issued Compute Engine ID token", "service_account", sa.Email, "audience", req.Audience,
		"format", req.Format, "licenses", req.Licenses)
	return tok, expiry, nil
}

// claim is the google.compute_engine claim for the instance.
func (in *ComputeInstance) claim(licenses bool) (computeEngineClaim, error) {
	if in.ProjectID == "" || in.Zone == "" || in.InstanceName == "" || in.CreationTime.IsZero() {
		return computeEngineClaim{}, errors.New(`format "full" needs the instance's project id, zone, name and creation time`)
	}
	if !isDigits(in.ProjectNumber) || !isDigits(in.InstanceID) {
		return computeEngineClaim{}, fmt.Errorf("project number %q and instance id %q must be decimal numbers", in.ProjectNumber, in.InstanceID)
	}
	c := computeEngineClaim{
		InstanceCreationTimestamp: in.CreationTime.Unix(), InstanceID: in.InstanceID, InstanceName: in.InstanceName,
		ProjectID: in.ProjectID, ProjectNumber: json.Number(in.ProjectNumber), Zone: in.Zone,
	}
	if licenses {
		ids := append([]string{}, in.LicenseIDs...) // [] rather than absent when there are none [?]
		c.LicenseID = &ids
	}
	return c, nil
}
