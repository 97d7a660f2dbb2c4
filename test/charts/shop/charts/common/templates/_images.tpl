{{/* Bitnami-style: global.imageRegistry over imageRoot.registry; digest wins over tag. */}}
{{- define "common.images.image" -}}
{{- $registry := .imageRoot.registry | default "docker.io" -}}
{{- if and .global .global.imageRegistry }}{{ $registry = .global.imageRegistry }}{{ end -}}
{{- $sep := ":" -}}
{{- $ver := .imageRoot.tag | default "" | toString -}}
{{- if .imageRoot.digest }}{{ $sep = "@" }}{{ $ver = .imageRoot.digest | toString }}{{ end -}}
{{- printf "%s/%s%s%s" $registry .imageRoot.repository $sep $ver -}}
{{- end -}}
{{- define "common.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
