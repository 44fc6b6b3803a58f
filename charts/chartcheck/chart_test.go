package chartcheck

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// credentialEnv are the variables that carry secrets: they must come from a Secret.
var credentialEnv = []string{
	"SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "SPOTIFY_REFRESH_TOKEN",
	"ADMIN_TOKEN", "PROXY_AUTH_TOKEN", "TOKEN_ENCRYPTION_KEY", "TOKEN_ENCRYPTION_OLD_KEYS",
	"REDIS_URL", "REDIS_PASSWORD", "REDISCLI_AUTH",
}

// TestCIValues renders every ci/*.yaml, decodes each manifest strictly, and checks the
// chart's invariants on the result.
func TestCIValues(t *testing.T) {
	for _, file := range ciValuesFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			b := renderFile(t, file)
			checkAll(t, b)
		})
	}
}

func checkAll(t *testing.T, b *bundle) {
	t.Helper()
	checkNames(t, b)
	checkPodSecurity(t, b)
	checkCredentials(t, b)
	checkConfigMapAndChecksums(t, b)
	checkDeployment(t, b)
	checkStore(t, b)
	checkServices(t, b)
	checkMonitors(t, b)
	checkNetworkPolicies(t, b)
	checkAllowedHosts(t, b)
	checkEncryptionKey(t, b)
	checkHelmTest(t, b)
	checkDashboardConfigMap(t, b)
	if b.boolean("sidecar.enabled") {
		checkSidecarMode(t, b)
	}
}

// checkNames: object names are DNS subdomains, label keys and values valid, container
// port names valid IANA_SVC_NAMEs (≤ 15 characters).
func checkNames(t *testing.T, b *bundle) {
	t.Helper()
	if len(b.objs) == 0 {
		t.Fatal("nothing rendered")
	}
	for _, o := range b.objs {
		meta := objectMeta(o)
		if errs := validation.IsDNS1123Subdomain(meta.GetName()); len(errs) > 0 {
			t.Errorf("%s: name %q: %v", o.Source, meta.GetName(), errs)
		}
		if meta.GetNamespace() != "" && meta.GetNamespace() != Release.Namespace && meta.GetNamespace() != "monitoring" {
			t.Errorf("%s: unexpected namespace %q", o.Source, meta.GetNamespace())
		}
		for k, v := range meta.GetLabels() {
			if errs := validation.IsQualifiedName(k); len(errs) > 0 {
				t.Errorf("%s: label key %q: %v", o.Source, k, errs)
			}
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				t.Errorf("%s: label %s=%q: %v", o.Source, k, v, errs)
			}
		}
	}
	for _, p := range podTemplates(b) {
		for _, c := range allContainers(p.spec) {
			for _, port := range c.Ports {
				if errs := validation.IsValidPortName(port.Name); len(errs) > 0 {
					t.Errorf("%s: container %s port name %q: %v", p.source, c.Name, port.Name, errs)
				}
			}
		}
	}
}

// checkPodSecurity: every container of every pod runs non-root with a read-only root
// filesystem, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp,
// resource requests and a memory limit, and an explicitly tagged image.
func checkPodSecurity(t *testing.T, b *bundle) {
	t.Helper()
	for _, p := range podTemplates(b) {
		if p.spec.AutomountServiceAccountToken == nil || *p.spec.AutomountServiceAccountToken {
			t.Errorf("%s: automountServiceAccountToken must be false", p.source)
		}
		for _, c := range allContainers(p.spec) {
			checkContainerSecurity(t, fmt.Sprintf("%s: container %s", p.source, c.Name), p.spec.SecurityContext, c)
		}
	}
}

// checkContainerSecurity checks one container under its pod's security context (nil
// for a sidecar, which must be safe in any pod).
func checkContainerSecurity(t *testing.T, where string, psc *corev1.PodSecurityContext, c corev1.Container) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s: no securityContext", where)
		return
	}
	nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
	if !nonRoot {
		t.Errorf("%s: runAsNonRoot is not true", where)
	}
	if uid := effectiveUID(psc, sc); uid != nil && *uid == 0 {
		t.Errorf("%s: runs as uid 0", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: allowPrivilegeEscalation must be false", where)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: privileged", where)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: readOnlyRootFilesystem must be true", where)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s: capabilities must drop ALL and add none", where)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil && psc != nil {
		seccomp = psc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccompProfile must be RuntimeDefault", where)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Errorf("%s: needs cpu and memory requests", where)
	}
	if c.Resources.Limits.Memory().IsZero() {
		t.Errorf("%s: needs a memory limit", where)
	}
	checkImage(t, where, c.Image)
}

func effectiveUID(psc *corev1.PodSecurityContext, sc *corev1.SecurityContext) *int64 {
	if sc != nil && sc.RunAsUser != nil {
		return sc.RunAsUser
	}
	if psc != nil {
		return psc.RunAsUser
	}
	return nil
}

func checkImage(t *testing.T, where, image string) {
	t.Helper()
	name, digest, _ := strings.Cut(image, "@")
	slash := strings.LastIndex(name, "/")
	colon := strings.LastIndex(name, ":")
	if colon <= slash {
		if digest == "" {
			t.Errorf("%s: image %q has no tag", where, image)
		}
		return
	}
	if tag := name[colon+1:]; tag == "latest" || tag == "" {
		t.Errorf("%s: image %q must not use latest", where, image)
	}
}

