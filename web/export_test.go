package web

// OpenAPIBuilds reports how many times s encoded its OpenAPI document.
func OpenAPIBuilds(s *Server) int64 {
	s.apiDoc.mu.Lock()
	defer s.apiDoc.mu.Unlock()
	return s.apiDoc.builds
}
