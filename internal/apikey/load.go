package apikey

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// minKeyLen is the shortest secret accepted in HEROLD_API_KEYS: shorter ones
// can be guessed.
const minKeyLen = 16

// Load builds the key ring from HEROLD_API_KEYS (spec) and the YAML file
// HEROLD_API_KEYS_CONFIG (path), plus extra keys. Errors name the setting and
// the key, never a secret.
func Load(spec, path string, extra ...Key) (*Ring, error) {
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
	ring, err := New(append(keys, extra...))
	if err != nil {
		return nil, fmt.Errorf("HEROLD_API_KEYS / HEROLD_API_KEYS_CONFIG: %w", err)
	}
	return ring, nil
}

// parseKeySpec parses "name:secret:scope+scope,name2:secret2:scope".
// Scopes hold colons themselves (send:class:transactional), so only the first
// two colons of an entry separate fields; secrets cannot contain a colon.
func parseKeySpec(spec string) ([]Key, []error) {
	var (
		keys []Key
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
		keys = append(keys, Key{Name: name, Hash: Hash(secret), Scopes: scopes})
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
func readKeyFile(path string) ([]Key, error) {
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
		keys []Key
		errs []error
	)
	for i, e := range entries {
		where := fmt.Sprintf("HEROLD_API_KEYS_CONFIG: %s: key %d (%q)", path, i+1, e.Name)
		raw, err := hex.DecodeString(e.SHA256)
		if err != nil || len(raw) != 32 {
			errs = append(errs, fmt.Errorf("%s: sha256: want 64 hex digits (`herold apikey` prints them)", where))
			continue
		}
		k := Key{Name: e.Name, Scopes: e.Scopes}
		copy(k.Hash[:], raw)
		keys = append(keys, k)
	}
	return keys, errors.Join(errs...)
}
