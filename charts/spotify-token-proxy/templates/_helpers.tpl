{{/* vim: set filetype=mustache: */}}

{{/* Chart name, truncated to 63 characters (DNS label). */}}
{{- define "spotify-token-proxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart> unless the release name already contains the chart name. */}}
{{- define "spotify-token-proxy.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "spotify-token-proxy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "spotify-token-proxy.labels" -}}
{{- $base := dict
  "helm.sh/chart" (include "spotify-token-proxy.chart" .)
  "app.kubernetes.io/name" (include "spotify-token-proxy.name" .)
  "app.kubernetes.io/instance" .Release.Name
  "app.kubernetes.io/version" (include "spotify-token-proxy.imageTag" . | trunc 63)
  "app.kubernetes.io/managed-by" .Release.Service
  "app.kubernetes.io/part-of" "spotify-token-proxy" }}
{{- toYaml (merge $base (.Values.commonLabels | default dict)) }}
{{- end }}

{{/* Labels of the proxy pods: selector labels win over podLabels and commonLabels. */}}
{{- define "spotify-token-proxy.podLabels" -}}
{{- $l := include "spotify-token-proxy.selectorLabels" . | fromYaml }}
{{- $_ := set $l "app.kubernetes.io/version" (include "spotify-token-proxy.imageTag" . | trunc 63) }}
{{- toYaml (merge $l (.Values.podLabels | default dict) (.Values.commonLabels | default dict)) }}
{{- end }}

{{/* Selector labels of the proxy pods. */}}
{{- define "spotify-token-proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spotify-token-proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: proxy
{{- end }}

{{/* Selector labels of the bundled Redis pod. */}}
{{- define "spotify-token-proxy.redis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spotify-token-proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end }}

{{- define "spotify-token-proxy.redis.fullname" -}}
{{- printf "%s-redis" (include "spotify-token-proxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "spotify-token-proxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "spotify-token-proxy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "spotify-token-proxy.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "spotify-token-proxy.image" -}}
{{- $repo := .Values.image.repository }}
{{- if .Values.image.registry }}
{{- $repo = printf "%s/%s" .Values.image.registry .Values.image.repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" $repo (include "spotify-token-proxy.imageTag" .) .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (include "spotify-token-proxy.imageTag" .) }}
{{- end }}
{{- end }}

{{- define "spotify-token-proxy.redis.image" -}}
{{- $i := .Values.redis.bundled.image }}
{{- if $i.registry }}
{{- printf "%s/%s:%s" $i.registry $i.repository $i.tag }}
{{- else }}
{{- printf "%s:%s" $i.repository $i.tag }}
{{- end }}
{{- end }}

{{- define "spotify-token-proxy.configMapName" -}}
{{- include "spotify-token-proxy.fullname" . }}
{{- end }}

{{/* Name of the chart-managed Secret (credentials given as values). */}}
{{- define "spotify-token-proxy.secretName" -}}
{{- include "spotify-token-proxy.fullname" . }}
{{- end }}

{{/* Name of the Secret holding the generated token encryption key. */}}
{{- define "spotify-token-proxy.encryptionKeySecretName" -}}
{{- printf "%s-encryption-key" (include "spotify-token-proxy.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Whether the chart generates the token encryption key: no key and no Secret given. */}}
{{- define "spotify-token-proxy.generatesEncryptionKey" -}}
{{- with .Values.encryptionKey }}{{ if and .generate (not .value) (not .existingSecret) }}true{{ end }}{{ end }}
{{- end }}

{{/* Whether the proxy has a token encryption key (given or generated). */}}
{{- define "spotify-token-proxy.hasEncryptionKey" -}}
{{- if or .Values.encryptionKey.value .Values.encryptionKey.existingSecret (include "spotify-token-proxy.generatesEncryptionKey" .) }}true{{ end }}
{{- end }}

{{/*
Whether the proxy must read records stored without encryption
(TOKEN_ENCRYPTION_ACCEPT_PLAINTEXT): encryptionKey.acceptPlaintext, or the key is generated
by an upgrade of a release that had none, so the store may hold plaintext records (sealed on
their next write). The generated Secret remembers that in the annotation
spotify-token-proxy/accept-plaintext: "true" for the later upgrades; remove the annotation
once every record has been rewritten.
*/}}
{{- define "spotify-token-proxy.acceptPlaintext" -}}
{{- if .Values.encryptionKey.acceptPlaintext }}true
{{- else if include "spotify-token-proxy.generatesEncryptionKey" . }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "spotify-token-proxy.encryptionKeySecretName" .) }}
{{- if $existing }}
{{- if eq (dig "metadata" "annotations" "spotify-token-proxy/accept-plaintext" "" $existing) "true" }}true{{ end }}
{{- else if .Release.IsUpgrade }}true
{{- end }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding the generated password of the bundled Redis. */}}
{{- define "spotify-token-proxy.redis.passwordSecretName" -}}
{{- printf "%s-password" (include "spotify-token-proxy.redis.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Whether the chart generates the bundled Redis' password: auth on, no password and no Secret given. */}}
{{- define "spotify-token-proxy.generatesRedisPassword" -}}
{{- with .Values.redis }}{{ if and .bundled.enabled .bundled.auth (not .password) (not .existingSecret) }}true{{ end }}{{ end }}
{{- end }}

{{/*
The Secret (name, key) holding the bundled Redis' password, as a dict; empty when Redis runs without one.
*/}}
{{- define "spotify-token-proxy.redis.passwordRef" -}}
{{- if .Values.redis.existingSecret }}
{{- dict "name" .Values.redis.existingSecret "key" .Values.redis.passwordKey | toJson }}
{{- else if .Values.redis.password }}
{{- dict "name" (include "spotify-token-proxy.secretName" .) "key" "redis-password" | toJson }}
{{- else if include "spotify-token-proxy.generatesRedisPassword" . }}
{{- dict "name" (include "spotify-token-proxy.redis.passwordSecretName" .) "key" "redis-password" | toJson }}
{{- else }}
{{- dict | toJson }}
{{- end }}
{{- end }}

{{/*
The base64 data of one key of a Secret the chart generates, so that it never changes once
created: the value in the cluster's Secret of that name when it exists (`helm upgrade`, or an
install after an uninstall that kept the Secret), else .fresh (base64). `lookup` answers an
empty map without a cluster (`helm template`, client-side --dry-run): then .fresh is used.
A Secret that exists without the key fails the render rather than replacing a key that data
may depend on.
  dict "root" $ "name" SECRET "key" KEY "fresh" BASE64
*/}}
{{- define "spotify-token-proxy.keptSecretData" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .name }}
{{- if $existing }}
{{- $old := dig "data" .key "" $existing }}
{{- if not $old }}
{{- fail (printf "Secret %s exists but has no key %s: restore it (the chart never regenerates it), or delete the Secret to start over" .name .key) }}
{{- end }}
{{- $old }}
{{- else }}
{{- .fresh }}
{{- end }}
{{- end }}

{{/* Label key that admits an app's pods to the proxy port: <fullname>-client ("true"). */}}
{{- define "spotify-token-proxy.clientLabel" -}}
{{- printf "%s-client" (include "spotify-token-proxy.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{/*
ALLOWED_HOSTS: the loopback names (the proxy's own default, and how a sidecar is called),
the Service's DNS names (not in sidecar mode, which has no Service) or the sidecar's
listen host, PUBLIC_URL's host and config.allowedHosts; "*" when that lists "*".
*/}}
{{- define "spotify-token-proxy.allowedHosts" -}}
{{- $hosts := list "localhost" "127.0.0.1" "::1" }}
{{- if .Values.sidecar.enabled }}
{{- $host := regexReplaceAll ":[0-9]+$" .Values.sidecar.listenAddr "" | trimPrefix "[" | trimSuffix "]" }}
{{- if not (has $host (list "" "0.0.0.0" "::")) }}{{ $hosts = append $hosts $host }}{{ end }}
{{- else }}
{{- $svc := include "spotify-token-proxy.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $hosts = concat $hosts (list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns (trimSuffix "." .Values.clusterDomain))) }}
{{- end }}
{{- with .Values.config.publicUrl }}{{ $hosts = append $hosts (urlParse .).hostname }}{{ end }}
{{- if has "*" .Values.config.allowedHosts }}*
{{- else }}
{{- concat $hosts .Values.config.allowedHosts | uniq | join "," }}
{{- end }}
{{- end }}

{{/* TCP ports of config.apiUrl and config.accountsUrl (443 for https, 80 for http), plus 443 (JSON list). */}}
{{- define "spotify-token-proxy.spotifyPorts" -}}
{{- $ports := list 443 }}
{{- range list .Values.config.apiUrl .Values.config.accountsUrl }}
{{- $u := urlParse . }}
{{- $p := regexFind ":[0-9]+$" $u.host | trimPrefix ":" }}
{{- if $p }}{{ $ports = append $ports (int $p) }}{{ else if eq $u.scheme "http" }}{{ $ports = append $ports 80 }}{{ end }}
{{- end }}
{{- $ports | uniq | toJson }}
{{- end }}

{{- define "spotify-token-proxy.dataClaimName" -}}
{{- default (printf "%s-data" (include "spotify-token-proxy.fullname" .)) .Values.persistence.existingClaim }}
{{- end }}

{{/*
Token store mode: one of url, sentinel, cluster, bundled, file. Fails when the
configuration is ambiguous or when several replicas would share no store.
*/}}
{{- define "spotify-token-proxy.storeMode" -}}
{{- $r := .Values.redis }}
{{- $modes := list }}
{{- if or $r.sentinel.masterName $r.sentinel.addrs }}{{ $modes = append $modes "sentinel" }}{{ end }}
{{- if $r.cluster.addrs }}{{ $modes = append $modes "cluster" }}{{ end }}
{{- if $r.bundled.enabled }}{{ $modes = append $modes "bundled" }}{{ end }}
{{- if or $r.url (and $r.existingSecret (not $modes)) }}{{ $modes = append $modes "url" }}{{ end }}
{{- if gt (len $modes) 1 }}
{{- fail (printf "choose one token store: redis.url/existingSecret, redis.sentinel, redis.cluster or redis.bundled (got %s)" (join ", " $modes)) }}
{{- else if eq (len $modes) 1 }}
{{- first $modes }}
{{- else if .Values.sidecar.enabled }}
{{- fail "sidecar mode needs a shared token store: every app replica runs its own proxy; set redis.url (or redis.existingSecret), redis.sentinel, redis.cluster or redis.bundled.enabled" }}
{{- else if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}
{{- fail "a shared token store is required for more than one replica: set redis.url (or redis.existingSecret), redis.sentinel, redis.cluster or redis.bundled.enabled=true; or use replicaCount: 1 with the embedded file store on a PVC" }}
{{- else }}
{{- "file" }}
{{- end }}
{{- end }}

{{/* Whether a proxy replica count above one can happen. */}}
{{- define "spotify-token-proxy.multiReplica" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}

{{/* Seconds of a Go duration such as 20s, 1m30s or 500ms (as a float). */}}
{{- define "spotify-token-proxy.durationSeconds" -}}
{{- $total := 0.0 }}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" . -1 }}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" . | float64 }}
{{- $unit := regexReplaceAll "^[0-9]+(\\.[0-9]+)?" . "" }}
{{- $mul := dict "ns" 0.000000001 "us" 0.000001 "µs" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 }}
{{- $total = addf $total (mulf $num (get $mul $unit)) }}
{{- end }}
{{- $total }}
{{- end }}

{{/*
Checks that cross several values (values.schema.json covers single values).
Included from the ConfigMap, which renders in every mode.
*/}}
{{- define "spotify-token-proxy.validate" -}}
{{- $mode := include "spotify-token-proxy.storeMode" . }}
{{- $s := .Values.spotify }}
{{- if not $s.existingSecret }}
{{- if not $s.clientId }}{{ fail "spotify.clientId is required (or spotify.existingSecret)" }}{{ end }}
{{- if not $s.clientSecret }}{{ fail "spotify.clientSecret is required (or spotify.existingSecret)" }}{{ end }}
{{- else if $s.refreshToken }}
{{- fail "spotify.refreshToken cannot be combined with spotify.existingSecret: put it in that Secret under spotify.refreshTokenKey" }}
{{- end }}
{{- if and .Values.encryptionKey.existingSecret .Values.encryptionKey.oldValues }}
{{- fail "encryptionKey.oldValues cannot be combined with encryptionKey.existingSecret: put them in that Secret under encryptionKey.oldKeysKey" }}
{{- end }}
{{- if and .Values.encryptionKey.oldValues (not (or .Values.encryptionKey.value .Values.encryptionKey.existingSecret)) }}
{{- fail "encryptionKey.oldValues needs a current encryptionKey.value" }}
{{- end }}
{{- with .Values.webhook }}
{{- if and (or .url .urlKey) (not .existingSecret) }}
{{- fail "webhook.url (or webhook.urlKey) needs webhook.existingSecret: a Secret holding the signing secret (whsec_<base64>) under webhook.secretKey" }}
{{- end }}
{{- if and .existingSecret (not (or .url .urlKey)) }}
{{- fail "webhook.existingSecret is set but there is no webhook URL: set webhook.url or webhook.urlKey" }}
{{- end }}
{{- if and .url .urlKey }}
{{- fail "set either webhook.url or webhook.urlKey, not both" }}
{{- end }}
{{- end }}
{{- if eq .Values.config.defaultAccount .Values.config.appAccount }}
{{- fail "config.defaultAccount and config.appAccount must differ: the app account uses the client-credentials grant" }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled .Values.podMonitor.enabled }}
{{- fail "enable either serviceMonitor or podMonitor, not both: each would scrape the same pods" }}
{{- end }}
{{- $r := .Values.redis }}
{{- if eq $mode "sentinel" }}
{{- if not (and $r.sentinel.masterName $r.sentinel.addrs) }}{{ fail "redis.sentinel needs both masterName and addrs" }}{{ end }}
{{- end }}
{{- if and (eq $mode "cluster") (lt (len $r.cluster.addrs) 2) }}
{{- fail "redis.cluster.addrs needs at least two node addresses (one address means a single Redis: use redis.url)" }}
{{- end }}
{{- if $r.tls }}
{{- if ne $mode "url" }}{{ fail "redis.tls needs redis.url (or redis.existingSecret) with a rediss:// URL: the proxy takes TLS from the URL scheme" }}{{ end }}
{{- if and $r.url (not (hasPrefix "rediss://" $r.url)) }}{{ fail "redis.tls is set but redis.url does not start with rediss://" }}{{ end }}
{{- end }}
{{- if and $r.url (not (or (hasPrefix "redis://" $r.url) (hasPrefix "rediss://" $r.url))) }}
{{- fail "redis.url must start with redis:// or rediss://" }}
{{- end }}
{{- if and (eq $mode "file") .Values.autoscaling.enabled }}
{{- fail "autoscaling needs a shared token store (redis.*), not the embedded file store" }}
{{- end }}
{{- $grace := float64 .Values.terminationGracePeriodSeconds }}
{{- $drain := addf (include "spotify-token-proxy.durationSeconds" .Values.config.shutdownTimeout | float64) (float64 .Values.preStopSleepSeconds) }}
{{- if le $grace $drain }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed preStopSleepSeconds + config.shutdownTimeout (%v s), or the proxy is killed while draining" .Values.terminationGracePeriodSeconds $drain) }}
{{- end }}
{{- if and (ne .Values.service.type "ClusterIP") (not (or .Values.proxyAuthToken.value .Values.proxyAuthToken.existingSecret)) }}
{{- fail (printf "service.type %s exposes every linked Spotify account beyond the cluster: set proxyAuthToken.value or proxyAuthToken.existingSecret" .Values.service.type) }}
{{- end }}
{{- if .Values.sidecar.enabled }}
{{- if not .Values.sidecar.appPodLabels }}{{ fail "sidecar.appPodLabels is required in sidecar mode: the labels of the app's pods that carry the proxy" }}{{ end }}
{{- if .Values.serviceMonitor.enabled }}{{ fail "serviceMonitor needs the proxy Service, which sidecar mode does not create: use podMonitor.enabled" }}{{ end }}
{{- if .Values.autoscaling.enabled }}{{ fail "autoscaling does not apply in sidecar mode: the proxy scales with the app's pods" }}{{ end }}
{{- end }}
{{- if and .Values.encryptionKey.acceptPlaintext (not (include "spotify-token-proxy.hasEncryptionKey" .)) }}
{{- fail "encryptionKey.acceptPlaintext needs a key: encryptionKey.value, encryptionKey.existingSecret or encryptionKey.generate" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail "autoscaling.minReplicas must not exceed autoscaling.maxReplicas" }}
{{- end }}
{{- end }}

{{/* A secretKeyRef env entry: dict "name" ENV "secret" NAME "key" KEY "optional" BOOL */}}
{{- define "spotify-token-proxy.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret | quote }}
      key: {{ .key | quote }}
      {{- if get . "optional" }}
      optional: true
      {{- end }}
{{- end }}

{{/*
Credentials, always read from a Secret: the user's existing Secret or the chart's.
*/}}
{{- define "spotify-token-proxy.credentialEnv" -}}
{{- $own := include "spotify-token-proxy.secretName" . }}
{{- $mode := include "spotify-token-proxy.storeMode" . }}
{{- with .Values.spotify }}
{{- if .existingSecret }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "SPOTIFY_CLIENT_ID" "secret" .existingSecret "key" .clientIdKey) }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "SPOTIFY_CLIENT_SECRET" "secret" .existingSecret "key" .clientSecretKey) }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "SPOTIFY_REFRESH_TOKEN" "secret" .existingSecret "key" .refreshTokenKey "optional" true) }}
{{- else }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "SPOTIFY_CLIENT_ID" "secret" $own "key" "client-id") }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "SPOTIFY_CLIENT_SECRET" "secret" $own "key" "client-secret") }}
{{- if .refreshToken }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "SPOTIFY_REFRESH_TOKEN" "secret" $own "key" "refresh-token") }}
{{- end }}
{{- end }}
{{- end }}
{{- range $env, $v := dict "ADMIN_TOKEN" .Values.adminToken "PROXY_AUTH_TOKEN" .Values.proxyAuthToken "TOKEN_ENCRYPTION_KEY" .Values.encryptionKey }}
{{- if $v.existingSecret }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" $env "secret" $v.existingSecret "key" $v.key) }}
{{- else if $v.value }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" $env "secret" $own "key" (lower $env | replace "_" "-")) }}
{{- end }}
{{- end }}
{{- with .Values.webhook }}
{{- if .existingSecret }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "WEBHOOK_SECRET" "secret" .existingSecret "key" .secretKey) }}
{{- if .urlKey }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "WEBHOOK_URL" "secret" .existingSecret "key" .urlKey) }}
{{- end }}
{{- end }}
{{- end }}
{{- if include "spotify-token-proxy.generatesEncryptionKey" . }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "TOKEN_ENCRYPTION_KEY" "secret" (include "spotify-token-proxy.encryptionKeySecretName" .) "key" "token-encryption-key") }}
{{- end }}
{{- with .Values.encryptionKey }}
{{- if .existingSecret }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "TOKEN_ENCRYPTION_OLD_KEYS" "secret" .existingSecret "key" .oldKeysKey "optional" true) }}
{{- else if .oldValues }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "TOKEN_ENCRYPTION_OLD_KEYS" "secret" $own "key" "token-encryption-old-keys") }}
{{- end }}
{{- end }}
{{- with .Values.redis }}
{{- if eq $mode "url" }}
{{- if .url }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "REDIS_URL" "secret" $own "key" "redis-url") }}
{{- else }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "REDIS_URL" "secret" .existingSecret "key" .key) }}
{{- end }}
{{- else if has $mode (list "sentinel" "cluster") }}
{{- if .existingSecret }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "REDIS_PASSWORD" "secret" .existingSecret "key" .passwordKey) }}
{{- else if .password }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "REDIS_PASSWORD" "secret" $own "key" "redis-password") }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq $mode "bundled" }}
{{- with include "spotify-token-proxy.redis.passwordRef" . | fromJson }}
{{ include "spotify-token-proxy.secretEnv" (dict "name" "REDIS_PASSWORD" "secret" .name "key" .key) }}
{{- end }}
{{- end }}
{{- end }}

