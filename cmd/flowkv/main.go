// Command flowkv is the data store of a workflow platform: it serves the HTTP
// API and web UI, and manages entries, tokens, scripts and flows from the
// command line. Each subcommand lives in its own cmd_*.go file and registers
// itself in init().
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/flowkv/flowkv/store"
)

// command is one subcommand: `flowkv NAME args…`.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

var commands = map[string]command{}

// register adds a subcommand; a duplicate name is a programming error.
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("flowkv: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// stdout and stderr are variables so tests can capture them.
var (
	stdout io.Writer = os.Stdout
	stderr io.Writer = os.Stderr
	stdin  io.Reader = os.Stdin
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:])
	closeScriptEngine()
	stop()
	os.Exit(code)
}

// runMain runs one command line and returns the process exit code. A failure
// prints one line holding the error code word to stderr.
func runMain(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "flowkv: invalid_argument: unknown command %q (see flowkv help)\n", args[0])
		return 2
	}
	if err := c.run(ctx, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "flowkv %s: %s\n", c.name, oneLine(errorText(err)))
		return 1
	}
	return 0
}

// errorText renders err with its code word first.
func errorText(err error) string {
	code := store.CodeOf(err)
	msg := err.Error()
	if strings.Contains(msg, string(code)) {
		return msg
	}
	return string(code) + ": " + msg
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "flowkv — the data store of a workflow platform")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: flowkv COMMAND [flags] [args]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Configuration comes from the environment (DATA_STORE_MODE, DATA_STORE_DSN, FLOWKV_ADDR, …)")
	fmt.Fprintln(w, "or the matching flags; run `flowkv COMMAND -h` for a command's flags.")
}

// newFlags returns a flag set for a subcommand whose errors are returned,
// not printed-and-exited, so they keep the one-line contract.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("flowkv "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args allowing flags after positional arguments
// (`flowkv store insert orders o-1 '{}' --ttl 5m`) and returns the
// positional ones. Bad flags are invalid_argument.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		fs.SetOutput(io.Discard)
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stderr)
				fs.PrintDefaults()
				return nil, err
			}
			return nil, store.Errorf(store.CodeInvalidArgument, "%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// "-" alone is a positional argument (stdin), as is anything after "--".
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
