{{/*
Chart name, truncated to the 63 characters a DNS label allows.
*/}}
{{- define "tributary.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name when it already contains the chart name, else release-chart.
*/}}
{{- define "tributary.fullname" -}}
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

{{/*
Name of the metrics Service (≤ 63 characters).
*/}}
{{- define "tributary.metricsName" -}}
{{- printf "%s-metrics" (include "tributary.fullname" . | trunc 55 | trimSuffix "-") }}
{{- end }}

{{- define "tributary.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: stable across upgrades (a Deployment's selector is immutable).
*/}}
{{- define "tributary.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tributary.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels for every object; callers add app.kubernetes.io/component.
*/}}
{{- define "tributary.labels" -}}
helm.sh/chart: {{ include "tributary.chart" . }}
{{ include "tributary.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tributary
{{- end }}

{{- define "tributary.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tributary.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Container image: repository@digest when a digest is set, else repository:tag (tag defaults to
the chart's appVersion).
*/}}
{{- define "tributary.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
Where the Secrets are mounted. Whole directories, never subPath: kubelet then swaps renewed
files in place and the server's certificate reload sees them.
*/}}
{{- define "tributary.tlsDir" -}}/etc/tributary/tls{{- end }}
{{- define "tributary.clientCADir" -}}/etc/tributary/client-ca{{- end }}
{{- define "tributary.issuerKeyDir" -}}/etc/tributary/auth/issuer{{- end }}
{{- define "tributary.bootstrapDir" -}}/etc/tributary/auth/bootstrap{{- end }}
{{- define "tributary.revokedDir" -}}/etc/tributary/auth/revoked{{- end }}
{{- define "tributary.natsCredsDir" -}}/etc/tributary/nats/creds{{- end }}
{{- define "tributary.natsTlsDir" -}}/etc/tributary/nats/tls{{- end }}

{{/*
Cross-field rules that values.schema.json cannot say clearly; each fails the render with the
values to change.
*/}}
{{- define "tributary.validate" -}}
{{- $v := .Values }}
{{- if and $v.tls.enabled (not $v.tls.secretName) }}
{{- fail "tls.secretName: required when tls.enabled is true (a Secret with tls.crt and tls.key)" }}
{{- end }}
{{- if and $v.tls.clientCA.enabled (not $v.tls.enabled) }}
{{- fail "tls.clientCA.enabled: needs tls.enabled (client certificates are verified only on a TLS port)" }}
{{- end }}
{{- if and (has $v.auth.mode (list "mtls" "mtls+token")) (not $v.tls.clientCA.enabled) }}
{{- fail (printf "auth.mode=%s: needs tls.enabled and tls.clientCA.enabled (mTLS)" $v.auth.mode) }}
{{- end }}
{{- if and (has $v.auth.mode (list "token" "mtls+token")) (not $v.auth.issuerKey.secretName) }}
{{- fail (printf "auth.mode=%s: needs auth.issuerKey.secretName (the session-token issuer's public key)" $v.auth.mode) }}
{{- end }}
{{- if and $v.metrics.serviceMonitor.enabled (not (and $v.metrics.enabled $v.metrics.service.enabled)) }}
{{- fail "metrics.serviceMonitor.enabled: needs metrics.enabled and metrics.service.enabled" }}
{{- end }}
{{- if and $v.metrics.enabled (or (eq (int $v.metrics.port) (int $v.config.port)) (and $v.health.enabled (eq (int $v.metrics.port) (int $v.health.port)))) }}
{{- fail "metrics.port: must differ from config.port and health.port" }}
{{- end }}
{{- if and $v.health.enabled (eq (int $v.health.port) (int $v.config.port)) }}
{{- fail "health.port: must differ from config.port" }}
{{- end }}
{{- if and $v.cluster.enabled (not $v.cluster.natsUrl) }}
{{- fail "cluster.natsUrl: required when cluster.enabled is true (e.g. nats://nats.nats.svc:4222)" }}
{{- end }}
{{- if and $v.cluster.tls.enabled (not $v.cluster.tls.secretName) }}
{{- fail "cluster.tls.secretName: required when cluster.tls.enabled is true" }}
{{- end }}
{{- if and $v.cluster.tls.certKey (not $v.cluster.tls.keyKey) }}
{{- fail "cluster.tls.keyKey: required with cluster.tls.certKey (NATS mTLS)" }}
{{- end }}
{{- if and (not $v.cluster.enabled) (gt (int $v.replicaCount) 1) }}
{{- fail "replicaCount: more than 1 needs cluster.enabled (embedded mode keeps the history in each pod's memory)" }}
{{- end }}
{{- if and (not $v.emitter.pushUrl) (or $v.emitter.fileConfig.configMapName $v.emitter.clientCert.secretName) }}
{{- fail "emitter.fileConfig / emitter.clientCert: set emitter.pushUrl too (the emitter is off without it)" }}
{{- end }}
{{- end }}

{{/*
Container environment: one variable per server setting. Numbers go through int64 because Helm
reads YAML numbers as float64 (4194304 would render as 4.194304e+06). Null, empty strings and
empty lists are left unset so the server's default applies.
*/}}
{{- define "tributary.env" -}}
{{- $v := .Values -}}
- name: LOG_LEVEL
  value: {{ $v.config.logLevel | quote }}
- name: PORT
  value: {{ $v.config.port | int64 | toString | quote }}
{{- with $v.config.host }}
- name: HOST
  value: {{ . | quote }}
{{- end }}
- name: HEALTH_ENABLED
  value: {{ $v.health.enabled | toString | quote }}
{{- with $v.health.host }}
- name: HEALTH_HOST
  value: {{ . | quote }}
{{- end }}
- name: HEALTH_PORT
  value: {{ $v.health.port | int64 | toString | quote }}
- name: PROMETHEUS_PORT
  value: {{ ternary ($v.metrics.port | int64) 0 $v.metrics.enabled | toString | quote }}
{{- with $v.config.aggregationWindow }}
- name: AGGREGATION_WINDOW
  value: {{ . | quote }}
{{- end }}
{{- with $v.config.historyBuckets }}
- name: HISTORY_BUCKETS
  value: {{ . | int64 | toString | quote }}
{{- end }}
{{- with $v.config.maxUniqueFlows }}
- name: MAX_UNIQUE_FLOWS
  value: {{ . | int64 | toString | quote }}
{{- end }}
{{- with $v.config.replayHorizon }}
- name: REPLAY_HORIZON
  value: {{ . | quote }}
{{- end }}
{{- with $v.config.maxMessageBytes }}
- name: MAX_MESSAGE_BYTES
  value: {{ . | int64 | toString | quote }}
{{- end }}
{{- with $v.config.maxStreams }}
- name: MAX_STREAMS
  value: {{ . | int64 | toString | quote }}
{{- end }}
{{- with $v.config.streamQueueSize }}
- name: STREAM_QUEUE_SIZE
  value: {{ . | int64 | toString | quote }}
{{- end }}
{{- if kindIs "bool" $v.config.ingestFastLane }}
- name: INGEST_FAST_LANE
  value: {{ $v.config.ingestFastLane | toString | quote }}
{{- end }}
{{- if kindIs "bool" $v.config.streamFastLane }}
- name: STREAM_FAST_LANE
  value: {{ $v.config.streamFastLane | toString | quote }}
{{- end }}
{{- if kindIs "bool" $v.config.listFastLane }}
- name: LIST_FAST_LANE
  value: {{ $v.config.listFastLane | toString | quote }}
{{- end }}
{{- with $v.config.shutdownTimeout }}
- name: SHUTDOWN_TIMEOUT
  value: {{ . | quote }}
{{- end }}
{{- if $v.snapshot.enabled }}
- name: SNAPSHOT_PATH
  value: "/var/lib/tributary/flows.snap"
{{- with $v.snapshot.interval }}
- name: SNAPSHOT_INTERVAL
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if $v.history.postgres.existingSecret }}
{{- /* History in PostgreSQL (issue 16): the URL comes from a Secret (e.g. CloudNativePG's <cluster>-app, key "uri"). */}}
- name: HISTORY_POSTGRES_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.history.postgres.existingSecret | quote }}
      key: {{ $v.history.postgres.secretKey | quote }}
{{- with $v.history.queueBuckets }}
- name: HISTORY_QUEUE_BUCKETS
  value: {{ . | toString | quote }}
{{- end }}
{{- with $v.history.retention.raw }}
- name: HISTORY_RETENTION_RAW
  value: {{ . | quote }}
{{- end }}
{{- with $v.history.retention.fiveMinutes }}
- name: HISTORY_RETENTION_5M
  value: {{ . | quote }}
{{- end }}
{{- with $v.history.retention.oneHour }}
- name: HISTORY_RETENTION_1H
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- with $v.config.corsAllowedOrigins }}
- name: CORS_ALLOWED_ORIGINS
  value: {{ join "," . | quote }}
{{- end }}
{{- with $v.config.kubeconfig }}
- name: KUBECONFIG
  value: {{ . | quote }}
{{- end }}
{{- if $v.tls.enabled }}
- name: SERVER_CERT_PATH
  value: {{ printf "%s/%s" (include "tributary.tlsDir" .) $v.tls.certKey | quote }}
