package fakegoogle

import "net/http"

// handleRevoke serves /revoke. Clients send the token in the query (Node,
// gtoken) or the form, by POST or GET.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if !s.allowMethods(w, r, http.MethodPost, http.MethodGet) || !s.parseForm(w, r) {
		return
	}
	tok := r.Form.Get("token")
	if tok == "" {
		s.writeOAuthError(w, r, http.StatusBadRequest, "invalid_request", "Missing required parameter: token")
		return
	}
	if !s.revoke(tok) {
		s.writeOAuthError(w, r, http.StatusBadRequest, "invalid_token", "Token expired or revoked")
		return
	}
	s.log.Debug("fakegoogle: revoked a token")
	w.Header().Set("Cache-Control", noStore)
	writeJSON(w, http.StatusOK, contentTypeOAuth, struct{}{})
}
