package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/heroldhq/herold/internal/policy"
)

// loadCatalog parses the catalog file at path, or the embedded default when
// path is empty. The error names where the catalog came from and lists every
// problem ParseCatalog found.
func loadCatalog(path string) (*policy.Catalog, error) {
	src, b := "embedded default catalog", policy.DefaultCatalog()
	if path != "" {
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		src = path
	}
	cat, err := policy.ParseCatalog(b)
	if err != nil {
		return nil, &catalogError{src: src, err: err}
	}
	return cat, nil
}

// catalogError lists a catalog's problems, one per line.
type catalogError struct {
	src string
	err error
}

func (e *catalogError) Error() string {
	var problems []string
	for _, line := range strings.Split(e.err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			problems = append(problems, "  "+line)
		}
	}
	noun := "problems"
	if len(problems) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("catalog %s: %d %s:\n%s", e.src, len(problems), noun, strings.Join(problems, "\n"))
}

func (e *catalogError) Unwrap() error { return e.err }

// catalogCommand is `herold catalog check [FILE]`.
func catalogCommand(_ context.Context, inv *invocation, args []string) error {
	if len(args) == 0 || args[0] != "check" { // `herold catalog --help`: see helpArgs
		return usageErrorf("herold catalog: want `herold catalog check [FILE]`")
	}
	fs := flag.NewFlagSet("herold catalog check", flag.ContinueOnError)
	about := "Validates a message catalog and prints it as a table: type, queue class, channel,\n" +
		"legal basis and conditions. Without FILE it checks HEROLD_CATALOG, or the embedded\n" +
		"default catalog when that is unset. Exit status 0 when the catalog is valid, 1 with\n" +
		"every problem and where it is otherwise."
	if err := parseFlags(fs, inv, args[1:], about, " [FILE]"); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usageErrorf("herold catalog check: want at most one FILE, got %d", fs.NArg())
	}
	path := inv.getenv("HEROLD_CATALOG")
	if fs.NArg() == 1 {
		path = fs.Arg(0)
	}
	cat, err := loadCatalog(path)
	if err != nil {
		var ce *catalogError
		if errors.As(err, &ce) {
			fmt.Fprintln(inv.stderr, err)
			return &exitError{code: 1, err: errors.New("catalog is invalid")}
		}
		return err
	}
	if err := cat.WriteTable(inv.stdout); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	fmt.Fprintf(inv.stdout, "\ncatalog is valid: %d message types\n", len(cat.Types()))
	return checkTemplates(inv, cat) // ---- E templates: every type has its templates
}
