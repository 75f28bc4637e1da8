package torture

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
)

// The short versions of the harnesses (cmd/flowkv-torture runs the long
// ones): 2 linearizability runs, 3 kills, contention and abuse in small.

var bin string

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "flowkv-torture-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		root, err := ModuleRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		// Under -race the server is built with it too: it reuses the
		// packages the test run compiled, and catches races in the server.
		var flags []string
		if raceEnabled {
			flags = append(flags, "-race")
		}
		bin, err = BuildBinary(ctx, root, dir, flags...)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

func startServer(t *testing.T, dsn string, args ...string) *Server {
	t.Helper()
	s := &Server{Bin: bin, DSN: dsn, Token: NewToken(), Args: args, LogPath: filepath.Join(t.TempDir(), "server.log")}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		if b, _ := os.ReadFile(s.LogPath); len(b) > 0 {
			t.Logf("server log:\n%s", b)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		// A race-built server reports data races on stderr and carries on.
		b, _ := os.ReadFile(s.LogPath)
		if i := bytes.Index(b, []byte("WARNING: DATA RACE")); i >= 0 {
			t.Errorf("the server reported a data race:\n%s", b[i:min(len(b), i+6000)])
		}
	})
	return s
}

func checkLinear(t *testing.T, r LinearResult, err error, srv *Server) {
	t.Helper()
	t.Log(r)
	if err != nil {
		if b, _ := os.ReadFile(srv.LogPath); len(b) > 0 {
			t.Logf("server log (tail):\n%s", tail(b, 4000))
		}
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("run failed: %s (visualization: %s)", r, r.Visualization)
	}
	if r.Definite == 0 {
		t.Fatal("no operation completed")
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func TestLinearizableSQLite(t *testing.T) {
	srv := startServer(t, testenv.SQLiteDSN(t))
	for run := 0; run < 2; run++ {
		r, err := RunLinear(context.Background(), LinearConfig{
			Server: srv, Ops: 1500, Seed: uint64(run) + 1, OutDir: outDir(t),
			Prefix: fmt.Sprintf("ci-%d", run), Logf: t.Logf,
		})
		checkLinear(t, r, err, srv)
	}
}

func TestLinearizablePostgres(t *testing.T) {
	srv := startServer(t, testenv.PostgresDSN(t))
	r, err := RunLinear(context.Background(), LinearConfig{
		Server: srv, Ops: 1500, Seed: 7, OutDir: outDir(t), Logf: t.Logf,
	})
	checkLinear(t, r, err, srv)
}

func TestCrashSafetySQLite(t *testing.T) {
	srv := startServer(t, testenv.SQLiteDSN(t))
	r, err := RunLinear(context.Background(), LinearConfig{
		Server: srv, Ops: 1500, Seed: 3, Kills: 3, KillMin: 150 * time.Millisecond, KillMax: 600 * time.Millisecond,
		OutDir: outDir(t), Logf: t.Logf,
	})
	checkLinear(t, r, err, srv)
	if r.Kills != 3 || len(r.Integrity) != 3 {
		t.Fatalf("kills = %d, integrity checks = %d, want 3 each", r.Kills, len(r.Integrity))
	}
	if r.SetAcked == 0 {
		t.Fatal("no set insert was acknowledged")
	}
}

// outDir is where failing runs leave their histories: FLOWKV_TORTURE_OUT,
// else the test's temporary directory.
func outDir(t *testing.T) string {
	if d := os.Getenv("FLOWKV_TORTURE_OUT"); d != "" {
		return d
	}
	return t.TempDir()
}

func TestContentionSQLite(t *testing.T) {
	srv := startServer(t, testenv.SQLiteDSN(t))
	r, err := RunContention(context.Background(), ContentionConfig{Server: srv, Writers: 50, Duration: 3 * time.Second})
	t.Log(r)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("contention: %s", r)
	}
}

func TestAbuse(t *testing.T) {
	srv := startServer(t, testenv.SQLiteDSN(t))
	checks, err := RunAbuse(context.Background(), AbuseConfig{
		Server: srv, BodyBytes: 256 << 20, Conns: 300, Hold: 3 * time.Second, Attempts: 3000, Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 5 {
		t.Fatalf("%d checks ran, want 5", len(checks))
	}
	for _, c := range checks {
		if !c.Pass {
			t.Errorf("%s", c)
		}
	}
}
