package templates

import (
	"net/http"
	"strconv"
)

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Error " + strconv.Itoa(code)
}

func itoa(n int) string { return strconv.Itoa(n) }

func i64(n int64) string { return strconv.FormatInt(n, 10) }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func hasFieldProblems(b BlockView) bool {
	for _, f := range b.Fields {
		if len(f.Problems) > 0 {
			return true
		}
	}
	return false
}

func isWide(f FieldView) bool {
	switch f.Spec.Type {
	case "code", "json", "text", "expression":
		return true
	}
	return false
}

func optionLabel(label, value string) string {
	if label == "" {
		return value
	}
	return label
}
