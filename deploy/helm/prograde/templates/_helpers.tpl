{{/* Names, labels and the environment both processes share. */}}

{{- define "prograde.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "prograde.fullname" -}}
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

{{/* Leaves room for "-gateway-headless" (17) in a 63-character name. */}}
{{- define "prograde.base" -}}
{{- include "prograde.fullname" . | trunc 46 | trimSuffix "-" }}
{{- end }}

{{- define "prograde.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "prograde.labels" -}}
helm.sh/chart: {{ include "prograde.chart" . }}
app.kubernetes.io/name: {{ include "prograde.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: prograde
{{- end }}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "worker"). */}}
{{- define "prograde.selectorLabels" -}}
app.kubernetes.io/name: {{ include "prograde.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "prograde.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "prograde.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "prograde.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "prograde.trustConfigMap" -}}
{{- printf "%s-trust" (include "prograde.base" .) }}
{{- end }}

{{/* True when a trust file is configured (any of the three sources). */}}
{{- define "prograde.hasTrust" -}}
{{- if or .Values.trust.content .Values.trust.existingConfigMap .Values.trust.existingSecret }}true{{ end }}
{{- end }}

{{/* MLflow: URI, timeout, credentials from a Secret, TLS files. */}}
{{- define "prograde.mlflowEnv" -}}
- name: MLFLOW_TRACKING_URI
  value: {{ .Values.mlflow.trackingUri | quote }}
- name: PROGRADE_MLFLOW_TIMEOUT_MS
  value: {{ .Values.mlflow.timeoutMs | quote }}
{{- with .Values.mlflow.credentials }}
{{- if .existingSecret }}
{{- range $var, $key := dict "MLFLOW_TRACKING_USERNAME" .usernameKey "MLFLOW_TRACKING_PASSWORD" .passwordKey "MLFLOW_TRACKING_TOKEN" .tokenKey }}
{{- if $key }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.mlflow.credentials.existingSecret }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.mlflow.tls }}
{{- if and .existingSecret .caKey }}
- name: MLFLOW_TRACKING_SERVER_CERT_PATH
  value: /etc/prograde/mlflow-tls/{{ .caKey }}
{{- end }}
{{- if and .existingSecret .clientCertKey }}
- name: MLFLOW_TRACKING_CLIENT_CERT_PATH
  value: /etc/prograde/mlflow-tls/{{ .clientCertKey }}
{{- end }}
{{- end }}
{{- end }}

{{- define "prograde.mlflowVolumeMounts" -}}
{{- if .Values.mlflow.tls.existingSecret }}
- name: mlflow-tls
  mountPath: /etc/prograde/mlflow-tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "prograde.mlflowVolumes" -}}
{{- if .Values.mlflow.tls.existingSecret }}
- name: mlflow-tls
  secret:
    secretName: {{ .Values.mlflow.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{/* Temporal through envconfig: address, namespace, API key, TLS/mTLS files, or a profile file. */}}
{{- define "prograde.temporalEnv" -}}
{{- if .Values.temporal.address }}
- name: TEMPORAL_ADDRESS
  value: {{ .Values.temporal.address | quote }}
{{- end }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: PROGRADE_TASK_QUEUE
  value: {{ .Values.temporal.taskQueue | quote }}
{{- if .Values.temporal.apiKey.existingSecret }}
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.temporal.apiKey.existingSecret }}
      key: {{ .Values.temporal.apiKey.key }}
{{- end }}
{{- with .Values.temporal.tls }}
{{- if .enabled }}
- name: TEMPORAL_TLS
  value: "true"
{{- end }}
{{- if .serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ .serverName | quote }}
{{- end }}
{{- if .existingSecret }}
{{- if .caKey }}
- name: TEMPORAL_TLS_SERVER_CA_CERT_PATH
  value: /etc/prograde/temporal-tls/{{ .caKey }}
{{- end }}
{{- if and .certKey .keyKey }}
- name: TEMPORAL_TLS_CLIENT_CERT_PATH
  value: /etc/prograde/temporal-tls/{{ .certKey }}
- name: TEMPORAL_TLS_CLIENT_KEY_PATH
  value: /etc/prograde/temporal-tls/{{ .keyKey }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.temporal.configFile }}
{{- if .existingSecret }}
- name: TEMPORAL_CONFIG_FILE
  value: /etc/prograde/temporal-config/{{ .key }}
{{- if .profile }}
- name: TEMPORAL_PROFILE
  value: {{ .profile | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
