package deploy

import (
	"bytes"
	"strings"
	"testing"

	"github.com/yannh/kubeconform/pkg/validator"
)

// TestKubeconform validates every rendered manifest, strictly, against the
// Kubernetes schemas; and shows the schemas are strict enough to matter by
// feeding them broken copies.
func TestKubeconform(t *testing.T) {
	t.Parallel()
	rendered := map[string][]byte{}
	var all [][]byte
	for _, dir := range kustomizations {
		rendered[dir] = render(t, dir)
		all = append(all, rendered[dir])
	}
	broken := []struct {
		name, from, to, wantErr string
	}{
		{"misspelt field", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", "additional properties 'readOnlyRootFileSystem' not allowed"},
		{"wrong type", "containerPort: 8087", "containerPort: eighty", "got string, want integer"},
		{"unknown field", "hostPort: 8087", "hostPorts: 8087", "additional properties 'hostPorts' not allowed"},
	}
	loc := schemaDir(t, all...)
	v, err := validator.New([]string{loc}, validator.Opts{Strict: true, KubernetesVersion: strings.TrimPrefix(kubernetesVersion, "v")})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			n := 0
			for _, res := range v.Validate(goldenPath(dir), readCloser(rendered[dir])) {
				n++
				sig, _ := res.Resource.Signature()
				if res.Status != validator.Valid {
					t.Errorf("%s %v: got status %d, %v %v; want valid", dir, sig, res.Status, res.Err, res.ValidationErrors)
				}
			}
			if want := len(objects(t, rendered[dir])); n != want {
				t.Errorf("kubeconform checked %d resources of %s; want %d", n, dir, want)
			}
		})
	}
	for _, b := range broken {
		t.Run("rejects "+b.name, func(t *testing.T) {
			src := rendered["overlays/keyfile"]
			if !bytes.Contains(src, []byte(b.from)) {
				t.Fatalf("the keyfile overlay has no %q to break", b.from)
			}
			bad := bytes.Replace(src, []byte(b.from), []byte(b.to), 1)
			var invalid int
			for _, res := range v.Validate("broken.yaml", readCloser(bad)) {
				if res.Status == validator.Invalid {
					invalid++
					if msg := res.Err.Error(); !strings.Contains(msg, b.wantErr) {
						t.Errorf("got %q; want it to mention %q", msg, b.wantErr)
					}
				}
			}
			if invalid != 1 {
				t.Errorf("got %d invalid resources after replacing %q with %q; want 1", invalid, b.from, b.to)
			}
		})
	}
}
