{{/* Names, labels and the pod pieces every workload shares. */}}

{{- define "garrison.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "garrison.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "garrison.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "garrison.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: garrison
{{- end -}}

{{/* selectorLabels: pass (dict "root" $ "component" "gateway"). */}}
{{- define "garrison.selectorLabels" -}}
app.kubernetes.io/name: {{ include "garrison.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "garrison.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "garrison.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "garrison.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "garrison.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end -}}

{{- define "garrison.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext }}
{{- end -}}

{{/* Environment shared by the gateway and the admin API (no secret in it). */}}
{{- define "garrison.env" -}}
- name: GARRISON_HOME
  value: /var/lib/garrison
- name: GARRISON_SECRETS_DIR
  value: /var/run/secrets/garrison/settings
- name: GARRISON_KEY_DIR
  value: /var/run/secrets/garrison/keys
- name: GARRISON_SIGNING_KEY_DIR
  value: /var/run/secrets/garrison/keys
- name: GARRISON_MODEL_SIGNING_KEY_DIR
  value: /var/run/secrets/garrison/model-signing
- name: GARRISON_AUDIT_WITNESS_FILE
  value: /var/lib/garrison/audit/witness.jsonl
- name: GARRISON_ARTIFACT_STORE
  value: {{ .Values.artifacts.store | quote }}
{{- if eq .Values.artifacts.store "s3" }}
- name: GARRISON_S3_BUCKET
  value: {{ required "artifacts.s3.bucket is required when artifacts.store is s3" .Values.artifacts.s3.bucket | quote }}
- name: GARRISON_S3_PREFIX
  value: {{ .Values.artifacts.s3.prefix | quote }}
- name: GARRISON_S3_ADDRESSING_STYLE
  value: {{ .Values.artifacts.s3.addressingStyle | quote }}
{{- with .Values.artifacts.s3.endpointUrl }}
- name: GARRISON_S3_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.artifacts.s3.region }}
- name: GARRISON_S3_REGION
  value: {{ . | quote }}
{{- end }}
{{- if .Values.secrets.s3Credentials }}
- name: GARRISON_S3_CREDENTIALS_FILE
  value: /var/run/secrets/garrison/s3/credentials
{{- end }}
- name: GARRISON_ARTIFACT_CACHE_DIR
  value: /var/cache/garrison/artifacts
- name: GARRISON_ARTIFACT_CACHE_MAX_BYTES
  value: {{ .Values.artifacts.cache.maxBytes | int64 | quote }}
{{- else }}
- name: GARRISON_ARTIFACT_DIR
  value: /var/lib/garrison-artifacts
{{- end }}
{{- range $name, $value := .Values.settings }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{- define "garrison.volumeMounts" -}}
- name: home
  mountPath: /var/lib/garrison
- name: tmp
  mountPath: /tmp
- name: keys
  mountPath: /var/run/secrets/garrison/keys
  readOnly: true
- name: model-signing-keys
  mountPath: /var/run/secrets/garrison/model-signing
  readOnly: true
- name: settings
  mountPath: /var/run/secrets/garrison/settings
  readOnly: true
{{- if eq .Values.artifacts.store "s3" }}
- name: artifact-cache
  mountPath: /var/cache/garrison
{{- if .Values.secrets.s3Credentials }}
- name: s3-credentials
  mountPath: /var/run/secrets/garrison/s3
  readOnly: true
{{- end }}
{{- else }}
- name: artifacts
  mountPath: /var/lib/garrison-artifacts
{{- end }}
{{- end -}}

{{- define "garrison.volumes" -}}
- name: home
  emptyDir:
    sizeLimit: {{ .Values.volumes.home.sizeLimit }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.volumes.tmp.sizeLimit }}
    {{- with .Values.volumes.tmp.medium }}
    medium: {{ . }}
    {{- end }}
- name: keys
  secret:
    secretName: {{ .Values.secrets.keys }}
    defaultMode: {{ .Values.secrets.defaultMode }}
- name: model-signing-keys
  secret:
    secretName: {{ .Values.secrets.modelSigningKeys }}
    defaultMode: {{ .Values.secrets.defaultMode }}
- name: settings
  secret:
    secretName: {{ .Values.secrets.settings }}
    defaultMode: {{ .Values.secrets.defaultMode }}
{{- if eq .Values.artifacts.store "s3" }}
- name: artifact-cache
  emptyDir:
    sizeLimit: {{ .Values.artifacts.cache.sizeLimit }}
{{- if .Values.secrets.s3Credentials }}
- name: s3-credentials
  secret:
    secretName: {{ .Values.secrets.s3Credentials }}
    defaultMode: {{ .Values.secrets.defaultMode }}
    items:
      - key: credentials
        path: credentials
{{- end }}
{{- else }}
- name: artifacts
  persistentVolumeClaim:
    claimName: {{ include "garrison.artifactClaim" . }}
{{- end }}
{{- end -}}

{{- define "garrison.artifactClaim" -}}
{{- if .Values.artifacts.local.existingClaim -}}
{{- .Values.artifacts.local.existingClaim -}}
{{- else if .Values.artifacts.local.create -}}
{{- printf "%s-artifacts" (include "garrison.fullname" .) -}}
{{- else -}}
{{- fail "artifacts.store is local: set artifacts.local.existingClaim (a ReadWriteMany claim) or artifacts.local.create" -}}
{{- end -}}
{{- end -}}

{{/* topologySpreadConstraints from a list of {topologyKey, maxSkew, whenUnsatisfiable}. */}}
{{- define "garrison.topologySpread" -}}
{{- $root := .root -}}
{{- $component := .component -}}
{{- range .items }}
- topologyKey: {{ .topologyKey }}
  maxSkew: {{ .maxSkew }}
  whenUnsatisfiable: {{ .whenUnsatisfiable }}
  labelSelector:
    matchLabels:
      {{- include "garrison.selectorLabels" (dict "root" $root "component" $component) | nindent 6 }}
{{- end }}
{{- end -}}
