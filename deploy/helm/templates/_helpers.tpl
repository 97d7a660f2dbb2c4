{{- define "app.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The image-pull hook's objects and its Pods' name prefix: at most 63 characters for any release name. */}}
{{- define "app.imagePullName" -}}
{{- printf "%s-image-pull" (include "app.fullname" . | trunc 52 | trimSuffix "-") -}}
{{- end -}}

{{/* The runtime's socket on the node: imagePull.socket, or the runtime's usual one. */}}
{{- define "app.imagePullSocket" -}}
{{- if .Values.imagePull.socket -}}
{{- .Values.imagePull.socket -}}
{{- else if eq .Values.imagePull.runtime "docker" -}}
/var/run/docker.sock
{{- else -}}
/run/containerd/containerd.sock
{{- end -}}
{{- end -}}

{{/* The importer Pod, one per node: the hook's controller binds a copy to each node by name. */}}
{{- define "app.imagePullPod" -}}
apiVersion: v1
kind: Pod
metadata:
  labels:
    app.kubernetes.io/name: {{ include "app.imagePullName" . }}
    app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" }}
spec:
  restartPolicy: Never
  activeDeadlineSeconds: {{ .Values.imagePull.activeDeadlineSeconds }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets: {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.imagePull.nodeSelector }}
  nodeSelector: {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.imagePull.tolerations }}
  tolerations: {{- toYaml . | nindent 4 }}
  {{- end }}
  automountServiceAccountToken: false
  containers:
    - name: import
      # The importer image must already be on the nodes (import it by hand once, or serve it
      # from the private registry): it cannot import itself.
      image: {{ .Values.imagePull.importerImage }}
      args:
        - images
        - import
        - --from
        - /images
        - --runtime
        - {{ .Values.imagePull.runtime }}
        - --address
        - /run/runtime.sock
        {{- if eq .Values.imagePull.runtime "containerd" }}
        - --namespace
        - {{ .Values.imagePull.namespace }}
        - --ctr
        - /host-bin/ctr
        {{- end }}
        - --policy
        - {{ .Values.imagePull.policy }}
      securityContext:
        runAsUser: 0          # the runtime socket belongs to root
        readOnlyRootFilesystem: true
        allowPrivilegeEscalation: false
        capabilities:
          drop: ["ALL"]
        seccompProfile:
          type: RuntimeDefault
      resources: {{- toYaml .Values.imagePull.resources | nindent 8 }}
      terminationMessagePolicy: FallbackToLogsOnError
      volumeMounts:
        - name: images
          mountPath: /images
          readOnly: true
        - name: runtime-socket
          mountPath: /run/runtime.sock
        {{- if eq .Values.imagePull.runtime "containerd" }}
        - name: ctr
          mountPath: /host-bin/ctr
          readOnly: true
        {{- end }}
  volumes:
    - name: images
      hostPath:
        path: {{ .Values.imagePull.imagesPath }}
        type: Directory
    - name: runtime-socket
      hostPath:
        path: {{ include "app.imagePullSocket" . }}
        type: Socket
    {{- if eq .Values.imagePull.runtime "containerd" }}
    - name: ctr
      hostPath:
        path: {{ .Values.imagePull.ctrPath }}
        type: File
    {{- end }}
{{- end -}}
