package chartcheck

import (
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart under test, relative to this package.
const chartDir = "../spotify-token-proxy"

var sharedDecoder = sync.OnceValues(NewDecoder)

func decoder(t *testing.T) *Decoder {
	t.Helper()
	d, err := sharedDecoder()
	if err != nil {
		t.Fatalf("decoder: %v", err)
	}
	return d
}

// ciValuesFiles lists ci/*.yaml; every mode of the chart has one.
func ciValuesFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) < 7 {
		t.Fatalf("expected a ci/*.yaml per mode, found %v", files)
	}
	return files
}

// minimalValues are the required values: credentials and a shared store.
func minimalValues() map[string]any {
	return map[string]any{
		"spotify": map[string]any{"clientId": "ci-client-id", "clientSecret": "ci-client-secret"},
		"redis":   map[string]any{"url": "redis://redis.data.svc:6379/0"},
	}
}

// overlay merges a YAML overlay onto base (overlay wins).
func overlay(t *testing.T, base map[string]any, yamlText string) map[string]any {
	t.Helper()
	var o map[string]any
	if err := yaml.Unmarshal([]byte(yamlText), &o); err != nil {
		t.Fatalf("overlay: %v", err)
	}
	return mergeMaps(base, o)
}

func mergeMaps(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeMaps(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// bundle is a decoded render, indexed by kind.
type bundle struct {
	r               *Rendered
	objs            []Object
	deployments     []*appsv1.Deployment
	statefulSets    []*appsv1.StatefulSet
	pods            []*corev1.Pod
	services        []*corev1.Service
	configMaps      []*corev1.ConfigMap
	secrets         []*corev1.Secret
	pvcs            []*corev1.PersistentVolumeClaim
	serviceAccounts []*corev1.ServiceAccount
	hpas            []*autoscalingv2.HorizontalPodAutoscaler
	pdbs            []*policyv1.PodDisruptionBudget
	netpols         []*networkingv1.NetworkPolicy
	serviceMonitors []*monitoringv1.ServiceMonitor
	podMonitors     []*monitoringv1.PodMonitor
	rules           []*monitoringv1.PrometheusRule
}

func index(r *Rendered, objs []Object) *bundle {
	b := &bundle{r: r, objs: objs}
	for _, o := range objs {
		switch v := o.Obj.(type) {
		case *appsv1.Deployment:
			b.deployments = append(b.deployments, v)
		case *appsv1.StatefulSet:
			b.statefulSets = append(b.statefulSets, v)
		case *corev1.Pod:
			b.pods = append(b.pods, v)
		case *corev1.Service:
			b.services = append(b.services, v)
		case *corev1.ConfigMap:
			b.configMaps = append(b.configMaps, v)
		case *corev1.Secret:
			b.secrets = append(b.secrets, v)
		case *corev1.PersistentVolumeClaim:
			b.pvcs = append(b.pvcs, v)
		case *corev1.ServiceAccount:
			b.serviceAccounts = append(b.serviceAccounts, v)
		case *autoscalingv2.HorizontalPodAutoscaler:
			b.hpas = append(b.hpas, v)
		case *policyv1.PodDisruptionBudget:
			b.pdbs = append(b.pdbs, v)
		case *networkingv1.NetworkPolicy:
			b.netpols = append(b.netpols, v)
		case *monitoringv1.ServiceMonitor:
			b.serviceMonitors = append(b.serviceMonitors, v)
		case *monitoringv1.PodMonitor:
			b.podMonitors = append(b.podMonitors, v)
		case *monitoringv1.PrometheusRule:
			b.rules = append(b.rules, v)
		}
	}
	return b
}

// renderBundle renders values, decodes strictly, and fails the test on any error.
func renderBundle(t *testing.T, values map[string]any) *bundle {
	t.Helper()
	c, err := LoadChart(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	r, err := Render(c, values)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	objs, err := decoder(t).DecodeAll(r)
	if err != nil {
		t.Fatalf("strict decoding:\n%v", err)
	}
	return index(r, objs)
}

func renderFile(t *testing.T, file string) *bundle {
	t.Helper()
	vals, err := ReadValuesFiles(file)
	if err != nil {
		t.Fatal(err)
	}
	return renderBundle(t, vals)
}

// proxyConfigMap is the ConfigMap read with envFrom by the proxy.
func (b *bundle) proxyConfigMap(t *testing.T) *corev1.ConfigMap {
	t.Helper()
	for _, cm := range b.configMaps {
		if cm.Labels["app.kubernetes.io/component"] == "proxy" {
			return cm
		}
	}
	t.Fatal("no proxy ConfigMap rendered")
	return nil
}

func (b *bundle) ownSecret() *corev1.Secret {
	for _, s := range b.secrets {
		if s.Labels["app.kubernetes.io/component"] == "proxy" {
			return s
		}
	}
	return nil
}

func (b *bundle) file(suffix string) string {
	for name, text := range b.r.Files {
		if strings.HasSuffix(name, suffix) {
			return text
		}
	}
	return ""
}

// value digs a dotted path out of the coalesced values.
func (b *bundle) value(path string) any {
	var cur any = map[string]any(b.r.Values)
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func (b *bundle) str(path string) string {
	s, _ := b.value(path).(string)
	return s
}

func (b *bundle) boolean(path string) bool {
	v, _ := b.value(path).(bool)
	return v
}

func (b *bundle) number(path string) int {
	switch v := b.value(path).(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	}
	return 0
}

// subset reports whether every key of sel has the same value in labels.
func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
