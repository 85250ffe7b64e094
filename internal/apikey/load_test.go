package apikey

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadAPIKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "keys.yaml")
	if err := os.WriteFile(file, []byte("- name: crm\n  sha256: "+HashHex("crm-secret-0123456789")+"\n  scopes: [recipients, decisions]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ring, err := Load("billing:billing-secret-0123:send:class:transactional+send:invoice, shop:shop-secret-012345678:*", file)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		secret, name, scope string
	}{
		{"billing-secret-0123", "billing", "send:class:transactional"},
		{"billing-secret-0123", "billing", "send:invoice"},
		{"shop-secret-012345678", "shop", ScopeCampaigns},
		{"crm-secret-0123456789", "crm", ScopeDecisions},
	} {
		k, ok := ring.Authenticate(c.secret)
		if !ok || k.Name != c.name || !k.Allows(c.scope) {
			t.Errorf("key %s: got %+v %v, want %s allowing %s", c.name, k, ok, c.name, c.scope)
		}
	}
	if k, _ := ring.Authenticate("billing-secret-0123"); k.Allows(ScopeRecipients) {
		t.Error("billing key allows recipients")
	}

	bad := []struct {
		name, spec, file, want string
	}{
		{"no fields", "billing", "", `HEROLD_API_KEYS: entry 1 ("billing")`},
		{"duplicate name", "a:0123456789abcdefgh:*,a:0123456789abcdefgi:*", "", `"a": name used twice`},
		{"bad hash", "", "- name: x\n  sha256: abc\n  scopes: ['*']\n", `key 1 ("x"): sha256`},
		{"unknown field", "", "- name: x\n  secret: abc\n", "HEROLD_API_KEYS_CONFIG"},
		{"not a list", "", "name: x\n", "HEROLD_API_KEYS_CONFIG"},
	}
	for _, c := range bad {
		path := ""
		if c.file != "" {
			path = filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(c.file), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Load(c.spec, path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("%s: error reveals a secret: %v", c.name, err)
		}
	}
}