- name: SERVER_KEY_PATH
  value: {{ printf "%s/%s" (include "tributary.tlsDir" .) $v.tls.keyKey | quote }}
{{- end }}
{{- if $v.tls.clientCA.enabled }}
- name: CA_CERT_PATH
  value: {{ printf "%s/%s" (include "tributary.clientCADir" .) $v.tls.clientCA.key | quote }}
{{- end }}
{{- with $v.tls.minVersion }}
- name: TLS_MIN_VERSION
  value: {{ . | quote }}
{{- end }}
{{- with $v.tls.reloadInterval }}
- name: TLS_RELOAD_INTERVAL
  value: {{ . | quote }}
{{- end }}
- name: AUTH_MODE
  value: {{ $v.auth.mode | quote }}
{{- if $v.auth.issuerKey.secretName }}
- name: AUTH_ISSUER_KEY_PATH
  {{- if $v.auth.issuerKey.key }}
  value: {{ printf "%s/%s" (include "tributary.issuerKeyDir" .) $v.auth.issuerKey.key | quote }}
  {{- else }}
  value: {{ include "tributary.issuerKeyDir" . | quote }}
  {{- end }}
{{- end }}
{{- with $v.auth.clockSkew }}
- name: AUTH_CLOCK_SKEW
  value: {{ . | quote }}
{{- end }}
{{- with $v.auth.maxTtl }}
- name: AUTH_MAX_TTL
  value: {{ . | quote }}
{{- end }}
{{- if kindIs "bool" $v.auth.allowBearer }}
- name: AUTH_ALLOW_BEARER
  value: {{ $v.auth.allowBearer | toString | quote }}
{{- end }}
{{- with $v.auth.reloadInterval }}
- name: AUTH_RELOAD_INTERVAL
  value: {{ . | quote }}
{{- end }}
{{- if $v.auth.bootstrap.secretName }}
- name: AUTH_BOOTSTRAP_PATH
  value: {{ printf "%s/%s" (include "tributary.bootstrapDir" .) $v.auth.bootstrap.key | quote }}
{{- end }}
{{- if $v.auth.revoked.secretName }}
- name: AUTH_REVOKED_PATH
  value: {{ printf "%s/%s" (include "tributary.revokedDir" .) $v.auth.revoked.key | quote }}
{{- end }}
{{- if $v.auth.kubernetes.enabled }}
- name: AUTH_KUBERNETES
  value: "in-cluster"
{{- with $v.auth.kubernetes.audiences }}
- name: AUTH_KUBERNETES_AUDIENCES
  value: {{ join "," . | quote }}
{{- end }}
{{- end }}
{{- with $v.offload.devices }}
- name: OFFLOAD_DEVICES
  value: {{ join "," . | quote }}
{{- end }}
{{- with $v.offload.dialect }}
- name: OFFLOAD_DIALECT
  value: {{ . | quote }}
{{- end }}
{{- with $v.offload.node }}
- name: OFFLOAD_NODE
  value: {{ . | quote }}
{{- end }}
{{- with $v.offload.interval }}
- name: OFFLOAD_INTERVAL
  value: {{ . | quote }}
{{- end }}
{{- if kindIs "bool" $v.offload.exclusive }}
- name: OFFLOAD_EXCLUSIVE
  value: {{ $v.offload.exclusive | toString | quote }}
{{- end }}
{{- if $v.cluster.enabled }}
- name: NATS_URL
  value: {{ $v.cluster.natsUrl | quote }}
