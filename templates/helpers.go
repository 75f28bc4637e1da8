package templates

import (
	"net/http"
	"net/url"
	"strconv"
)

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Error " + strconv.Itoa(code)
}

func itoa(n int) string { return strconv.Itoa(n) }

// Bytes formats n bytes in decimal units (kB, MB, GB: quotas are set
// that way, "10 MB" = 10,000,000 bytes).
func Bytes(n int64) string {
	const unit = 1000
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	f := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB"} {
		f /= unit
		if f < unit || u == "TB" {
			if f < 10 {
				return strconv.FormatFloat(f, 'f', 1, 64) + " " + u
			}
			return strconv.FormatFloat(f, 'f', 0, 64) + " " + u
		}
	}
	return ""
}

// Thousands formats n with thousands separators ("10,000").
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var out []byte
	for i, ch := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, ch)
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// opsText is "123 of 10,000" or "123 (no limit)".
func opsText(u UsageView) string {
	if u.OpsPerMonth > 0 {
		return Thousands(u.Ops) + " of " + Thousands(u.OpsPerMonth)
	}
	return Thousands(u.Ops) + " (no limit)"
}

// quotaText describes a namespace's usage against its quota.
func quotaText(q QuotaView) string {
	entries := Thousands(q.Entries) + " entries"
	if q.MaxEntries > 0 {
		entries = Thousands(q.Entries) + " of " + Thousands(q.MaxEntries) + " entries"
	}
	bytes := Bytes(q.Bytes)
	if q.MaxBytes > 0 {
		bytes += " of " + Bytes(q.MaxBytes)
	}
	return entries + " · " + bytes
}

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
	case "code", "json", "text", "expression", "conditions":
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

// ariaSort is a column header's aria-sort value.
func ariaSort(sorted string) string {
	switch sorted {
	case "asc":
		return "ascending"
	case "desc":
		return "descending"
	}
	return "none"
}

// runFilterURL is the flow editor's address with its run history filtered
// by status ("" for all).
func runFilterURL(flowID, status string) string {
	u := "/flow?id=" + url.QueryEscape(flowID)
	if status != "" {
		u += "&runs=" + url.QueryEscape(status)
	}
	return u + "#run-filter"
}

func runFilterLabel(status string) string {
	if status == "" {
		return "all"
	}
	return status
}

// deleteFlowURL is the page confirming the deletion of flow id.
func deleteFlowURL(id string) string { return "/flow/delete?id=" + url.QueryEscape(id) }
