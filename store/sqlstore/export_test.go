package sqlstore

// SetBatchHooks installs test hooks on s's batches of more than one write
// (see batchHooks); call it before s is used concurrently.
func SetBatchHooks(s *Store, commit func() error, done func(errs []error)) {
	s.hooks = batchHooks{commit: commit, done: done}
}
