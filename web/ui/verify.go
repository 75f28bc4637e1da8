package ui

import (
	"github.com/flowkv/flowkv/internal/tokens"
)

// TokenVerifier adapts a tokens.Manager to a Verifier.
func TokenVerifier(m *tokens.Manager) Verifier { return m }
