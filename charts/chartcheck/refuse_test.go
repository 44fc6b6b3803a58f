package chartcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaRefusesBadValues: values.schema.json turns typos, wrong types and bad enums
// into install-time errors.
func TestSchemaRefusesBadValues(t *testing.T) {
	c, err := LoadChart(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, values, want string
	}{
		{"wrong type", "replicaCount: two", "/replicaCount"},
		{"unknown top-level key", "contaners: []", "additional properties 'contaners'"},
		{"unknown nested key", "spotify: {clientSecrt: x}", "additional properties 'clientSecrt'"},
		{"typo in a probe", "livenessProbe: {periodSecond: 5}", "additional properties 'periodSecond'"},
		{"latest tag", "image: {tag: latest}", "/image/tag"},
		{"bad service type", "service: {type: Ingress}", "/service/type"},
		{"bad port", "service: {port: 70000}", "/service/port"},
		{"bad log level", "config: {logLevel: verbose}", "/config/logLevel"},
		{"bad duration", "config: {refreshAhead: 5 minutes}", "/config/refreshAhead"},
		{"short admin token", "adminToken: {value: short}", "/adminToken/value"},
		{"bad size", "config: {maxReplayBody: 1 megabyte}", "/config/maxReplayBody"},
		{"bad account id", "config: {defaultAccount: 'bad id'}", "/config/defaultAccount"},
		{"both monitors", "serviceMonitor: {enabled: true}\npodMonitor: {enabled: true}", "/podMonitor/enabled"},
		{"bad quantity", "resources: {limits: {memory: lots}}", "/resources/limits/memory"},
		{"short encryption key", "encryptionKey: {value: c2hvcnQ=}", "/encryptionKey/value"},
		{"sentinel address without port", "redis: {sentinel: {masterName: m, addrs: [sentinel]}}", "/redis/sentinel/addrs/0"},
		{"non-redis url", "redis: {url: 'http://redis:6379'}", "/redis/url"},
		{"label value not a string", "networkPolicy: {allowedClientLabels: {app: 1}}", "/networkPolicy/allowedClientLabels/app"},
		{"boolean as string", "serviceAccount: {automount: 'no'}", "/serviceAccount/automount"},
		{"zero max replicas", "autoscaling: {maxReplicas: 0}", "/autoscaling/maxReplicas"},
		{"bad pull policy", "image: {pullPolicy: Sometimes}", "/image/pullPolicy"},
		{"bad spread constraint", "topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: Maybe}]", "whenUnsatisfiable"},
		{"extraEnv without name", "extraEnv: [{value: x}]", "/extraEnv/0"},
		{"security context typo", "securityContext: {readOnlyRootFileSystem: true}", "additional properties 'readOnlyRootFileSystem'"},
		{"bad seccomp type", "podSecurityContext: {seccompProfile: {type: Default}}", "/podSecurityContext/seccompProfile/type"},
		{"network policy switch as string", "networkPolicy: {enabled: 'false'}", "/networkPolicy/enabled"},
		{"client peers as a map", "networkPolicy: {allowedClientPeers: {app: web}}", "/networkPolicy/allowedClientPeers"},
		{"client peer typo", "networkPolicy: {allowedClientPeers: [{podSelectr: {matchLabels: {app: web}}}]}", "additional properties 'podSelectr'"},
		{"client peer label not a string", "networkPolicy: {allowedClientPeers: [{podSelector: {matchLabels: {app: 1}}}]}", "/networkPolicy/allowedClientPeers/0/podSelector/matchLabels/app"},
		{"allowed hosts as a string", "config: {allowedHosts: 'a.example,b.example'}", "/config/allowedHosts"},
		{"allowed host with a scheme", "config: {allowedHosts: ['https://a.example']}", "/config/allowedHosts/0"},
		{"allowed hosts with a comma", "config: {allowedHosts: ['a.example,b.example']}", "/config/allowedHosts/0"},
		{"public url without scheme", "config: {publicUrl: 'proxy.example:8080'}", "/config/publicUrl"},
		{"public url with a query", "config: {publicUrl: 'https://proxy.example/?x=1'}", "/config/publicUrl"},
		{"public admin url without scheme", "config: {publicAdminUrl: admin.example}", "/config/publicAdminUrl"},
		{"rewrite switch as string", "config: {rewriteResponseUrls: 'yes'}", "/config/rewriteResponseUrls"},
		{"bad body read timeout", "config: {bodyReadTimeout: 30 seconds}", "/config/bodyReadTimeout"},
		{"bad upstream idle timeout", "config: {upstreamIdleTimeout: 60}", "/config/upstreamIdleTimeout"},
		{"bad unauthorized refresh interval", "config: {unauthorizedRefreshInterval: soon}", "/config/unauthorizedRefreshInterval"},
		{"bad admin session ttl", "config: {adminSessionTtl: 1d}", "/config/adminSessionTtl"},
		{"bad replay memory", "config: {maxReplayMemory: 64 megs}", "/config/maxReplayMemory"},
		{"key generation as string", "encryptionKey: {generate: 'true'}", "/encryptionKey/generate"},
		{"accept plaintext as string", "encryptionKey: {acceptPlaintext: 'no'}", "/encryptionKey/acceptPlaintext"},
		{"redis auth as string", "redis: {bundled: {auth: 'on'}}", "/redis/bundled/auth"},
		{"bad cluster domain", "clusterDomain: 'Cluster Local'", "/clusterDomain"},
		{"webhook url without scheme", "webhook: {url: app.example/hook}", "/webhook/url"},
		{"webhook url with credentials", "webhook: {url: 'https://u:p@app.example/hook'}", "/webhook/url"},
		{"bad webhook retry", "webhook: {retryFor: 1 day}", "/webhook/retryFor"},
		{"bad expiry warning", "config: {expiryWarning: 14d}", "/config/expiryWarning"},
		{"bad refresh token lifetime", "config: {refreshTokenLifetime: six months}", "/config/refreshTokenLifetime"},
		{"bad validation interval", "config: {validateEvery: 1d}", "/config/validateEvery"},
		{"validation rate without a period", "config: {validateRate: '1'}", "/config/validateRate"},
		{"webhook typo", "webhook: {secretkey: x}", "additional properties 'secretkey'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(c, overlay(t, minimalValues(), tc.values))
			if err == nil {
				t.Fatalf("values %q were accepted", tc.values)
			}
			if !strings.Contains(err.Error(), "values don't meet the specifications of the schema") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want a schema error at %s, got: %v", tc.want, err)
			}
		})
	}
}

