package fakegoogle

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// These tests call the fake with grpc-go's client, messages encoded by
// hand (the generated client's module is not a dependency here; crosscheck
// runs it), and decode errors with the real google.rpc types.

// rawCodec passes messages through as bytes. It is named "proto" so the
// content type stays application/grpc+proto.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// grpcFake starts a fake for the REST helpers (plain HTTP) and serves it
// over TLS with HTTP/2 too, for a gRPC client connection.
func grpcFake(t *testing.T, opts *Options) (*testFake, *grpc.ClientConn) {
	t.Helper()
	f := newFake(t, opts)
	ts := httptest.NewUnstartedServer(f.Server)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	conn, err := grpc.NewClient(ts.Listener.Addr().String(),
		grpc.WithTransportCredentials(grpccreds.NewTLS(&tls.Config{RootCAs: pool})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return f, conn
}

// field is a protobuf field for encodeMsg.
type field struct {
	num protowire.Number
	v   any // string, []byte, bool or a nested []field
}

func encodeMsg(fields ...field) []byte {
	var b []byte
	for _, f := range fields {
		switch v := f.v.(type) {
		case string:
			b = protowire.AppendString(protowire.AppendTag(b, f.num, protowire.BytesType), v)
		case []byte:
			b = protowire.AppendBytes(protowire.AppendTag(b, f.num, protowire.BytesType), v)
		case bool:
			b = protowire.AppendVarint(protowire.AppendTag(b, f.num, protowire.VarintType), protowire.EncodeBool(v))
		case int64:
			b = protowire.AppendVarint(protowire.AppendTag(b, f.num, protowire.VarintType), uint64(v))
		case []field:
			b = protowire.AppendBytes(protowire.AppendTag(b, f.num, protowire.BytesType), encodeMsg(v...))
		}
	}
	return b
}

// decodeMsg returns the length-delimited fields of a message by number
// (the last of each); other fields map to nil.
func decodeMsg(t *testing.T, b []byte) map[protowire.Number][]byte {
	t.Helper()
	out := map[protowire.Number][]byte{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("response: %v", protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			out[num] = nil
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			t.Fatalf("response: %v", protowire.ParseError(n))
		}
		out[num], b = v, b[n:]
	}
	return out
}

func invoke(t *testing.T, conn *grpc.ClientConn, token, rpc string, req []byte) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	var resp []byte
	err := conn.Invoke(ctx, iamGRPCPath+rpc, &req, &resp, grpc.ForceCodec(rawCodec{}))
	return resp, err
}

func TestIAMGRPCMethods(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f, conn := grpcFake(t, &Options{Now: clock.Now})
	caller := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, clock.Now())
	target, _ := f.ServiceAccount(DefaultTargetServiceAccount)
	name := "projects/-/serviceAccounts/" + DefaultTargetServiceAccount

	t.Run("GenerateAccessToken", func(t *testing.T) {
		resp, err := invoke(t, conn, caller, "GenerateAccessToken", encodeMsg(
			field{1, name}, field{4, cloudPlatform}, field{7, []field{{1, int64(1800)}}}))
		if err != nil {
			t.Fatalf("GenerateAccessToken: %v", err)
		}
		m := decodeMsg(t, resp)
		tok := string(m[1])
		info := tokeninfo(t, f, tok)
		if info["sub"] != target.UniqueID || info["expires_in"] != "1800" {
			t.Errorf("tokeninfo of the gRPC token = %v; want the target, living 1800 s", info)
		}
		exp, n := protowire.ConsumeVarint(m[3][1:])
		if n < 0 || m[3][0] != 0x08 || int64(exp) != clock.Now().Add(30*time.Minute).Unix() {
			t.Errorf("expire_time = %x; want seconds %d", m[3], clock.Now().Add(30*time.Minute).Unix())
		}
	})
	t.Run("GenerateIdToken", func(t *testing.T) {
		resp, err := invoke(t, conn, caller, "GenerateIdToken", encodeMsg(
			field{1, name}, field{3, "https://svc.example"}, field{4, true}))
		if err != nil {
			t.Fatalf("GenerateIdToken: %v", err)
		}
		_, claims := decodeJWT(t, string(decodeMsg(t, resp)[1]))
		if claims["aud"] != "https://svc.example" || claims["email"] != DefaultTargetServiceAccount || claims["sub"] != target.UniqueID {
			t.Errorf("ID token claims = %v; want the audience and the target's email", claims)
		}
	})
	t.Run("SignJwt", func(t *testing.T) {
		resp, err := invoke(t, conn, caller, "SignJwt", encodeMsg(field{1, name}, field{5, `{"sub":"x"}`}))
		if err != nil {
			t.Fatalf("SignJwt: %v", err)
		}
		m := decodeMsg(t, resp)
		if _, claims := decodeJWT(t, string(m[2])); claims["sub"] != "x" || string(m[1]) != target.KeyID {
			t.Errorf("SignJwt = key %q, claims %v; want the target's key and the payload", m[1], claims)
		}
	})
	t.Run("SignBlob", func(t *testing.T) {
		resp, err := invoke(t, conn, caller, "SignBlob", encodeMsg(field{1, name}, field{5, []byte("blob\x00\xff")}))
		if err != nil {
			t.Fatalf("SignBlob: %v", err)
		}
		m := decodeMsg(t, resp)
		if len(m[4]) != 128 || string(m[1]) != target.KeyID { // a 1024-bit RSA signature
			t.Errorf("SignBlob = key %q, %d signature bytes; want the target's key and 128 bytes", m[1], len(m[4]))
		}
	})
}

