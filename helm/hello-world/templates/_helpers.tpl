{{/*
Naming. Kubernetes names (and label values) are limited to 63 characters, so every
generated name is cut there, without a trailing dash.
*/}}

{{/* Chart name, or nameOverride. */}}
{{- define "hello-world.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Resource name: fullnameOverride, else "<release>-<name>" — release `hello` gives
`hello-hello-world`, as in the tutorial. A release name that already contains the chart
name is used as it is, so `helm install hello-world .` does not give `hello-world-hello-world`.
*/}}
{{- define "hello-world.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "hello-world.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "name-version" for the helm.sh/chart label ("+" is not allowed in label values). */}}
{{- define "hello-world.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: name + instance only. They are immutable on a Deployment, so nothing that
changes between releases (versions, chart) may go in here.
*/}}
{{- define "hello-world.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hello-world.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels on every resource. */}}
{{- define "hello-world.labels" -}}
helm.sh/chart: {{ include "hello-world.chart" . }}
{{ include "hello-world.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.app.version | quote }}
app.kubernetes.io/part-of: hello-world
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Target namespace. `namespace` is either the tutorial's string ("create this namespace and
deploy there") or an object {create, name}. With create=false the resources follow the
release namespace (`helm install -n NS`), the usual Helm convention.
*/}}
{{- define "hello-world.namespaceCreate" -}}
{{- if kindIs "string" .Values.namespace -}}
true
{{- else if .Values.namespace.create -}}
true
{{- end -}}
{{- end }}

{{- define "hello-world.namespace" -}}
{{- if kindIs "string" .Values.namespace -}}
{{- .Values.namespace -}}
{{- else if .Values.namespace.create -}}
{{- required "namespace.name must be set when namespace.create is true" .Values.namespace.name -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end }}

{{/* ServiceAccount used by the pods. */}}
{{- define "hello-world.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hello-world.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: repository:tag, or repository@digest when a digest is pinned. */}}
{{- define "hello-world.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/* Name of the Secret that holds the admin token ("" when there is none). */}}
{{- define "hello-world.adminSecretName" -}}
{{- if .Values.adminToken.existingSecret }}
{{- .Values.adminToken.existingSecret }}
{{- else if .Values.adminToken.value }}
{{- printf "%s-admin" (include "hello-world.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Pods the chart runs at least (decides whether a PodDisruptionBudget makes sense). */}}
{{- define "hello-world.minPods" -}}
{{- if .Values.autoscaling.enabled }}
{{- .Values.autoscaling.minReplicas }}
{{- else }}
{{- .Values.replicaCount }}
{{- end }}
{{- end }}

{{/*
The preStop form actually rendered: sleep | exec | httpGet | none.
`auto` picks the kubelet's native sleep action where it exists and is on by default
(Kubernetes >= 1.30, KEP-3960 beta), and otherwise an exec of the binary's own `sleep`
subcommand — the distroless image has no /bin/sh and no sleep(1).
*/}}
{{- define "hello-world.preStopForm" -}}
{{- $g := .Values.gracefulShutdown }}
{{- $native := semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version }}
{{- if or (eq $g.preStopMode "none") (eq (int $g.preStopSleepSeconds) 0) }}
{{- if and (ne $g.preStopMode "none") (ne $g.preStopMode "auto") }}
{{- fail (printf "gracefulShutdown.preStopMode=%s needs gracefulShutdown.preStopSleepSeconds > 0; use preStopMode=none for no hook" $g.preStopMode) }}
{{- end }}
{{- print "none" }}
{{- else if eq $g.preStopMode "auto" }}
{{- ternary "sleep" "exec" $native }}
{{- else if eq $g.preStopMode "sleep" }}
{{- if not $native }}
{{- fail (printf "gracefulShutdown.preStopMode=sleep needs Kubernetes >= 1.30 (the native preStop sleep action), but the target is %s: use preStopMode=auto or exec" .Capabilities.KubeVersion.Version) }}
{{- end }}
{{- print "sleep" }}
{{- else }}
{{- print $g.preStopMode }}
{{- end }}
{{- end }}

{{/* Seconds the preStop hook takes, as counted in the termination budget. */}}
{{- define "hello-world.preStopSeconds" -}}
{{- if eq (include "hello-world.preStopForm" .) "none" }}0{{ else }}{{ int .Values.gracefulShutdown.preStopSleepSeconds }}{{ end }}
{{- end }}

{{/*
Render-time checks that the schema cannot express (relations between values).
Included from the Deployment, so every render runs them.
*/}}
{{- define "hello-world.validate" -}}
{{- $g := .Values.gracefulShutdown }}
{{- $grace := int $g.terminationGracePeriodSeconds }}
{{- $pre := int (include "hello-world.preStopSeconds" .) }}
{{- $need := add $pre (ceil $g.drainTimeoutSeconds) 5 }}
{{- if lt $grace (int $need) }}
{{- fail (printf "termination budget: gracefulShutdown.terminationGracePeriodSeconds (%d) must be >= preStop (%d) + drainTimeoutSeconds (%v) + 5 = %d; the kubelet counts the preStop hook against the grace period and sends SIGKILL at its end" $grace $pre $g.drainTimeoutSeconds (int $need)) }}
{{- end }}
{{- if ge (float64 $g.drainDelaySeconds) (float64 $g.drainTimeoutSeconds) }}
{{- fail (printf "gracefulShutdown.drainDelaySeconds (%v) must be below gracefulShutdown.drainTimeoutSeconds (%v): the drain delay is part of the drain deadline" $g.drainDelaySeconds $g.drainTimeoutSeconds) }}
{{- end }}
{{- /* Helm 3 hands numbers over as json.Number, whose kind is "string": test the type. */}}
{{- $tp := .Values.service.targetPort }}
{{- if and (not (typeIs "string" $tp)) (ne (int $tp) (int .Values.containerPort)) }}
{{- fail (printf "service.targetPort (%v) must equal containerPort (%v), or be the port name \"http\"" $tp .Values.containerPort) }}
{{- end }}
{{- if and (typeIs "string" $tp) (ne $tp "http") }}
{{- fail (printf "service.targetPort %q: the container port is named \"http\"" $tp) }}
{{- end }}
{{- /* With ADMIN_TOKEN set the app answers /internal/prestop 401 unless the token comes along,
and a kubelet httpGet hook can only send literal headers (no Secret): the hook would fail and
SIGTERM would come at once, with no propagation window. */}}
{{- if and (eq (include "hello-world.preStopForm" .) "httpGet") (include "hello-world.adminSecretName" .) }}
{{- fail "gracefulShutdown.preStopMode=httpGet cannot be combined with an admin token (adminToken.existingSecret or adminToken.value): the app requires the token on /internal/prestop and a kubelet httpGet hook cannot read it from a Secret; use preStopMode auto, sleep or exec" }}
{{- end }}
{{- if and .Values.adminToken.required (not (include "hello-world.adminSecretName" .)) }}
{{- fail "adminToken.required is true: set adminToken.existingSecret (name of a Secret with key adminToken.secretKey) or adminToken.value" }}
{{- end }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling.minReplicas (%v) must not exceed autoscaling.maxReplicas (%v)" .Values.autoscaling.minReplicas .Values.autoscaling.maxReplicas) }}
{{- end }}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) }}
{{- fail "httpRoute.enabled is true: set httpRoute.parentRefs to the Gateway(s) the route attaches to" }}
{{- end }}
{{- /* The app refuses (exit 2) a fault variable while EXPERIMENTS=false; say so at render time. */}}
{{- $x := .Values.experiments }}
{{- $delay := toString $x.faultDelaySeconds }}
{{- if and (not $x.enabled) (or (gt (float64 $x.faultErrorRate) 0.0) (not (has $delay (list "" "0")))) }}
{{- fail "experiments.faultErrorRate / experiments.faultDelaySeconds need experiments.enabled=true (the app refuses fault injection with EXPERIMENTS=false)" }}
{{- end }}
{{- end }}

{{/*
A probe's handler: httpGet on `path`, or with probes.type=grpc Kubernetes' native gRPC probe
(grpc.health.v1.Health/Check on the container port) asking for `service`.
Called with (dict "root" $ "path" ... "service" ...).
*/}}
{{- define "hello-world.probeHandler" -}}
{{- if eq .root.Values.probes.type "grpc" -}}
grpc:
  port: {{ .root.Values.containerPort }}
  service: {{ .service | quote }}
{{- else -}}
httpGet:
  path: {{ .path }}
  port: http
{{- end }}
{{- end }}
