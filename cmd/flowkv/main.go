// Command flowkv is the data store of a workflow platform: it serves the HTTP
// API and web UI, and manages entries, tokens, scripts and flows from the
// command line. The commands are cobra commands (help, flags, shell
// completion); each top-level command is built by a function in its own
// cmd_*.go file, and newRoot puts them together.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/flowkv/flowkv/internal/config"
	"github.com/flowkv/flowkv/store"
)

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

// runMain runs one command line and returns the process exit code: 0, 1
// for a failure, 2 for an unknown command or subcommand. A failure prints
// one line holding the error code word to stderr. The command tree is
// built anew for every call, so flag values never leak between calls.
func runMain(ctx context.Context, args []string) int {
	root := newRoot()
	var cmd *cobra.Command
	err := unknownTopLevel(root, args)
	if err == nil {
		root.SetArgs(markArgs(root, args))
		cmd, err = root.ExecuteContextC(ctx)
	}
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %s\n", errorPrefix(cmd), oneLine(errorText(err)))
	var unknown unknownCommandError
	if errors.As(err, &unknown) {
		return 2
	}
	return 1
}

const rootLong = `flowkv — the data store of a workflow platform

Configuration comes from the environment (DATA_STORE_MODE, DATA_STORE_DSN,
FLOWKV_ADDR, …) or the matching flags; every flag --foo-bar can also be set
as FLOWKV_FOO_BAR, and a flag on the command line wins. Run
` + "`flowkv help COMMAND`" + ` or ` + "`flowkv COMMAND -h`" + ` for a command's flags.`

// newRoot builds the whole command tree.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "flowkv",
		Short:         "the data store of a workflow platform",
		Long:          rootLong,
		SilenceErrors: true, // runMain prints the one error line
		SilenceUsage:  true,
		// Without a command: the overview on stdout, exit 0.
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := io.WriteString(stdout, helpText(c))
			return err
		},
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			return flagsFromEnv(c.Flags())
		},
	}
	root.SetUsageTemplate(usageTemplate)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetIn(stdin)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return store.Errorf(store.CodeInvalidArgument, "%v", err)
	})
	// -h/--help prints on stderr, as the Go flag package does; `flowkv
	// help COMMAND` (and `flowkv GROUP help`) prints on stdout.
	root.SetHelpFunc(func(c *cobra.Command, _ []string) {
		io.WriteString(stderr, helpText(c))
	})
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [COMMAND]...",
		Short: "print a command's help on stdout",
		Args:  cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return showHelp(c.Root(), plainArgs(args))
		},
		ValidArgsFunction: func(c *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			parent, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, sub := range parent.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
	})
	root.AddCommand(
		newStoreCmd(), newIndexCmd(), newMigrateCmd(), newExportCmd(), newImportCmd(),
		newTokenCmd(), newScriptCmd(), newFlowCmd(), newBlocksCmd(), newServeCmd(),
	)
	// Added now rather than inside Execute, so that unknownTopLevel and
	// markArgs find them.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Args, c.RunE = nil, runGroup // `completion tcsh` is an unknown subcommand
		}
	}
	return root
}

// group returns a command holding subcommands. Without one it prints its
// help on stdout and fails; `flowkv GROUP help [SUB]` prints help on stdout.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, RunE: runGroup}
	c.AddCommand(subs...)
	return c
}

// runGroup runs a group command: its args hold no known subcommand.
func runGroup(c *cobra.Command, args []string) error {
	args = plainArgs(args)
	switch {
	case len(args) == 0:
		if _, err := io.WriteString(stdout, helpText(c)); err != nil {
			return err
		}
		return store.Errorf(store.CodeInvalidArgument, "missing subcommand (%s)", strings.Join(subNames(c), ", "))
	case args[0] == "help":
		return showHelp(c, args[1:])
	}
	return unknownCommand(c, args[0])
}

