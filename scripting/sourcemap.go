package scripting

import (
	"encoding/json"
	"strings"

	"github.com/go-sourcemap/sourcemap"
)

// oneBasedSourceMap parses esbuild's source map for goja, whose files look
// positions up with 1-based columns and report the mapped column as is,
// while source maps count columns from 0. Every generated and original
// column is moved up by one: in the mappings' relative encoding that is
// the generated column of each line's first segment (it restarts at 0 on
// every line) and the original column of the first segment of all
// (it carries over from segment to segment).
func oneBasedSourceMap(name string, raw []byte) (*sourcemap.Consumer, bool) {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil, false
	}
	mappings, _ := m["mappings"].(string)
	lines := strings.Split(mappings, ";")
	firstOrig := true
	for i, l := range lines {
		if l == "" {
			continue
		}
		seg, rest, _ := strings.Cut(l, ",")
		f, ok := decodeVLQ(seg)
		if !ok || len(f) == 0 {
			return nil, false
		}
		f[0]++
		if len(f) >= 4 && firstOrig {
			f[3]++
			firstOrig = false
		}
		l = encodeVLQ(f)
		if rest != "" {
			l += "," + rest
		}
		lines[i] = l
	}
	// (esbuild's segments all carry an original position, so the first
	// one of all has it.)
	if firstOrig {
		return nil, false
	}
	m["mappings"] = strings.Join(lines, ";")
	b, err := json.Marshal(m)
	if err != nil {
		return nil, false
	}
	sm, err := sourcemap.Parse(name, b)
	return sm, err == nil
}

const vlqChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func decodeVLQ(s string) ([]int, bool) {
	var out []int
	shift, acc := 0, 0
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(vlqChars, s[i])
		if d < 0 || shift > 28 {
			return nil, false
		}
		acc |= (d & 31) << shift
		if d&32 != 0 {
			shift += 5
			continue
		}
		v := acc >> 1
		if acc&1 != 0 {
			v = -v
		}
		out = append(out, v)
		shift, acc = 0, 0
	}
	return out, shift == 0
}

func encodeVLQ(fields []int) string {
	var b strings.Builder
	for _, v := range fields {
		u := v << 1
		if v < 0 {
			u = (-v)<<1 | 1
		}
		for {
			d := u & 31
			u >>= 5
			if u > 0 {
				d |= 32
			}
			b.WriteByte(vlqChars[d])
			if u == 0 {
				break
			}
		}
	}
	return b.String()
}
