package console_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/console"
	"github.com/heroldhq/herold/internal/recipient"
)

// testPassword is every test user's password.
const testPassword = "correct horse battery staple"

// cheap are argon2id parameters for the tests' users: verifying uses the
// parameters in the hash, so the tests stay fast without another code path.
var cheap = argon2id.Params{Memory: 8 * 1024, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// usersFile writes a users file with one user per role, named after it.
func usersFile(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, r := range console.Roles() {
		h, err := argon2id.CreateHash(testPassword, &cheap)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(console.UserEntry(string(r), r, h))
	}
	path := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clock is a test clock that a test moves on.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// start runs Herold with the console on for t.
func start(t testing.TB, env map[string]string, now func() time.Time) *apptest.Herold {
	t.Helper()
	e := map[string]string{"HEROLD_CONSOLE_USERS_FILE": usersFile(t)}
	for k, v := range env {
		e[k] = v
	}
	return apptest.New(t, apptest.Options{Env: e, Now: now})
}

// browser is an HTTP client with cookies, as a browser would send them.
type browser struct {
	t    testing.TB
	base string
	c    *http.Client
}

func newBrowser(t testing.TB, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type answer struct {
	Status int
	Header http.Header
	Body   string
}

func (b *browser) do(method, path string, form url.Values, header map[string]string) answer {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	// A browser's same-origin form post.
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", b.base)
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return answer{Status: res.StatusCode, Header: res.Header, Body: string(raw)}
}

func (b *browser) get(path string) answer { return b.do("GET", path, nil, nil) }

func (b *browser) post(path string, form url.Values) answer { return b.do("POST", path, form, nil) }

func (b *browser) signIn(name, password string) answer {
	b.t.Helper()
	return b.post("/console/signin", url.Values{"name": {name}, "password": {password}, "next": {"/console/"}})
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the session's CSRF token from a page (every signed-in page has
// the sign-out form).
func (b *browser) csrf() string {
	b.t.Helper()
	a := b.get("/console/catalog")
	m := csrfField.FindStringSubmatch(a.Body)
	if m == nil {
		b.t.Fatalf("no CSRF token on the catalog page (%d):\n%s", a.Status, a.Body)
	}
	return m[1]
}

// signedIn returns a browser signed in as role (the user named after it).
func signedIn(t testing.TB, h *apptest.Herold, role console.Role) *browser {
	t.Helper()
	b := newBrowser(t, h.URL)
	if a := b.signIn(string(role), testPassword); a.Status != http.StatusSeeOther {
		t.Fatalf("sign in as %s: %d\n%s", role, a.Status, a.Body)
	}
	return b
}

// seedPerson stores a customer with an e-mail address and returns its id.
func seedPerson(t testing.TB, h *apptest.Herold, id, email string) recipient.Recipient {
	t.Helper()
	r, err := recipient.Parse(id, recipient.Input{Kind: "customer", FirstName: "Erika", LastName: "Muster",
		Emails:   []recipient.EmailInput{{Address: email, CollectedInSale: true}},
		Contract: &recipient.ContractInput{StartedAt: "2024-01-01"}, Locale: "de"}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Store.PutRecipient(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func must(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

var _ = fmt.Sprint