// checkCredentials: credentials reach pods only through secretKeyRef, never as plain
// values; no secret given as a value appears outside a Secret; references into the
// chart's own Secret name keys that exist.
func checkCredentials(t *testing.T, b *bundle) {
	t.Helper()
	for _, p := range podTemplates(b) {
		for _, c := range allContainers(p.spec) {
			for _, e := range c.Env {
				where := fmt.Sprintf("%s: container %s env %s", p.source, c.Name, e.Name)
				if slices.Contains(credentialEnv, e.Name) {
					if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
						t.Errorf("%s: credentials must come from a secretKeyRef", where)
						continue
					}
				}
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					ref := e.ValueFrom.SecretKeyRef
					if s := b.secret(ref.Name); s != nil {
						if _, ok := s.Data[ref.Key]; !ok {
							t.Errorf("%s: key %q is not in Secret %s (has %v)", where, ref.Key, s.Name, keys(s.Data))
						}
					} else if strings.HasPrefix(ref.Name, b.ownSecretName()) {
						t.Errorf("%s: refers to the chart's Secret %s, which is not rendered", where, ref.Name)
					}
				}
			}
		}
	}
	secrets := secretValues(b)
	for _, m := range b.r.Manifests() {
		if strings.Contains(m.YAML, "\nkind: Secret\n") {
			continue
		}
		for _, s := range secrets {
			if strings.Contains(m.YAML, s) {
				t.Errorf("%s: contains the secret value %q in plain text", m.Source, s)
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(b.r.Notes(), s) {
			t.Errorf("NOTES.txt prints the secret value %q", s)
		}
	}
	for _, s := range b.secrets {
		for k, v := range s.Data {
			if len(v) == 0 {
				t.Errorf("Secret %s: key %s is empty", s.Name, k)
			}
		}
	}
}

// secret is the rendered Secret of that name, or nil.
func (b *bundle) secret(name string) *corev1.Secret {
	for _, s := range b.secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (b *bundle) ownSecretName() string {
	return b.proxyConfigMapName()
}

func (b *bundle) proxyConfigMapName() string {
	for _, cm := range b.configMaps {
		if cm.Labels["app.kubernetes.io/component"] == "proxy" {
			return cm.Name
		}
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// secretValues are the credentials given as plain values in this render.
func secretValues(b *bundle) []string {
	var out []string
	for _, p := range []string{"spotify.clientSecret", "spotify.refreshToken", "adminToken.value",
		"proxyAuthToken.value", "encryptionKey.value", "redis.password"} {
		if s := b.str(p); s != "" {
			out = append(out, s)
		}
	}
	if old, ok := b.value("encryptionKey.oldValues").([]any); ok {
		for _, v := range old {
			out = append(out, fmt.Sprint(v))
		}
	}
	if u := b.str("redis.url"); strings.Contains(u, "@") {
		out = append(out, u)
	}
	return out
}

// checkConfigMapAndChecksums: the ConfigMap holds the proxy's settings and no credential;
// the pods' checksum annotations are the hashes of the rendered ConfigMap and Secret.
func checkConfigMapAndChecksums(t *testing.T, b *bundle) {
	t.Helper()
	cm := b.proxyConfigMap(t)
	for _, k := range []string{"SPOTIFY_API_URL", "SPOTIFY_ACCOUNTS_URL", "LISTEN_ADDR", "ADMIN_ADDR",
		"DEFAULT_ACCOUNT", "APP_ACCOUNT", "REFRESH_AHEAD", "LOCK_TTL", "UPSTREAM_TIMEOUT",
		"SHUTDOWN_TIMEOUT", "MAX_REPLAY_BODY", "LOG_LEVEL", "LOG_FORMAT", "KEY_PREFIX"} {
		if cm.Data[k] == "" {
			t.Errorf("ConfigMap %s: %s missing", cm.Name, k)
		}
	}
	if got := cm.Data["ADMIN_ADDR"]; got != "0.0.0.0:9090" {
		t.Errorf("ADMIN_ADDR = %q, want 0.0.0.0:9090", got)
	}
	if !b.boolean("sidecar.enabled") && cm.Data["LISTEN_ADDR"] != "0.0.0.0:8080" {
		t.Errorf("LISTEN_ADDR = %q, want 0.0.0.0:8080", cm.Data["LISTEN_ADDR"])
	}
	for k, v := range cm.Data {
		if slices.Contains(credentialEnv, k) && !(k == "REDIS_URL" && !strings.Contains(v, "@")) {
			t.Errorf("ConfigMap %s holds the credential %s", cm.Name, k)
		}
	}
	for _, d := range b.deployments {
		ann := d.Spec.Template.Annotations
		if want := sha(b.file("/templates/configmap.yaml")); ann["checksum/config"] != want {
			t.Errorf("Deployment %s: checksum/config = %q, want %q", d.Name, ann["checksum/config"], want)
		}
		if want := sha(b.file("/templates/secret.yaml")); ann["checksum/secret"] != want {
			t.Errorf("Deployment %s: checksum/secret = %q, want %q", d.Name, ann["checksum/secret"], want)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != cm.Name {
				t.Errorf("Deployment %s: container %s must read ConfigMap %s with envFrom", d.Name, c.Name, cm.Name)
			}
		}
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// checkDeployment: probes on the admin port, grace period beyond the drain deadline,
// no replicas with an HPA.
func checkDeployment(t *testing.T, b *bundle) {
	t.Helper()
	if b.boolean("sidecar.enabled") {
		return
	}
	if len(b.deployments) != 1 {
		t.Fatalf("want one Deployment, got %d", len(b.deployments))
	}
	d := b.deployments[0]
	spec := d.Spec.Template.Spec
	if !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("Deployment selector %v does not match pod labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(spec.Containers))
	}
	c := spec.Containers[0]
	checkProxyContainer(t, "Deployment "+d.Name, c)
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Errorf("Deployment %s: want a preStop sleep so endpoints drop the pod before it stops listening", d.Name)
	}
	drain, err := time.ParseDuration(b.str("config.shutdownTimeout"))
	if err != nil {
		t.Fatalf("config.shutdownTimeout: %v", err)
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		drain += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	if spec.TerminationGracePeriodSeconds == nil || time.Duration(*spec.TerminationGracePeriodSeconds)*time.Second <= drain {
		t.Errorf("Deployment %s: terminationGracePeriodSeconds %v must exceed preStop + SHUTDOWN_TIMEOUT (%v)", d.Name, spec.TerminationGracePeriodSeconds, drain)
	}
	if len(b.hpas) > 0 {
		if d.Spec.Replicas != nil {
			t.Errorf("Deployment %s: replicas must be omitted when the HPA owns it", d.Name)
		}
		h := b.hpas[0]
		if h.Spec.ScaleTargetRef.Name != d.Name || h.Spec.ScaleTargetRef.Kind != "Deployment" {
			t.Errorf("HPA targets %v, want Deployment %s", h.Spec.ScaleTargetRef, d.Name)
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			t.Errorf("HPA replicas %v..%d", h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
	} else if d.Spec.Replicas == nil || int(*d.Spec.Replicas) != b.number("replicaCount") {
		t.Errorf("Deployment %s: replicas = %v, want replicaCount %d", d.Name, d.Spec.Replicas, b.number("replicaCount"))
	}
	if spec.ServiceAccountName == "" {
		t.Errorf("Deployment %s: no serviceAccountName", d.Name)
	}
	if b.boolean("serviceAccount.create") {
		if len(b.serviceAccounts) != 1 || b.serviceAccounts[0].Name != spec.ServiceAccountName {
			t.Errorf("ServiceAccount %s not rendered", spec.ServiceAccountName)
		} else if sa := b.serviceAccounts[0]; sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("ServiceAccount %s must not automount its token", sa.Name)
		}
	}
	replicas := b.number("replicaCount")
	if len(b.hpas) > 0 {
		replicas = b.number("autoscaling.minReplicas")
	}
	switch {
	case replicas < 2 && len(b.pdbs) > 0:
		t.Errorf("a PodDisruptionBudget with one replica blocks node drains")
	case replicas >= 2 && b.boolean("podDisruptionBudget.enabled") && len(b.pdbs) != 1:
		t.Errorf("want a PodDisruptionBudget")
	}
	for _, pdb := range b.pdbs {
		if !subset(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("PDB %s selects %v, not the proxy pods", pdb.Name, pdb.Spec.Selector.MatchLabels)
		}
	}
	for _, tsc := range spec.TopologySpreadConstraints {
		if tsc.LabelSelector == nil || !subset(tsc.LabelSelector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("topology spread constraint %s does not select the proxy pods", tsc.TopologyKey)
		}
	}
}

// checkProxyContainer: the proxy container's probes and ports (Deployment or sidecar).
func checkProxyContainer(t *testing.T, where string, c corev1.Container) {
	t.Helper()
	adminPort := ""
	for _, p := range c.Ports {
		if p.ContainerPort == 9090 {
			adminPort = p.Name
		}
	}
	if adminPort == "" {
		t.Fatalf("%s: no admin container port 9090", where)
	}
	probe := func(name string, p *corev1.Probe, path string) {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: %s probe must be an HTTP GET", where, name)
			return
		}
		if p.HTTPGet.Path != path || p.HTTPGet.Port != intstr.FromString(adminPort) {
			t.Errorf("%s: %s probe is %s on %s, want %s on the admin port %s", where, name, p.HTTPGet.Path, p.HTTPGet.Port.String(), path, adminPort)
		}
	}
	probe("liveness", c.LivenessProbe, "/healthz")
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("startup", c.StartupProbe, "/healthz")
}

// checkStore: the token store of each mode is wired up.
func checkStore(t *testing.T, b *bundle) {
	t.Helper()
	cm := b.proxyConfigMap(t)
	switch {
	case cm.Data["TOKEN_FILE"] != "":
		if cm.Data["TOKEN_FILE"] != "/data/tokens.json" {
			t.Errorf("TOKEN_FILE = %q", cm.Data["TOKEN_FILE"])
		}
		d := b.deployments[0]
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || len(b.hpas) > 0 {
			t.Errorf("the file store needs exactly one replica")
		}
		if d.Spec.Strategy.Type != "Recreate" {
			t.Errorf("file store: strategy %q, want Recreate (one writer at a time)", d.Spec.Strategy.Type)
		}
		claim := ""
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
					if m.Name == v.Name && m.MountPath == "/data" && !m.ReadOnly {
						claim = v.PersistentVolumeClaim.ClaimName
					}
				}
			}
		}
		if claim == "" {
			t.Fatalf("file store: no PVC mounted at /data")
		}
		if b.str("persistence.existingClaim") == "" {
			if len(b.pvcs) != 1 || b.pvcs[0].Name != claim {
				t.Errorf("file store: PVC %s not rendered", claim)
			} else if b.pvcs[0].Annotations["helm.sh/resource-policy"] != "keep" {
				t.Errorf("file store: the PVC holds the only copy of the tokens; want helm.sh/resource-policy: keep")
			}
		}
	case len(b.statefulSets) > 0:
		s := b.statefulSets[0]
		if s.Spec.Replicas == nil || *s.Spec.Replicas != 1 {
			t.Errorf("bundled Redis: want one replica")
		}
		if len(s.Spec.VolumeClaimTemplates) != 1 {
			t.Errorf("bundled Redis: want a volumeClaimTemplate")
		}
		c := s.Spec.Template.Spec.Containers[0]
		if cmd := strings.Join(append(c.Command, c.Args...), " "); !strings.Contains(cmd, "--appendonly yes") {
			t.Errorf("bundled Redis: append-only persistence is off: %s", cmd)
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("bundled Redis: probes missing")
		}
		mounted := false
		for _, m := range c.VolumeMounts {
			mounted = mounted || (m.MountPath == "/data" && m.Name == s.Spec.VolumeClaimTemplates[0].Name)
		}
		if !mounted {
			t.Errorf("bundled Redis: the claim is not mounted at /data")
		}
		svc := b.service(s.Name)
		if svc == nil || !subset(svc.Spec.Selector, s.Spec.Template.Labels) {
			t.Fatalf("bundled Redis: no Service %s selecting its pod", s.Name)
		}
		if want := fmt.Sprintf("redis://%s:6379/0", svc.Name); cm.Data["REDIS_URL"] != want {
			t.Errorf("bundled Redis: REDIS_URL = %q, want %q", cm.Data["REDIS_URL"], want)
		}
		checkBundledRedisAuth(t, b, c)
	case cm.Data["REDIS_MASTER_NAME"] != "":
		if n := len(strings.Split(cm.Data["REDIS_ADDRS"], ",")); n < 1 || cm.Data["REDIS_ADDRS"] == "" {
			t.Errorf("sentinel: REDIS_ADDRS = %q", cm.Data["REDIS_ADDRS"])
		}
	case cm.Data["REDIS_ADDRS"] != "":
		if n := len(strings.Split(cm.Data["REDIS_ADDRS"], ",")); n < 2 {
			t.Errorf("cluster: REDIS_ADDRS needs several nodes: %q", cm.Data["REDIS_ADDRS"])
		}
	default:
		if !hasSecretEnv(b.proxyContainer(t), "REDIS_URL") {
			t.Errorf("no token store configured: neither TOKEN_FILE, a bundled Redis, sentinel, cluster, nor REDIS_URL")
		}
	}
}

func hasSecretEnv(c corev1.Container, name string) bool {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			return true
		}
	}
	return false
}

// proxyContainer is the proxy's container: in the Deployment, or the sidecar.
func (b *bundle) proxyContainer(t *testing.T) corev1.Container {
	t.Helper()
	if len(b.deployments) > 0 {
		return b.deployments[0].Spec.Template.Spec.Containers[0]
	}
	return sidecarFromNotes(t, b)
}

func (b *bundle) service(name string) *corev1.Service {
	for _, s := range b.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// checkServices: the proxy Service targets named container ports that exist.
func checkServices(t *testing.T, b *bundle) {
	t.Helper()
	if b.boolean("sidecar.enabled") {
		if len(b.services) > 0 && len(b.statefulSets) == 0 {
			t.Errorf("sidecar mode must not create a proxy Service")
		}
		return
	}
	d := b.deployments[0]
	svc := b.service(d.Name)
	if svc == nil {
		t.Fatalf("no Service %s", d.Name)
	}
	if !subset(svc.Spec.Selector, d.Spec.Template.Labels) {
		t.Errorf("Service %s selects %v, not the proxy pods", svc.Name, svc.Spec.Selector)
	}
	names := map[string]int32{}
	for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
		names[p.Name] = p.ContainerPort
	}
	want := map[string]int32{"http": 8080, "admin": 9090}
	for _, p := range svc.Spec.Ports {
		if names[p.TargetPort.String()] != want[p.Name] {
			t.Errorf("Service %s port %s targets %s, not container port %d", svc.Name, p.Name, p.TargetPort.String(), want[p.Name])
		}
	}
	if len(svc.Spec.Ports) != 2 {
		t.Errorf("Service %s: want the http and admin ports", svc.Name)
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP && !hasSecretEnv(d.Spec.Template.Spec.Containers[0], "PROXY_AUTH_TOKEN") {
		t.Errorf("Service %s of type %s without PROXY_AUTH_TOKEN", svc.Name, svc.Spec.Type)
	}
}

// checkMonitors: ServiceMonitor and PodMonitor select the proxy and scrape /metrics on
// the admin port.
func checkMonitors(t *testing.T, b *bundle) {
	t.Helper()
	if len(b.serviceMonitors)+len(b.podMonitors) > 1 {
		t.Errorf("at most one ServiceMonitor or PodMonitor")
	}
	if b.boolean("serviceMonitor.enabled") != (len(b.serviceMonitors) == 1) {
		t.Errorf("serviceMonitor.enabled=%v but %d ServiceMonitors", b.boolean("serviceMonitor.enabled"), len(b.serviceMonitors))
	}
	if b.boolean("podMonitor.enabled") != (len(b.podMonitors) == 1) {
		t.Errorf("podMonitor.enabled=%v but %d PodMonitors", b.boolean("podMonitor.enabled"), len(b.podMonitors))
	}
	for _, sm := range b.serviceMonitors {
		svc := b.service(b.deployments[0].Name)
		if !subset(sm.Spec.Selector.MatchLabels, svc.Labels) {
			t.Errorf("ServiceMonitor selects %v, not Service %s (%v)", sm.Spec.Selector.MatchLabels, svc.Name, svc.Labels)
		}
		if !slices.Contains(sm.Spec.NamespaceSelector.MatchNames, Release.Namespace) {
			t.Errorf("ServiceMonitor namespaceSelector %v", sm.Spec.NamespaceSelector)
		}
		for k, v := range mapOf(b.value("serviceMonitor.labels")) {
			if sm.Labels[k] != v {
				t.Errorf("ServiceMonitor lacks label %s=%s", k, v)
			}
		}
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "admin" || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoints %+v, want /metrics on admin", sm.Spec.Endpoints)
		}
	}
	for _, pm := range b.podMonitors {
		var podLabels map[string]string
		wantPort := "admin"
		if b.boolean("sidecar.enabled") {
			podLabels = mapOf(b.value("sidecar.appPodLabels"))
			wantPort = sidecarFromNotes(t, b).Ports[0].Name
		} else {
			podLabels = b.deployments[0].Spec.Template.Labels
		}
		if !subset(pm.Spec.Selector.MatchLabels, podLabels) {
			t.Errorf("PodMonitor selects %v, not the pods %v", pm.Spec.Selector.MatchLabels, podLabels)
		}
		if len(pm.Spec.PodMetricsEndpoints) != 1 || ptrStr(pm.Spec.PodMetricsEndpoints[0].Port) != wantPort || pm.Spec.PodMetricsEndpoints[0].Path != "/metrics" {
			t.Errorf("PodMonitor endpoints %+v, want /metrics on %s", pm.Spec.PodMetricsEndpoints, wantPort)
		}
	}
	if b.boolean("prometheusRule.enabled") != (len(b.rules) == 1) {
		t.Errorf("prometheusRule.enabled=%v but %d PrometheusRules", b.boolean("prometheusRule.enabled"), len(b.rules))
	}
}

func ptrStr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func mapOf(v any) map[string]string {
	out := map[string]string{}
	if m, ok := v.(map[string]any); ok {
		for k, v := range m {
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// clientLabel is the pod label that admits an app to the proxy port: <fullname>-client.
func clientLabel(fullname string) string {
	if len(fullname) > 56 {
		fullname = strings.TrimRight(fullname[:56], "-")
	}
	return fullname + "-client"
}

// checkNetworkPolicies: ingress to the proxy port only from pods labelled
// <fullname>-client: "true" and the peers the values add, to the admin port only from the
// monitoring namespace (and helm test); egress only to DNS, Redis and 443; the bundled
// Redis admits only the proxy (the app's pods in sidecar mode).
func checkNetworkPolicies(t *testing.T, b *bundle) {
	t.Helper()
	if !b.boolean("networkPolicy.enabled") {
		if len(b.netpols) > 0 {
			t.Errorf("NetworkPolicies rendered while disabled")
		}
		return
	}
	if len(b.statefulSets) > 0 {
		checkRedisNetworkPolicy(t, b)
	}
	if b.boolean("sidecar.enabled") {
		for _, p := range b.netpols {
			if p.Labels["app.kubernetes.io/component"] == "proxy" {
				t.Errorf("sidecar mode rendered the proxy NetworkPolicy %s: the app's chart owns its pods", p.Name)
			}
		}
		return
	}
	d := b.deployments[0]
	var np *networkingv1.NetworkPolicy
	for _, p := range b.netpols {
		if subset(p.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
			np = p
		}
	}
	if np == nil {
		t.Fatalf("no NetworkPolicy selects the proxy pods")
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Errorf("NetworkPolicy %s: policyTypes %v, want Ingress and Egress", np.Name, np.Spec.PolicyTypes)
	}
	client := map[string]string{clientLabel(d.Name): "true"}
	extraLabels := mapOf(b.value("networkPolicy.allowedClientLabels"))
	extraNamespaces := mapOf(b.value("networkPolicy.allowedClientNamespaceLabels"))
	var extraPeers []networkingv1.NetworkPolicyPeer
	if raw, err := json.Marshal(b.value("networkPolicy.allowedClientPeers")); err != nil || json.Unmarshal(raw, &extraPeers) != nil {
		t.Fatalf("networkPolicy.allowedClientPeers: %v", err)
	}
	monitoring := mapOf(b.value("networkPolicy.monitoringNamespaceLabels"))
	var clientPeer, monitoringRule bool
	nExtra := len(b.value("networkPolicy.extraIngress").([]any))
	for i, r := range np.Spec.Ingress {
		if i >= len(np.Spec.Ingress)-nExtra {
			break // the user's own rules
		}
		if len(r.From) == 0 || len(r.Ports) == 0 {
			t.Errorf("NetworkPolicy %s: ingress rule %d allows every source or port", np.Name, i)
			continue
		}
		for _, port := range r.Ports {
			switch port.Port.String() {
			case "http":
				for _, peer := range r.From {
					switch {
					case peer.PodSelector != nil && mapsEqual(peer.PodSelector.MatchLabels, client) && peer.NamespaceSelector == nil && peer.IPBlock == nil:
						clientPeer = true
					case len(extraLabels)+len(extraNamespaces) > 0 && peer.PodSelector != nil && peer.IPBlock == nil &&
						mapsEqual(peer.PodSelector.MatchLabels, orMap(extraLabels, client)) &&
						(len(extraNamespaces) == 0) == (peer.NamespaceSelector == nil) &&
						(peer.NamespaceSelector == nil || mapsEqual(peer.NamespaceSelector.MatchLabels, extraNamespaces)):
					case slices.ContainsFunc(extraPeers, func(p networkingv1.NetworkPolicyPeer) bool { return equality.Semantic.DeepEqual(p, peer) }):
					default:
						t.Errorf("NetworkPolicy %s: proxy port open to %+v, want only pods %v and the configured peers", np.Name, peer, client)
					}
				}
			case "admin":
				for _, peer := range r.From {
					isMonitoring := peer.NamespaceSelector != nil && mapsEqual(peer.NamespaceSelector.MatchLabels, monitoring) && peer.PodSelector == nil
					isTest := peer.PodSelector != nil && peer.PodSelector.MatchLabels["app.kubernetes.io/component"] == "test" && peer.NamespaceSelector == nil
					if !isMonitoring && !isTest {
						t.Errorf("NetworkPolicy %s: admin port open to %+v", np.Name, peer)
					}
					monitoringRule = monitoringRule || isMonitoring
				}
			default:
				t.Errorf("NetworkPolicy %s: ingress on unexpected port %s", np.Name, port.Port.String())
			}
		}
	}
	if !clientPeer {
		t.Errorf("NetworkPolicy %s: the proxy port does not admit pods labelled %v", np.Name, client)
	}
	if !monitoringRule {
		t.Errorf("NetworkPolicy %s: no ingress rule admits the monitoring namespace %v on the admin port", np.Name, monitoring)
	}
	if !strings.Contains(b.r.Notes(), fmt.Sprintf("%s: \"true\"", clientLabel(d.Name))) {
		t.Errorf("NOTES.txt does not say to label the app's pods %s: \"true\"", clientLabel(d.Name))
	}
	egressPorts := map[string]bool{}
	for i, r := range np.Spec.Egress {
		if len(r.Ports) == 0 && len(r.To) == 0 {
			t.Errorf("NetworkPolicy %s: egress rule %d allows everything", np.Name, i)
		}
		for _, p := range r.Ports {
			proto := corev1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			egressPorts[fmt.Sprintf("%s/%s", p.Port.String(), proto)] = true
		}
	}
	for _, want := range []string{"53/UDP", "53/TCP", "443/TCP"} {
		if !egressPorts[want] {
			t.Errorf("NetworkPolicy %s: no egress to %s (have %v)", np.Name, want, keys(egressPorts))
		}
	}
	if cm := b.proxyConfigMap(t); cm.Data["TOKEN_FILE"] == "" {
		redisPort := false
		for p := range egressPorts {
			redisPort = redisPort || strings.HasPrefix(p, "6379/") || strings.HasPrefix(p, "6380/") || strings.HasPrefix(p, "26379/")
		}
		if !redisPort {
			t.Errorf("NetworkPolicy %s: no egress to Redis (have %v)", np.Name, keys(egressPorts))
		}
	}
}

// checkRedisNetworkPolicy: a policy selects the bundled Redis and admits only the proxy
// pods (in sidecar mode, the app's pods that carry the proxy).
func checkRedisNetworkPolicy(t *testing.T, b *bundle) {
	t.Helper()
	proxyLabels := mapOf(b.value("sidecar.appPodLabels"))
	if !b.boolean("sidecar.enabled") {
		proxyLabels = b.deployments[0].Spec.Template.Labels
	}
	found := false
	for _, p := range b.netpols {
		if !subset(p.Spec.PodSelector.MatchLabels, b.statefulSets[0].Spec.Template.Labels) {
			continue
		}
		found = true
		if !slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			t.Errorf("Redis NetworkPolicy %s does not restrict ingress", p.Name)
		}
		for _, r := range p.Spec.Ingress {
			if len(r.From) == 0 {
				t.Errorf("Redis NetworkPolicy %s admits every source", p.Name)
			}
			for _, peer := range r.From {
				if peer.PodSelector == nil || peer.NamespaceSelector != nil || peer.IPBlock != nil || !subset(peer.PodSelector.MatchLabels, proxyLabels) {
					t.Errorf("Redis NetworkPolicy admits %+v, want only the proxy pods %v", peer, proxyLabels)
				}
			}
		}
	}
	if !found {
		t.Errorf("no NetworkPolicy protects the bundled Redis")
	}
}

func orMap(m, fallback map[string]string) map[string]string {
	if len(m) > 0 {
		return m
	}
	return fallback
}

// checkAllowedHosts: ALLOWED_HOSTS holds the loopback names and, beside a Service, the
// Service's four DNS names; every extra name of the values; "*" only when asked for.
func checkAllowedHosts(t *testing.T, b *bundle) {
	t.Helper()
	got := b.proxyConfigMap(t).Data["ALLOWED_HOSTS"]
	var extra []string
	if l, ok := b.value("config.allowedHosts").([]any); ok {
		for _, h := range l {
			extra = append(extra, fmt.Sprint(h))
		}
	}
	if slices.Contains(extra, "*") {
		if got != "*" {
			t.Errorf("config.allowedHosts has *: ALLOWED_HOSTS = %q, want *", got)
		}
		return
	}
	hosts := strings.Split(got, ",")
	want := append([]string{"localhost", "127.0.0.1"}, extra...)
	if !b.boolean("sidecar.enabled") {
		svc := b.service(b.deployments[0].Name)
		if svc == nil {
			t.Fatalf("no proxy Service")
		}
		ns, domain := Release.Namespace, strings.TrimSuffix(b.str("clusterDomain"), ".")
		want = append(want, svc.Name, svc.Name+"."+ns, svc.Name+"."+ns+".svc", svc.Name+"."+ns+".svc."+domain)
	}
	if u := b.str("config.publicUrl"); u != "" {
		want = append(want, hostOf(t, u))
	}
	for _, h := range want {
		if !slices.Contains(hosts, h) {
			t.Errorf("ALLOWED_HOSTS = %q lacks %s", got, h)
		}
	}
	for _, h := range hosts {
		if h == "*" || h == "" {
			t.Errorf("ALLOWED_HOSTS = %q: an empty name or * that nobody asked for", got)
		}
	}
}

func hostOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return u.Hostname()
}

// checkEncryptionKey: TOKEN_ENCRYPTION_KEY comes from the user's Secret, the chart's
// Secret (encryptionKey.value) or, by default, the generated Secret
// <fullname>-encryption-key, which holds 32 random bytes (base64) and is kept on uninstall.
func checkEncryptionKey(t *testing.T, b *bundle) {
	t.Helper()
	c := b.proxyContainer(t)
	cm := b.proxyConfigMap(t)
	var ref *corev1.SecretKeySelector
	for _, e := range c.Env {
		if e.Name == "TOKEN_ENCRYPTION_KEY" && e.ValueFrom != nil {
			ref = e.ValueFrom.SecretKeyRef
		}
	}
	generated := b.secret(cm.Name + "-encryption-key")
	switch {
	case b.str("encryptionKey.existingSecret") != "":
		if ref == nil || ref.Name != b.str("encryptionKey.existingSecret") || ref.Key != b.str("encryptionKey.key") {
			t.Errorf("TOKEN_ENCRYPTION_KEY from %+v, want encryptionKey.existingSecret", ref)
		}
	case b.str("encryptionKey.value") != "":
		if ref == nil || ref.Name != cm.Name || ref.Key != "token-encryption-key" {
			t.Errorf("TOKEN_ENCRYPTION_KEY from %+v, want the chart's Secret", ref)
		}
	case b.boolean("encryptionKey.generate"):
		if generated == nil {
			t.Fatalf("no key given and encryptionKey.generate: want Secret %s-encryption-key", cm.Name)
		}
		if generated.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("Secret %s: want helm.sh/resource-policy: keep (tokens outlive the release)", generated.Name)
		}
		if key, err := base64.StdEncoding.DecodeString(string(generated.Data["token-encryption-key"])); err != nil || len(key) != 32 {
			t.Errorf("Secret %s: token-encryption-key is not base64 of 32 bytes (%d bytes, %v)", generated.Name, len(key), err)
		}
		if ref == nil || ref.Name != generated.Name || ref.Key != "token-encryption-key" {
			t.Errorf("TOKEN_ENCRYPTION_KEY from %+v, want Secret %s key token-encryption-key", ref, generated.Name)
		}
	default:
		if ref != nil {
			t.Errorf("TOKEN_ENCRYPTION_KEY set without a key or encryptionKey.generate")
		}
		if _, ok := cm.Data["TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT"]; ok {
			t.Errorf("TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT set without a key (the proxy refuses it)")
		}
		if !strings.Contains(b.r.Notes(), "WARNING: tokens are stored unencrypted") {
			t.Errorf("NOTES.txt does not warn that tokens are stored unencrypted")
		}
	}
	if generated != nil && !b.boolean("encryptionKey.generate") {
		t.Errorf("Secret %s rendered with encryptionKey.generate=false", generated.Name)
	}
	if ref != nil {
		if got, want := cm.Data["TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT"], fmt.Sprint(b.boolean("encryptionKey.acceptPlaintext")); got != want {
			t.Errorf("TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT = %q, want %q", got, want)
		}
	}
}

// refuseEmptyPassword: the start script exits when the password Secret's value is empty,
// rather than run Redis without requirepass.
var refuseEmptyPassword = regexp.MustCompile(`if \[ -z "\$\{REDIS_PASSWORD:-\}" \]; then\s+echo [^\n]*>&2\s+exit 1\s+fi\s+printf 'requirepass`)

// checkBundledRedisAuth: unless turned off, the bundled Redis requires a password
// (requirepass from REDIS_PASSWORD, an empty one refused), its probes authenticate
// (REDISCLI_AUTH), and the proxy reads the same Secret key as REDIS_PASSWORD.
func checkBundledRedisAuth(t *testing.T, b *bundle, redis corev1.Container) {
	t.Helper()
	var want *corev1.SecretKeySelector
	switch {
	case b.str("redis.existingSecret") != "":
		want = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: b.str("redis.existingSecret")}, Key: b.str("redis.passwordKey")}
	case b.str("redis.password") != "":
		want = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: b.ownSecretName()}, Key: "redis-password"}
	case b.boolean("redis.bundled.auth"):
		name := b.statefulSets[0].Name + "-password"
		s := b.secret(name)
		if s == nil {
			t.Fatalf("bundled Redis with auth and no password given: want the generated Secret %s", name)
		}
		if len(s.Data["redis-password"]) < 32 {
			t.Errorf("Secret %s: redis-password is %d characters, want 32 or more", name, len(s.Data["redis-password"]))
		}
		want = &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "redis-password"}
	}
	refOf := func(c corev1.Container, env string) *corev1.SecretKeySelector {
		for _, e := range c.Env {
			if e.Name == env && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return &corev1.SecretKeySelector{LocalObjectReference: e.ValueFrom.SecretKeyRef.LocalObjectReference, Key: e.ValueFrom.SecretKeyRef.Key}
			}
		}
		return nil
	}
	cmd := strings.Join(append(redis.Command, redis.Args...), " ")
	proxy := b.proxyContainer(t)
	if want == nil {
		if refOf(redis, "REDIS_PASSWORD") != nil || refOf(proxy, "REDIS_PASSWORD") != nil || strings.Contains(cmd, "requirepass") {
			t.Errorf("bundled Redis with redis.bundled.auth=false and no password still sets one")
		}
		return
	}
	for _, got := range []struct {
		where string
		ref   *corev1.SecretKeySelector
	}{{"Redis REDIS_PASSWORD", refOf(redis, "REDIS_PASSWORD")}, {"Redis REDISCLI_AUTH (probes)", refOf(redis, "REDISCLI_AUTH")}, {"proxy REDIS_PASSWORD", refOf(proxy, "REDIS_PASSWORD")}} {
		if got.ref == nil || *got.ref != *want {
			t.Errorf("%s from %+v, want Secret %s key %s", got.where, got.ref, want.Name, want.Key)
		}
	}
	if !strings.Contains(cmd, `printf 'requirepass "%s"\n' "$REDIS_PASSWORD" > /tmp/redis.conf`) ||
		!strings.Contains(cmd, "exec redis-server /tmp/redis.conf") || !refuseEmptyPassword.MatchString(cmd) {
		t.Errorf("bundled Redis: the command must set requirepass and refuse an empty password:\n%s", cmd)
	}
	for _, p := range []*corev1.Probe{redis.StartupProbe, redis.LivenessProbe, redis.ReadinessProbe} {
		if p == nil || p.Exec == nil || !strings.Contains(strings.Join(p.Exec.Command, " "), "redis-cli") {
			t.Errorf("bundled Redis: probes must run redis-cli (which reads REDISCLI_AUTH)")
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	return subset(a, b)
}

// checkHelmTest: a helm test pod calls /readyz on the admin port.
func checkHelmTest(t *testing.T, b *bundle) {
	t.Helper()
	if b.boolean("sidecar.enabled") {
		return
	}
	var test *corev1.Pod
	for _, p := range b.pods {
		if p.Annotations["helm.sh/hook"] == "test" {
			test = p
		}
	}
	if test == nil {
		t.Fatalf("no helm test pod")
	}
	args := strings.Join(test.Spec.Containers[0].Args, " ")
	want := fmt.Sprintf("http://%s:%d/readyz", b.deployments[0].Name, b.number("service.adminPort"))
	if !strings.Contains(args, want) {
		t.Errorf("helm test calls %q, want %s", args, want)
	}
	if test.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("helm test pod restartPolicy %q", test.Spec.RestartPolicy)
	}
}

