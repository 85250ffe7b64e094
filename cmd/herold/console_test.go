package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/console"
)

// `herold console user add` prints an entry the console loads, with the
// role given and a hash that matches the password.
func TestConsoleUserAdd(t *testing.T) {
	t.Parallel()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("a long enough password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runOnce(t, nil, "console", "user", "add", "--password-file", pw, "carla", "compliance")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "password:") {
		t.Errorf("a given password is printed:\n%s", out)
	}
	file := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(file, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	users, err := console.LoadUsers(file)
	if err != nil || users["carla"].Role != console.Compliance {
		t.Fatalf("LoadUsers of the printed entry: %+v, %v", users, err)
	}
	if _, _, err := runOnce(t, nil, "console", "user", "add", "carla", "boss"); err == nil || !strings.Contains(err.Error(), "role") {
		t.Errorf("an unknown role: %v, want an error naming the role", err)
	}
	out, _, err = runOnce(t, nil, "console", "user", "add", "dora", "viewer")
	if err != nil || !strings.Contains(out, "password: ") || !strings.Contains(out, "argon2id: \"$argon2id$") {
		t.Errorf("generated password: %v\n%s", err, out)
	}
}
