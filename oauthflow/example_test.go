package oauthflow_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/gcptoken/gcptoken/oauthflow"
)

// A command-line tool signs its user in: the browser opens, the user
// allows access, and the tool gets a refresh token.
func ExampleRunInstalled() {
	data, err := os.ReadFile("client_secret.json") // a "Desktop app" OAuth client
	if err != nil {
		log.Fatal(err)
	}
	client, err := oauthflow.ParseClientJSON(data)
	if err != nil {
		log.Fatalf("client_secret.json: %v", err)
	}
	tok, err := oauthflow.RunInstalled(context.Background(), &oauthflow.InstalledOptions{
		Config: client.Config("openid", "email", "https://www.googleapis.com/auth/cloud-platform"),
		Params: oauthflow.AuthParams{Offline: true, Prompt: "consent"},
		Out:    os.Stderr, // where the URL is printed
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("signed in as", tok.Email)
}

// A web application signs users in: /login redirects to Google's consent
// page, /oauth/callback finishes. The pending sign-in belongs in the
// user's server-side session; a map keyed by a cookie stands in for it.
func ExampleWebFlow() {
	flow := &oauthflow.WebFlow{
		Config: &oauthflow.Config{
			ClientID:     "1234.apps.googleusercontent.com",
			ClientSecret: os.Getenv("OAUTH_CLIENT_SECRET"),
			Scopes:       []string{"openid", "email"},
		},
		RedirectURI: "https://app.example.com/oauth/callback",
		Params:      oauthflow.AuthParams{Offline: true, IncludeGrantedScopes: true},
	}
	sessions := map[string]*oauthflow.Pending{} // use a real session store

	http.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		p, err := flow.Start(r.URL.Query().Get("hint"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		sid := p.State // e.g. a session cookie's value
		sessions[sid] = p
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: sid, HttpOnly: true, Secure: true})
		http.Redirect(w, r, p.URL, http.StatusFound)
	})
	http.HandleFunc("/oauth/callback", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("sid")
		if err != nil {
			http.Error(w, "no sign-in in progress", http.StatusBadRequest)
			return
		}
		p := sessions[c.Value]
		delete(sessions, c.Value)
		tok, err := flow.Finish(r.Context(), p, r.URL.Query())
		if err != nil {
			http.Error(w, "sign-in failed: "+err.Error(), http.StatusForbidden)
			return
		}
		fmt.Fprintf(w, "Hello, %s", tok.Email)
	})
}
