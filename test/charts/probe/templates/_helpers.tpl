{{- define "probe.name" -}}{{ .x | upper }}{{- end -}}