- name: CLUSTER_ROLE
  value: {{ default "all" .role | quote }}
{{- if $v.cluster.creds.secretName }}
- name: NATS_CREDS_PATH
  value: {{ printf "%s/%s" (include "tributary.natsCredsDir" .) $v.cluster.creds.key | quote }}
{{- end }}
{{- if $v.cluster.tls.enabled }}
{{- with $v.cluster.tls.caKey }}
- name: NATS_CA_PATH
  value: {{ printf "%s/%s" (include "tributary.natsTlsDir" $) . | quote }}
{{- end }}
{{- with $v.cluster.tls.certKey }}
- name: NATS_CERT_PATH
  value: {{ printf "%s/%s" (include "tributary.natsTlsDir" $) . | quote }}
{{- end }}
{{- with $v.cluster.tls.keyKey }}
- name: NATS_KEY_PATH
  value: {{ printf "%s/%s" (include "tributary.natsTlsDir" $) . | quote }}
{{- end }}
{{- end }}
{{- with $v.cluster.stream }}
- name: CLUSTER_STREAM
  value: {{ . | quote }}
{{- end }}
{{- with $v.cluster.streamReplicas }}
- name: CLUSTER_STREAM_REPLICAS
  value: {{ . | int64 | toString | quote }}
{{- end }}
{{- with $v.cluster.snapshotBucket }}
- name: CLUSTER_SNAPSHOT_BUCKET
  value: {{ . | quote }}
{{- end }}
{{- with $v.cluster.snapshotInterval }}
- name: CLUSTER_SNAPSHOT_INTERVAL
  value: {{ . | quote }}
{{- end }}
{{- with $v.cluster.batchDelay }}
- name: CLUSTER_BATCH_DELAY
  value: {{ . | quote }}
{{- end }}
{{- with $v.cluster.batchMax }}
- name: CLUSTER_BATCH_MAX
  value: {{ . | int64 | toString | quote }}
{{- end }}
{{- with $v.cluster.appendTimeout }}
- name: CLUSTER_APPEND_TIMEOUT
  value: {{ . | quote }}
{{- end }}
{{- with $v.cluster.tickInterval }}
- name: CLUSTER_TICK_INTERVAL
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- with $v.emitter.pushUrl }}
- name: PUSH_URL
  value: {{ . | quote }}