// leaf returns a command that takes positional arguments; the caller sets
// RunE with runE.
func leaf(use, short string) *cobra.Command {
	// Arguments are names, keys and IDs: no file names offered, except
	// where a command says it reads a file (fileArgs).
	return &cobra.Command{Use: use, Short: short, Args: cobra.ArbitraryArgs, ValidArgsFunction: cobra.NoFileCompletions}
}

// fileArgs makes c's arguments complete as file names.
func fileArgs(c *cobra.Command) *cobra.Command {
	c.ValidArgsFunction = nil
	return c
}

// flagValues are the values offered when completing a flag, by flag name.
var flagValues = map[string][]cobra.Completion{
	"mode":  {"internal", "aws"},
	"scope": {cobra.CompletionWithDesc("flows", "save, run and delete flows; scripts"), cobra.CompletionWithDesc("admin", "everything")},
	"ttl":   {"30s", "5m", "2h", "7d", "never"},
}

// registerFlagCompletions offers flagValues when completing. Cobra keeps
// them in a process-wide map keyed by flag, so this is done only for a
// completion request, not for every (in-process) run.
func registerFlagCompletions(c *cobra.Command) {
	for name, vals := range flagValues {
		if c.LocalFlags().Lookup(name) != nil {
			c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(vals, cobra.ShellCompDirectiveNoFileComp))
		}
	}
	for _, sub := range c.Commands() {
		registerFlagCompletions(sub)
	}
}

// runE adapts fn to cobra: fn gets the command's context and its
// positional arguments as typed (see markArgs).
func runE(fn func(ctx context.Context, args []string) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		return fn(c.Context(), plainArgs(args))
	}
}

// dataLeaf returns a leaf command with the backend flags.
func dataLeaf(use, short string) (*cobra.Command, *config.Config) {
	c := leaf(use, short)
	return c, backendFlags(c)
}

// backendFlags adds the backend flags (--dsn, --mode, limits, --aws-*) to
// c, defaulting to the environment (config.FromEnv); the returned config
// holds their values once c's flags are parsed.
func backendFlags(c *cobra.Command) *config.Config {
	cfg := config.FromEnv()
	gfs := flag.NewFlagSet(c.Name(), flag.ContinueOnError)
	cfg.StoreFlags(gfs)
	c.Flags().AddGoFlagSet(gfs)
	return &cfg
}

// EnvPrefix starts the environment variable of every flag: --foo-bar is
// FLOWKV_FOO_BAR.
const EnvPrefix = "FLOWKV_"

// envName is the environment variable that sets flag name.
func envName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// flagsFromEnv sets every flag of fs not given on the command line from
// its environment variable (envName), when that is set and not empty. A
// flag on the command line wins; a bad value is invalid_argument naming
// the variable. A repeatable flag takes one value from its variable.
func flagsFromEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		k := envName(f.Name)
		v := os.Getenv(k)
		if v == "" {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = store.Errorf(store.CodeInvalidArgument, "%s=%q (flag --%s): %v", k, v, f.Name, serr)
		}
	})
	return err
}

// usageTemplate is cobra's, showing a command holding subcommands as
// `flowkv GROUP [command]` only (groups run only to report a missing or
// unknown subcommand).
const usageTemplate = `Usage:{{if and .Runnable (not .HasAvailableSubCommands)}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`

const envNote = `Every flag --foo-bar can also be set by the environment variable FLOWKV_FOO_BAR
(an empty one counts as unset); a flag on the command line wins over it.
`

// helpText is a command's help: its description, usage and flags.
func helpText(c *cobra.Command) string {
	c.InitDefaultHelpFlag()
	var b strings.Builder
	if s := cmp.Or(c.Long, c.Short); s != "" {
		b.WriteString(strings.TrimRight(s, "\n") + "\n\n")
	}
	b.WriteString(c.UsageString())
	own := false
	c.Flags().VisitAll(func(f *pflag.Flag) { own = own || f.Name != "help" })
	if own {
		b.WriteString("\n" + envNote)
	}
	return b.String()
}

