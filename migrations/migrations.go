// Package migrations holds flowkv's versioned SQL schema, one directory per
// dialect (sqlite/, postgres/), embedded in the binary.
//
// Files are named NNN_description.sql and applied in name order; each file
// is recorded by name in the schema_migrations table when applied, so it
// never runs twice. A released file is never edited: schema changes are a
// new file. store/sqlstore applies them on Open and on `flowkv migrate`.
package migrations

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

// FS holds sqlite/*.sql and postgres/*.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS

// Migration is one SQL file of a dialect.
type Migration struct {
	// Version is the file name without ".sql" ("001_entries"); it is what
	// schema_migrations records.
	Version string
	// SQL is the file's content (one or more statements).
	SQL string
}

// For returns the migrations of dialect ("sqlite" or "postgres") in the
// order they apply; an unknown dialect has none.
func For(dialect string) ([]Migration, error) {
	entries, err := fs.ReadDir(FS, dialect)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := fs.ReadFile(FS, dialect+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: strings.TrimSuffix(e.Name(), ".sql"), SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}
