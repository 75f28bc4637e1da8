package sqlstore

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/flowkv/flowkv/migrations"
)

// migrationLockID is the PostgreSQL advisory lock key that serialises
// concurrent starts applying migrations ("flowkv" in ASCII).
const migrationLockID = 0x666c6f776b76

// migrate applies the dialect's pending migrations in one transaction and
// records each in schema_migrations. Concurrent starts are serialised: on
// PostgreSQL by an advisory transaction lock, on SQLite by the write
// transaction itself (BEGIN IMMEDIATE on the single writer connection).
func (s *Store) migrate(ctx context.Context) error {
	all, err := migrations.For(s.dialect)
	if err != nil {
		return dbErr("read the migrations", err)
	}
	err = s.gw.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == Postgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrationLockID).Error; err != nil {
				return err
			}
		}
		if err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
  version    TEXT   NOT NULL PRIMARY KEY,
  applied_at BIGINT NOT NULL
)`).Error; err != nil {
			return err
		}
		var done []string
		if err := tx.Raw("SELECT version FROM schema_migrations").Scan(&done).Error; err != nil {
			return err
		}
		applied := make(map[string]bool, len(done))
		for _, v := range done {
			applied[v] = true
		}
		for _, m := range all {
			if applied[m.Version] {
				continue
			}
			if err := tx.Exec(m.SQL).Error; err != nil {
				return dbErr("apply migration "+s.dialect+"/"+m.Version, err)
			}
			if err := tx.Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", m.Version, time.Now().UnixMicro()).Error; err != nil {
				return err
			}
		}
		return nil
	})
	return dbErr("apply migrations", err)
}

// Migrations lists the versions recorded in schema_migrations, in order.
func (s *Store) Migrations(ctx context.Context) ([]string, error) {
	var done []string
	err := s.gr.WithContext(ctx).Raw("SELECT version FROM schema_migrations ORDER BY version").Scan(&done).Error
	return done, dbErr("list migrations", err)
}
