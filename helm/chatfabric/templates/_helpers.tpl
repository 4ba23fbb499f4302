{{/* Chart name, overridable. */}}
{{- define "chatfabric.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's resources; Kubernetes names stop at 63 characters. */}}
{{- define "chatfabric.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "chatfabric.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "chatfabric.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The labels that select the worker pods; they must never change between releases. */}}
{{- define "chatfabric.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatfabric.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The standard labels of every resource. */}}
{{- define "chatfabric.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "chatfabric.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: worker
app.kubernetes.io/part-of: chatfabric
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The ServiceAccount the workers run as. */}}
{{- define "chatfabric.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chatfabric.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding NATS_PASSWORD, REDIS_URL and AUTH_SECRET. */}}
{{- define "chatfabric.secretName" -}}
{{- default (include "chatfabric.fullname" .) .Values.existingSecret }}
{{- end }}

{{/*
The pod's grace period: the preStop pause, then the drain budget rounded up to seconds, then
5 s for the process to exit; a draining worker is never killed mid-drain.
*/}}
{{- define "chatfabric.gracePeriod" -}}
{{- add (int .Values.preStopSeconds) (div (add (int .Values.config.drainTimeoutMs) 999) 1000) 5 }}
{{- end }}

{{/*
Settings the worker would refuse at start (src/config.ts), refused at install instead of a
crash-looping rollout. A key in an existingSecret cannot be seen here, so it is trusted.
*/}}
{{- define "chatfabric.validate" -}}
{{- if and (eq .Values.auth.mode "jwt") (not .Values.auth.secret) (not .Values.auth.publicKey) (not .Values.existingSecret) }}
{{- fail "auth.mode jwt needs a key: auth.secret, auth.publicKey, or AUTH_SECRET in existingSecret" }}
{{- end }}
{{- if and .Values.nats.password (not .Values.nats.user) }}
{{- fail "nats.password is set but nats.user is empty" }}
{{- end }}
{{- end }}
