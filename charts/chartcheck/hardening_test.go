package chartcheck

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The closed defaults: what an install with only the required values gets.

const fullname = "demo-spotify-token-proxy" // release "demo" (render.go)

func bundledRedis(t *testing.T, extra string) map[string]any {
	t.Helper()
	return overlay(t, minimalValues(), "redis: {url: '', bundled: {enabled: true}}\n"+extra)
}

// TestClosedDefaults: with only the required values, the proxy port admits only pods
// labelled <fullname>-client: "true", the admin port only the monitoring namespace;
// ALLOWED_HOSTS is the Service's names and the loopback names; tokens are encrypted with
// a generated key that Helm keeps on uninstall.
func TestClosedDefaults(t *testing.T) {
	b := renderBundle(t, minimalValues())
	checkAll(t, b)
	if len(b.netpols) != 1 {
		t.Fatalf("want the proxy's NetworkPolicy by default, got %d", len(b.netpols))
	}
	np := b.netpols[0]
	http, admin := np.Spec.Ingress[0], np.Spec.Ingress[1]
	if len(http.From) != 1 || !mapsEqual(http.From[0].PodSelector.MatchLabels, map[string]string{fullname + "-client": "true"}) || http.Ports[0].Port.String() != "http" {
		t.Errorf("proxy port rule %+v, want only pods labelled %s-client: \"true\"", http, fullname)
	}
	if len(admin.From) != 1 || admin.From[0].NamespaceSelector == nil ||
		!mapsEqual(admin.From[0].NamespaceSelector.MatchLabels, map[string]string{"kubernetes.io/metadata.name": "monitoring"}) || admin.Ports[0].Port.String() != "admin" {
		t.Errorf("admin port rule %+v, want only the namespace monitoring", admin)
	}
	want := "localhost,127.0.0.1,::1," + fullname + "," + fullname + ".music," + fullname + ".music.svc," + fullname + ".music.svc.cluster.local"
	if got := b.proxyConfigMap(t).Data["ALLOWED_HOSTS"]; got != want {
		t.Errorf("ALLOWED_HOSTS = %q, want %q", got, want)
	}
	if s := b.secret(fullname + "-encryption-key"); s == nil {
		t.Errorf("no generated encryption key Secret")
	}
	if !strings.Contains(b.r.Notes(), fullname+`-client: "true"`) {
		t.Errorf("NOTES.txt does not print the client label")
	}
}

// TestBundledRedisClosedByDefault: the bundled Redis requires a generated password that
// the proxy reads, and admits only the proxy's pods.
func TestBundledRedisClosedByDefault(t *testing.T) {
	b := renderBundle(t, bundledRedis(t, ""))
	checkAll(t, b) // checkBundledRedisAuth, checkRedisNetworkPolicy
	s := b.secret(fullname + "-redis-password")
	if s == nil {
		t.Fatalf("no generated Redis password Secret")
	}
	if pw := string(s.Data["redis-password"]); len(pw) != 32 || strings.Trim(pw, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
		t.Errorf("generated Redis password %q: want 32 alphanumerics (safe inside requirepass \"…\")", pw)
	}
	if len(b.netpols) != 2 {
		t.Errorf("want the proxy's and Redis' NetworkPolicies, got %d", len(b.netpols))
	}
}

