// Package chartcheck validates the spotify-token-proxy Helm chart offline: it renders
// the chart in-process the way `helm install` does (values.schema.json enforced), then
// decodes every manifest strictly into Kubernetes and prometheus-operator types, so a
// misspelt field, a wrong type or a duplicate list key fails a test instead of an
// install. It lives in its own module so that helm and k8s.io stay out of the proxy's
// go.mod.
package chartcheck

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// KubeVersion is the Kubernetes version the chart is rendered for (Capabilities).
const KubeVersion = "v1.33.0"

// Release is the release the chart is rendered as.
var Release = chartutil.ReleaseOptions{Name: "demo", Namespace: "music", IsInstall: true, Revision: 1}

// Rendered is the output of one render.
type Rendered struct {
	// Files maps a template path (e.g. "spotify-token-proxy/templates/deployment.yaml")
	// to its rendered text.
	Files map[string]string
	// Values are the coalesced values the templates saw.
	Values chartutil.Values
}

// Notes returns the rendered NOTES.txt.
func (r *Rendered) Notes() string {
	for name, text := range r.Files {
		if strings.HasSuffix(name, "/NOTES.txt") {
			return text
		}
	}
	return ""
}

// Manifests returns the YAML documents of every rendered template (NOTES.txt and
// partials excluded), in file-name order, as "file#index" → document.
func (r *Rendered) Manifests() []Manifest {
	names := make([]string, 0, len(r.Files))
	for name := range r.Files {
		if strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []Manifest
	for _, name := range names {
		for i, doc := range SplitYAML(r.Files[name]) {
			out = append(out, Manifest{Source: fmt.Sprintf("%s#%d", name, i), YAML: doc})
		}
	}
	return out
}

// Manifest is one YAML document of the rendered chart.
type Manifest struct {
	Source string
	YAML   string
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// SplitYAML splits a multi-document YAML text, dropping documents that are empty or
// only comments.
func SplitYAML(text string) []string {
	var docs []string
	for _, doc := range docSeparator.Split(text, -1) {
		empty := true
		for _, line := range strings.Split(doc, "\n") {
			t := strings.TrimSpace(line)
			if t != "" && !strings.HasPrefix(t, "#") {
				empty = false
				break
			}
		}
		if !empty {
			docs = append(docs, doc)
		}
	}
	return docs
}

// LoadChart loads a chart directory (honouring .helmignore).
func LoadChart(dir string) (*chart.Chart, error) {
	return loader.Load(dir)
}

// ReadValuesFiles reads and merges values files, later files winning.
func ReadValuesFiles(files ...string) (map[string]any, error) {
	merged := map[string]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var v map[string]any
		if err := yaml.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		merged = chartutil.MergeTables(v, merged)
	}
	return merged, nil
}

// Render renders a loaded chart with user values as `helm template` would: values
// coalesced with the chart's defaults and validated against values.schema.json,
// Chart.yaml's kubeVersion checked, templates executed in strict mode (a reference
// to a missing value is an error).
func Render(c *chart.Chart, values map[string]any) (*Rendered, error) {
	return render(c, values, Release, engine.Engine{Strict: true}.Render)
}

// RenderInCluster renders as `helm upgrade` (or `helm install`) does against a cluster
// that already holds objects: the templates' `lookup` calls find them. Helm offers a
// client-backed engine only in non-strict mode, so a missing value renders empty here.
func RenderInCluster(c *chart.Chart, values map[string]any, rel chartutil.ReleaseOptions, objects ...runtime.Object) (*Rendered, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	cluster := fakeCluster{dynamicfake.NewSimpleDynamicClient(s, objects...)}
	return render(c, values, rel, func(c *chart.Chart, v chartutil.Values) (map[string]string, error) {
		return engine.RenderWithClientProvider(c, v, cluster)
	})
}

// fakeCluster serves `lookup` of namespaced core kinds (v1 Secret, ConfigMap, …) from a
// fake dynamic client.
type fakeCluster struct{ client dynamic.Interface }

func (f fakeCluster) GetClientFor(apiVersion, kind string) (dynamic.NamespaceableResourceInterface, bool, error) {
	gvk := schema.FromAPIVersionAndKind(apiVersion, kind)
	gvr := schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: strings.ToLower(kind) + "s"}
	return f.client.Resource(gvr), true, nil
}

func render(c *chart.Chart, values map[string]any, rel chartutil.ReleaseOptions,
	run func(*chart.Chart, chartutil.Values) (map[string]string, error)) (*Rendered, error) {
	caps := chartutil.DefaultCapabilities.Copy()
	kv, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		return nil, err
	}
	caps.KubeVersion = *kv
	if c.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(c.Metadata.KubeVersion, kv.String()) {
		return nil, fmt.Errorf("chart requires kubeVersion %s, rendering for %s", c.Metadata.KubeVersion, kv)
	}
	if err := chartutil.ProcessDependenciesWithMerge(c, values); err != nil {
		return nil, err
	}
	vals, err := chartutil.ToRenderValues(c, values, rel, caps)
	if err != nil {
		return nil, err
	}
	files, err := run(c, vals)
	if err != nil {
		return nil, err
	}
	v, _ := vals["Values"].(chartutil.Values)
	return &Rendered{Files: files, Values: v}, nil
}

// RenderDir loads the chart at dir and renders it with the given values files merged.
func RenderDir(dir string, valuesFiles ...string) (*Rendered, error) {
	c, err := LoadChart(dir)
	if err != nil {
		return nil, err
	}
	vals, err := ReadValuesFiles(valuesFiles...)
	if err != nil {
		return nil, err
	}
	return Render(c, vals)
}

// Decoder decodes manifests strictly: unknown fields, wrong types, bad quantities
// and duplicate map keys are errors. For built-in kinds it also converts the object
// to its structured-merge-diff form, which rejects duplicate keys in keyed lists
// (two env vars, ports or volumes of one name).
type Decoder struct {
	scheme    *runtime.Scheme
	strict    runtime.Decoder
	converter managedfields.TypeConverter
}

// NewDecoder knows the client-go scheme and the prometheus-operator monitoring/v1 kinds.
func NewDecoder() (*Decoder, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := monitoringv1.AddToScheme(s); err != nil {
		return nil, err
	}
	return &Decoder{
		scheme:    s,
		strict:    serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer(),
		converter: applyconfigurations.NewTypeConverter(clientgoscheme.Scheme),
	}, nil
}

// Decode decodes one YAML document into its typed object.
func (d *Decoder) Decode(doc string) (runtime.Object, error) {
	obj, gvk, err := d.strict.Decode([]byte(doc), nil, nil)
	if err != nil {
		return nil, err
	}
	if clientgoscheme.Scheme.Recognizes(*gvk) {
		if _, err := d.converter.ObjectToTyped(obj); err != nil {
			return nil, fmt.Errorf("%s: %w", gvk.Kind, err)
		}
	}
	return obj, nil
}

// Object is a decoded manifest.
type Object struct {
	Source string
	Obj    runtime.Object
}

// DecodeAll decodes every manifest of a render, joining all errors.
func (d *Decoder) DecodeAll(r *Rendered) ([]Object, error) {
	var objs []Object
	var errs []error
	for _, m := range r.Manifests() {
		obj, err := d.Decode(m.YAML)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.Source, err))
			continue
		}
		objs = append(objs, Object{Source: m.Source, Obj: obj})
	}
	return objs, errors.Join(errs...)
}

// CopyDir copies a directory tree (the chart) to dst, which must not exist, so that
// tests can break a copy.
func CopyDir(src, dst string) error {
	return os.CopyFS(dst, os.DirFS(src))
}
