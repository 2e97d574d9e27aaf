{{- define "latchkey.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "latchkey.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "latchkey.labels" -}}
app.kubernetes.io/name: {{ include "latchkey.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "latchkey.selectorLabels" -}}
app.kubernetes.io/name: {{ include "latchkey.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "latchkey.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The settings every Latchkey container gets: the database, keys and listeners. */}}
{{- define "latchkey.env" -}}
- name: LATCHKEY__DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret is required" .Values.database.existingSecret }}
      key: {{ .Values.database.key }}
- name: LATCHKEY__DATABASE__MAX_CONNECTIONS
  value: {{ .Values.database.maxConnections | quote }}
- name: LATCHKEY__DATABASE__AUTO_MIGRATE
  value: "false"
- name: LATCHKEY__ENCRYPTION__MASTER_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ required "encryption.existingSecret is required" .Values.encryption.existingSecret }}
      key: {{ .Values.encryption.key }}
- name: LATCHKEY__AUTH__PEPPERS
  valueFrom:
    secretKeyRef:
      name: {{ required "auth.existingSecret is required" .Values.auth.existingSecret }}
      key: {{ .Values.auth.pepperKey }}
{{- if .Values.auth.operatorKeyKey }}
- name: LATCHKEY__AUTH__OPERATOR_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.auth.existingSecret }}
      key: {{ .Values.auth.operatorKeyKey }}
{{- end }}
- name: LATCHKEY__AUTH__ALLOW_UNSAFE_SKIP_VERIFICATION
  value: {{ .Values.auth.allowUnsafeSkipVerification | quote }}
- name: LATCHKEY__SERVER__PUBLIC_URL
  value: {{ required "publicUrl is required" .Values.publicUrl | quote }}
- name: LATCHKEY__SERVER__API_ADDR
  value: "0.0.0.0:{{ .Values.service.apiPort }}"
- name: LATCHKEY__SERVER__OPS_ADDR
  value: "0.0.0.0:{{ .Values.service.opsPort }}"
- name: LATCHKEY__SERVER__SHUTDOWN_GRACE_SECS
  value: {{ .Values.shutdownGraceSeconds | quote }}
- name: LATCHKEY__DATA_DIR
  value: /var/lib/latchkey
- name: LATCHKEY__LOG__FORMAT
  value: json
{{- with .Values.discord.allowedEndpointOrigins }}
- name: LATCHKEY__DISCORD__ALLOWED_ENDPOINT_ORIGINS
  value: {{ toJson . | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "latchkey.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
