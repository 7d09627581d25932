{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "usp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; components append -operator, -query, -worker (so 50 characters). */}}
{{- define "usp.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "usp.operatorName" -}}{{ include "usp.fullname" . }}-operator{{- end }}
{{- define "usp.queryName" -}}{{ include "usp.fullname" . }}-query{{- end }}
{{- define "usp.workerServiceAccount" -}}{{ include "usp.fullname" . }}-worker{{- end }}
{{- define "usp.catalogName" -}}{{ include "usp.fullname" . }}-query-catalog{{- end }}

{{/* Standard labels (Helm and Kubernetes recommended labels). */}}
{{- define "usp.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "usp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: usp
{{- end }}

{{/* Selector labels of one component: include "usp.selectorLabels" (list . "operator"). */}}
{{- define "usp.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "usp.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "usp.componentLabels" -}}
{{ include "usp.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Labels the operator puts on worker pods (contract, see README.md). */}}
{{- define "usp.workerSelectorLabels" -}}
app.kubernetes.io/name: usp-worker
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "usp.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* Watched namespaces as a JSON list; empty means the release namespace. */}}
{{- define "usp.watchNamespaces" -}}
{{- if .Values.operator.watchNamespaces }}
{{- .Values.operator.watchNamespaces | uniq | toJson }}
{{- else }}
{{- list .Release.Namespace | toJson }}
{{- end }}
{{- end }}

{{/* Pod Security Standards "restricted": pod level. */}}
{{- define "usp.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Pod Security Standards "restricted": container level. */}}
{{- define "usp.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Kafka client settings shared by the operator and the query service. Secrets
reach the process only through environment variables from secretKeyRef and
files from Secret volumes; arguments carry paths and non-secret settings.
*/}}
{{- define "usp.kafkaArgs" -}}
{{- $k := .Values.kafka }}
- -X
- security.protocol={{ $k.securityProtocol }}
{{- if $k.tls.caSecret.name }}
- -X
- ssl.ca.location=/etc/usp/kafka/ca/{{ $k.tls.caSecret.key }}
{{- end }}
{{- if $k.tls.clientSecret.name }}
- -X
- ssl.certificate.location=/etc/usp/kafka/client/tls.crt
- -X
- ssl.key.location=/etc/usp/kafka/client/tls.key
{{- end }}
{{- if $k.sasl.mechanism }}
- -X
- sasl.mechanism={{ $k.sasl.mechanism }}
{{- end }}
{{- end }}

{{- define "usp.kafkaEnv" -}}
{{- $k := .Values.kafka }}
{{- if $k.sasl.secret.name }}
- name: USP_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $k.sasl.secret.name }}
      key: {{ $k.sasl.secret.usernameKey }}
- name: USP_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $k.sasl.secret.name }}
      key: {{ $k.sasl.secret.passwordKey }}
{{- end }}
{{- end }}

{{- define "usp.kafkaVolumeMounts" -}}
{{- $k := .Values.kafka }}
{{- if $k.tls.caSecret.name }}
- name: kafka-ca
  mountPath: /etc/usp/kafka/ca
  readOnly: true
{{- end }}
{{- if $k.tls.clientSecret.name }}
- name: kafka-client
  mountPath: /etc/usp/kafka/client
  readOnly: true
{{- end }}
{{- end }}

{{- define "usp.kafkaVolumes" -}}
{{- $k := .Values.kafka }}
{{- if $k.tls.caSecret.name }}
- name: kafka-ca
  secret:
    secretName: {{ $k.tls.caSecret.name }}
    items:
      - key: {{ $k.tls.caSecret.key }}
        path: {{ $k.tls.caSecret.key }}
{{- end }}
{{- if $k.tls.clientSecret.name }}
- name: kafka-client
  secret:
    secretName: {{ $k.tls.clientSecret.name }}
{{- end }}
{{- end }}

{{/* Fails the render on settings that cannot work together. */}}
{{- define "usp.validate" -}}
{{- $k := .Values.kafka }}
{{- if and (hasPrefix "SASL" $k.securityProtocol) (not $k.sasl.secret.name) }}
{{- fail "kafka.securityProtocol SASL_* needs kafka.sasl.secret.name (a Secret with the username and password)" }}
{{- end }}
{{- if and (hasPrefix "SASL" $k.securityProtocol) (not $k.sasl.mechanism) }}
{{- fail "kafka.securityProtocol SASL_* needs kafka.sasl.mechanism" }}
{{- end }}
{{- if and .Values.queryService.auth.enabled (not .Values.queryService.auth.tokenSecret.name) }}
{{- fail "queryService.auth.enabled needs queryService.auth.tokenSecret.name" }}
{{- end }}
{{- end }}
