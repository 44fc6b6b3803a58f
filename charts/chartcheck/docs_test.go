package chartcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// valueKey is one key of values.yaml with its dotted path and helm-docs comment.
type valueKey struct {
	Path       string
	Parent     string
	Documented bool // a `# --` comment is above it or above an ancestor
	Node       *yaml.Node
}

func valuesKeys(t *testing.T) []valueKey {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var out []valueKey
	var walk func(n *yaml.Node, prefix string, documented bool)
	walk = func(n *yaml.Node, prefix string, documented bool) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := strings.TrimPrefix(prefix+"."+k.Value, ".")
			doc := documented || strings.Contains(k.HeadComment, "# --")
			out = append(out, valueKey{Path: path, Parent: prefix, Documented: doc, Node: v})
			walk(v, path, doc)
		}
	}
	walk(doc.Content[0], "", false)
	return out
}

// TestValuesDocumented: every leaf value (or the object holding it) has a helm-docs
// `# --` comment, and README.md lists it.
func TestValuesDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatalf("README.md: %v (generate it with helm-docs)", err)
	}
	for _, k := range valuesKeys(t) {
		leaf := k.Node.Kind != yaml.MappingNode || len(k.Node.Content) == 0
		if leaf && !k.Documented {
			t.Errorf("values.yaml: %s has no `# --` comment", k.Path)
		}
		if leaf && strings.Contains(k.Node.HeadComment+k.Node.LineComment, "# --") {
			t.Errorf("values.yaml: %s: put the `# --` comment above the key", k.Path)
		}
	}
	for _, k := range valuesKeys(t) {
		if k.Documented && !strings.Contains(string(readme), "| "+k.Path+" |") && isDocRoot(k, valuesKeys(t)) {
			t.Errorf("README.md does not list %s: regenerate it with helm-docs (charts/chartcheck/check.sh docs)", k.Path)
		}
	}
}

// isDocRoot reports whether k carries the comment itself (not only an ancestor).
func isDocRoot(k valueKey, all []valueKey) bool {
	for _, p := range all {
		if p.Path == k.Parent && p.Documented {
			return false
		}
	}
	return true
}

// TestSchemaCoversEveryValue: values.schema.json has a property for every key of
// values.yaml (with additionalProperties: false for the chart's own objects), so a typo
// fails at install time.
func TestSchemaCoversEveryValue(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	if schema["additionalProperties"] != false {
		t.Errorf("the schema root must set additionalProperties: false")
	}
	// Kubernetes objects passed through verbatim; strict decoding checks them.
	passThrough := map[string]bool{"affinity": true, "redis.bundled.affinity": true}
	inMap := map[string]bool{} // keys of free-form maps (labels, requests) are data, not values
	for _, k := range valuesKeys(t) {
		if inMap[k.Parent] || passThrough[k.Parent] {
			inMap[k.Path] = true
			continue
		}
		s := schemaAt(schema, k.Path)
		if s == nil {
			t.Errorf("values.schema.json has no schema for %s", k.Path)
			continue
		}
		if _, ok := s["type"]; !ok {
			if _, ok := s["anyOf"]; !ok {
				t.Errorf("values.schema.json: %s has no type", k.Path)
			}
		}
		if isMap(s) {
			inMap[k.Path] = true
			continue
		}
		if k.Node.Kind == yaml.MappingNode && len(k.Node.Content) > 0 && !passThrough[k.Path] {
			if s["additionalProperties"] != false {
				t.Errorf("values.schema.json: %s should set additionalProperties: false", k.Path)
			}
		}
	}
}

// isMap reports whether s describes a free-form map (additionalProperties is a schema).
func isMap(s map[string]any) bool {
	_, ok := s["additionalProperties"].(map[string]any)
	return ok
}

// schemaAt follows properties (and additionalProperties maps) down a dotted path.
func schemaAt(s map[string]any, path string) map[string]any {
	for _, p := range strings.Split(path, ".") {
		props, _ := s["properties"].(map[string]any)
		if next, ok := props[p].(map[string]any); ok {
			s = next
			continue
		}
		if ap, ok := s["additionalProperties"].(map[string]any); ok {
			s = ap
			continue
		}
		return nil
	}
	return s
}
