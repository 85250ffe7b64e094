package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/heroldhq/herold/internal/apikey"
)

// apikeyCommand makes a new API key: it prints the secret once and the entry
// for HEROLD_API_KEYS_CONFIG, which holds only its hash.
func apikeyCommand(_ context.Context, inv *invocation, args []string) error {
	fs := flag.NewFlagSet("herold apikey", flag.ContinueOnError)
	about := "Makes a new random API key. The secret is shown once: give it to the producer.\n" +
		"Add the printed YAML entry to the file of HEROLD_API_KEYS_CONFIG (it holds only the hash),\n" +
		"or the name:secret:scopes entry to HEROLD_API_KEYS.\n\n" +
		"Scopes: send:<type>, send:class:<class>, send:*, recipients, decisions, campaigns, *"
	if err := parseFlags(fs, inv, args, about, " NAME SCOPE..."); err != nil {
		return err
	}
	if fs.NArg() < 2 {
		return usageErrorf("herold apikey: want NAME and at least one SCOPE (see --help)")
	}
	name, scopes := fs.Arg(0), fs.Args()[1:]
	if _, err := apikey.New([]apikey.Key{{Name: name, Scopes: scopes}}); err != nil {
		return usageErrorf("herold apikey: %v", err)
	}
	secret, err := apikey.Generate()
	if err != nil {
		return err
	}
	quoted := make([]string, len(scopes))
	for i, s := range scopes {
		quoted[i] = strconv.Quote(s) // "*" unquoted is a YAML alias
	}
	fmt.Fprintf(inv.stdout, "secret: %s\n\n# HEROLD_API_KEYS_CONFIG entry:\n- name: %s\n  sha256: %s\n  scopes: [%s]\n\n# or in HEROLD_API_KEYS:\n%s:%s:%s\n",
		secret, strconv.Quote(name), apikey.HashHex(secret), strings.Join(quoted, ", "), name, secret, strings.Join(scopes, "+"))
	return nil
}