// showHelp prints the help of the command args name under parent on stdout.
func showHelp(parent *cobra.Command, args []string) error {
	target, rest, err := parent.Find(args)
	if err != nil {
		return unknownCommand(parent, firstWord(args))
	}
	if len(rest) > 0 && target.HasSubCommands() {
		return unknownCommand(target, firstWord(rest))
	}
	_, err = io.WriteString(stdout, helpText(target))
	return err
}

func firstWord(args []string) string {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return strings.Join(args, " ")
}

func subNames(c *cobra.Command) []string {
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return names
}

// unknownCommandError is an unknown command or subcommand: exit status 2.
type unknownCommandError struct{ error }

func (e unknownCommandError) Unwrap() error { return e.error }

// unknownCommand is the error for name, unknown under parent, with
// cobra's suggestions of a near name.
func unknownCommand(parent *cobra.Command, name string) error {
	what, help := "subcommand", parent.CommandPath()+" help"
	if !parent.HasParent() {
		what, help = "command", "flowkv help"
	}
	hint := ""
	if parent.SuggestionsMinimumDistance <= 0 {
		parent.SuggestionsMinimumDistance = 2 // cobra's default, set only inside Find
	}
	if s := parent.SuggestionsFor(name); len(s) > 0 {
		hint = "did you mean " + strings.Join(s, " or ") + "? "
	}
	return unknownCommandError{store.Errorf(store.CodeInvalidArgument, "unknown %s %q (%ssee %s)", what, name, hint, help)}
}

// unknownTopLevel checks the first word of args names a command: cobra
// would otherwise parse the flags after it first and report a flag.
func unknownTopLevel(root *cobra.Command, args []string) error {
	if len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd) {
		registerFlagCompletions(root)
		return nil
	}
	if _, rest, err := root.Find(args); err != nil {
		return unknownCommand(root, firstWord(rest))
	}
	return nil
}

// argMark marks an argument that looks like a flag but is not one (see
// markArgs); plainArgs removes it.
const argMark = "\x00"

// markArgs keeps two habits of the Go flag parsing the CLI had before
// cobra. A negative number that is not the value of the flag before it is
// an argument, not a flag (`flowkv store upsert counters visits -1`): it
// is marked so that pflag passes it through. A long flag may be written
// with one dash (-dsn): it gets its second. Nothing after "--" changes.
func markArgs(root *cobra.Command, args []string) []string {
	c, _, err := root.Find(args)
	if err != nil {
		return args
	}
	c.InitDefaultHelpFlag()
	fs := c.Flags()
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range args {
		if a == "--" {
			break
		}
		if negativeNumber(a) && !(i > 0 && takesValue(fs, args[i-1])) {
			out[i] = argMark + a
			continue
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 && fs.Lookup(name) != nil {
				out[i] = "-" + a
			}
		}
	}
	return out
}

// plainArgs removes markArgs' marks.
func plainArgs(args []string) []string {
	for i, a := range args {
		args[i] = strings.TrimPrefix(a, argMark)
	}
	return args
}

// negativeNumber reports whether a looks like a negative number (-5, -.5).
func negativeNumber(a string) bool {
	return len(a) > 1 && a[0] == '-' && (a[1] >= '0' && a[1] <= '9' || a[1] == '.')
}

// takesValue reports whether arg is a flag of fs that consumes the next
// argument as its value (--ttl 5m, not --ttl=5m, not a bool flag).
func takesValue(fs *pflag.FlagSet, arg string) bool {
	if !strings.HasPrefix(arg, "-") || strings.Contains(arg, "=") {
		return false
	}
	name := strings.TrimLeft(arg, "-")
	f := fs.Lookup(name)
	if f == nil && len(name) == 1 {
		f = fs.ShorthandLookup(name)
	}
	return f != nil && f.NoOptDefVal == ""
}

// errorPrefix starts the error line: "flowkv" and the top-level command.
func errorPrefix(c *cobra.Command) string {
	if c == nil || !c.HasParent() {
		return "flowkv"
	}
	for c.Parent().HasParent() {
		c = c.Parent()
	}
	return "flowkv " + c.Name()
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