// TestRenderRefusesInconsistentValues: the checks that span several values fail the
// render with a message that says what to do.
func TestRenderRefusesInconsistentValues(t *testing.T) {
	c, err := LoadChart(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, values, want string
	}{
		{"no store with two replicas", "redis: {url: ''}", "a shared token store is required for more than one replica"},
		{"no store with autoscaling", "redis: {url: ''}\nreplicaCount: 1\nautoscaling: {enabled: true}", "a shared token store is required"},
		{"two stores", "redis: {bundled: {enabled: true}}", "choose one token store"},
		{"same default and app account", "config: {defaultAccount: app}", "must differ"},
		{"no client id", "spotify: {clientId: ''}", "spotify.clientId is required"},
		{"no client secret", "spotify: {clientSecret: ''}", "spotify.clientSecret is required"},
		{"refresh token beside existing secret", "spotify: {existingSecret: s, refreshToken: r}", "spotify.refreshToken cannot be combined"},
		{"old keys without a key", "encryptionKey: {oldValues: [MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=]}", "needs a current encryptionKey.value"},
		{"sentinel without addresses", "redis: {url: '', sentinel: {masterName: m}}", "needs both masterName and addrs"},
		{"cluster of one", "redis: {url: '', cluster: {addrs: ['a:6379']}}", "at least two"},
		{"tls with redis://", "redis: {tls: true}", "does not start with rediss://"},
		{"tls with sentinel", "redis: {url: '', tls: true, sentinel: {masterName: m, addrs: ['s:26379']}}", "redis.tls needs redis.url"},
		{"grace period too short", "terminationGracePeriodSeconds: 25", "must exceed preStopSleepSeconds + config.shutdownTimeout"},
		{"grace period vs long drain", "config: {shutdownTimeout: 1m}", "must exceed"},
		{"public service without proxy auth", "service: {type: LoadBalancer}", "exposes every linked Spotify account"},
		{"sidecar without app labels", "sidecar: {enabled: true}", "sidecar.appPodLabels is required"},
		{"sidecar without store", "redis: {url: ''}\nsidecar: {enabled: true, appPodLabels: {app: web}}", "sidecar mode needs a shared token store"},
		{"sidecar with serviceMonitor", "sidecar: {enabled: true, appPodLabels: {app: web}}\nserviceMonitor: {enabled: true}", "use podMonitor.enabled"},
		{"accept plaintext without a key", "encryptionKey: {generate: false, acceptPlaintext: true}", "encryptionKey.acceptPlaintext needs a key"},
		{"autoscaling min above max", "autoscaling: {enabled: true, minReplicas: 5, maxReplicas: 3}", "must not exceed autoscaling.maxReplicas"},
		{"webhook without a secret", "webhook: {url: 'https://app.example/hook'}", "webhook.url (or webhook.urlKey) needs webhook.existingSecret"},
		{"webhook secret without a url", "webhook: {existingSecret: s}", "there is no webhook URL"},
		{"webhook url twice", "webhook: {url: 'https://app.example/hook', urlKey: url, existingSecret: s}", "either webhook.url or webhook.urlKey"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render(c, overlay(t, minimalValues(), tc.values))
			if err == nil {
				t.Fatalf("values %q rendered", tc.values)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got: %v", tc.want, err)
			}
		})
	}
}

