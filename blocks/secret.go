package blocks

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"strings"

	"gopkg.in/yaml.v3"
)

// Webhook secrets are write-only: PutFlow keeps only their SHA-256 (in the
// flow record, beside the flow), removes them from the stored source, and
// no JSON rendering of a Flow carries them.

// hashSecret returns the hex SHA-256 of a webhook secret.
func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// secretMatches compares a sent secret with a stored hash in constant time.
func secretMatches(hash, sent string) bool {
	return subtle.ConstantTimeCompare([]byte(hash), []byte(hashSecret(sent))) == 1
}

// redactSource returns the flow document src without its trigger's
// secret field: YAML keeps its comments and order (re-encoded), JSON is
// re-encoded indented. When that fails, or the secret still appears in the
// text (a comment quoting it), the flow itself is rendered as JSON
// instead, which never holds the secret.
func redactSource(src []byte, f *Flow, secret string) string {
	var out []byte
	if t := bytes.TrimSpace(src); len(t) > 0 && t[0] == '{' {
		out = redactJSON(t)
	} else {
		out = redactYAML(src)
	}
	if out != nil {
		if _, err := ParseFlow(out); err != nil || (secret != "" && bytes.Contains(out, []byte(secret))) {
			out = nil
		}
	}
	if out == nil {
		out, _ = json.MarshalIndent(f, "", "  ")
	}
	s := string(out)
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

func redactJSON(src []byte) []byte {
	v, err := decodeJSON(src)
	if err != nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	if t, ok := m["trigger"].(map[string]any); ok {
		delete(t, "secret")
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil
	}
	return out
}

func redactYAML(src []byte) []byte {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "trigger" || root.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		t := root.Content[i+1]
		for j := 0; j+1 < len(t.Content); j += 2 {
			if t.Content[j].Value == "secret" {
				t.Content = append(t.Content[:j:j], t.Content[j+2:]...)
				j -= 2
			}
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil
	}
	if err := enc.Close(); err != nil {
		return nil
	}
	return buf.Bytes()
}
