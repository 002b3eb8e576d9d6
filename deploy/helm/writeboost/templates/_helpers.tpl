{{/* Names, labels and the pieces the node and controller templates share. */}}

{{- define "writeboost.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's base name; components append -node / -controller. */}}
{{- define "writeboost.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "writeboost.nodeName" -}}{{ include "writeboost.fullname" . }}-node{{- end -}}
{{- define "writeboost.controllerName" -}}{{ include "writeboost.fullname" . }}-controller{{- end -}}

{{- define "writeboost.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "writeboost.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: call with (list . "node"). */}}
{{- define "writeboost.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "writeboost.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "writeboost.image" -}}
{{- $root := index . 0 -}}
{{- printf "%s:%s" (index . 1) (default $root.Chart.AppVersion $root.Values.image.tag) -}}
{{- end -}}

{{/* Inside the containers. */}}
{{- define "writeboost.socket" -}}/run/writeboost/writeboost.sock{{- end -}}
{{- define "writeboost.nodeTLSDir" -}}/etc/writeboost/tls{{- end -}}
{{- define "writeboost.controllerTLSDir" -}}/etc/writeboost/controller-tls{{- end -}}
{{- define "writeboost.tokensFile" -}}/etc/writeboost/tokens/tokens{{- end -}}

{{/* Secrets: the one the chart makes, or the one named in values. */}}
{{- define "writeboost.nodeTLSSecret" -}}
{{- default (printf "%s-tls" (include "writeboost.nodeName" .)) .Values.tls.node.existingSecret -}}
{{- end -}}
{{- define "writeboost.controllerTLSSecret" -}}
{{- default (printf "%s-tls" (include "writeboost.controllerName" .)) .Values.tls.controller.existingSecret -}}
{{- end -}}
{{- define "writeboost.tokensSecret" -}}
{{- default (printf "%s-tokens" (include "writeboost.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}
{{- define "writeboost.authEnabled" -}}
{{- if or .Values.auth.tokens .Values.auth.existingSecret }}true{{ end -}}
{{- end -}}
{{- define "writeboost.controllerTLS" -}}
{{- if and .Values.controller.enabled (ne .Values.tls.controller.mode "none") }}true{{ end -}}
{{- end -}}

{{/* The controller's in-cluster address, as nodes dial it. */}}
{{- define "writeboost.controllerHost" -}}
{{- printf "%s.%s.svc" (include "writeboost.controllerName" .) .Release.Namespace -}}
{{- end -}}

{{/*
wbctl's connection flags for the probes: the node's unix socket (or the
controller's loopback port) with the TLS the server speaks. With client
certificates required, the node presents its own certificate.
*/}}
{{- define "writeboost.nodeProbeArgs" -}}
- wbctl
- --server
- unix:{{ include "writeboost.socket" . }}
{{- if .Values.tls.node.enabled }}
- --tls-ca
- {{ include "writeboost.nodeTLSDir" . }}/ca.crt
{{- with .Values.tls.node.serverName }}
- --tls-server-name
- {{ . }}
{{- end }}
{{- if .Values.tls.node.clientAuth }}
- --tls-cert
- {{ include "writeboost.nodeTLSDir" . }}/tls.crt
- --tls-key
- {{ include "writeboost.nodeTLSDir" . }}/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{- define "writeboost.controllerProbeArgs" -}}
- wbctl
- --server
- 127.0.0.1:{{ .Values.controller.grpcPort }}
{{- if eq (include "writeboost.controllerTLS" .) "true" }}
- --tls-ca
- {{ include "writeboost.controllerTLSDir" . }}/ca.crt
- --tls-server-name
- {{ include "writeboost.controllerHost" . }}
{{- end }}
{{- end -}}

{{/* The pod's host-device mounts: one per distinct /dev path of node.volumes. */}}
{{- define "writeboost.devicePaths" -}}
{{- $paths := list -}}
{{- range .Values.node.volumes -}}
{{- range list .origin .cache -}}
{{- if and (hasPrefix "/dev/" .) (not (has . $paths)) -}}
{{- $paths = append $paths . -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $paths -}}
{{- end -}}