{{/* Whether the chart-managed Secret has any data. */}}
{{- define "spotify-token-proxy.hasOwnSecret" -}}
{{- $v := .Values }}
{{- if or (and (not $v.spotify.existingSecret) (or $v.spotify.clientId $v.spotify.clientSecret)) }}true{{ end }}
{{- if and (not $v.adminToken.existingSecret) $v.adminToken.value }}true{{ end }}
{{- if and (not $v.proxyAuthToken.existingSecret) $v.proxyAuthToken.value }}true{{ end }}
{{- if and (not $v.encryptionKey.existingSecret) $v.encryptionKey.value }}true{{ end }}
{{- if $v.redis.url }}true{{ end }}
{{- if and (not $v.redis.existingSecret) $v.redis.password }}true{{ end }}
{{- end }}

{{/* Environment shared by the Deployment's container and the sidecar. */}}
{{- define "spotify-token-proxy.env" -}}
{{- include "spotify-token-proxy.credentialEnv" . }}
{{- with .Values.resources.limits }}
{{- if .memory }}
{{- /* A soft limit 10% under the container limit leaves the GC room before the OOM killer. */}}
{{- $bytes := include "spotify-token-proxy.memoryBytes" .memory }}
- name: GOMEMLIMIT
{{- if $bytes }}
  value: {{ mulf (float64 $bytes) 0.9 | int64 | quote }}
{{- else }}
  valueFrom:
    resourceFieldRef:
      resource: limits.memory
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- include "spotify-token-proxy.tracingEnv" . }}
{{- end }}