// TestClosedDefaultsTurnOff: each closed default can be opened, and then nothing of it
// is left behind.
func TestClosedDefaultsTurnOff(t *testing.T) {
	t.Run("networkPolicy.enabled=false", func(t *testing.T) {
		b := renderBundle(t, bundledRedis(t, "networkPolicy: {enabled: false}"))
		checkAll(t, b)
		if len(b.netpols) != 0 {
			t.Errorf("%d NetworkPolicies rendered while disabled", len(b.netpols))
		}
		if strings.Contains(b.r.Notes(), "-client") {
			t.Errorf("NOTES.txt asks for the client label without a NetworkPolicy")
		}
	})
	t.Run("encryptionKey.generate=false", func(t *testing.T) {
		b := renderBundle(t, overlay(t, minimalValues(), "encryptionKey: {generate: false}"))
		checkAll(t, b) // the default branch of checkEncryptionKey: no key, warning in NOTES
		if b.secret(fullname+"-encryption-key") != nil || hasSecretEnv(b.proxyContainer(t), "TOKEN_ENCRYPTION_KEY") {
			t.Errorf("a key is still generated or read")
		}
	})
	t.Run("redis.bundled.auth=false", func(t *testing.T) {
		b := renderBundle(t, bundledRedis(t, "redis: {bundled: {auth: false}}"))
		checkAll(t, b) // the no-password branch of checkBundledRedisAuth
		if b.secret(fullname+"-redis-password") != nil {
			t.Errorf("a Redis password is still generated")
		}
	})
	t.Run("config.allowedHosts=[*]", func(t *testing.T) {
		b := renderBundle(t, overlay(t, minimalValues(), "config: {allowedHosts: ['*']}"))
		checkAll(t, b)
		if got := b.proxyConfigMap(t).Data["ALLOWED_HOSTS"]; got != "*" {
			t.Errorf("ALLOWED_HOSTS = %q, want *", got)
		}
	})
	t.Run("own key and Redis password", func(t *testing.T) {
		b := renderBundle(t, bundledRedis(t, "encryptionKey: {existingSecret: my-key}\nredis: {existingSecret: my-redis}"))
		checkAll(t, b)
		if b.secret(fullname+"-encryption-key") != nil || b.secret(fullname+"-redis-password") != nil {
			t.Errorf("Secrets generated although the user gives them")
		}
	})
}

// TestNetworkPolicyOpensToConfiguredClients: the documented ways to admit more callers.
func TestNetworkPolicyOpensToConfiguredClients(t *testing.T) {
	b := renderBundle(t, overlay(t, minimalValues(), `
networkPolicy:
  allowedClientLabels: {app.kubernetes.io/name: web}
  allowedClientNamespaceLabels: {team: music}
  allowedClientPeers:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}
    - ipBlock: {cidr: 10.20.0.0/16}
  monitoringNamespaceLabels: {kubernetes.io/metadata.name: observability}
`))
	checkAll(t, b) // every http peer is the client label, the labels peer or a listed peer
	if len(b.netpols) == 0 {
		t.Fatalf("no NetworkPolicy")
	}
	from := b.netpols[0].Spec.Ingress[0].From
	if len(from) != 4 {
		t.Fatalf("proxy port peers %+v, want the client label, the labels peer and two listed peers", from)
	}
	if p := from[1]; !mapsEqual(p.PodSelector.MatchLabels, map[string]string{"app.kubernetes.io/name": "web"}) || !mapsEqual(p.NamespaceSelector.MatchLabels, map[string]string{"team": "music"}) {
		t.Errorf("labels peer %+v", p)
	}
	if from[3].IPBlock == nil || from[3].IPBlock.CIDR != "10.20.0.0/16" {
		t.Errorf("ipBlock peer %+v", from[3])
	}
	// Namespace labels alone admit the client-labelled pods of those namespaces.
	b = renderBundle(t, overlay(t, minimalValues(), "networkPolicy: {allowedClientNamespaceLabels: {team: music}}"))
	checkAll(t, b)
	if from := b.netpols[0].Spec.Ingress[0].From; len(from) != 2 {
		t.Errorf("namespace-only: proxy port peers %+v, want two", from)
	} else if p := from[1]; !mapsEqual(p.PodSelector.MatchLabels, map[string]string{fullname + "-client": "true"}) || p.NamespaceSelector == nil {
		t.Errorf("namespace-only peer %+v, want the client label in the labelled namespaces", p)
	}
}

