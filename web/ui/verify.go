package ui

import (
	"context"

	"github.com/flowkv/flowkv/internal/tokens"
	"github.com/flowkv/flowkv/store"
)

// TokenVerifier adapts a tokens.Manager to a Verifier.
func TokenVerifier(m *tokens.Manager) Verifier {
	return func(ctx context.Context, token string) (store.Grants, error) {
		t, err := m.Verify(ctx, token)
		if err != nil {
			return nil, err
		}
		return t.Grants, nil
	}
}
