// Package config reads flowkv's configuration from the environment and
// flags (docs/design.md, Configuration: every variable is also a flag).
package config

import (
	"flag"
	"os"
	"strconv"

	"github.com/flowkv/flowkv/store"
)

// Config is everything a flowkv process is configured with.
type Config struct {
	// Mode selects the backend: internal (SQL, default), aws (DynamoDB),
	// azure (not built).
	Mode string
	// DSN of the internal backend: sqlite:PATH (default sqlite:flowkv.db)
	// or postgres://….
	DSN string

	AWSRegion    string
	AWSAccessKey string
	AWSSecret    string
	AWSEndpoint  string
	AWSTable     string

	// Addr is where serve listens.
	Addr string
	// AdminToken, when set, is the admin token serve creates.
	AdminToken string

	Limits store.Limits
}

// FromEnv reads the environment, with defaults for what is unset.
func FromEnv() Config {
	c := Config{
		Mode:         env("DATA_STORE_MODE", "internal"),
		DSN:          env("DATA_STORE_DSN", "sqlite:flowkv.db"),
		AWSRegion:    env("DATA_STORE_AWS_REGION", ""),
		AWSAccessKey: env("DATA_STORE_AWS_ACCESS_KEY", ""),
		AWSSecret:    env("DATA_STORE_AWS_SECRET", ""),
		AWSEndpoint:  env("DATA_STORE_AWS_ENDPOINT", ""),
		AWSTable:     env("DATA_STORE_AWS_TABLE", "flowkv"),
		Addr:         env("FLOWKV_ADDR", "127.0.0.1:8080"),
		AdminToken:   env("FLOWKV_ADMIN_TOKEN", ""),
	}
	c.Limits = store.Limits{
		MaxNameBytes:      envInt("FLOWKV_MAX_NAME_BYTES"),
		MaxKeyBytes:       envInt("FLOWKV_MAX_KEY_BYTES"),
		MaxDataBytes:      envInt("FLOWKV_MAX_DATA_BYTES"),
		MaxEntriesPerName: int64(envInt("FLOWKV_MAX_ENTRIES_PER_NAME")),
		MaxQueryScan:      envInt("FLOWKV_MAX_QUERY_SCAN"),
	}.Normalize()
	return c
}

// StoreFlags registers the backend flags on fs, defaulting to c's values.
func (c *Config) StoreFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Mode, "mode", c.Mode, "backend: internal, aws (env DATA_STORE_MODE)")
	fs.StringVar(&c.DSN, "dsn", c.DSN, "internal backend: sqlite:PATH or postgres://… (env DATA_STORE_DSN)")
	fs.StringVar(&c.AWSRegion, "aws-region", c.AWSRegion, "DynamoDB region (env DATA_STORE_AWS_REGION)")
	fs.StringVar(&c.AWSAccessKey, "aws-access-key", c.AWSAccessKey, "DynamoDB access key (env DATA_STORE_AWS_ACCESS_KEY)")
	fs.StringVar(&c.AWSSecret, "aws-secret", c.AWSSecret, "DynamoDB secret (env DATA_STORE_AWS_SECRET)")
	fs.StringVar(&c.AWSEndpoint, "aws-endpoint", c.AWSEndpoint, "DynamoDB endpoint, for DynamoDB Local (env DATA_STORE_AWS_ENDPOINT)")
	fs.StringVar(&c.AWSTable, "aws-table", c.AWSTable, "DynamoDB table (env DATA_STORE_AWS_TABLE)")
	fs.IntVar(&c.Limits.MaxDataBytes, "max-data-bytes", c.Limits.MaxDataBytes, "largest data value, encoded (env FLOWKV_MAX_DATA_BYTES)")
	fs.IntVar(&c.Limits.MaxKeyBytes, "max-key-bytes", c.Limits.MaxKeyBytes, "longest key (env FLOWKV_MAX_KEY_BYTES)")
	fs.Int64Var(&c.Limits.MaxEntriesPerName, "max-entries-per-name", c.Limits.MaxEntriesPerName, "cap on entries per namespace, 0 = none (env FLOWKV_MAX_ENTRIES_PER_NAME)")
	fs.IntVar(&c.Limits.MaxQueryScan, "max-query-scan", c.Limits.MaxQueryScan, "entries one page of a query no index serves examines, default 1000 (env FLOWKV_MAX_QUERY_SCAN)")
}

// ServeFlags registers the server flags on fs.
func (c *Config) ServeFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (env FLOWKV_ADDR)")
	fs.StringVar(&c.AdminToken, "admin-token", c.AdminToken, "admin token to create on first start (env FLOWKV_ADMIN_TOKEN)")
}

func env(k, def string) string {
	if v, ok := os.LookupEnv(k); ok && v != "" {
		return v
	}
	return def
}

func envInt(k string) int {
	n, _ := strconv.Atoi(os.Getenv(k))
	return n
}
