package console

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/alexedwards/argon2id"
	"go.yaml.in/yaml/v3"
)

// User is one console user from HEROLD_CONSOLE_USERS_FILE.
type User struct {
	Name string
	Role Role
	hash string // argon2id in PHC form: $argon2id$v=19$m=…,t=…,p=…$salt$key
}

// userEntry is one entry of the users file.
type userEntry struct {
	Name    string `yaml:"name"`
	Role    string `yaml:"role"`
	Argon2i string `yaml:"argon2id"`
}

// HashParams are the argon2id parameters of new password hashes: OWASP's
// recommendation (m=19 MiB, t=2, p=1) with a larger memory cost, so one
// guess costs about 50 ms on a server core.
var HashParams = argon2id.Params{Memory: 64 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// HashPassword returns the argon2id hash of password for the users file.
func HashPassword(password string) (string, error) {
	if len(password) < minPassword {
		return "", fmt.Errorf("password too short (%d characters), use at least %d", len(password), minPassword)
	}
	p := HashParams
	return argon2id.CreateHash(password, &p)
}

// minPassword is the shortest password HashPassword accepts.
const minPassword = 12

// UserEntry returns the YAML entry of the users file for a user.
func UserEntry(name string, role Role, hash string) string {
	return fmt.Sprintf("- name: %q\n  role: %s\n  argon2id: %q\n", name, role, hash)
}

// CheckUserName reports whether name can be a console user's name.
func CheckUserName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("user name %q: want 1 to 64 characters", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)) {
			return fmt.Errorf("user name %q: use letters, digits and . _ - @ only", name)
		}
	}
	return nil
}

// LoadUsers reads the users file: a YAML list of {name, role, argon2id}.
// Every problem is reported with the entry's number and name, never a hash.
func LoadUsers(path string) (map[string]User, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("HEROLD_CONSOLE_USERS_FILE: %w", err)
	}
	var entries []userEntry
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&entries); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("HEROLD_CONSOLE_USERS_FILE: %s: want a YAML list of {name, role, argon2id}: %w", path, err)
	}
	users := make(map[string]User, len(entries))
	var errs []error
	for i, e := range entries {
		where := fmt.Sprintf("HEROLD_CONSOLE_USERS_FILE: %s: user %d (%q)", path, i+1, e.Name)
		if err := CheckUserName(e.Name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		role, err := ParseRole(e.Role)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			continue
		}
		if _, _, _, err := argon2id.DecodeHash(e.Argon2i); err != nil {
			errs = append(errs, fmt.Errorf("%s: argon2id: not an argon2id hash (`herold console user add` prints one)", where))
			continue
		}
		if _, dup := users[e.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: the name is given twice", where))
			continue
		}
		users[e.Name] = User{Name: e.Name, Role: role, hash: e.Argon2i}
	}
	if len(users) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("HEROLD_CONSOLE_USERS_FILE: %s lists no user (`herold console user add NAME ROLE` makes one)", path))
	}
	return users, errors.Join(errs...)
}

// dummyHash is compared against when the user name is unknown, so that a
// sign-in takes as long for an unknown name as for a wrong password and
// timing does not tell which names exist.
// It is made on first use, not at start-up: every herold command links
// this package.
var dummyHash = sync.OnceValue(func() string {
	p := HashParams
	h, _ := argon2id.CreateHash("no such user, no such password", &p) // fails only if crypto/rand does
	return h
})

// verify reports whether password is u's; for an unknown user it spends the
// same time and says no.
func verify(u *User, password string) bool {
	if u == nil {
		_, _ = argon2id.ComparePasswordAndHash(password, dummyHash())
		return false
	}
	ok, err := argon2id.ComparePasswordAndHash(password, u.hash)
	return err == nil && ok
}
