package credentials

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gcptoken/gcptoken/internal/credsfile"
)

// Executable-sourced subject tokens (protocol.md §8.3): a command the user
// trusts prints the token as JSON. Running a command named in a file is
// dangerous, so it must be allowed explicitly, as in Google's libraries.

const (
	envAllowExecutables     = "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES"
	defaultExecutableTimout = 30 * time.Second
	minExecutableTimeout    = 5 * time.Second
	maxExecutableTimeout    = 120 * time.Second
	// maxExecutableOutput caps what is read of the command's stdout.
	maxExecutableOutput = 1 << 20
)

// executableSource runs credential_source.executable.command.
type executableSource struct {
	command    string
	timeout    time.Duration
	outputFile string
	env        []string // GOOGLE_EXTERNAL_ACCOUNT_* for the command
	getenv     func(string) string
	now        func() time.Time
}

func newExecutableSource(e *credsfile.ExecutableSource, ea *credsfile.ExternalAccount, target string, s *settings) (*executableSource, error) {
	if strings.TrimSpace(e.Command) == "" {
		return nil, missing("executable.command", "executable sources")
	}
	timeout := defaultExecutableTimout
	if e.TimeoutMillis != 0 {
		timeout = time.Duration(e.TimeoutMillis) * time.Millisecond
		if timeout < minExecutableTimeout || timeout > maxExecutableTimeout {
			return nil, &credsfile.FieldError{Field: "executable.timeout_millis",
				Err: fmt.Errorf("%d is outside [%d, %d]", e.TimeoutMillis, minExecutableTimeout.Milliseconds(), maxExecutableTimeout.Milliseconds())}
		}
	}
	env := []string{
		"GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE=" + ea.Audience,
		"GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE=" + ea.SubjectTokenType,
		"GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE=0",
	}
	if target != "" {
		env = append(env, "GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL="+target)
	}
	if e.OutputFile != "" {
		env = append(env, "GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE="+e.OutputFile)
	}
	return &executableSource{
		command: e.Command, timeout: timeout, outputFile: e.OutputFile,
		env: env, getenv: s.Getenv, now: time.Now,
	}, nil
}

func (x *executableSource) describe() string {
	return fmt.Sprintf("executable %q", trimForError(x.command))
}
func (x *executableSource) identity() string    { return "executable:" + x.command + "#" + x.outputFile }
func (x *executableSource) endpoints() []string { return nil }
func (x *executableSource) pin(ctx context.Context) (credentialSource, error) {
	return pinSubject(ctx, x)
}

// executableResponse is the documented output of the command.
type executableResponse struct {
	Version        int    `json:"version"`
	Success        *bool  `json:"success"`
	TokenType      string `json:"token_type"`
	IDToken        string `json:"id_token"`
	SAMLResponse   string `json:"saml_response"`
	ExpirationTime int64  `json:"expiration_time"`
	Code           string `json:"code"`
	Message        string `json:"message"`
}

func (x *executableSource) subjectToken(ctx context.Context) (string, error) {
	if x.getenv(envAllowExecutables) != "1" {
		return "", fmt.Errorf("running executables is not allowed: set %s=1 to let gcptoken run this command", envAllowExecutables)
	}
	if tok, ok := x.cached(ctx); ok {
		return tok, nil
	}
	args := strings.Fields(x.command)
	ctx, cancel := context.WithTimeout(ctx, x.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), x.env...)
	var out, errOut limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = time.Second // do not wait for grandchildren holding the pipes
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return "", fmt.Errorf("timed out after %v (executable.timeout_millis)", x.timeout)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		msg := fmt.Sprintf("exited with status %d", ee.ExitCode())
		if r, perr := parseExecutableResponse(out.Bytes()); perr == nil && r.Success != nil && !*r.Success {
			msg += fmt.Sprintf(": %s: %s", r.Code, oneLineTrim(r.Message))
		}
		return "", errors.New(msg)
	case err != nil:
		return "", fmt.Errorf("cannot run: %v", err)
	}
	r, err := parseExecutableResponse(out.Bytes())
	if err != nil {
		return "", fmt.Errorf("printed %v", err)
	}
	if x.outputFile != "" && r.ExpirationTime == 0 {
		return "", errors.New(`printed no expiration_time, which is required when executable.output_file is set`)
	}
	return x.token(r)
}

// token checks a parsed response and returns its subject token.
func (x *executableSource) token(r *executableResponse) (string, error) {
	if !*r.Success {
		return "", fmt.Errorf("reported failure %s: %s", r.Code, oneLineTrim(r.Message))
	}
	if r.ExpirationTime != 0 && !x.now().Before(time.Unix(r.ExpirationTime, 0)) {
		return "", errors.New("returned an expired token (expiration_time is in the past)")
	}
	switch r.TokenType {
	case "urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token":
		if r.IDToken == "" {
			return "", errors.New("printed no id_token")
		}
		return checkSubjectToken(r.IDToken)
	case "urn:ietf:params:oauth:token-type:saml2":
		if r.SAMLResponse == "" {
			return "", errors.New("printed no saml_response")
		}
		return checkSubjectToken(r.SAMLResponse)
	}
	return "", fmt.Errorf("printed an unsupported token_type %q", trimForError(r.TokenType))
}

// cached returns the token in output_file if it is valid and unexpired; the
// command writes that file, the library only reads it.
func (x *executableSource) cached(ctx context.Context) (string, bool) {
	if x.outputFile == "" {
		return "", false
	}
	data, err := readFile(ctx, x.outputFile)
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return "", false // absent or empty: run the command
	}
	r, err := parseExecutableResponse(data)
	if err != nil || !*r.Success || r.ExpirationTime == 0 {
		return "", false
	}
	tok, err := x.token(r)
	return tok, err == nil
}

// parseExecutableResponse checks the documented format; its error words
// what is wrong without quoting the output (which may hold a token).
func parseExecutableResponse(data []byte) (*executableResponse, error) {
	var r executableResponse
	if err := json.Unmarshal(bytes.TrimSpace(data), &r); err != nil {
		return nil, errors.New(`output that is not the JSON response expected ({"version":1,"success":true,"token_type":…,"id_token":…,"expiration_time":…})`)
	}
	switch {
	case r.Version != 1:
		return nil, fmt.Errorf("a response with version %d; want 1", r.Version)
	case r.Success == nil:
		return nil, errors.New(`a response without "success"`)
	}
	return &r, nil
}

func oneLineTrim(s string) string {
	return trimForError(strings.Join(strings.Fields(s), " "))
}

// limitedBuffer keeps the first maxExecutableOutput bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxExecutableOutput - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