// checkDashboardConfigMap: the dashboard ConfigMap carries the sidecar label and the
// JSON of files/dashboard.json.
func checkDashboardConfigMap(t *testing.T, b *bundle) {
	t.Helper()
	var found bool
	for _, cm := range b.configMaps {
		js, ok := cm.Data["spotify-token-proxy.json"]
		if !ok {
			continue
		}
		found = true
		for k, v := range mapOf(b.value("grafanaDashboard.labels")) {
			if cm.Labels[k] != v {
				t.Errorf("dashboard ConfigMap lacks the Grafana sidecar label %s=%s", k, v)
			}
		}
		if !json.Valid([]byte(js)) {
			t.Errorf("dashboard ConfigMap holds invalid JSON")
		}
		want, err := os.ReadFile(filepath.Join(chartDir, "files", "dashboard.json"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(js) != strings.TrimSpace(string(want)) {
			t.Errorf("dashboard ConfigMap differs from files/dashboard.json")
		}
	}
	if found != b.boolean("grafanaDashboard.enabled") {
		t.Errorf("grafanaDashboard.enabled=%v, dashboard rendered=%v", b.boolean("grafanaDashboard.enabled"), found)
	}
}

// checkSidecarMode: no Deployment or Service of the proxy; the NOTES carry a valid
// native sidecar container.
func checkSidecarMode(t *testing.T, b *bundle) {
	t.Helper()
	if len(b.deployments) > 0 {
		t.Errorf("sidecar mode rendered a Deployment")
	}
	c := sidecarFromNotes(t, b)
	if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("the sidecar must be an init container with restartPolicy: Always")
	}
	checkProxyContainer(t, "sidecar", c)
	checkContainerSecurity(t, "sidecar", nil, c)
	if cm := b.proxyConfigMap(t); cm.Data["LISTEN_ADDR"] != b.str("sidecar.listenAddr") {
		t.Errorf("sidecar LISTEN_ADDR = %q, want %q", cm.Data["LISTEN_ADDR"], b.str("sidecar.listenAddr"))
	}
}

// sidecarFromNotes decodes the init container that NOTES.txt tells the user to add.
func sidecarFromNotes(t *testing.T, b *bundle) corev1.Container {
	t.Helper()
	notes := b.r.Notes()
	start := strings.Index(notes, "\n  spec:\n    initContainers:\n")
	if start < 0 {
		t.Fatalf("NOTES.txt has no initContainers snippet:\n%s", notes)
	}
	var lines []string
	for _, line := range strings.Split(notes[start+1:], "\n") {
		if strings.TrimSpace(line) == "" {
			break
		}
		lines = append(lines, strings.TrimPrefix(line, "  "))
	}
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n" + strings.Join(lines, "\n") +
		"\n  containers:\n    - name: app\n      image: example/app:1.0.0\n"
	obj, err := decoder(t).Decode(pod)
	if err != nil {
		t.Fatalf("the sidecar snippet in NOTES.txt does not decode: %v\n%s", err, pod)
	}
	p := obj.(*corev1.Pod)
	if len(p.Spec.InitContainers) != 1 {
		t.Fatalf("want one init container in the snippet, got %d", len(p.Spec.InitContainers))
	}
	return p.Spec.InitContainers[0]
}

type podTemplate struct {
	source string
	spec   corev1.PodSpec
	labels map[string]string
}

func podTemplates(b *bundle) []podTemplate {
	var out []podTemplate
	for _, d := range b.deployments {
		out = append(out, podTemplate{"Deployment " + d.Name, d.Spec.Template.Spec, d.Spec.Template.Labels})
	}
	for _, s := range b.statefulSets {
		out = append(out, podTemplate{"StatefulSet " + s.Name, s.Spec.Template.Spec, s.Spec.Template.Labels})
	}
	for _, p := range b.pods {
		out = append(out, podTemplate{"Pod " + p.Name, p.Spec, p.Labels})
	}
	return out
}

func allContainers(spec corev1.PodSpec) []corev1.Container {
	return append(slices.Clone(spec.InitContainers), spec.Containers...)
}

type metaObject interface {
	GetName() string
	GetNamespace() string
	GetLabels() map[string]string
}

func objectMeta(o Object) metaObject {
	m, ok := o.Obj.(metaObject)
	if !ok {
		panic(fmt.Sprintf("%s: %T has no metadata", o.Source, o.Obj))
	}
	return m
}
