// Values coalescing, ported from helm v4.1.4's pkg/chart/common/util/coalesce.go and common/values.go
// (Apache-2.0): chart defaults under user values, subcharts' values under their name, globals
// passed down, null deleting a key.

package main

import (
	"errors"
	"fmt"
	"strings"
)

const globalKey = "global"

// Warnings collected while coalescing (helm prints them with log.Printf).
var coalesceWarnings []string

func printf(format string, v ...any) {
	coalesceWarnings = append(coalesceWarnings, fmt.Sprintf(format, v...))
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, x := range t {
			l[i] = deepCopy(x)
		}
		return l
	default:
		return v
	}
}

func copyValues(vals map[string]any) map[string]any {
	if vals == nil {
		return map[string]any{}
	}
	return deepCopy(vals).(map[string]any)
}

func concatPrefix(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func CoalesceValues(c *Chart, vals map[string]any) map[string]any {
	return coalesce(c, copyValues(vals), "", false)
}

func MergeValues(c *Chart, vals map[string]any) map[string]any {
	return coalesce(c, copyValues(vals), "", true)
}

func coalesce(c *Chart, dest map[string]any, prefix string, merge bool) map[string]any {
	coalesceValues(c, dest, prefix, merge)
	return coalesceDeps(c, dest, prefix, merge)
}

func coalesceDeps(c *Chart, dest map[string]any, prefix string, merge bool) map[string]any {
	for _, sub := range c.Dependencies() {
		if v, ok := dest[sub.Name()]; !ok {
			dest[sub.Name()] = map[string]any{}
		} else if !istable(v) {
			printf("warning: type mismatch on %s: %v is not a table; the subchart's values are skipped", sub.Name(), v)
			continue
		}
		dvmap := dest[sub.Name()].(map[string]any)
		subPrefix := concatPrefix(prefix, c.Name())
		coalesceGlobals(dvmap, dest, subPrefix)
		dest[sub.Name()] = coalesce(sub, dvmap, subPrefix, merge)
	}
	return dest
}

func coalesceGlobals(dest, src map[string]any, prefix string) {
	var dg, sg map[string]any
	if destglob, ok := dest[globalKey]; !ok {
		dg = map[string]any{}
	} else if dg, ok = destglob.(map[string]any); !ok {
		printf("warning: skipping globals because destination %s is not a table.", globalKey)
		return
	}
	if srcglob, ok := src[globalKey]; !ok {
		sg = map[string]any{}
	} else if sg, ok = srcglob.(map[string]any); !ok {
		printf("warning: skipping globals because source %s is not a table.", globalKey)
		return
	}
	for key, val := range sg {
		if istable(val) {
			vv := copyMap(val.(map[string]any))
			if destv, ok := dg[key]; !ok {
				dg[key] = vv
			} else if destvmap, ok := destv.(map[string]any); !ok {
				printf("Conflict: cannot merge map onto non-map for %q. Skipping.", key)
			} else {
				coalesceTablesFullKey(vv, destvmap, concatPrefix(prefix, key), true)
				dg[key] = vv
			}
		} else if dv, ok := dg[key]; ok && istable(dv) {
			printf("key %s is table. Skipping", key)
		} else {
			dg[key] = val
		}
	}
	dest[globalKey] = dg
}

func copyMap(src map[string]any) map[string]any {
	m := make(map[string]any, len(src))
	for k, v := range src {
		m[k] = v
	}
	return m
}

func coalesceValues(c *Chart, v map[string]any, prefix string, merge bool) {
	subPrefix := concatPrefix(prefix, c.Name())
	vc := copyValues(c.Values)
	for key, val := range vc {
		if value, ok := v[key]; ok {
			if value == nil && !merge {
				delete(v, key)
			} else if dest, ok := value.(map[string]any); ok {
				src, ok := val.(map[string]any)
				if !ok {
					if val != nil {
						printf("warning: skipped value for %s.%s: Not a table.", subPrefix, key)
					}
				} else {
					coalesceTablesFullKey(dest, src, concatPrefix(subPrefix, key), childChartMergeTrue(c, key, merge))
				}
			}
		} else {
			// As helm 4.1: a chart default that is null stays null (later helm drops it).
			v[key] = val
		}
	}
}

func childChartMergeTrue(c *Chart, key string, merge bool) bool {
	for _, sub := range c.Dependencies() {
		if sub.Name() == key {
			return true
		}
	}
	return merge
}

func CoalesceTables(dst, src map[string]any) map[string]any {
	return coalesceTablesFullKey(dst, src, "", false)
}

func MergeTables(dst, src map[string]any) map[string]any {
	return coalesceTablesFullKey(dst, src, "", true)
}

func coalesceTablesFullKey(dst, src map[string]any, prefix string, merge bool) map[string]any {
	if src == nil {
		return dst
	}
	if dst == nil {
		return src
	}
	srcOriginalNonNil := map[string]bool{}
	for key, val := range src {
		if val != nil {
			srcOriginalNonNil[key] = true
		}
	}
	for key, val := range dst {
		if val == nil {
			src[key] = nil
		}
	}
	for key, val := range src {
		fullkey := concatPrefix(prefix, key)
		dv, ok := dst[key]
		switch {
		case ok && !merge && dv == nil && srcOriginalNonNil[key]:
			delete(dst, key)
		case !ok:
			dst[key] = val
		case istable(val):
			if istable(dv) {
				coalesceTablesFullKey(dv.(map[string]any), val.(map[string]any), fullkey, merge)
			} else {
				printf("warning: cannot overwrite table with non table for %s (%v)", fullkey, val)
			}
		case istable(dv) && val != nil:
			printf("warning: destination for %s is a table. Ignoring non-table value (%v)", fullkey, val)
		}
	}
	return dst
}

func istable(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

var errNoValue = errors.New("no value")

// Table returns the table at a dotted path.
func Table(v map[string]any, name string) (map[string]any, bool) {
	table := v
	for _, n := range strings.Split(name, ".") {
		next, ok := table[n].(map[string]any)
		if !ok {
			return nil, false
		}
		table = next
	}
	return table, true
}

// PathValue returns the non-table value at a dotted path.
func PathValue(v map[string]any, path string) (any, error) {
	parts := strings.Split(path, ".")
	key := parts[len(parts)-1]
	t := v
	if len(parts) > 1 {
		var ok bool
		if t, ok = Table(v, strings.Join(parts[:len(parts)-1], ".")); !ok {
			return nil, errNoValue
		}
	}
	if k, ok := t[key]; ok && !istable(k) {
		return k, nil
	}
	return nil, errNoValue
}
