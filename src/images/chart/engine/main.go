// The request/response of one `helm template`-like render: the chart's files, the user's values
// files and --set flags in, rendered template files out. Ports helm's install action order:
// user values (-f merged in order, then --set-json, --set, --set-string), dependencies processed,
// values coalesced with .Release and .Capabilities, templates rendered.

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/ghodss/yaml"
)

type ValuesFile struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

type Request struct {
	Files        []*File      `json:"files"`
	Archive      []byte       `json:"archive"`
	Values       []ValuesFile `json:"values"`
	SetJSON      []string     `json:"setJson"`
	Set          []string     `json:"set"`
	SetString    []string     `json:"setString"`
	ReleaseName  string       `json:"releaseName"`
	Namespace    string       `json:"namespace"`
	KubeVersion  string       `json:"kubeVersion"`
	APIVersions  []string     `json:"apiVersions"`
	All          bool         `json:"all"`
}

type Manifest struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

type ChartInfo struct {
	Path        string            `json:"path"`
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	AppVersion  string            `json:"appVersion"`
	Origin      string            `json:"origin"`
	Library     bool              `json:"library"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type NumericLeaf struct {
	Path     string `json:"path"`
	Rendered string `json:"rendered"`
}

type Response struct {
	Error     string         `json:"error,omitempty"`
	Usage     bool           `json:"usage,omitempty"`
	Manifests []Manifest     `json:"manifests"`
	Charts    []ChartInfo    `json:"charts"`
	Disabled  []Disabled     `json:"disabled"`
	Warnings  []string       `json:"warnings"`
	Values    map[string]any `json:"values"`
	Numbers   []NumericLeaf  `json:"numbers"`
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// Handle renders one request; every failure is an error in the response, never a panic.
func Handle(input []byte) (out []byte) {
	coalesceWarnings = nil
	resp := &Response{}
	defer func() {
		if r := recover(); r != nil {
			resp.Error = fmt.Sprintf("internal error while rendering: %v", r)
		}
		out, _ = json.Marshal(resp)
	}()
	var req Request
	if err := json.Unmarshal(input, &req); err != nil {
		resp.Error = "bad request: " + err.Error()
		return
	}
	if err := render(&req, resp); err != nil {
		resp.Error = err.Error()
		var u usageError
		resp.Usage = errors.As(err, &u)
	}
	resp.Warnings = append(resp.Warnings, coalesceWarnings...)
	return
}

func userValues(req *Request) (map[string]any, error) {
	base := map[string]any{}
	for _, f := range req.Values {
		cur := map[string]any{}
		if err := yaml.Unmarshal([]byte(f.Text), &cur); err != nil {
			return nil, usageError{fmt.Sprintf("failed to parse %s: %v", f.Name, err)}
		}
		base = MergeMaps(base, cur)
	}
	for _, s := range req.SetJSON {
		if err := ParseJSON(s, base); err != nil {
			return nil, usageError{fmt.Sprintf("failed parsing --set-json data %s: %v", s, err)}
		}
	}
	for _, s := range req.Set {
		if err := ParseInto(s, base); err != nil {
			return nil, usageError{fmt.Sprintf("failed parsing --set data %s: %v", s, err)}
		}
	}
	for _, s := range req.SetString {
		if err := ParseIntoString(s, base); err != nil {
			return nil, usageError{fmt.Sprintf("failed parsing --set-string data %s: %v", s, err)}
		}
	}
	return base, nil
}

func render(req *Request, resp *Response) error {
	var c *Chart
	var err error
	if len(req.Archive) > 0 {
		c, err = LoadArchive(req.Archive, "")
	} else {
		c, err = LoadFiles(req.Files, "")
	}
	if err != nil {
		return usageError{err.Error()}
	}
	if c.IsLibrary() {
		return usageError{"library charts are not installable: " + c.Name()}
	}
	vals, err := userValues(req)
	if err != nil {
		return err
	}
	caps, err := capabilities(req.KubeVersion, req.APIVersions)
	if err != nil {
		return err
	}
	if c.Metadata.KubeVersion != "" && !IsCompatibleRange(c.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return usageError{fmt.Sprintf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s (set --kube-version)", c.Metadata.KubeVersion, caps.KubeVersion.Version)}
	}
	ProcessDependencies(c, vals, req.All, &resp.Disabled)
	name := req.ReleaseName
	if name == "" {
		name = "release-name"
	}
	ns := req.Namespace
	if ns == "" {
		ns = "default"
	}
	coalesced := CoalesceValues(c, vals)
	top := map[string]any{
		"Chart":        structToMap(c.Metadata),
		"Capabilities": caps,
		"Release": map[string]any{
			"Name": name, "Namespace": ns, "IsUpgrade": false, "IsInstall": true, "Revision": 1, "Service": "Helm",
		},
		"Values": Values(coalesced),
	}
	files, err := Render(c, top)
	if err != nil {
		// A template that fails is the chart's or the values' problem, as with helm.
		return usageError{err.Error()}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	if err := checkManifests(files, names); err != nil {
		return err
	}
	for _, n := range names {
		resp.Manifests = append(resp.Manifests, Manifest{Name: n, Content: files[n]})
	}
	resp.Charts = chartInfos(c, nil)
	resp.Values = coalesced
	resp.Numbers = numericLeaves(coalesced, "", nil)
	return nil
}

func chartInfos(c *Chart, out []ChartInfo) []ChartInfo {
	out = append(out, ChartInfo{
		Path: c.ChartFullPath(), Name: c.Metadata.Name, Version: c.Metadata.Version, AppVersion: c.Metadata.AppVersion,
		Origin: c.Origin, Library: c.IsLibrary(), Annotations: c.Metadata.Annotations,
	})
	for _, d := range c.Dependencies() {
		out = chartInfos(d, out)
	}
	return out
}

// numericLeaves lists values that YAML read as numbers, as a template prints them.
func numericLeaves(v any, path string, out []NumericLeaf) []NumericLeaf {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = numericLeaves(t[k], concatPrefix(path, k), out)
		}
	case []any:
		for i, x := range t {
			out = numericLeaves(x, path+"["+strconv.Itoa(i)+"]", out)
		}
	case float64, int64, int:
		out = append(out, NumericLeaf{Path: path, Rendered: fmt.Sprint(t)})
	}
	return out
}

type KubeVersion struct {
	Version           string
	normalizedVersion string
	Major             string
	Minor             string
}

func (kv *KubeVersion) String() string {
	if kv.normalizedVersion != "" {
		return kv.normalizedVersion
	}
	return kv.Version
}
func (kv *KubeVersion) GitVersion() string { return kv.Version }

type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type BuildInfo struct {
	Version           string `json:"version,omitempty"`
	GitCommit         string `json:"git_commit,omitempty"`
	GitTreeState      string `json:"git_tree_state,omitempty"`
	GoVersion         string `json:"go_version,omitempty"`
	KubeClientVersion string `json:"kube_client_version"`
}

type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion BuildInfo
}

// The defaults of helm v4.1.4 (client-go v0.35): .Capabilities as `helm template` sees them.
var helmVersion = BuildInfo{Version: "v4.1.4", GitCommit: "05fa37973dc9e42b76e1d2883494c87174b6074f", GitTreeState: "clean", GoVersion: "go1.25.9", KubeClientVersion: "v1.35"}

const defaultKubeMajor, defaultKubeMinor = 1, 35

var defaultAPIVersions = []string{"v1", "admissionregistration.k8s.io/v1", "admissionregistration.k8s.io/v1alpha1", "admissionregistration.k8s.io/v1beta1", "internal.apiserver.k8s.io/v1alpha1", "apps/v1", "apps/v1beta1", "apps/v1beta2", "authentication.k8s.io/v1", "authentication.k8s.io/v1alpha1", "authentication.k8s.io/v1beta1", "authorization.k8s.io/v1", "authorization.k8s.io/v1beta1", "autoscaling/v1", "autoscaling/v2", "autoscaling/v2beta1", "autoscaling/v2beta2", "batch/v1", "batch/v1beta1", "certificates.k8s.io/v1", "certificates.k8s.io/v1beta1", "certificates.k8s.io/v1alpha1", "coordination.k8s.io/v1alpha2", "coordination.k8s.io/v1beta1", "coordination.k8s.io/v1", "discovery.k8s.io/v1", "discovery.k8s.io/v1beta1", "events.k8s.io/v1", "events.k8s.io/v1beta1", "extensions/v1beta1", "flowcontrol.apiserver.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1beta1", "flowcontrol.apiserver.k8s.io/v1beta2", "flowcontrol.apiserver.k8s.io/v1beta3", "networking.k8s.io/v1", "networking.k8s.io/v1beta1", "node.k8s.io/v1", "node.k8s.io/v1alpha1", "node.k8s.io/v1beta1", "policy/v1", "policy/v1beta1", "rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1beta1", "rbac.authorization.k8s.io/v1alpha1", "resource.k8s.io/v1", "resource.k8s.io/v1beta2", "resource.k8s.io/v1beta1", "resource.k8s.io/v1alpha3", "scheduling.k8s.io/v1alpha1", "scheduling.k8s.io/v1beta1", "scheduling.k8s.io/v1", "storage.k8s.io/v1beta1", "storage.k8s.io/v1", "storage.k8s.io/v1alpha1", "storagemigration.k8s.io/v1beta1", "apiextensions.k8s.io/v1beta1", "apiextensions.k8s.io/v1"}

var kubeVersionRe = regexp.MustCompile(`^\s*v?([0-9]+)\.([0-9]+)(?:\.([0-9]+))?([-+.].*)?\s*$`)

func capabilities(kube string, apis []string) (*Capabilities, error) {
	v := fmt.Sprintf("v%d.%d.0", defaultKubeMajor, defaultKubeMinor)
	kv := KubeVersion{Version: v, normalizedVersion: v, Major: strconv.Itoa(defaultKubeMajor), Minor: strconv.Itoa(defaultKubeMinor)}
	if kube != "" {
		m := kubeVersionRe.FindStringSubmatch(kube)
		if m == nil {
			return nil, usageError{fmt.Sprintf("invalid --kube-version %q: expected MAJOR.MINOR[.PATCH], e.g. 1.30.0", kube)}
		}
		major, _ := strconv.ParseUint(m[1], 10, 64)
		minor, _ := strconv.ParseUint(m[2], 10, 64)
		git := kube
		if !strings.HasPrefix(kube, "v") {
			git = "v" + kube
		}
		norm := fmt.Sprintf("v%d.%d", major, minor)
		if m[3] != "" {
			patch, _ := strconv.ParseUint(m[3], 10, 64)
			norm = fmt.Sprintf("%s.%d", norm, patch)
		}
		kv = KubeVersion{Version: git, normalizedVersion: norm, Major: strconv.FormatUint(major, 10), Minor: strconv.FormatUint(minor, 10)}
	}
	set := append(VersionSet{}, defaultAPIVersions...)
	set = append(set, apis...)
	return &Capabilities{KubeVersion: kv, APIVersions: set, HelmVersion: helmVersion}, nil
}

// SimpleHead is what helm's manifest sorter reads from every document; failing to read it fails
// helm template, so it fails here too.
type SimpleHead struct {
	Version  string `json:"apiVersion"`
	Kind     string `json:"kind,omitempty"`
	Metadata *struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata,omitempty"`
}

var manifestSep = regexp.MustCompile(`(?m)^---[ \t]*`)

func checkManifests(files map[string]string, names []string) error {
	for _, n := range names {
		content := files[n]
		if strings.HasSuffix(n, "NOTES.txt") || strings.HasPrefix(path.Base(n), "_") || strings.TrimSpace(content) == "" {
			continue
		}
		for _, d := range manifestSep.Split(strings.TrimLeftFunc(content, unicode.IsSpace), -1) {
			if strings.TrimSpace(d) == "" {
				continue
			}
			var head SimpleHead
			if err := yaml.Unmarshal([]byte(strings.TrimLeftFunc(d, unicode.IsSpace)), &head); err != nil {
				return usageError{fmt.Sprintf("YAML parse error on %s: %v", n, err)}
			}
		}
	}
	return nil
}
