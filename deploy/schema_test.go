package deploy

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Kubernetes' OpenAPI spec comes from the k8s.io/kubernetes module as the Go
// module proxy serves it (its zip carries api/openapi-spec/swagger.json), so
// validation needs neither the network beyond the module proxy nor a
// schema registry; the module cache keeps it between runs. The version is
// the one client-go in go.mod targets.
const (
	kubernetesModule  = "k8s.io/kubernetes"
	kubernetesVersion = "v1.37.2"
	swaggerInZip      = kubernetesModule + "@" + kubernetesVersion + "/api/openapi-spec/swagger.json"
)

// swagger returns the definitions of the Kubernetes OpenAPI v2 spec, loaded
// once per test binary.
var swagger = sync.OnceValues(func() (map[string]any, error) {
	zipPath, err := moduleZip()
	if err != nil {
		return nil, err
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", zipPath, err)
	}
	defer zr.Close()
	f, err := zr.Open(swaggerInZip)
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", swaggerInZip, zipPath, err)
	}
	defer f.Close()
	var spec struct {
		Definitions map[string]any `json:"definitions"`
	}
	if err := json.NewDecoder(f).Decode(&spec); err != nil {
		return nil, fmt.Errorf("decode %s: %w", swaggerInZip, err)
	}
	if len(spec.Definitions) == 0 {
		return nil, fmt.Errorf("%s has no definitions", swaggerInZip)
	}
	return spec.Definitions, nil
})

// moduleZip downloads (or finds in the module cache) the k8s.io/kubernetes
// module zip. It runs outside this module, so go.mod and go.sum stay as
// they are.
func moduleZip() (string, error) {
	dir, err := os.MkdirTemp("", "gcptoken-k8s-spec-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("go", "mod", "download", "-json", kubernetesModule+"@"+kubernetesVersion)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GO111MODULE=on", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Zip, Error string }
	_ = json.Unmarshal(out, &info)
	if err != nil || info.Zip == "" {
		return "", fmt.Errorf("go mod download %s@%s: %v %s %s", kubernetesModule, kubernetesVersion, err, info.Error, strings.TrimSpace(stderr.String()))
	}
	return info.Zip, nil
}

// gvk is a resource type as a manifest names it.
type gvk struct{ apiVersion, kind string }

// schemaFile is where kubeconform looks for t's schema under the template
// "{{ .ResourceKind }}{{ .KindSuffix }}.json": the kind in lower case, then
// the group's first label and the version ("daemonset-apps-v1.json";
// "serviceaccount-v1.json" for the core group).
func (t gvk) schemaFile() string {
	group, version, ok := strings.Cut(t.apiVersion, "/")
	if !ok {
		return strings.ToLower(t.kind) + "-" + strings.ToLower(group) + ".json"
	}
	first, _, _ := strings.Cut(group, ".")
	return strings.ToLower(t.kind) + "-" + strings.ToLower(first) + "-" + strings.ToLower(version) + ".json"
}

// writeSchemas writes a standalone, strict JSON schema for each type into
// dir, as the openapi2jsonschema tool (which made kubeconform's published
// schemas) does with --stand-alone --strict --kubernetes: every $ref is
// inlined; every object with properties gets additionalProperties: false,
// so a misspelt field fails; int-or-string fields take either; quantities
// take a string or a number. Descriptions are dropped.
func writeSchemas(defs map[string]any, dir string, types []gvk) error {
	byGVK := map[gvk]string{}
	for name, d := range defs {
		for _, g := range list(dig(d, "x-kubernetes-group-version-kind")) {
			group, _ := dig(g, "group").(string)
			version, _ := dig(g, "version").(string)
			kind, _ := dig(g, "kind").(string)
			apiVersion := version
			if group != "" {
				apiVersion = group + "/" + version
			}
			byGVK[gvk{apiVersion, kind}] = name
		}
	}
	for _, t := range types {
		name, ok := byGVK[t]
		if !ok {
			return fmt.Errorf("the Kubernetes %s API has no %s %s", kubernetesVersion, t.apiVersion, t.kind)
		}
		schema, err := standalone(defs, name, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		data, err := json.Marshal(schema)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, t.schemaFile()), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

const refPrefix = "#/definitions/"

// standalone returns definition name with every reference inlined. A
// recursive type (only the CRD schema type has one) is left open ({}).
func standalone(defs map[string]any, name string, seen []string) (any, error) {
	for _, s := range seen {
		if s == name {
			return map[string]any{}, nil
		}
	}
	switch name {
	case "io.k8s.apimachinery.pkg.api.resource.Quantity":
		return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}, nil
	}
	d, ok := defs[name]
	if !ok {
		return nil, fmt.Errorf("no definition %q", name)
	}
	return convert(defs, d, append(seen, name))
}

func convert(defs map[string]any, v any, seen []string) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			return standalone(defs, strings.TrimPrefix(ref, refPrefix), seen)
		}
		if v["format"] == "int-or-string" {
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}, nil
		}
		out := make(map[string]any, len(v)+1)
		for k, x := range v {
			if k == "description" || strings.HasPrefix(k, "x-kubernetes-") {
				continue
			}
			if k == "properties" {
				// Keys of properties are field names, not schema keywords.
				props := map[string]any{}
				for field, fs := range x.(map[string]any) {
					c, err := convert(defs, fs, seen)
					if err != nil {
						return nil, err
					}
					props[field] = c
				}
				out[k] = props
				continue
			}
			c, err := convert(defs, x, seen)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		if _, ok := out["properties"]; ok {
			if _, ok := out["additionalProperties"]; !ok {
				out["additionalProperties"] = false
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			c, err := convert(defs, x, seen)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	return v, nil
}

// schemaDir generates the schemas for the types in the given manifests into
// a new directory and returns kubeconform's location template for it.
func schemaDir(t *testing.T, manifests ...[]byte) string {
	t.Helper()
	defs, err := swagger()
	if err != nil {
		t.Fatalf("Kubernetes OpenAPI spec: %v", err)
	}
	seen := map[gvk]bool{}
	var types []gvk
	for _, m := range manifests {
		for _, o := range objects(t, m) {
			av, _ := o["apiVersion"].(string)
			k, _ := o["kind"].(string)
			if g := (gvk{av, k}); !seen[g] {
				seen[g] = true
				types = append(types, g)
			}
		}
	}
	dir := t.TempDir()
	if err := writeSchemas(defs, dir, types); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "{{ .ResourceKind }}{{ .KindSuffix }}.json")
}

// readCloser wraps b for kubeconform, which reads from an io.ReadCloser.
func readCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }
