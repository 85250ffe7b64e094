package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/heroldhq/herold/internal/console"
)

// consoleCommand is `herold console user add NAME ROLE`: it prints the
// entry of a console user for HEROLD_CONSOLE_USERS_FILE, which holds only
// the argon2id hash of the password.
func consoleCommand(_ context.Context, inv *invocation, args []string) error {
	if len(args) < 2 || args[0] != "user" || args[1] != "add" {
		if len(args) > 0 && isHelpArg(args[0]) {
			args = []string{"user", "add", "--help"}
		} else {
			return usageErrorf("herold console: want `herold console user add NAME ROLE` (see herold console user add --help)")
		}
	}
	fs := flag.NewFlagSet("herold console user add", flag.ContinueOnError)
	pwFile := fs.String("password-file", "", "read the password from this file (first line) instead of generating one")
	about := "Prints a console user's entry for the file of HEROLD_CONSOLE_USERS_FILE (it holds only the\n" +
		"argon2id hash of the password). Without --password-file a random password is made and shown once.\n\n" +
		"Roles: viewer (looks, changes nothing), marketing (campaigns, segments, lists),\n" +
		"compliance (people, consent ledger, export, erasure, suppressions, audit log), admin (everything)."
	if err := parseFlags(fs, inv, args[2:], about, " NAME ROLE"); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageErrorf("herold console user add: want NAME and ROLE (see --help)")
	}
	name := fs.Arg(0)
	if err := console.CheckUserName(name); err != nil {
		return usageErrorf("herold console user add: %v", err)
	}
	role, err := console.ParseRole(fs.Arg(1))
	if err != nil {
		return usageErrorf("herold console user add: %v", err)
	}
	password, shown := "", false
	if *pwFile != "" {
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			return fmt.Errorf("herold console user add: --password-file: %w", err)
		}
		password, _, _ = strings.Cut(string(b), "\n")
		password = strings.TrimRight(password, "\r")
	} else {
		raw := make([]byte, 18)
		_, _ = rand.Read(raw) // crypto/rand never fails on supported platforms
		password, shown = base64.RawURLEncoding.EncodeToString(raw), true
	}
	hash, err := console.HashPassword(password)
	if err != nil {
		return usageErrorf("herold console user add: %v", err)
	}
	if shown {
		fmt.Fprintf(inv.stdout, "password: %s\n\n", password)
	}
	fmt.Fprintf(inv.stdout, "# HEROLD_CONSOLE_USERS_FILE entry:\n%s", console.UserEntry(name, role, hash))
	return nil
}