- name: POD_NAMESPACE
  value: {{ $.Release.Namespace | quote }}
{{- if $v.emitter.fileConfig.configMapName }}
- name: FILE_CONFIG_PATH
  value: {{ printf "%s/%s" (include "tributary.emitterConfigDir" $) $v.emitter.fileConfig.key | quote }}
{{- end }}
{{- if kindIs "float64" $v.emitter.emitAfterSeconds }}
- name: EMIT_AFTER_SECONDS
  value: {{ $v.emitter.emitAfterSeconds | int64 | toString | quote }}
{{- end }}
{{- with $v.emitter.aggregationWindow }}
- name: EMITTER_AGGREGATION_WINDOW
  value: {{ . | quote }}
{{- end }}
{{- if kindIs "float64" $v.emitter.maxRetries }}
- name: EMITTER_MAX_RETRIES
  value: {{ $v.emitter.maxRetries | int64 | toString | quote }}
{{- end }}
{{- with $v.emitter.serverName }}
- name: SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- if $v.emitter.clientCert.secretName }}
- name: CLIENT_CERT_PATH
  value: {{ printf "%s/tls.crt" (include "tributary.emitterClientDir" $) | quote }}
- name: CLIENT_KEY_PATH
  value: {{ printf "%s/tls.key" (include "tributary.emitterClientDir" $) | quote }}
{{- end }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "tributary.emitterClientDir" -}}/etc/tributary/emitter-client{{- end }}
{{- define "tributary.emitterConfigDir" -}}/etc/tributary/emitter-config{{- end }}

