package fakegoogle

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
)

// The IAM Credentials API over gRPC, as Google's generated client
// (cloud.google.com/go/iam/credentials/apiv1) calls it:
// POST /google.iam.credentials.v1.IAMCredentials/{GenerateAccessToken,
// GenerateIdToken, SignBlob, SignJwt} over HTTP/2, each a unary call. The
// calls go through runIAM, so callers, grants, validation and answers are
// the REST API's; errors become google.rpc.Status with the same code.
//
// The four unary methods are framed and their messages (de)coded here by
// hand, with protowire, rather than served by grpc-go's server: grpc-go is
// in the module graph already (through cloud.google.com/go/auth), but no
// gcptoken binary links it, and a server for four flat messages would link
// all of it (and the generated descriptors of a module this project does
// not require) into `gcptoken emulator`. A unary gRPC call over net/http's
// HTTP/2 server is one length-prefixed message each way plus a status in
// the trailers (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).

// iamGRPCPath is the service's path prefix.
const iamGRPCPath = "/google.iam.credentials.v1.IAMCredentials/"

// iamGRPCMethods maps each RPC to the REST method it shares a handler with.
var iamGRPCMethods = sync.OnceValue(func() map[string]string {
	return map[string]string{
		"GenerateAccessToken": "generateAccessToken",
		"GenerateIdToken":     "generateIdToken",
		"SignBlob":            "signBlob",
		"SignJwt":             "signJwt",
	}
})

// grpcCodes are the google.rpc.Code numbers of the statuses the API
// answers with.
var grpcCodes = sync.OnceValue(func() map[string]int {
	return map[string]int{
		"INVALID_ARGUMENT": 3, "NOT_FOUND": 5, "PERMISSION_DENIED": 7, "FAILED_PRECONDITION": 9,
		"UNIMPLEMENTED": 12, "INTERNAL": 13, "UNAUTHENTICATED": 16,
	}
})

// handleIAMGRPC serves one unary gRPC call.
func (s *Server) handleIAMGRPC(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost || r.ProtoMajor != 2 || (ct != "application/grpc" && ct != "application/grpc+proto") {
		s.log.Warn("fakegoogle: not a gRPC request", "method", r.Method, "path", r.URL.Path, "proto", r.Proto)
		http.Error(w, r.URL.Path+" is a gRPC method: POST application/grpc over HTTP/2 "+
			"(the googlehosts proxy offers HTTP/2 for iamcredentials.googleapis.com)", http.StatusUnsupportedMediaType)
		return
	}
	method, ok := iamGRPCMethods()[r.PathValue("rpc")]
	if !ok {
		s.log.Warn("fakegoogle: unmodelled gRPC method", "path", r.URL.Path)
		s.writeGRPCError(w, r, &iamError{status: "UNIMPLEMENTED", message: "Method not found: " + r.URL.Path})
		return
	}
	msg, e := readGRPCMessage(r)
	var caller string
	if e == nil {
		caller, e = s.iamCaller(w, r, iamMethods()[method])
	}
	var req *iamRequest
	var project, account string
	if e == nil {
		req, project, account, e = decodeIAMProto(method, msg)
	}
	var res *iamResult
	if e == nil {
		res, e = s.runIAM(caller, method, project, account, req)
	}
	if e != nil {
		s.writeGRPCError(w, r, e)
		return
	}
	writeGRPCMessage(w, res.proto(method))
}

// readGRPCMessage reads the request's one length-prefixed message.
func readGRPCMessage(r *http.Request) ([]byte, *iamError) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, &iamError{status: "INTERNAL", message: "Cannot read the request: " + err.Error()}
	}
	if len(body) < 5 || int(binary.BigEndian.Uint32(body[1:5])) != len(body)-5 {
		return nil, &iamError{status: "INTERNAL", message: "A unary call carries exactly one length-prefixed message"}
	}
	if body[0] != 0 {
		// The fake announces no grpc-accept-encoding, so clients do not
		// compress.
		return nil, &iamError{status: "UNIMPLEMENTED", message: "Compressed messages (grpc-encoding " +
			r.Header.Get("Grpc-Encoding") + ") are not supported"}
	}
	return body[5:], nil
}

