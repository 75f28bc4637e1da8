// Package torture holds flowkv's reliability harnesses: a linearizability
// checker (porcupine) driven over HTTP against a real `flowkv serve`
// process, crash safety under SIGKILL, write contention, a soak and abuse
// checks. cmd/flowkv-torture runs the long versions; the tests of this
// package run short ones in CI. Everything targets loopback only.
package torture

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // creating fresh PostgreSQL databases
	_ "github.com/mattn/go-sqlite3"    // PRAGMA integrity_check on the server's file
)

// BuildBinary builds ./cmd/flowkv of the module rooted at root into dir
// (with extra go build flags, e.g. -race) and returns the binary's path.
func BuildBinary(ctx context.Context, root, dir string, flags ...string) (string, error) {
	bin := filepath.Join(dir, "flowkv")
	args := append(append([]string{"build"}, flags...), "-o", bin, "./cmd/flowkv")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("torture: go build ./cmd/flowkv: %v\n%s", err, out)
	}
	return bin, nil
}

// ModuleRoot returns the directory holding go.mod, searching upwards from
// the working directory.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("torture: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// NewToken returns a random admin token secret.
func NewToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "fkv_torture_" + hex.EncodeToString(b)
}

// Server is one `flowkv serve` process on a loopback port, restartable on
// the same address and database.
type Server struct {
	Bin   string
	DSN   string
	Token string
	// Args are extra flags for serve (e.g. --max-body-bytes).
	Args []string
	// Env is extra environment (KEY=VALUE); it wins over the defaults
	// (DATA_STORE_MODE=aws with DATA_STORE_AWS_* selects DynamoDB).
	Env []string
	// UI serves the web UI too (by default the server runs --no-ui).
	UI bool
	// LogPath receives the server's stderr (appended across restarts).
	LogPath string

	mu     sync.Mutex
	addr   string
	cmd    *exec.Cmd
	done   chan struct{}
	starts int
}

// Addr returns host:port once started.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL returns http://host:port.
func (s *Server) URL() string { return "http://" + s.Addr() }

// PID returns the running process's id (0 when not running).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Starts returns how many times the server was started.
func (s *Server) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// Start launches the server (on a random loopback port the first time, on
// the same address afterwards) and waits until /readyz answers 200.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	addr := s.addr
	s.mu.Unlock()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	args := []string{"serve", "--quiet", "--addr", addr}
	if !s.UI {
		args = append(args, "--no-ui")
	}
	args = append(args, s.Args...)
	var lastErr error
	for attempt := 0; attempt < 50; attempt++ {
		cmd := exec.Command(s.Bin, args...)
		cmd.Env = append(os.Environ(), "DATA_STORE_MODE=internal", "DATA_STORE_DSN="+s.DSN, "FLOWKV_ADMIN_TOKEN="+s.Token)
		cmd.Env = append(cmd.Env, s.Env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		var logf io.WriteCloser
		if s.LogPath != "" {
			f, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return err
			}
			logf = f
			cmd.Stderr = f
		}
		if err := cmd.Start(); err != nil {
			if logf != nil {
				logf.Close()
			}
			return fmt.Errorf("torture: start %s: %w", s.Bin, err)
		}
		done := make(chan struct{})
		got := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			sent := false
			for sc.Scan() {
				if a, ok := strings.CutPrefix(sc.Text(), "flowkv serving on http://"); ok && !sent {
					got <- a
					sent = true
				}
			}
			if !sent {
				close(got)
			}
		}()
		go func() {
			_ = cmd.Wait()
			if logf != nil {
				logf.Close()
			}
			close(done)
		}()
		var a string
		var ok bool
		select {
		case a, ok = <-got:
		case <-time.After(60 * time.Second):
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
			return ctx.Err()
		}
		if !ok {
			// It exited (the port may still be taken for a moment after a
			// kill) or did not answer: retry.
			_ = cmd.Process.Kill()
			<-done
			lastErr = fmt.Errorf("torture: flowkv serve did not start (see %s)", s.LogPath)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		s.addr, s.cmd, s.done = a, cmd, done
		s.starts++
		s.mu.Unlock()
		return s.waitReady(ctx)
	}
	return lastErr
}

func (s *Server) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/readyz", nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("torture: /readyz did not answer 200 within 60s")
}

// Kill sends SIGKILL and waits for the process to be gone.
func (s *Server) Kill() {
	s.signal(syscall.SIGKILL)
}

// Stop sends SIGTERM (graceful shutdown) and waits.
func (s *Server) Stop() {
	s.signal(syscall.SIGTERM)
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// SQLitePath returns the database file of a sqlite: DSN ("" otherwise).
func SQLitePath(dsn string) string {
	p, ok := strings.CutPrefix(dsn, "sqlite:")
	if !ok {
		return ""
	}
	return p
}

// IntegrityCheck runs PRAGMA integrity_check on a SQLite file (opening it
// recovers the WAL, as the next server start would) and returns its answer
// ("ok" when sound).
func IntegrityCheck(path string) (string, error) {
	db, err := sql.Open("sqlite3", path+"?_busy_timeout=10000")
	if err != nil {
		return "", err
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return "", err
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "; "), rows.Err()
}

// FreshPostgres creates a new database on the PostgreSQL server at base
// (postgres://…/db) and returns its DSN and a function dropping it.
func FreshPostgres(ctx context.Context, base string) (string, func(), error) {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	if err := admin.PingContext(ctx); err != nil {
		admin.Close()
		return "", nil, err
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name := "flowkv_torture_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, err
	}
	i := strings.LastIndex(base, "/")
	q := ""
	if j := strings.Index(base[i:], "?"); j >= 0 {
		q = base[i+j:]
	}
	dsn := base[:i+1] + name + q
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	}
	return dsn, drop, nil
}
