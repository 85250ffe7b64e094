package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/notice"
	"github.com/heroldhq/herold/internal/policy"
)

// catalogCommand is `herold catalog check|notice|record [FILE]`.
func catalogCommand(ctx context.Context, inv *invocation, args []string) error {
	const want = "want `herold catalog check [FILE]`, `herold catalog notice --locale de|en [--format md|html] [FILE]` or `herold catalog record --locale de|en [--format md|html] [FILE]`"
	if len(args) == 0 {
		return usageErrorf("herold catalog: %s", want)
	}
	switch args[0] {
	case "check":
		return catalogCheck(ctx, inv, args[1:])
	case "notice", "record":
		return catalogNotice(inv, args[0], args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(inv.stdout, "Usage: herold catalog check|notice|record [flags] [FILE]\n\n"+
			"  check   validates a message catalog and prints it as a table\n"+
			"  notice  renders the communication section of the privacy notice\n"+
			"  record  renders the entries of the record of processing activities (Art. 30 GDPR)\n\n"+
			"See `herold catalog <command> --help`.")
		return nil
	}
	return usageErrorf("herold catalog: unknown command %q: %s", args[0], want)
}

// catalogArg loads the catalog a catalog command names: FILE, else
// HEROLD_CATALOG, else the embedded default. An invalid one prints every
// problem and ends with exit status 1.
func catalogArg(inv *invocation, fs *flag.FlagSet) (*policy.Catalog, error) {
	if fs.NArg() > 1 {
		return nil, usageErrorf("%s: want at most one FILE, got %d", fs.Name(), fs.NArg())
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
			return nil, &exitError{code: 1, err: errors.New("catalog is invalid")}
		}
		return nil, err
	}
	return cat, nil
}

// catalogCheck is `herold catalog check [FILE]`.
func catalogCheck(_ context.Context, inv *invocation, args []string) error {
	fs := flag.NewFlagSet("herold catalog check", flag.ContinueOnError)
	about := "Validates a message catalog and prints it as a table: type, queue class, channel,\n" +
		"legal basis and conditions. Without FILE it checks HEROLD_CATALOG, or the embedded\n" +
		"default catalog when that is unset. Exit status 0 when the catalog is valid, 1 with\n" +
		"every problem and where it is otherwise."
	if err := parseFlags(fs, inv, args, about, " [FILE]"); err != nil {
		return err
	}
	cat, err := catalogArg(inv, fs)
	if err != nil {
		return err
	}
	if err := cat.WriteTable(inv.stdout); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	fmt.Fprintf(inv.stdout, "\ncatalog is valid: %d message types\n", len(cat.Types()))
	for _, gap := range cat.NoticeGaps() {
		fmt.Fprintf(inv.stderr, "warning: %s: `herold catalog notice` cannot render this catalog\n", gap)
	}
	return checkTemplates(inv, cat) // ---- E templates: every type has its templates
}

// catalogNotice is `herold catalog notice|record --locale de|en [--format md|html] [FILE]`.
func catalogNotice(inv *invocation, what string, args []string) error {
	fs := flag.NewFlagSet("herold catalog "+what, flag.ContinueOnError)
	locale := fs.String("locale", "", "language of the text: de or en (required)")
	format := fs.String("format", "md", "md (Markdown) or html (an HTML fragment to embed in the privacy page)")
	about := "Renders the communication section of the privacy notice from a message catalog:\n" +
		"per message type the purpose, legal basis, channels, data, storage period, recipients\n" +
		"and how to object or withdraw. Bases, channels, data and periods come from the rules\n" +
		"Herold enforces, so the notice says what Herold does."
	if what == "record" {
		about = "Renders the entries of the record of processing activities (Art. 30(1) GDPR) for\n" +
			"the message types of a catalog: purpose, legal basis, data subjects, data,\n" +
			"recipients, third-country transfers, storage periods and safeguards."
	}
	about += "\nWithout FILE it reads HEROLD_CATALOG, or the embedded default catalog."
	if err := parseFlags(fs, inv, args, about, " [FILE]"); err != nil {
		return err
	}
	if *locale == "" {
		return usageErrorf("%s: --locale: missing (de or en)", fs.Name())
	}
	opts := notice.Options{Lang: *locale, Format: notice.Format(*format)}
	if *locale != "de" && *locale != "en" {
		return usageErrorf("%s: --locale: %q is not de or en", fs.Name(), *locale)
	}
	if opts.Format != notice.Markdown && opts.Format != notice.HTML {
		return usageErrorf("%s: --format: %q is not md or html", fs.Name(), *format)
	}
	cat, err := catalogArg(inv, fs)
	if err != nil {
		return err
	}
	write := notice.Write
	if what == "record" {
		write = notice.WriteRecord
	}
	if err := write(inv.stdout, cat, opts); err != nil {
		fmt.Fprintln(inv.stderr, err)
		return &exitError{code: 1, err: fmt.Errorf("catalog %s: %w", what, err)}
	}
	return nil
}
