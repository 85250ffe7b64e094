package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/heroldhq/herold/internal/app"
)

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
	cat, err := app.LoadCatalog(path)
	if err != nil {
		var ce *app.CatalogError
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
