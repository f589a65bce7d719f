{{- /* SPDX-License-Identifier: Apache-2.0 */ -}}
{{- /* Names and labels shared by the chart's templates. */ -}}

{{- define "peregrine.fullname" -}}
{{- if contains "peregrine" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-peregrine" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "peregrine.labels" -}}
app.kubernetes.io/name: peregrine
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- /* The agent pods: the DaemonSet's selector and the metrics Service's. */ -}}
{{- define "peregrine.selectorLabels" -}}
app.kubernetes.io/name: peregrine
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{- define "peregrine.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "peregrine.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /* The agent's arguments after `run`, from the values (docs/kubernetes.md, "Helm"). */ -}}
{{- define "peregrine.args" -}}
- run
{{- if .Values.keepEnforcing }}
- --keep-enforcing
{{- end }}
{{- if .Values.kubernetesPolicies }}
- --kubernetes
{{- end }}
{{- if .Values.config }}
- --config
- /etc/peregrine/config.yaml
{{- end }}
{{- with .Values.policies.defaultMode }}
{{- if not (has . (list "enforce" "monitor")) }}
{{- fail (printf "policies.defaultMode: must be enforce or monitor, not %q" .) }}
{{- end }}
- --default-mode
- {{ . }}
{{- end }}
{{- /* No --policy: the embedded default. A --policy flag replaces the default, so it is named again when kept. */ -}}
{{- if or .Values.policies.files (not .Values.policies.default) }}
{{- if .Values.policies.default }}
- --policy
- /opt/peregrine/policies
{{- end }}
- --policy
- /etc/peregrine/policies
{{- end }}
{{- if .Values.rules.files }}
{{- if .Values.rules.default }}
- --rules
- /opt/peregrine/rules
{{- end }}
- --rules
- /etc/peregrine/rules
{{- else if not .Values.rules.default }}
- --no-rules
{{- end }}
{{- if or .Values.policies.files .Values.rules.files }}
- --watch
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}
