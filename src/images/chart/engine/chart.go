// Chart loading from in-memory files, as helm's pkg/chart/v2/loader does: Chart.yaml, values.yaml,
// templates/, charts/ (directories or .tgz), every other file available to .Files.

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ghodss/yaml"
)

type File struct {
	Name string
	Data []byte
}

type Maintainer struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

// Metadata has the field order and names of helm's chart.Metadata: .Chart is built from them.
type Metadata struct {
	Name         string            `json:"name,omitempty"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Version      string            `json:"version,omitempty"`
	Description  string            `json:"description,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Maintainers  []*Maintainer     `json:"maintainers,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	APIVersion   string            `json:"apiVersion,omitempty"`
	Condition    string            `json:"condition,omitempty"`
	Tags         string            `json:"tags,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Dependencies []*Dependency     `json:"dependencies,omitempty"`
	Type         string            `json:"type,omitempty"`
}

type Dependency struct {
	Name         string   `json:"name" yaml:"name"`
	Version      string   `json:"version,omitempty" yaml:"version,omitempty"`
	Repository   string   `json:"repository" yaml:"repository"`
	Condition    string   `json:"condition,omitempty" yaml:"condition,omitempty"`
	Tags         []string `json:"tags,omitempty" yaml:"tags,omitempty"`
	Enabled      bool     `json:"enabled,omitempty" yaml:"enabled,omitempty"`
	ImportValues []any    `json:"import-values,omitempty" yaml:"import-values,omitempty"`
	Alias        string   `json:"alias,omitempty" yaml:"alias,omitempty"`
}

type Chart struct {
	Metadata     *Metadata
	Values       map[string]any
	Templates    []*File
	Files        []*File
	parent       *Chart
	dependencies []*Chart
	// Where the chart's files are, relative to the root chart (charts/x or charts/x.tgz).
	Origin string
}

func (c *Chart) Name() string {
	if c.Metadata == nil {
		return ""
	}
	return c.Metadata.Name
}
func (c *Chart) IsRoot() bool            { return c.parent == nil }
func (c *Chart) Dependencies() []*Chart  { return c.dependencies }
func (c *Chart) IsLibrary() bool         { return strings.EqualFold(c.Metadata.Type, "library") }
func (c *Chart) SetDependencies(ch ...*Chart) {
	c.dependencies = nil
	c.AddDependency(ch...)
}
func (c *Chart) AddDependency(ch ...*Chart) {
	for _, x := range ch {
		x.parent = c
		c.dependencies = append(c.dependencies, x)
	}
}
func (c *Chart) ChartFullPath() string {
	if !c.IsRoot() {
		return c.parent.ChartFullPath() + "/charts/" + c.Name()
	}
	return c.Name()
}

// LoadFiles builds a chart from files named relative to its root.
func LoadFiles(files []*File, origin string) (*Chart, error) {
	c := &Chart{Origin: origin}
	subcharts := map[string][]*File{}
	for _, f := range files {
		if f.Name == "Chart.yaml" {
			c.Metadata = new(Metadata)
			if err := yaml.Unmarshal(f.Data, c.Metadata); err != nil {
				return c, fmt.Errorf("cannot load %s: %w", join(origin, "Chart.yaml"), err)
			}
			if c.Metadata.APIVersion == "" {
				c.Metadata.APIVersion = "v1"
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	for _, f := range files {
		switch {
		case f.Name == "Chart.yaml", f.Name == "Chart.lock", f.Name == "requirements.lock", f.Name == "values.schema.json":
		case f.Name == "values.yaml":
			v, err := LoadValues(f.Data)
			if err != nil {
				return c, fmt.Errorf("cannot load %s: %w", join(origin, "values.yaml"), err)
			}
			c.Values = v
		case f.Name == "requirements.yaml":
			if c.Metadata == nil {
				c.Metadata = new(Metadata)
			}
			if err := yaml.Unmarshal(f.Data, c.Metadata); err != nil {
				return c, fmt.Errorf("cannot load %s: %w", join(origin, "requirements.yaml"), err)
			}
			if c.Metadata.APIVersion == "v1" {
				c.Files = append(c.Files, f)
			}
		case strings.HasPrefix(f.Name, "templates/"):
			c.Templates = append(c.Templates, f)
		case strings.HasPrefix(f.Name, "charts/"):
			if filepath.Ext(f.Name) == ".prov" {
				c.Files = append(c.Files, f)
				continue
			}
			rest := strings.TrimPrefix(f.Name, "charts/")
			cname := strings.SplitN(rest, "/", 2)[0]
			subcharts[cname] = append(subcharts[cname], &File{Name: rest, Data: f.Data})
		default:
			c.Files = append(c.Files, f)
		}
	}
	if c.Metadata == nil {
		return c, fmt.Errorf("%s is missing: not a chart", join(origin, "Chart.yaml"))
	}
	if c.Metadata.Name == "" {
		return c, fmt.Errorf("%s: chart.metadata.name is required", join(origin, "Chart.yaml"))
	}
	names := make([]string, 0, len(subcharts))
	for n := range subcharts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fs := subcharts[n]
		var sc *Chart
		var err error
		switch {
		case strings.IndexAny(n, "_.") == 0:
			continue
		case filepath.Ext(n) == ".tgz":
			if fs[0].Name != n {
				return c, fmt.Errorf("error unpacking subchart tar in %s: expected %s, got %s", c.Name(), n, fs[0].Name)
			}
			sc, err = LoadArchive(fs[0].Data, join(origin, "charts/"+n))
		default:
			buff := make([]*File, 0, len(fs))
			for _, f := range fs {
				parts := strings.SplitN(f.Name, "/", 2)
				if len(parts) < 2 {
					continue
				}
				buff = append(buff, &File{Name: parts[1], Data: f.Data})
			}
			sc, err = LoadFiles(buff, join(origin, "charts/"+n))
		}
		if err != nil {
			return c, fmt.Errorf("error unpacking subchart %s in %s: %w", n, c.Name(), err)
		}
		c.AddDependency(sc)
	}
	return c, nil
}

func join(origin, name string) string {
	if origin == "" {
		return name
	}
	return origin + "/" + name
}

const maxArchiveBytes = 256 << 20

// LoadArchive reads a chart .tgz (one top-level directory, as helm package makes it).
func LoadArchive(data []byte, origin string) (*Chart, error) {
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: not a gzip archive: %w", origin, err)
	}
	tr := tar.NewReader(gz)
	var files []*File
	total := int64(0)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", origin, err)
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA {
			continue
		}
		name := strings.ReplaceAll(h.Name, "\\", "/")
		parts := strings.SplitN(name, "/", 2)
		if len(parts) < 2 || parts[1] == "" {
			continue
		}
		total += h.Size
		if total > maxArchiveBytes {
			return nil, errors.New(origin + ": chart archive over 256 MiB")
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", origin, err)
		}
		files = append(files, &File{Name: parts[1], Data: b})
	}
	if len(files) == 0 {
		return nil, errors.New(origin + ": no files in chart archive")
	}
	return LoadFiles(files, origin)
}

// LoadValues reads one or more YAML documents, merged, as helm's loader.LoadValues.
func LoadValues(data []byte) (map[string]any, error) {
	values := map[string]any{}
	for _, doc := range splitYAMLDocuments(data) {
		cur := map[string]any{}
		if err := yaml.Unmarshal(doc, &cur); err != nil {
			return nil, fmt.Errorf("cannot unmarshal yaml document: %w", err)
		}
		values = MergeMaps(values, cur)
	}
	return values, nil
}

// splitYAMLDocuments splits on "---" separator lines as k8s.io/apimachinery's YAMLReader does.
func splitYAMLDocuments(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		trimmed := bytes.TrimRight(line, "\r\n")
		if rest := bytes.TrimSpace(bytes.TrimPrefix(trimmed, []byte("---"))); bytes.HasPrefix(trimmed, []byte("---")) && (len(rest) == 0 || rest[0] == '#') {
			if cur.Len() > 0 {
				docs = append(docs, append([]byte(nil), cur.Bytes()...))
			}
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	if cur.Len() > 0 {
		docs = append(docs, cur.Bytes())
	}
	return docs
}

// MergeMaps merges b over a: maps merged recursively, anything else replaced.
func MergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if v, ok := v.(map[string]any); ok {
			if bv, ok := out[k]; ok {
				if bv, ok := bv.(map[string]any); ok {
					out[k] = MergeMaps(bv, v)
					continue
				}
			}
		}
		out[k] = v
	}
	return out
}
