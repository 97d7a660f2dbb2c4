// Dependencies, ported from helm's pkg/chart/v2/util/dependencies.go (Apache-2.0): aliases,
// condition (first path that resolves to a bool wins), tags, import-values.

package main

import (
	"fmt"
	"strings"

	"github.com/Masterminds/semver"
)

func IsCompatibleRange(constraint, ver string) bool {
	sv, err := semver.NewVersion(ver)
	if err != nil {
		return false
	}
	c, err := semver.NewConstraint(constraint)
	if err != nil {
		return false
	}
	return c.Check(sv)
}

// Disabled records a subchart that conditions or tags switched off (kept when forceAll is set).
type Disabled struct {
	Path string `json:"path"`
	Why  string `json:"why"`
}

func ProcessDependencies(c *Chart, v map[string]any, forceAll bool, disabled *[]Disabled) {
	processDependencyEnabled(c, v, "", forceAll, disabled)
	processDependencyImportValues(c)
}

func processDependencyConditions(reqs []*Dependency, cvals map[string]any, cpath string, why map[string]string) {
	for _, r := range reqs {
		for _, c := range strings.Split(strings.TrimSpace(r.Condition), ",") {
			if c == "" {
				continue
			}
			vv, err := PathValue(cvals, cpath+c)
			if err == nil {
				if bv, ok := vv.(bool); ok {
					r.Enabled = bv
					if !bv {
						why[r.Name] = "condition " + c + " is false"
					}
					break
				}
				printf("warning: condition path %s for chart %s returned a non-bool value", c, r.Name)
			}
		}
	}
}

func processDependencyTags(reqs []*Dependency, cvals map[string]any, why map[string]string) {
	vt, ok := Table(cvals, "tags")
	if !ok {
		return
	}
	for _, r := range reqs {
		var hasTrue, hasFalse bool
		for _, k := range r.Tags {
			if b, ok := vt[k]; ok {
				if bv, ok := b.(bool); ok {
					if bv {
						hasTrue = true
					} else {
						hasFalse = true
					}
				} else {
					printf("warning: tag %s for chart %s is not a bool", k, r.Name)
				}
			}
		}
		if !hasTrue && hasFalse {
			r.Enabled = false
			why[r.Name] = "tags " + strings.Join(r.Tags, ",") + " are false"
		} else if hasTrue || !hasTrue && !hasFalse {
			r.Enabled = true
		}
	}
}

func getAliasDependency(charts []*Chart, dep *Dependency) *Chart {
	for _, c := range charts {
		if c == nil || c.Name() != dep.Name || !IsCompatibleRange(dep.Version, c.Metadata.Version) {
			continue
		}
		out := *c
		md := *c.Metadata
		if md.Dependencies != nil {
			deps := make([]*Dependency, len(md.Dependencies))
			for i := range md.Dependencies {
				d := *md.Dependencies[i]
				deps[i] = &d
			}
			md.Dependencies = deps
		}
		out.Metadata = &md
		out.dependencies = nil
		for _, d := range c.Dependencies() {
			cpy := *d
			out.AddDependency(&cpy)
		}
		if dep.Alias != "" {
			out.Metadata.Name = dep.Alias
		}
		return &out
	}
	return nil
}

func processDependencyEnabled(c *Chart, v map[string]any, path string, forceAll bool, disabled *[]Disabled) {
	if c.Metadata.Dependencies == nil {
		return
	}
	var chartDependencies []*Chart
Loop:
	for _, existing := range c.Dependencies() {
		for _, req := range c.Metadata.Dependencies {
			if req != nil && existing.Name() == req.Name && IsCompatibleRange(req.Version, existing.Metadata.Version) {
				continue Loop
			}
		}
		chartDependencies = append(chartDependencies, existing)
	}
	for _, req := range c.Metadata.Dependencies {
		if req == nil {
			continue
		}
		if cd := getAliasDependency(c.Dependencies(), req); cd != nil {
			chartDependencies = append(chartDependencies, cd)
		}
		if req.Alias != "" {
			req.Name = req.Alias
		}
	}
	c.SetDependencies(chartDependencies...)
	for _, lr := range c.Metadata.Dependencies {
		if lr != nil {
			lr.Enabled = true
		}
	}
	var reqs []*Dependency
	for _, r := range c.Metadata.Dependencies {
		if r != nil {
			reqs = append(reqs, r)
		}
	}
	cvals := CoalesceValues(c, v)
	why := map[string]string{}
	processDependencyTags(reqs, cvals, why)
	processDependencyConditions(reqs, cvals, path, why)
	rm := map[string]bool{}
	for _, r := range reqs {
		if !r.Enabled {
			rm[r.Name] = true
			*disabled = append(*disabled, Disabled{Path: c.ChartFullPath() + "/charts/" + r.Name, Why: why[r.Name]})
		}
	}
	if forceAll {
		rm = map[string]bool{}
	}
	var cd []*Chart
	for _, n := range c.Dependencies() {
		if !rm[n.Metadata.Name] {
			cd = append(cd, n)
		}
	}
	var cdMetadata []*Dependency
	for _, n := range reqs {
		if !rm[n.Name] {
			cdMetadata = append(cdMetadata, n)
		}
	}
	for _, t := range cd {
		processDependencyEnabled(t, cvals, path+t.Metadata.Name+".", forceAll, disabled)
	}
	c.Metadata.Dependencies = cdMetadata
	c.SetDependencies(cd...)
}

func pathToMap(path string, data map[string]any) map[string]any {
	if path == "." {
		return data
	}
	parts := strings.Split(path, ".")
	cur := data
	for i := len(parts) - 1; i >= 0; i-- {
		cur = map[string]any{parts[i]: cur}
	}
	return cur
}

func processImportValues(c *Chart) {
	if c.Metadata.Dependencies == nil {
		return
	}
	cvals := MergeValues(c, nil)
	b := map[string]any{}
	for _, r := range c.Metadata.Dependencies {
		var outiv []any
		for _, riv := range r.ImportValues {
			switch iv := riv.(type) {
			case map[string]any:
				child := fmt.Sprintf("%v", iv["child"])
				parent := fmt.Sprintf("%v", iv["parent"])
				outiv = append(outiv, map[string]string{"child": child, "parent": parent})
				vv, ok := Table(cvals, r.Name+"."+child)
				if !ok {
					printf("warning: import-values: chart %s has no table %s", r.Name, child)
					continue
				}
				b = MergeTables(b, pathToMap(parent, vv))
			case string:
				child := "exports." + iv
				outiv = append(outiv, map[string]string{"child": child, "parent": "."})
				vm, ok := Table(cvals, r.Name+"."+child)
				if !ok {
					printf("warning: import-values: chart %s has no table %s", r.Name, child)
					continue
				}
				b = MergeTables(b, vm)
			}
		}
		r.ImportValues = outiv
	}
	c.Values = MergeTables(copyValues(cvals), b)
}

func processDependencyImportValues(c *Chart) {
	for _, d := range c.Dependencies() {
		processDependencyImportValues(d)
	}
	processImportValues(c)
}