// TestSingleReplicaFileStoreRenders: without Redis, one replica on the embedded file
// store is the one accepted setup.
func TestSingleReplicaFileStoreRenders(t *testing.T) {
	b := renderBundle(t, overlay(t, minimalValues(), "redis: {url: ''}\nreplicaCount: 1"))
	checkAll(t, b)
	if got := b.proxyConfigMap(t).Data["TOKEN_FILE"]; got != "/data/tokens.json" {
		t.Fatalf("TOKEN_FILE = %q", got)
	}
}

// TestStrictDecodingCatchesTemplateErrors: a misspelt field or a wrong type in a
// template renders fine (helm lint passes it) but fails strict decoding.
func TestStrictDecodingCatchesTemplateErrors(t *testing.T) {
	cases := []struct {
		name, file, from, to, want string
	}{
		{"misspelt field", "deployment.yaml", "      containers:\n", "      contaners:\n", `unknown field "spec.template.spec.contaners"`},
		{"string for an int", "deployment.yaml", "containerPort: 8080", `containerPort: "eighty"`, "containerPort"},
		{"bad quantity", "pvc.yaml", "storage: {{ .Values.persistence.size }}", "storage: lots", "quantities must match"},
		{"duplicate key", "service.yaml", "  type: {{ .Values.service.type }}\n", "  type: {{ .Values.service.type }}\n  type: ClusterIP\n", "already set"},
		{"monitoring typo", "servicemonitor.yaml", "    - port: admin\n", "    - prot: admin\n", `unknown field "spec.endpoints[0].prot"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "chart")
			if err := CopyDir(chartDir, dir); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "templates", tc.file)
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(src), tc.from) {
				t.Fatalf("%s no longer contains %q; update the test", tc.file, tc.from)
			}
			broken := strings.Replace(string(src), tc.from, tc.to, 1)
			if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := LoadChart(dir)
			if err != nil {
				t.Fatal(err)
			}
			values := overlay(t, minimalValues(), "redis: {url: ''}\nreplicaCount: 1\nserviceMonitor: {enabled: true}")
			r, err := Render(c, values)
			if err != nil {
				t.Fatalf("the broken chart should still render (as helm lint passes it): %v", err)
			}
			_, err = decoder(t).DecodeAll(r)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want a decoding error containing %q, got: %v", tc.want, err)
			}
		})
	}
}

// TestDuplicateEnvIsCaught: the structured-merge-diff conversion rejects two env vars of
// one name (which the API server would merge silently on apply).
func TestDuplicateEnvIsCaught(t *testing.T) {
	c, err := LoadChart(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Render(c, overlay(t, minimalValues(), "extraEnv: [{name: SPOTIFY_CLIENT_ID, value: plain}]"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decoder(t).DecodeAll(r); err == nil || !strings.Contains(err.Error(), "duplicate entries") {
		t.Fatalf("want a duplicate entries error, got %v", err)
	}
}