{{/*
The OTEL_* variables of tracing.*, after extraEnv so that the endpoint may name a
variable defined there, e.g. http://$(HOST_IP):4318. Nothing without an endpoint.
*/}}
{{- define "spotify-token-proxy.tracingEnv" -}}
{{- $t := .Values.tracing }}
{{- if $t.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $t.endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $t.protocol | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $t.sampler | quote }}
{{- with $t.samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ . | quote }}
{{- end }}
{{- with $t.serviceName }}
- name: OTEL_SERVICE_NAME
  value: {{ . | quote }}
{{- end }}
{{- $attrs := list (printf "k8s.namespace.name=%s" .Release.Namespace) }}
{{- range $k, $v := $t.resourceAttributes }}
{{- $attrs = append $attrs (printf "%s=%s" $k $v) }}
{{- end }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ join "," $attrs | quote }}
- name: TRACE_ACCOUNT_IDS
  value: {{ $t.accountIds | toString | quote }}
{{- end }}
{{- end }}

{{/*
The port of tracing.endpoint: its own, else 443 for https, else the protocol's
(4317 for grpc, 4318 for http/protobuf).
*/}}
{{- define "spotify-token-proxy.tracingPort" -}}
{{- $t := .Values.tracing }}
{{- $hostport := regexReplaceAll "^[a-z]+://([^/]*).*$" $t.endpoint "${1}" }}
{{- $p := regexFind ":[0-9]+$" $hostport | trimPrefix ":" }}
{{- if $p }}{{ $p }}{{ else if hasPrefix "https://" $t.endpoint }}443{{ else if eq $t.protocol "grpc" }}4317{{ else }}4318{{ end }}
{{- end }}