// TestAllowedHostsFollowValues: clusterDomain, publicUrl's host and config.allowedHosts
// join the Service names; the sidecar has no Service, only loopback names.
func TestAllowedHostsFollowValues(t *testing.T) {
	b := renderBundle(t, overlay(t, minimalValues(), `
clusterDomain: corp.internal
config:
  publicUrl: https://spotify.example.com:8443/api
  allowedHosts: [proxy.example.org]
`))
	checkAll(t, b)
	want := "localhost,127.0.0.1,::1," + fullname + "," + fullname + ".music," + fullname + ".music.svc," + fullname + ".music.svc.corp.internal,spotify.example.com,proxy.example.org"
	cm := b.proxyConfigMap(t)
	if got := cm.Data["ALLOWED_HOSTS"]; got != want {
		t.Errorf("ALLOWED_HOSTS = %q, want %q", got, want)
	}
	if cm.Data["PUBLIC_URL"] != "https://spotify.example.com:8443/api" {
		t.Errorf("PUBLIC_URL = %q", cm.Data["PUBLIC_URL"])
	}
	b = renderBundle(t, overlay(t, minimalValues(), "sidecar: {enabled: true, appPodLabels: {app: web}, listenAddr: '127.0.0.2:8080'}"))
	checkAll(t, b)
	if got := b.proxyConfigMap(t).Data["ALLOWED_HOSTS"]; got != "localhost,127.0.0.1,::1,127.0.0.2" {
		t.Errorf("sidecar ALLOWED_HOSTS = %q, want the loopback names and the listen host", got)
	}
}

// TestEgressFollowsSpotifyURLs: a non-443 API (an emulator, a corporate egress proxy) is
// reachable through the default NetworkPolicy.
func TestEgressFollowsSpotifyURLs(t *testing.T) {
	b := renderBundle(t, overlay(t, minimalValues(), "config: {apiUrl: 'http://spotify-emulator:8081', accountsUrl: 'http://spotify-emulator'}"))
	checkAll(t, b)
	if len(b.netpols) == 0 {
		t.Fatalf("no NetworkPolicy")
	}
	var ports []string
	for _, r := range b.netpols[0].Spec.Egress {
		for _, p := range r.Ports {
			ports = append(ports, p.Port.String())
		}
	}
	for _, want := range []string{"443", "8081", "80"} {
		if !slices.Contains(ports, want) {
			t.Errorf("egress ports %v lack %s", ports, want)
		}
	}
}

// TestGeneratedSecretsSurviveUpgrade: the generated key and password are random per
// render without a cluster (`helm template`), but `helm upgrade` against a cluster
// holding them renders them unchanged, and so does a reinstall that finds the kept key.
// Without the lookup every upgrade would re-key the store and lock out every token.
func TestGeneratedSecretsSurviveUpgrade(t *testing.T) {
	c, err := LoadChart(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	values := bundledRedis(t, "")
	generated := func(r *Rendered) (key, password string) {
		t.Helper()
		objs, err := decoder(t).DecodeAll(r)
		if err != nil {
			t.Fatal(err)
		}
		b := index(r, objs)
		k, p := b.secret(fullname+"-encryption-key"), b.secret(fullname+"-redis-password")
		if k == nil || p == nil {
			t.Fatalf("generated Secrets missing")
		}
		return string(k.Data["token-encryption-key"]), string(p.Data["redis-password"])
	}
	r1, err := Render(c, values)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Render(c, values)
	if err != nil {
		t.Fatal(err)
	}
	k1, p1 := generated(r1)
	k2, p2 := generated(r2)
	if k1 == k2 || p1 == p2 {
		t.Fatalf("two renders without a cluster gave the same key or password: the test below would prove nothing")
	}

	existingKey := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	cluster := []runtime.Object{
		secret(fullname+"-encryption-key", "token-encryption-key", existingKey),
		secret(fullname+"-redis-password", "redis-password", "the-password-redis-already-has"),
	}
	upgrade := chartutil.ReleaseOptions{Name: Release.Name, Namespace: Release.Namespace, IsUpgrade: true, Revision: 2}
	for _, rel := range []struct {
		name string
		opts chartutil.ReleaseOptions
	}{{"upgrade", upgrade}, {"reinstall after uninstall", Release}} {
		r, err := RenderInCluster(c, values, rel.opts, cluster...)
		if err != nil {
			t.Fatalf("%s: %v", rel.name, err)
		}
		k, p := generated(r)
		if k != existingKey {
			t.Errorf("%s: the encryption key changed to %q, want the existing %q", rel.name, k, existingKey)
		}
		if p != "the-password-redis-already-has" {
			t.Errorf("%s: the Redis password changed to %q", rel.name, p)
		}
	}

	// A first install against an empty cluster generates (lookup finds nothing).
	r, err := RenderInCluster(c, values, Release)
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := generated(r); k == existingKey || k == "" {
		t.Errorf("install on an empty cluster: key %q", k)
	}

	// A Secret that lost its key is an error, never a silent new key.
	broken := []runtime.Object{secret(fullname+"-encryption-key", "something-else", "x")}
	if _, err := RenderInCluster(c, values, upgrade, broken...); err == nil || !strings.Contains(err.Error(), "exists but has no key token-encryption-key") {
		t.Errorf("want a refusal for a Secret without its key, got %v", err)
	}
}

func secret(name, key, value string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Release.Namespace},
		Data:       map[string][]byte{key: []byte(value)},
	}
}

