package credentials

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gcptoken/gcptoken"
)

// This file holds the wire call of impersonation: the IAM Credentials API
// (JSON over POST, Google API error bodies). It is written by hand because
// cloud.google.com/go/auth keeps its IAM client in
// auth/credentials/impersonate, which pulls in ~200 packages, hard-codes
// iamcredentials.googleapis.com, and sends generateIdToken without an
// Authorization header (google-cloud-go #19939).

const (
	opSignJWT        = "sign JWT"
	opExchangeJWT    = "exchange signed JWT for access token"
	iamAccessTokenOp = ":generateAccessToken"
	iamIDTokenOp     = ":generateIdToken"
	iamSignJWTOp     = ":signJwt"
)

// iamPost makes one IAM Credentials API call: in as JSON, authorized with
// the caller's token. It returns the answer's body, for tokenReply.
func iamPost(ctx context.Context, client *http.Client, op, endpoint string, bearer *gcptoken.Token, in any) ([]byte, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	h := http.Header{"Authorization": {bearer.TokenType() + " " + bearer.Value}}
	return post(ctx, client, op, endpoint, "application/json", body, h)
}
