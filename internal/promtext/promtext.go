// Package promtext is a tiny, dependency-free Prometheus registry: counter,
// gauge and histogram vectors with fixed label names, written out in the text
// exposition format 0.0.4.
//
// Why not github.com/prometheus/client_golang: linking it adds about 4.5 ms
// (+55 %) to every start of the gcptoken CLI, measured here, because its
// init code registers protobuf descriptors and default collectors, and the
// CLI's start-up time is a product goal. The daemons only need a handful of
// counters, so this package does that much and no more. Tests check the
// output with client_golang's own parser (prometheus/common/expfmt), in
// crosscheck/promtext_test.go so that the parser stays out of this module.
//
// The hot path is lock-free: a vector's children live in a copy-on-write
// map read through an atomic pointer, and values are updated with atomics.
package promtext

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`) })

// Registry holds metric vectors and writes them out. Its methods panic on
// programming errors (bad or duplicate names, wrong label counts), as
// client_golang's MustRegister does.
type Registry struct {
	mu   sync.Mutex
	vecs map[string]*vec
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{vecs: map[string]*vec{}} }

// vec is the shared machinery of the three vector types.
type vec struct {
	name, help, typ string
	labels          []string
	buckets         []float64 // histograms only
	mu              sync.Mutex
	children        atomic.Pointer[map[string]*child] // key: label values joined by 0xff
}

// child is one series (one combination of label values).
type child struct {
	values []string
	bits   atomic.Uint64   // float64 value of a counter or gauge; sum of a histogram
	counts []atomic.Uint64 // histogram: observations per bucket, the last is +Inf
}

func (r *Registry) register(name, help, typ string, buckets []float64, labels []string) *vec {
	if !nameRE().MatchString(name) {
		panic("promtext: invalid metric name " + strconv.Quote(name))
	}
	for _, l := range labels {
		if !nameRE().MatchString(l) || strings.Contains(l, ":") || l == "le" {
			panic("promtext: invalid label name " + strconv.Quote(l))
		}
	}
	v := &vec{name: name, help: help, typ: typ, labels: slices.Clone(labels), buckets: buckets}
	v.children.Store(&map[string]*child{})
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.vecs[name]; dup {
		panic("promtext: duplicate metric " + name)
	}
	r.vecs[name] = v
	if len(labels) == 0 {
		v.with(nil) // a series without labels exists from the start, at zero
	}
	return v
}

// with returns the child for values, creating it on first use.
func (v *vec) with(values []string) *child {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("promtext: %s wants %d label values, got %d", v.name, len(v.labels), len(values)))
	}
	var buf [128]byte
	key := buf[:0] // 0xff never occurs in UTF-8, so keys cannot collide
	for _, s := range values {
		key = append(append(key, s...), 0xff)
	}
	if c := (*v.children.Load())[string(key)]; c != nil { // no allocation
		return c
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	old := *v.children.Load()
	if c := old[string(key)]; c != nil {
		return c
	}
	c := &child{values: slices.Clone(values)}
	if v.typ == "histogram" {
		c.counts = make([]atomic.Uint64, len(v.buckets)+1)
	}
	m := make(map[string]*child, len(old)+1)
	for k, x := range old {
		m[k] = x
	}
	m[string(key)] = c
	v.children.Store(&m)
	return c
}

func (c *child) add(d float64) {
	for {
		old := c.bits.Load()
		if c.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// CounterVec is a counter with fixed label names.
type CounterVec struct{ v *vec }

// Counter is one series of a CounterVec.
type Counter struct{ c *child }

// NewCounterVec registers a counter vector.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	return &CounterVec{r.register(name, help, "counter", nil, labels)}
}

// With returns the series for the label values, in label-name order.
func (v *CounterVec) With(values ...string) Counter { return Counter{v.v.with(values)} }

// Inc adds 1.
func (c Counter) Inc() { c.c.add(1) }

// Add adds d, which must not be negative.
func (c Counter) Add(d float64) {
	if d < 0 {
		panic("promtext: counter decreased")
	}
	c.c.add(d)
}

// GaugeVec is a gauge with fixed label names.
type GaugeVec struct{ v *vec }

// Gauge is one series of a GaugeVec.
type Gauge struct{ c *child }

// NewGaugeVec registers a gauge vector.
func (r *Registry) NewGaugeVec(name, help string, labels ...string) *GaugeVec {
	return &GaugeVec{r.register(name, help, "gauge", nil, labels)}
}

// With returns the series for the label values, in label-name order.
func (v *GaugeVec) With(values ...string) Gauge { return Gauge{v.v.with(values)} }

// Add adds d (which may be negative).
func (g Gauge) Add(d float64) { g.c.add(d) }

// Set sets the value.
func (g Gauge) Set(x float64) { g.c.bits.Store(math.Float64bits(x)) }

// HistogramVec is a histogram with fixed buckets and label names.
type HistogramVec struct{ v *vec }

// Histogram is one series of a HistogramVec.
type Histogram struct {
	c       *child
	buckets []float64
}

// NewHistogramVec registers a histogram vector. buckets are the upper
// bounds, strictly increasing; +Inf is implied.
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	for i, b := range buckets {
		if math.IsNaN(b) || math.IsInf(b, 0) || i > 0 && b <= buckets[i-1] {
			panic("promtext: buckets of " + name + " must be finite and strictly increasing")
		}
	}
	return &HistogramVec{r.register(name, help, "histogram", slices.Clone(buckets), labels)}
}

// With returns the series for the label values, in label-name order.
func (v *HistogramVec) With(values ...string) Histogram {
	return Histogram{v.v.with(values), v.v.buckets}
}

// Observe records x.
func (h Histogram) Observe(x float64) {
	i, _ := slices.BinarySearch(h.buckets, x) // first bucket with bound >= x
	h.c.counts[i].Add(1)
	h.c.add(x)
}

// Handler serves the registry's metrics.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = r.WriteTo(w)
	})
}

// WriteTo writes every metric in text format 0.0.4: families sorted by
// name, series sorted by label values.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	vecs := make([]*vec, 0, len(r.vecs))
	for _, v := range r.vecs {
		vecs = append(vecs, v)
	}
	r.mu.Unlock()
	slices.SortFunc(vecs, func(a, b *vec) int { return strings.Compare(a.name, b.name) })

	var b bytes.Buffer
	for _, v := range vecs {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", v.name, helpEscaper.Replace(v.help), v.name, v.typ)
		m := *v.children.Load()
		kids := make([]*child, 0, len(m))
		for _, c := range m {
			kids = append(kids, c)
		}
		slices.SortFunc(kids, func(a, b *child) int { return slices.Compare(a.values, b.values) })
		for _, c := range kids {
			v.writeChild(&b, c)
		}
	}
	return b.WriteTo(w)
}

func (v *vec) writeChild(w *bytes.Buffer, c *child) {
	labels := v.labelPairs(c.values)
	if v.typ != "histogram" {
		fmt.Fprintf(w, "%s%s %s\n", v.name, braces(labels), formatFloat(math.Float64frombits(c.bits.Load())))
		return
	}
	// _count is the sum of the buckets, so that it always equals the +Inf
	// bucket even while observations land during the write.
	var cum uint64
	for i := range c.counts {
		cum += c.counts[i].Load()
		le := math.Inf(1)
		if i < len(v.buckets) {
			le = v.buckets[i]
		}
		fmt.Fprintf(w, "%s_bucket%s %d\n", v.name, braces(append(labels, `le="`+formatFloat(le)+`"`)), cum)
	}
	fmt.Fprintf(w, "%s_sum%s %s\n", v.name, braces(labels), formatFloat(math.Float64frombits(c.bits.Load())))
	fmt.Fprintf(w, "%s_count%s %d\n", v.name, braces(labels), cum)
}

func (v *vec) labelPairs(values []string) []string {
	pairs := make([]string, len(values), len(values)+1)
	for i, val := range values {
		pairs[i] = v.labels[i] + `="` + valueEscaper.Replace(val) + `"`
	}
	return pairs
}

func braces(pairs []string) string {
	if len(pairs) == 0 {
		return ""
	}
	return "{" + strings.Join(pairs, ",") + "}"
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