// TestKeyGeneratedOnUpgradeMigratesPlaintext: a release that stored tokens without a key
// gets one generated by its next upgrade; the proxy must then still read the plaintext
// records (TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT) or every account would break. The generated
// Secret remembers it (annotation) for the later upgrades, until the operator removes it.
func TestKeyGeneratedOnUpgradeMigratesPlaintext(t *testing.T) {
	c, err := LoadChart(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	upgrade := chartutil.ReleaseOptions{Name: Release.Name, Namespace: Release.Namespace, IsUpgrade: true, Revision: 2}
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	marked := secret(fullname+"-encryption-key", "token-encryption-key", key)
	marked.Annotations = map[string]string{"spotify-token-proxy/accept-plaintext": "true"}
	cases := []struct {
		name    string
		rel     chartutil.ReleaseOptions
		values  string
		cluster []runtime.Object
		want    string
	}{
		{"first install", Release, "", nil, "false"},
		{"upgrade that generates the first key", upgrade, "", nil, "true"},
		{"later upgrade, still marked", upgrade, "", []runtime.Object{marked}, "true"},
		{"later upgrade, mark removed", upgrade, "", []runtime.Object{secret(fullname+"-encryption-key", "token-encryption-key", key)}, "false"},
		{"upgrade with the user's key", upgrade, "encryptionKey: {existingSecret: my-key}", nil, "false"},
		{"upgrade with the user's key, asked", upgrade, "encryptionKey: {existingSecret: my-key, acceptPlaintext: true}", nil, "true"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := RenderInCluster(c, overlay(t, minimalValues(), tc.values), tc.rel, tc.cluster...)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := decoder(t).DecodeAll(r)
			if err != nil {
				t.Fatal(err)
			}
			b := index(r, objs)
			if got := b.proxyConfigMap(t).Data["TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT"]; got != tc.want {
				t.Errorf("TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT = %q, want %s", got, tc.want)
			}
			if s := b.secret(fullname + "-encryption-key"); s != nil {
				mark := s.Annotations["spotify-token-proxy/accept-plaintext"] == "true"
				if mark != (tc.want == "true") {
					t.Errorf("generated Secret annotation accept-plaintext = %v, want %v", mark, tc.want == "true")
				}
				if !strings.Contains(r.Notes(), "spotify-token-proxy/accept-plaintext-") != !mark {
					t.Errorf("NOTES.txt and the migration disagree (mark %v)", mark)
				}
			}
		})
	}
}
