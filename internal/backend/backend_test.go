package backend

import (
	"context"
	"testing"

	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	cfg := config.Config{Mode: "internal", DSN: testenv.SQLiteDSN(t), Limits: store.Limits{MaxKeyBytes: 10}.Normalize()}
	if err := Migrate(ctx, cfg); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer s.Close()
	if s.Limits().MaxKeyBytes != 10 {
		t.Fatalf("limits %+v not passed to the store", s.Limits())
	}
	if _, err := s.Insert(ctx, "n", "01234567890", []byte(`1`), store.WriteOptions{}); store.CodeOf(err) != store.CodeTooLarge {
		t.Fatalf("insert of an 11-byte key: %v, want too_large", err)
	}
	for _, mode := range []string{"azure", "cosmos"} {
		_, err := Open(ctx, config.Config{Mode: mode})
		if store.CodeOf(err) != store.CodeInvalidArgument {
			t.Errorf("mode %s: %v, want invalid_argument", mode, err)
		}
	}
}
