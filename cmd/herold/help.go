package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/heroldhq/herold/internal/config"
)

// isHelpArg reports whether a command's first argument asks for its help.
func isHelpArg(s string) bool {
	switch s {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// soleVerb is the one verb of a command that has one (`herold catalog
// check`), so that `herold catalog --help` shows the verb's full help rather
// than a pointer to it; "" for commands without verbs.
func soleVerb(command string) string {
	switch command {
	case "template":
		return "preview"
	case "campaign":
		return "status"
	}
	return ""
}

// helpArgs rewrites a request for help so that every command answers it in
// full with exit status 0: `herold help CMD` and, for a command with one
// verb, `herold CMD --help` both become `herold CMD [VERB] --help`. Other
// arguments are returned as they are.
func helpArgs(args []string) []string {
	if len(args) >= 2 && args[0] == "help" && !isHelpArg(args[1]) {
		args = []string{args[1], "--help"}
	}
	if len(args) >= 2 && isHelpArg(args[1]) {
		if verb := soleVerb(args[0]); verb != "" {
			return []string{args[0], verb, "--help"}
		}
		return []string{args[0], "--help"}
	}
	return args
}

// sectionTitle says in a few words what a configuration section holds.
func sectionTitle(name string) string {
	switch name {
	case "HTTP":
		return "HTTP: listener, public URL, request limits"
	case "Redis":
		return "Redis"
	case "Core":
		return "Core: catalog, API keys, secrets, logging, record retention"
	case "Worker":
		return "Worker: queue worker and scheduler"
	case "SMTP":
		return "SMTP: e-mail delivery"
	case "Twilio":
		return "Twilio: SMS, WhatsApp and RCS delivery"
	case "Brand":
		return "Brand: name, colours and imprint of every message and page"
	case "Templates":
		return "Templates: locales, links and opt-out notices of messages"
	case "Pages":
		return "Pages: preference centre, double opt-in, unsubscribe"
	case "Campaigns":
		return "Campaigns"
	case "Dispatch":
		return "Dispatch: accepting and delivering messages"
	case "Events":
		return "Events: webhooks to producers, bounces, metrics"
	case "Console":
		return "Console: operator console users, sessions, sign-in back-off"
	case "Debug":
		return "Debug: the operator's profiling endpoint (pprof)"
	}
	return name
}

// printFlags writes fs's flags as flag.PrintDefaults does, but in groups: the
// command's own flags first, then the settings by configuration section
// (HTTP, Redis, …), each under a heading, so that `serve --help` with some
// 200 settings can be read by area.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	section := map[string]string{} // flag name → section
	var order []string
	for _, s := range config.Sections(&config.Config{}) {
		order = append(order, s.Name)
		for _, st := range s.Settings {
			section[st.Flag] = s.Name
		}
	}
	groups := map[string][]*flag.Flag{}
	var own []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if name, ok := section[f.Name]; ok {
			groups[name] = append(groups[name], f)
		} else {
			own = append(own, f)
		}
	})
	if len(own) > 0 {
		fmt.Fprintln(w, "Flags:")
		printGroup(w, own)
	}
	if len(groups) == 0 {
		return
	}
	if len(own) > 0 {
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Settings: each flag overrides the HEROLD_* variable named in its help.")
	for _, name := range order {
		if len(groups[name]) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", sectionTitle(name))
		printGroup(w, groups[name])
	}
}

// printGroup prints flags in flag.PrintDefaults' format, through a FlagSet
// that holds only them.
func printGroup(w io.Writer, flags []*flag.Flag) {
	sub := flag.NewFlagSet("", flag.ContinueOnError)
	for _, f := range flags {
		sub.Var(f.Value, f.Name, f.Usage)
		// Var takes the current value as the default; a flag parsed before
		// --help would otherwise show as the default.
		sub.Lookup(f.Name).DefValue = f.DefValue
	}
	sub.SetOutput(w)
	sub.PrintDefaults()
}
