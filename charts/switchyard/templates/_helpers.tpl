{{/* The chart's name, at most 63 characters. */}}
{{- define "switchyard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name, with the chart's name unless it already has it. */}}
{{- define "switchyard.fullname" -}}
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

{{- define "switchyard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "switchyard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "switchyard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchyard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "switchyard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchyard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "switchyard.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "switchyard.configMapName" -}}
{{- default (include "switchyard.fullname" .) .Values.existingConfigMap }}
{{- end }}

{{/*
The desired-state file's controller section: as given, with listen set to every address on the
service port, and leaderElection dropped (disabled) or given its default lease name.
*/}}
{{- define "switchyard.controller" -}}
{{- $controller := deepCopy (.Values.config.controller | default dict) }}
{{- $_ := set $controller "listen" (printf "0.0.0.0:%d" (int .Values.service.port)) }}
{{- if .Values.leaderElection.enabled }}
{{- $election := $controller.leaderElection | default dict }}
{{- if not $election.leaseName }}
{{- $_ := set $election "leaseName" (printf "%s-%s" .Release.Namespace (include "switchyard.fullname" .) | trunc 63 | trimSuffix "-") }}
{{- end }}
{{- $_ := set $controller "leaderElection" $election }}
{{- else }}
{{- $_ := unset $controller "leaderElection" }}
{{- end }}
{{- toYaml $controller }}
{{- end }}

{{/* The whole desired-state file. */}}
{{- define "switchyard.config" -}}
controller:
  {{- include "switchyard.controller" . | nindent 2 }}
{{- with .Values.config.defaults }}
defaults:
  {{- toYaml . | nindent 2 }}
{{- end }}
runners:
{{- with .Values.config.runners }}
  {{- toYaml . | nindent 2 }}
{{- else }} []
{{- end }}
{{- end }}

{{/* Fails the rendering on settings that would make two writers. */}}
{{- define "switchyard.checks" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled: true (two replicas without a lease would both mutate)" }}
{{- end }}
{{- if and .Values.leaderElection.enabled (ne (.Values.config.controller.cloud | default "aws") "aws") }}
{{- fail "leaderElection.enabled needs config.controller.cloud: aws (the lease is a DynamoDB item; a simulated world lives in one process)" }}
{{- end }}
{{- end }}
