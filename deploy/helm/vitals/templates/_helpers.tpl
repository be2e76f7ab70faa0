{{/* Chart name, truncated to the 63 characters Kubernetes names allow. */}}
{{- define "vitals.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, plus the chart name unless it already contains it. */}}
{{- define "vitals.fullname" -}}
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

{{- define "vitals.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vitals.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vitals.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vitals.labels" -}}
helm.sh/chart: {{ include "vitals.chart" . }}
{{ include "vitals.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "vitals.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vitals.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Fails the render on an unknown mode. */}}
{{- define "vitals.mode" -}}
{{- if not (has .Values.mode (list "daemonset" "sidecar-example")) }}
{{- fail (printf "mode must be daemonset or sidecar-example, not %q" .Values.mode) }}
{{- end }}
{{- .Values.mode }}
{{- end }}

{{/* The vitals.yaml of the selected mode. */}}
{{- define "vitals.config" -}}
{{- if eq (include "vitals.mode" .) "daemonset" }}
{{- .Values.config }}
{{- else }}
{{- tpl .Values.sidecarExample.config . }}
{{- end }}
{{- end }}

{{/* Pod annotations: config checksum (restart on change) and scrape hints. */}}
{{- define "vitals.podAnnotations" -}}
checksum/config: {{ include "vitals.config" . | sha256sum }}
{{- if .Values.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The vitals container, shared by both modes. */}}
{{- define "vitals.container" -}}
- name: vitals
  image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["run", "-c", "/etc/vitals/vitals.yaml"]
  env:
    - name: VITALS_LOG_FORMAT
      value: {{ .Values.logFormat | quote }}
    - name: VITALS_LOG
      value: {{ .Values.logLevel | quote }}
    - name: NODE_NAME
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
    - name: NODE_IP
      valueFrom:
        fieldRef:
          fieldPath: status.hostIP
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    {{- if .Values.apiTokenSecret.name }}
    - name: VITALS_API_TOKEN
      valueFrom:
        secretKeyRef:
          name: {{ .Values.apiTokenSecret.name }}
          key: {{ .Values.apiTokenSecret.key }}
    {{- end }}
  ports:
    - name: vitals
      containerPort: {{ .Values.port }}
      protocol: TCP
  livenessProbe:
    httpGet:
      path: /health
      port: vitals
    initialDelaySeconds: 5
    periodSeconds: 10
    timeoutSeconds: 2
  readinessProbe:
    httpGet:
      path: /ready
      port: vitals
    periodSeconds: 5
    timeoutSeconds: 2
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: config
      mountPath: /etc/vitals
      readOnly: true
    - name: data
      mountPath: /var/lib/vitals
{{- end }}

{{- define "vitals.volumes" -}}
- name: config
  configMap:
    name: {{ include "vitals.fullname" . }}
- name: data
  emptyDir:
    {{- toYaml .Values.storage.emptyDir | nindent 4 }}
{{- end }}
