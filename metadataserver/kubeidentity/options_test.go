package kubeidentity

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

const testProvider = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/clusters/providers/prod"

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	good := func() Options {
		return Options{Config: &rest.Config{Host: "https://127.0.0.1:1"}, NodeName: "node-1", Audience: testProvider, ProjectID: "proj"}
	}
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string // "" means valid
	}{
		{"valid", func(*Options) {}, ""},
		{"no config", func(o *Options) { o.Config = nil }, "Config is required"},
		{"no node", func(o *Options) { o.NodeName = "" }, "NodeName is required"},
		{"node with a slash", func(o *Options) { o.NodeName = "a/b" }, "not a node name"},
		{"https audience", func(o *Options) { o.Audience = "https://iam.googleapis.com/projects/123" }, "not a workload identity pool provider"},
		{"pool, not provider", func(o *Options) {
			o.Audience = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/clusters"
		}, "not a workload identity pool provider"},
		{"workforce pool", func(o *Options) {
			o.Audience = "//iam.googleapis.com/locations/global/workforcePools/p/providers/k"
		}, "not a workload identity pool provider"},
		{"empty provider id", func(o *Options) { o.Audience = strings.TrimSuffix(testProvider, "prod") }, "not a workload identity pool provider"},
		{"no project", func(o *Options) { o.ProjectID = "" }, "ProjectID"},
		{"token lifetime too short", func(o *Options) { o.TokenLifetime = time.Minute }, "TokenRequest API's minimum"},
	} {
		o := good()
		tc.edit(&o)
		_, err := NewNode(&o)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: NewNode = %v; want %q", tc.name, err, tc.want)
		}
	}
}

func TestIsServiceAccountEmail(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"app@proj.iam.gserviceaccount.com":          true,
		"123-compute@developer.gserviceaccount.com": true,
		"app":                           false,
		"@proj.iam.gserviceaccount.com": false,
		"app@localhost":                 false,
		"app@proj.iam.gserviceaccount.com/../../token": false,
		"a b@proj.iam.gserviceaccount.com":             false,
		"a@b@proj.iam.gserviceaccount.com":             false,
	} {
		if got := isServiceAccountEmail(s); got != want {
			t.Errorf("isServiceAccountEmail(%q) = %v; want %v", s, got, want)
		}
	}
}

// TestTrim checks what the informers keep: the fields lookups read and the
// resource version the informer needs, nothing else.
func TestTrim(t *testing.T) {
	t.Parallel()
	now := metav1.Now()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u", ResourceVersion: "7", DeletionTimestamp: &now,
			Labels: map[string]string{"a": "b"}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}},
		Spec: corev1.PodSpec{ServiceAccountName: "sa", NodeName: "n", Containers: []corev1.Container{{Name: "c"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady}}},
	}
	got, _ := trimPod(pod)
	p := got.(*corev1.Pod)
	if p.Name != "p" || p.Namespace != "ns" || p.UID != "u" || p.ResourceVersion != "7" || p.DeletionTimestamp == nil ||
		p.Spec.ServiceAccountName != "sa" || p.Status.Phase != corev1.PodRunning || len(p.Status.PodIPs) != 2 {
		t.Errorf("trimmed pod lost what lookups read: %+v", p)
	}
	if p.Labels != nil || p.ManagedFields != nil || p.Spec.Containers != nil || p.Status.Conditions != nil {
		t.Errorf("trimmed pod kept more than lookups read: %+v", p)
	}
	ips, _ := podIPs(p)
	if strings.Join(ips, ",") != "10.0.0.1,fd00::1" {
		t.Errorf("podIPs = %q; want both addresses", ips)
	}
	sa, _ := trimServiceAccount(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa", Annotations: map[string]string{
		GoogleServiceAccountAnnotation: "a@b.c", "kubectl.kubernetes.io/last-applied-configuration": "{…}",
	}}, Secrets: []corev1.ObjectReference{{Name: "s"}}})
	if a := sa.(*corev1.ServiceAccount).Annotations; len(a) != 1 || a[GoogleServiceAccountAnnotation] != "a@b.c" || sa.(*corev1.ServiceAccount).Secrets != nil {
		t.Errorf("trimmed ServiceAccount: %+v; want its Google annotation only", sa)
	}
}
