package main

import (
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/flowkv/flowkv/blocks/javascript"
	"github.com/flowkv/flowkv/scripting"
)

// The process's one script engine (sandbox worker pool): built on first
// use from sandboxOpts, handed to the JavaScript block and the script
// routes, closed when the command ends.
var (
	sandboxOnce sync.Once
	sandbox     *scripting.Engine
	sandboxOpts = scripting.Options{
		Timeout:      envDuration("FLOWKV_SCRIPT_TIMEOUT"),
		MaxWorkers:   envInt("FLOWKV_SCRIPT_WORKERS"),
		WorkerMemory: int64(envInt("FLOWKV_SCRIPT_MEMORY_MB")) << 20,
	}
)

// scriptEngine returns the process's script engine, building it (and
// making it the JavaScript block's) on first use.
func scriptEngine() *scripting.Engine {
	sandboxOnce.Do(func() {
		sandbox = scripting.New(sandboxOpts)
		javascript.SetEngine(sandbox)
	})
	return sandbox
}

// closeScriptEngine ends the sandbox workers, if any were started.
func closeScriptEngine() {
	if sandbox != nil {
		sandbox.Close()
	}
}

// sandboxFlags adds the sandbox's settings to fs (serve).
func sandboxFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&sandboxOpts.Timeout, "script-timeout", sandboxOpts.Timeout,
		"time limit of a script run that sets none (inline and stored scripts); 0 = 5s (env FLOWKV_SCRIPT_TIMEOUT)")
	fs.IntVar(&sandboxOpts.MaxWorkers, "script-workers", sandboxOpts.MaxWorkers,
		"most sandbox worker processes alive at once, so scripts running at once; 0 = 16 (env FLOWKV_SCRIPT_WORKERS)")
	fs.Var((*mibFlag)(&sandboxOpts.WorkerMemory), "script-memory-mb",
		"memory budget of each sandbox worker in MiB; 0 = 256 (env FLOWKV_SCRIPT_MEMORY_MB)")
}

// mibFlag is a byte count given in MiB.
type mibFlag int64

func (m *mibFlag) String() string { return strconv.FormatInt(int64(*m)>>20, 10) }
func (m *mibFlag) Type() string   { return "int" }
func (m *mibFlag) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	*m = mibFlag(n << 20)
	return err
}

func envDuration(k string) time.Duration {
	d, _ := time.ParseDuration(os.Getenv(k))
	return d
}

func envInt(k string) int {
	n, _ := strconv.Atoi(os.Getenv(k))
	return n
}
