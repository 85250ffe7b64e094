package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `herold import` splits a file into requests and names every bad line by
// its number in the file, whatever request it went in; the good lines are
// imported.
func TestImportCommandNamesBadLinesOfTheFile(t *testing.T) {
	t.Parallel()
	key := "crm-key-0123456789abcdef"
	tb := runCommand(t, commandEnv(t, "import", map[string]string{
		"HEROLD_API_KEYS":   "crm:" + key + ":recipients",
		"HEROLD_HASH_SALT":  "e2e-salt-0123456789abcdef",
		"HEROLD_OUTBOX_DIR": t.TempDir(),
	}), "serve")
	dir := t.TempDir()
	nd := filepath.Join(dir, "people.ndjson")
	lines := []string{
		`{"id":"n_1","kind":"customer","emails":[{"address":"n1@example.de"}]}`,
		`{"id":"n_2","kind":"customer","emails":[{"address":"n2@example.de"}]}`,
		`{"id":"n_3","kind":"nobody"}`,
		``,
		`{"id":"n_4","kind":"prospect","consents":[{"kind":"grant","purpose":"advertising","channel":"email","source":"web_form","text":"Ja"}]}`,
		`{"id":"n_5","kind":"customer","mobile":{"number":"12"}}`,
		`{"id":"n_6","kind":"customer"}`,
	}
	if err := os.WriteFile(nd, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HEROLD_URL": "http://" + tb.addr, "HEROLD_API_KEY": key}
	out, _, err := runOnce(t, env, "import", nd, "--batch", "2")
	if exitCode(err) != 1 {
		t.Fatalf("exit status %d (%v), want 1 for rejected lines:\n%s", exitCode(err), err, out)
	}
	for _, want := range []string{"imported 4 of 6 lines", "4 created", "1 consent events appended", "2 rejected",
		"line 3: kind:", "line 6: mobile.number:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code, body := tb.get(t, "/v1/recipients?limit=10", key); code != 200 || strings.Count(body, `"kind"`) != 4 {
		t.Fatalf("recipients after the import: %d %s", code, body)
	}

	// CSV: every request repeats the header; a record with a quoted line
	// break is one record of two lines.
	csvPath := filepath.Join(dir, "people.csv")
	csv := "id,kind,last_name,email\n" +
		"k_1,customer,\"Meyer\nSchulze\",k1@example.de\n" + // lines 2-3: a control character in the name
		"k_2,customer,Kurz,k2@example.de\n" +
		"k_3,customer,Lang,not-an-address\n" +
		"k_4,prospect,Ende,k4@example.de\n"
	if err := os.WriteFile(csvPath, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = runOnce(t, env, "import", csvPath, "--batch", "2", "--parallel", "1")
	if exitCode(err) != 1 {
		t.Fatalf("exit status %d (%v):\n%s", exitCode(err), err, out)
	}
	for _, want := range []string{"imported 2 of 4 lines", "line 2: last_name: contains control characters", "line 5: emails[0].address:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := runOnce(t, env, "import"); exitCode(err) != 2 {
		t.Fatalf("import without a file: %v", err)
	}
}