// writeGRPCMessage answers a successful call: the message, then status 0
// in the trailers.
func writeGRPCMessage(w http.ResponseWriter, msg []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Trailer", "Grpc-Status, Grpc-Message")
	w.WriteHeader(http.StatusOK)
	frame := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
	w.Write(append(frame, msg...))
	h.Set("Grpc-Status", "0")
	h.Set("Grpc-Message", "")
}

// writeGRPCError answers with a status and no message, as one HEADERS
// frame (gRPC's Trailers-Only response), the google.rpc.Status with its
// details in grpc-status-details-bin as Google's servers send it.
func (s *Server) writeGRPCError(w http.ResponseWriter, r *http.Request, e *iamError) {
	s.log.Debug("fakegoogle: IAM Credentials gRPC error", "path", r.URL.Path, "status", e.status, "message", e.message)
	code, ok := grpcCodes()[e.status]
	if !ok {
		code = grpcCodes()["INTERNAL"]
	}
	h := w.Header()
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(code))
	h.Set("Grpc-Message", grpcPercentEncode(e.message))
	h.Set("Grpc-Status-Details-Bin", base64.RawStdEncoding.EncodeToString(rpcStatusProto(code, e)))
	w.WriteHeader(http.StatusOK)
}

// grpcPercentEncode encodes grpc-message: bytes outside printable ASCII,
// and '%', as %XX.
func grpcPercentEncode(msg string) string {
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		if c := msg[i]; c < ' ' || c > '~' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Field numbers of google.iam.credentials.v1's request messages, per
// method (common.proto). payload is bytes for SignBlob, a string for
// SignJwt; lifetime a google.protobuf.Duration.
var iamProtoFields = sync.OnceValue(func() map[string]map[protowire.Number]string {
	return map[string]map[protowire.Number]string{
		"generateAccessToken": {1: "name", 2: "delegates", 4: "scope", 7: "lifetime"},
		"generateIdToken":     {1: "name", 2: "delegates", 3: "audience", 4: "include_email"},
		"signBlob":            {1: "name", 3: "delegates", 5: "payload"},
		"signJwt":             {1: "name", 3: "delegates", 5: "payload"},
	}
})

// decodeIAMProto decodes a request message into the REST request it
// stands for, and splits its resource name
// ("projects/{project}/serviceAccounts/{account}"). Unknown fields are
// skipped, as proto3 parsers do.
func decodeIAMProto(method string, msg []byte) (*iamRequest, string, string, *iamError) {
	req := &iamRequest{}
	fields := iamProtoFields()[method]
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil, "", "", badProto(protowire.ParseError(n))
		}
		msg = msg[n:]
		field, known := fields[num]
		want := protowire.BytesType
		if field == "include_email" {
			want = protowire.VarintType
		}
		if !known || typ != want {
			if n = protowire.ConsumeFieldValue(num, typ, msg); n < 0 {
				return nil, "", "", badProto(protowire.ParseError(n))
			}
			msg = msg[n:]
			continue
		}
		if field == "include_email" {
			v, n := protowire.ConsumeVarint(msg)
			if n < 0 {
				return nil, "", "", badProto(protowire.ParseError(n))
			}
			req.IncludeEmail, msg = protowire.DecodeBool(v), msg[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(msg)
		if n < 0 {
			return nil, "", "", badProto(protowire.ParseError(n))
		}
		msg = msg[n:]
		if err := req.setProtoField(method, field, v); err != nil {
			return nil, "", "", badProto(err)
		}
	}
	project, account, ok := splitAccountName(req.Name)
	if !ok {
		return nil, "", "", invalidArgument("name", fmt.Sprintf(msgBadAccountForm, req.Name))
	}
	return req, project, account, nil
}

// setProtoField sets a length-delimited field of the request.
func (req *iamRequest) setProtoField(method, field string, v []byte) error {
	switch field {
	case "name":
		req.Name = string(v)
	case "delegates":
		req.Delegates = append(req.Delegates, string(v))
	case "scope":
		req.Scope = append(req.Scope, string(v))
	case "audience":
		req.Audience = string(v)
	case "lifetime":
		d, err := decodeProtoDuration(v)
		if err != nil {
			return fmt.Errorf("lifetime: %w", err)
		}
		req.Lifetime = d
	case "payload":
		// The REST handlers take JSON's forms: base64 for bytes.
		req.Payload, req.hasPayload = string(v), len(v) > 0
		if method == "signBlob" {
			req.Payload = base64.StdEncoding.EncodeToString(v)
		}
	}
	return nil
}

func badProto(err error) *iamError {
	return invalidArgument("", "Cannot parse the request message: "+err.Error())
}

// splitAccountName splits "projects/{project}/serviceAccounts/{account}".
func splitAccountName(name string) (project, account string, ok bool) {
	rest, ok := strings.CutPrefix(name, "projects/")
	if !ok {
		return "", "", false
	}
	project, account, ok = strings.Cut(rest, "/serviceAccounts/")
	return project, account, ok && project != "" && account != "" && !strings.Contains(account, "/")
}

// decodeProtoDuration decodes a google.protobuf.Duration into its JSON
// form ("3600s", "1.5s"), which the REST validation reads.
func decodeProtoDuration(b []byte) (string, error) {
	var secs, nanos int64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.VarintType || (num != 1 && num != 2) {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return "", protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return "", protowire.ParseError(n)
		}
		b = b[n:]
		if num == 1 {
			secs = int64(v)
		} else {
			nanos = int64(int32(v))
		}
	}
	if secs != 0 && nanos != 0 && (secs < 0) != (nanos < 0) {
		return "", errors.New("seconds and nanos of a Duration must have the same sign")
	}
	sign := ""
	if secs < 0 || nanos < 0 {
		sign, secs, nanos = "-", -secs, -nanos
	}
	if nanos == 0 {
		return fmt.Sprintf("%s%ds", sign, secs), nil
	}
	return fmt.Sprintf("%s%d.%09ds", sign, secs, nanos), nil
}

