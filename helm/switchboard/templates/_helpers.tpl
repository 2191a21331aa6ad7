{{/* Chart name, truncated to the 63 characters DNS names allow. */}}
{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's resources: <release>-<chart>, or <release> when it
already contains the chart name.
*/}}
{{- define "switchboard.fullname" -}}
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

{{/* chart label value: <name>-<version> */}}
{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels shared by every resource of the release. */}}
{{- define "switchboard.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" . }}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the Switchboard pods (immutable once deployed). */}}
{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{/* ServiceAccount used by the pods. */}}
{{- define "switchboard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchboard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Secret the pods load: the user's existingSecret, or the chart's own. */}}
{{- define "switchboard.secretName" -}}
{{- default (include "switchboard.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* Container image reference: repository@digest, or repository:tag (tag defaults to appVersion). */}}
{{- define "switchboard.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the in-chart Redis (redis.deploy). */}}
{{- define "switchboard.redis.fullname" -}}
{{- printf "%s-redis" (include "switchboard.fullname" . | trunc 57 | trimSuffix "-") }}
{{- end }}

{{/* Labels of the in-chart Redis resources. */}}
{{- define "switchboard.redis.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" . }}
{{ include "switchboard.redis.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the in-chart Redis pod. */}}
{{- define "switchboard.redis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: redis
{{- end }}

{{/* REDIS_URL: the in-chart Redis when deployed, else redis.url (may be empty). */}}
{{- define "switchboard.redisUrl" -}}
{{- if .Values.redis.deploy }}
{{- printf "redis://%s:6379/0" (include "switchboard.redis.fullname" .) }}
{{- else }}
{{- .Values.redis.url }}
{{- end }}
{{- end }}

{{/*
Fail the render when pods could be killed before they finish draining:
terminationGracePeriodSeconds must exceed preStopSleepSeconds + SHUTDOWN_GRACE_MS.
*/}}
{{- define "switchboard.validateShutdown" -}}
{{- $drain := div (add (int64 (default 10000 .Values.config.SHUTDOWN_GRACE_MS)) 999) 1000 }}
{{- $needed := add (int64 .Values.preStopSleepSeconds) $drain }}
{{- if le (int64 .Values.terminationGracePeriodSeconds) $needed }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than preStopSleepSeconds (%d) + SHUTDOWN_GRACE_MS/1000 (%d)" (int64 .Values.terminationGracePeriodSeconds) (int64 .Values.preStopSleepSeconds) $drain) }}
{{- end }}
{{- end }}
