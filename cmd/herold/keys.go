package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/heroldhq/herold/internal/apikey"
)

// minKeyLen is the shortest secret accepted in HEROLD_API_KEYS: shorter ones
// can be guessed.
const minKeyLen = 16

// loadAPIKeys builds the key ring from HEROLD_API_KEYS (spec) and the YAML file
// HEROLD_API_KEYS_CONFIG (path), plus extra keys. Errors name the setting and
// the key, never a secret.
func loadAPIKeys(spec, path string, extra ...apikey.Key) (*apikey.Ring, error) {
	var keys, errs = parseKeySpec(spec)
	if path != "" {
		fileKeys, err := readKeyFile(path)
		if err != nil {
			errs = append(errs, err)
		}
		keys = append(keys, fileKeys...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	ring, err := apikey.New(append(keys, extra...))
	if err != nil {
		return nil, fmt.Errorf("HEROLD_API_KEYS / HEROLD_API_KEYS_CONFIG: %w", err)
	}
	return ring, nil
}

// parseKeySpec parses "name:secret:scope+scope,name2:secret2:scope".
// Scopes hold colons themselves (send:class:transactional), so only the first
// two colons of an entry separate fields; secrets cannot contain a colon.
func parseKeySpec(spec string) ([]apikey.Key, []error) {
	var (
		keys []apikey.Key
		errs []error
	)
	n := 0
	for entry := range strings.SplitSeq(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		n++
		parts := strings.SplitN(entry, ":", 3)
		name := strings.TrimSpace(parts[0])
		if len(parts) < 3 {
			errs = append(errs, fmt.Errorf("HEROLD_API_KEYS: entry %d (%q): want name:secret:scope+scope", n, name))
			continue
		}
		secret := strings.TrimSpace(parts[1])
		if len(secret) < minKeyLen {
			errs = append(errs, fmt.Errorf("HEROLD_API_KEYS: key %q: secret too short (%d chars), use at least %d (`herold apikey` makes one)", name, len(secret), minKeyLen))
			continue
		}
		var scopes []string
		for s := range strings.SplitSeq(parts[2], "+") {
			if s = strings.TrimSpace(s); s != "" {
				scopes = append(scopes, s)
			}
		}
		keys = append(keys, apikey.Key{Name: name, Hash: apikey.Hash(secret), Scopes: scopes})
	}
	return keys, errs
}

// keyFileEntry is one key of HEROLD_API_KEYS_CONFIG. The file holds only the
// SHA-256 of each secret, so it may be kept in version control.
type keyFileEntry struct {
	Name   string   `yaml:"name"`
	SHA256 string   `yaml:"sha256"`
	Scopes []string `yaml:"scopes"`
}

// readKeyFile reads a YAML list of keyFileEntry.
func readKeyFile(path string) ([]apikey.Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("HEROLD_API_KEYS_CONFIG: %w", err)
	}
	var entries []keyFileEntry
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&entries); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("HEROLD_API_KEYS_CONFIG: %s: want a YAML list of {name, sha256, scopes}: %w", path, err)
	}
	var (
		keys []apikey.Key
		errs []error
	)
	for i, e := range entries {
		where := fmt.Sprintf("HEROLD_API_KEYS_CONFIG: %s: key %d (%q)", path, i+1, e.Name)
		raw, err := hex.DecodeString(e.SHA256)
		if err != nil || len(raw) != 32 {
			errs = append(errs, fmt.Errorf("%s: sha256: want 64 hex digits (`herold apikey` prints them)", where))
			continue
		}
		k := apikey.Key{Name: e.Name, Scopes: e.Scopes}
		copy(k.Hash[:], raw)
		keys = append(keys, k)
	}
	return keys, errors.Join(errs...)
}

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
