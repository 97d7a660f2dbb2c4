{{- define "app.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Number of nodes the image import must reach: imagePull.nodeCount, or the nodes matching nodeSelector. */}}
{{- define "app.imagePullNodeCount" -}}
{{- $n := int .Values.imagePull.nodeCount -}}
{{- if eq $n 0 -}}
  {{- $nodes := lookup "v1" "Node" "" "" -}}
  {{- if $nodes -}}
    {{- range $node := $nodes.items -}}
      {{- $match := true -}}
      {{- range $k, $v := $.Values.imagePull.nodeSelector -}}
        {{- if ne (get $node.metadata.labels $k) (toString $v) -}}{{- $match = false -}}{{- end -}}
      {{- end -}}
      {{- if $match -}}{{- $n = add1 $n -}}{{- end -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- if eq (int $n) 0 -}}{{- fail "imagePull: no node to import on; set imagePull.nodeCount (helm template cannot look nodes up)" -}}{{- end -}}
{{- $n -}}
{{- end -}}