{{- define "spotify-token-proxy.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  {{- toYaml .root.Values.startupProbe | nindent 2 }}
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  {{- toYaml .root.Values.livenessProbe | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  {{- toYaml .root.Values.readinessProbe | nindent 2 }}
{{- end }}

{{/*
The proxy as a native sidecar: an init container with restartPolicy: Always
(Kubernetes >= 1.29) to put in the app's pod spec under initContainers. It reads
the ConfigMap and Secrets of this release, so install the chart with
sidecar.enabled=true in the app's namespace. From a parent chart that depends on
this one:
  initContainers:
    - {{ include "spotify-token-proxy.sidecarContainer" (index .Subcharts "spotify-token-proxy") | nindent 6 }}
*/}}
{{- define "spotify-token-proxy.sidecarContainer" -}}
name: spotify-token-proxy
image: {{ include "spotify-token-proxy.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
restartPolicy: Always
envFrom:
  - configMapRef:
      name: {{ include "spotify-token-proxy.configMapName" . }}
env:
  {{- include "spotify-token-proxy.env" . | trim | nindent 2 }}
ports:
  - name: spotify-admin
    containerPort: 9090
    protocol: TCP
{{ include "spotify-token-proxy.probes" (dict "root" . "port" "spotify-admin") }}
resources:
  {{- toYaml .Values.resources | nindent 2 }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end }}

{{/* Label matchers scoping alert expressions to this release's scrape job. */}}
{{- define "spotify-token-proxy.alertSelector" -}}
{{- $ns := .Release.Namespace }}
{{- if .Values.serviceMonitor.enabled -}}
namespace="{{ $ns }}", job="{{ include "spotify-token-proxy.fullname" . }}"
{{- else if .Values.podMonitor.enabled -}}
namespace="{{ $ns }}", job="{{ $ns }}/{{ include "spotify-token-proxy.fullname" . }}"
{{- else -}}
namespace="{{ $ns }}"
{{- end }}
{{- end }}

{{/* TCP ports of the external Redis endpoints known from values, plus networkPolicy.redisPorts (JSON list). */}}
{{- define "spotify-token-proxy.redisPorts" -}}
{{- $ports := list }}
{{- range .Values.networkPolicy.redisPorts }}{{ $ports = append $ports (int .) }}{{ end }}
{{- $hosts := concat .Values.redis.sentinel.addrs .Values.redis.cluster.addrs }}
{{- with .Values.redis.url }}{{ $hosts = append $hosts (urlParse .).host }}{{ end }}
{{- range $hosts }}
{{- $p := regexFind ":[0-9]+$" . | trimPrefix ":" }}
{{- if $p }}{{ $ports = append $ports (int $p) }}{{ end }}
{{- end }}
{{- $ports | uniq | toJson }}
{{- end }}

{{/*
Bytes of a memory quantity such as 256Mi, 1Gi, 500M or 268435456; empty when the
quantity has another form (then callers fall back to resourceFieldRef).
*/}}
{{- define "spotify-token-proxy.memoryBytes" -}}
{{- $q := toString . }}
{{- if regexMatch "^[0-9]+(Ki|Mi|Gi|Ti|k|M|G|T)?$" $q }}
{{- $num := regexFind "^[0-9]+" $q | float64 }}
{{- $unit := regexReplaceAll "^[0-9]+" $q "" }}
{{- $mul := dict "" 1.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 }}
{{- mulf $num (get $mul $unit) | int64 }}
{{- end }}
{{- end }}