// proto encodes the response message of method (common.proto's field
// numbers); proto3 leaves out empty fields.
func (res *iamResult) proto(method string) []byte {
	var b []byte
	switch method {
	case "generateAccessToken":
		b = appendProtoString(b, 1, res.accessToken)
		var ts []byte // google.protobuf.Timestamp: whole seconds
		ts = protowire.AppendTag(ts, 1, protowire.VarintType)
		ts = protowire.AppendVarint(ts, uint64(res.expireTime.Unix()))
		b = appendProtoBytes(b, 3, ts)
	case "generateIdToken":
		b = appendProtoString(b, 1, res.token)
	case "signJwt":
		b = appendProtoString(b, 1, res.keyID)
		b = appendProtoString(b, 2, res.signedJwt)
	case "signBlob":
		b = appendProtoString(b, 1, res.keyID)
		b = appendProtoBytes(b, 4, res.signedBlob)
	}
	return b
}

func appendProtoString(b []byte, num protowire.Number, v string) []byte {
	return appendProtoBytes(b, num, []byte(v))
}

func appendProtoBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// rpcStatusProto encodes google.rpc.Status{code, message, details}, each
// detail a google.protobuf.Any of google.rpc.ErrorInfo or BadRequest.
func rpcStatusProto(code int, e *iamError) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(code))
	b = appendProtoString(b, 2, e.message)
	for _, d := range e.details {
		var typeURL string
		var value []byte
		switch d := d.(type) {
		case errorInfo:
			typeURL = d.Type
			value = appendProtoString(appendProtoString(nil, 1, d.Reason), 2, d.Domain)
			for _, k := range slices.Sorted(maps.Keys(d.Metadata)) {
				entry := appendProtoString(appendProtoString(nil, 1, k), 2, d.Metadata[k])
				value = appendProtoBytes(value, 3, entry)
			}
		case badRequest:
			typeURL = d.Type
			for _, v := range d.FieldViolations {
				value = appendProtoBytes(value, 1, appendProtoString(appendProtoString(nil, 1, v.Field), 2, v.Description))
			}
		default:
			continue
		}
		b = appendProtoBytes(b, 3, appendProtoBytes(appendProtoString(nil, 1, typeURL), 2, value))
	}
	return b
}