func TestIAMGRPCErrors(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	f, conn := grpcFake(t, &Options{Now: clock.Now})
	tf := f
	caller := saAccessToken(t, tf, DefaultServiceAccount, cloudPlatform, clock.Now())
	narrow := saAccessToken(t, tf, DefaultServiceAccount, emailScope, clock.Now())
	mustAddSA(t, tf, "nogrant@fake-project.iam.gserviceaccount.com")
	name := func(sa string) string { return "projects/-/serviceAccounts/" + sa }
	tests := []struct {
		name    string
		token   string
		rpc     string
		req     []byte
		code    codes.Code
		message string
		reason  string // of the ErrorInfo detail
		field   string // of the BadRequest detail
	}{
		{"no token", "", "GenerateAccessToken", encodeMsg(field{1, name(DefaultTargetServiceAccount)}, field{4, cloudPlatform}),
			codes.Unauthenticated, msgCredentialsMissing, "CREDENTIALS_MISSING", ""},
		{"unknown token", "ya29.nope", "GenerateIdToken", encodeMsg(field{1, name(DefaultTargetServiceAccount)}, field{3, "a"}),
			codes.Unauthenticated, msgCredentialsInvalid, "ACCESS_TOKEN_TYPE_UNSUPPORTED", ""},
		{"scope", narrow, "SignJwt", encodeMsg(field{1, name(DefaultTargetServiceAccount)}, field{5, "{}"}),
			codes.PermissionDenied, msgScopeInsufficient, "ACCESS_TOKEN_SCOPE_INSUFFICIENT", ""},
		{"no grant", caller, "SignBlob", encodeMsg(field{1, name("nogrant@fake-project.iam.gserviceaccount.com")}, field{5, []byte("b")}),
			codes.PermissionDenied, "Permission 'iam.serviceAccounts.signBlob' denied", "IAM_PERMISSION_DENIED", ""},
		{"unknown account", caller, "GenerateAccessToken", encodeMsg(field{1, name("ghost@fake-project.iam.gserviceaccount.com")}, field{4, cloudPlatform}),
			codes.NotFound, "Gaia id not found for email ghost@", "", ""},
		{"no scope", caller, "GenerateAccessToken", encodeMsg(field{1, name(DefaultTargetServiceAccount)}),
			codes.InvalidArgument, msgInvalidArgument, "", ""},
		{"lifetime over an hour", caller, "GenerateAccessToken", encodeMsg(field{1, name(DefaultTargetServiceAccount)},
			field{4, cloudPlatform}, field{7, []field{{1, int64(7200)}}}), codes.InvalidArgument, "can not have lifetimes of more than 1 hour", "", "lifetime"},
		{"project id", caller, "GenerateIdToken", encodeMsg(field{1, "projects/p/serviceAccounts/" + DefaultTargetServiceAccount}, field{3, "a"}),
			codes.InvalidArgument, "wildcard", "", "name"},
		{"bad name", caller, "GenerateIdToken", encodeMsg(field{1, DefaultTargetServiceAccount}, field{3, "a"}),
			codes.InvalidArgument, "Invalid form of account ID", "", "name"},
		{"unknown method", caller, "ListServiceAccounts", nil, codes.Unimplemented, "Method not found", "", ""},
		{"not a message", caller, "GenerateIdToken", []byte{0x0a, 0x7f}, codes.InvalidArgument, "Cannot parse the request message", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := invoke(t, conn, tt.token, tt.rpc, tt.req)
			st, ok := status.FromError(err)
			if !ok || st.Code() != tt.code || !strings.Contains(st.Message(), tt.message) {
				t.Fatalf("got %v; want %s containing %q", err, tt.code, tt.message)
			}
			var reason, fieldName string
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.ErrorInfo:
					reason = d.Reason
				case *errdetails.BadRequest:
					fieldName = d.FieldViolations[0].Field
				case error:
					t.Errorf("detail: %v", d)
				}
			}
			if reason != tt.reason || fieldName != tt.field {
				t.Errorf("got details reason %q, field %q; want %q, %q", reason, fieldName, tt.reason, tt.field)
			}
		})
	}
}

// TestIAMGRPCNotGRPC checks that a plain request for a gRPC path is told
// what the path wants rather than answered as if it were a call.
func TestIAMGRPCNotGRPC(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	r := postForm(t, f.URL+iamGRPCPath+"GenerateAccessToken", nil, nil)
	if r.status != http.StatusUnsupportedMediaType || !strings.Contains(string(r.body), "HTTP/2") {
		t.Errorf("got %d %s; want 415 saying gRPC needs HTTP/2", r.status, r.body)
	}
}

// TestIAMRESTNameInBody checks the REST body shape of Google's generated
// REST clients, which repeat the resource name in the body.
func TestIAMRESTNameInBody(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	caller := saAccessToken(t, f, DefaultServiceAccount, cloudPlatform, time.Now())
	name := "projects/-/serviceAccounts/" + DefaultTargetServiceAccount
	r := iamPost(t, f, caller, DefaultTargetServiceAccount, "generateIdToken", map[string]any{"name": name, "audience": "a"})
	if r.status != http.StatusOK {
		t.Fatalf("got %d %s; want 200", r.status, r.body)
	}
	var got struct{ Token string }
	if err := json.Unmarshal(r.body, &got); err != nil || got.Token == "" {
		t.Errorf("got %s; want a token", r.body)
	}
	r = iamPost(t, f, caller, DefaultTargetServiceAccount, "generateIdToken",
		map[string]any{"name": "projects/-/serviceAccounts/other@x.iam.gserviceaccount.com", "audience": "a"})
	wantAPIError(t, r, http.StatusBadRequest, "INVALID_ARGUMENT", `The name in the body, "projects/-/serviceAccounts/other@x.iam.gserviceaccount.com", `+
		`differs from the one in the path, "`+name+`"`)
}