{{/*
TCP port of the emitter's PUSH_URL (explicit port, else 443 for https, 80 for http), for the
egress NetworkPolicy; empty without an emitter.
*/}}
{{- define "tributary.emitterPort" -}}
{{- with .Values.emitter.pushUrl }}
{{- $authority := regexReplaceAll "^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#]*).*$" . "${1}" }}
{{- $authority = regexReplaceAll "^.*@" $authority "" }}
{{- $port := regexFind "[0-9]+$" (regexFind ":[0-9]+$" $authority) }}
{{- default (ternary "443" "80" (hasPrefix "https:" .)) $port }}
{{- end }}
{{- end }}

{{/*
TCP ports of the offload devices, from their URLs (explicit port, else 443 for https/grpcs and
80 otherwise), for the egress NetworkPolicy.
*/}}
{{- define "tributary.offloadPorts" -}}
{{- $ports := list }}
{{- range .Values.offload.devices }}
{{- $authority := regexReplaceAll "^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#]*).*$" . "${1}" }}
{{- $authority = regexReplaceAll "^.*@" $authority "" }}
{{- $port := regexFind "[0-9]+$" (regexFind ":[0-9]+$" $authority) }}
{{- if not $port }}
{{- $port = ternary "443" "80" (or (hasPrefix "https:" .) (hasPrefix "grpcs:" .)) }}
{{- end }}
{{- $ports = append $ports ($port | int) }}
{{- end }}
{{- toJson ($ports | uniq) }}
{{- end }}

{{/*
The Deployments to render, as JSON: one of role all (embedded mode, or cluster mode without
split), or an ingest and a query Deployment (cluster.split).
*/}}
{{- define "tributary.deployments" -}}
{{- $v := .Values }}
{{- $full := include "tributary.fullname" . }}
{{- if and $v.cluster.enabled $v.cluster.split }}
{{- toJson (list
  (dict "name" (printf "%s-ingest" $full) "role" "ingest" "component" "ingest" "split" true "replicas" ($v.cluster.ingest.replicas | int) "resources" $v.cluster.ingest.resources)
  (dict "name" (printf "%s-query" $full) "role" "query" "component" "query" "split" true "replicas" ($v.cluster.query.replicas | int) "resources" $v.cluster.query.resources)) }}
{{- else }}
{{- toJson (list (dict "name" $full "role" "all" "component" "aggregator" "split" false "replicas" ($v.replicaCount | int) "resources" dict)) }}
{{- end }}
{{- end }}

{{/* TCP ports of NATS_URL's servers (default 4222), for the egress NetworkPolicy. */}}
{{- define "tributary.natsPorts" -}}
{{- $ports := list }}
{{- range splitList "," .Values.cluster.natsUrl }}
{{- $authority := regexReplaceAll "^[a-zA-Z][a-zA-Z0-9+.-]*://" (trim .) "" }}
{{- $authority = regexReplaceAll "^.*@" $authority "" }}
{{- $port := regexFind "[0-9]+$" (regexFind ":[0-9]+/?$" $authority) }}
{{- $ports = append $ports (default "4222" $port | int) }}
{{- end }}
{{- toJson ($ports | uniq) }}
{{- end }}
