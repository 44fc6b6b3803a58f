package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/config"
)

// Env is what the commands use of the process.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Version is printed by `version` and --version.
	Version string
	// CheckConfig validates the settings in the environment exactly as the
	// proxy's start-up does; its error names the setting.
	CheckConfig func(getenv func(string) string) error
	// HTTPClient talks to the admin API (nil: one with a 30 s timeout).
	HTTPClient *http.Client
	// Now is the clock (nil: time.Now); events listen checks webhook timestamps
	// against it.
	Now func() time.Time
}

func (e *Env) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

const prog = "spotify-token-proxy"

// usageError is a mistake on the command line or in the environment (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// command is one subcommand: name as typed ("accounts list"), a one-line synopsis,
// and its function (args after the name).
type command struct {
	name, synopsis, desc string
	run                  func(ctx context.Context, e *Env, args []string) error
}

func commands() []command {
	return []command{
		{"accounts list", "[--status=S] [-o table|json]", "every account (all pages)", accountsList},
		{"accounts get", "ID [-o json|table]", "one account", accountsGet},
		{"accounts delete", "ID", "delete an account and its tokens", accountsDelete},
		{"token put", "ID --refresh-token-file F|-", "store a refresh token read from a file or stdin", tokenPut},
		{"login", "ID [--timeout=10m]", "print the login link, wait until ID is linked", login},
		{"events tail", "[--after=ID] [--once]", "print account events as they come", eventsTail},
		{"events listen", "[--addr=HOST:PORT]", "receive webhooks: verify their signature, print the events", eventsListen},
		{"check-config", "", "validate the environment as start-up does (exit 0, or 2)", checkConfig},
		{"version", "", "print the version", version},
	}
}

var helpArgs = []string{"-h", "-help", "--help", "help"}

// IsCommand tells whether args (without the program name) are for the CLI: a
// command, --help or --version. Anything else (no arguments, or proxy flags) runs
// the proxy.
func IsCommand(args []string) bool {
	if len(args) == 0 {
		return false
	}
	if !strings.HasPrefix(args[0], "-") {
		return true
	}
	for _, a := range args {
		if slices.Contains(helpArgs, a) || a == "-version" || a == "--version" {
			return true
		}
	}
	return false
}

// Run runs the command in args and returns the exit status.
func Run(ctx context.Context, args []string, e Env) int {
	if e.HTTPClient == nil {
		e.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	err := dispatch(ctx, &e, args)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(e.Stderr, "%s: %v\n", prog, err)
		return 2
	default:
		fmt.Fprintf(e.Stderr, "%s: %v\n", prog, err)
		return 1
	}
}

func dispatch(ctx context.Context, e *Env, args []string) error {
	if len(args) == 0 || slices.Contains(helpArgs, args[0]) || (strings.HasPrefix(args[0], "-") && hasHelp(args)) {
		return help(e.Stdout)
	}
	if args[0] == "--version" || args[0] == "-version" || strings.HasPrefix(args[0], "-") {
		return version(ctx, e, nil)
	}
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			return c.run(ctx, e, args[len(words):])
		}
	}
	var group []string
	for _, c := range commands() {
		if strings.HasPrefix(c.name, args[0]+" ") {
			group = append(group, strings.TrimSpace(prog+" "+c.name+" "+c.synopsis))
		}
	}
	if len(group) > 0 {
		if len(args) > 1 {
			return usagef("unknown command %q; one of:\n  %s", args[0]+" "+args[1], strings.Join(group, "\n  "))
		}
		return usagef("%s needs a subcommand; one of:\n  %s", args[0], strings.Join(group, "\n  "))
	}
	return usagef("unknown command %q (run %s --help)", args[0], prog)
}

func hasHelp(args []string) bool {
	for _, a := range args {
		if slices.Contains(helpArgs, a) {
			return true
		}
	}
	return false
}

// help prints the proxy's settings and the commands.
func help(w io.Writer) error {
	_, _ = config.Load([]string{"--help"}, func(string) string { return "" }, w)
	fmt.Fprintf(w, "\nCommands (operate a running proxy through its admin API):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s %s %s\t%s\n", prog, c.name, c.synopsis, c.desc)
	}
	tw.Flush()
	fmt.Fprint(w, `
The commands find the admin API at --admin-url, else ADMIN_URL, else the proxy's
ADMIN_ADDR (in its pod), else `+defaultAdminURL+`, and send the token of ADMIN_TOKEN or ADMIN_TOKEN_FILE (never a flag: command lines
are visible to other users). `+prog+` <command> --help lists a command's flags.
Exit status: 0 done, 1 failed, 2 usage or configuration error.
`)
	return flag.ErrHelp
}

func version(_ context.Context, e *Env, args []string) error {
	if err := parseNone(newFlags("version", "", e), args); err != nil {
		return err
	}
	fmt.Fprintln(e.Stdout, e.Version)
	return nil
}

// flags is a command's flag set. --help prints the usage to stdout; parse errors
// are returned (they name the flag) and reported by Run.
type flags struct {
	*flag.FlagSet
	name  string // the command, e.g. "accounts list"
	usage func()
}

func newFlags(name, synopsis string, e *Env) *flags {
	fs := flag.NewFlagSet(prog+" "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // flag calls it on errors too; parse prints it on --help only
	return &flags{FlagSet: fs, name: name, usage: func() {
		fmt.Fprintf(e.Stdout, "Usage: %s %s %s\n", prog, name, strings.TrimSpace(synopsis))
		fs.SetOutput(e.Stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}}
}

// parse parses flags and positional arguments in any order and checks the number
// of positionals (names of the expected ones).
func parse(fs *flags, args []string, positional ...string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.usage()
				return nil, err
			}
			return nil, usagef("%s: %v", fs.name, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch {
	case len(pos) < len(positional):
		return nil, usagef("%s: missing %s", fs.name, strings.Join(positional[len(pos):], " "))
	case len(pos) > len(positional):
		return nil, usagef("%s: unexpected argument %q", fs.name, pos[len(positional)])
	}
	return pos, nil
}

func parseNone(fs *flags, args []string) error {
	_, err := parse(fs, args)
	return err
}

// oneOf checks an enumerated flag value.
func oneOf(flagName, v string, allowed ...string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return usagef("%s: %q: want %s", flagName, v, strings.Join(allowed, " or "))
}
