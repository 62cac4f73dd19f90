package fakegoogle

import (
	"fmt"
	"maps"
	"slices"
)

// roles/iam.workloadIdentityUser: what Google's documentation has a
// federated identity (a Kubernetes service account, say) granted on the
// service account it impersonates. Unlike Token Creator it carries only
// getAccessToken and getOpenIdToken among the permissions the IAM
// Credentials API checks: no signBlob, signJwt or implicitDelegation.
var workloadIdentityUserPermissions = []string{
	"iam.serviceAccounts.getAccessToken",
	"iam.serviceAccounts.getOpenIdToken",
}

// GrantWorkloadIdentityUser grants roles/iam.workloadIdentityUser on
// serviceAccount to a federated member: one identity,
// principal://iam.googleapis.com/{pool}/subject/{subject} (for a Kubernetes
// service account, the subject is system:serviceaccount:NAMESPACE:NAME), or
// a whole pool, principalSet://iam.googleapis.com/{pool}/*. Tokens that STS
// issued for the principal may then get access and ID tokens of the
// account, but not sign blobs or JWTs as it.
func (s *Server) GrantWorkloadIdentityUser(member, serviceAccount string) error {
	fail := func(err error) error {
		return fmt.Errorf("fakegoogle: grant Workload Identity User on %q to %q: %w", serviceAccount, member, err)
	}
	if err := checkFederatedMember(member); err != nil {
		return fail(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sa := s.findSALocked(serviceAccount)
	if sa == nil {
		return fail(fmt.Errorf("no service account %q", serviceAccount))
	}
	if sa.workloadIdentityUsers == nil {
		sa.workloadIdentityUsers = map[string]bool{}
	}
	sa.workloadIdentityUsers[member] = true
	return nil
}

// permittedLocked reports whether principal holds permission on sa: through
// Token Creator, or through Workload Identity User for the permissions that
// role carries. s.mu must be held.
func permittedLocked(sa *serviceAccount, principal, permission string) bool {
	if tokenCreatorLocked(sa, principal) {
		return true
	}
	return slices.Contains(workloadIdentityUserPermissions, permission) && grantedTo(sa.workloadIdentityUsers, principal)
}

// workloadIdentityUsersOf returns the sorted members holding Workload
// Identity User on sa.
func workloadIdentityUsersOf(sa *serviceAccount) []string {
	return slices.Sorted(maps.Keys(sa.workloadIdentityUsers))
}

// loadWorkloadIdentityUsers restores the members of a saved state.
func loadWorkloadIdentityUsers(sa *serviceAccount, members []string) error {
	for _, m := range members {
		if err := checkFederatedMember(m); err != nil {
			return err
		}
		if sa.workloadIdentityUsers == nil {
			sa.workloadIdentityUsers = map[string]bool{}
		}
		sa.workloadIdentityUsers[m] = true
	}
	return nil
}
