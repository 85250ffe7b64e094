package email

import (
	"fmt"
	"testing"
)

// TestMemoIsBounded: lines seen again and again cannot grow the memo past
// its bound; it starts again when full and keeps answering right.
func TestMemoIsBounded(t *testing.T) {
	t.Parallel()
	m := memo{max: 8}
	for i := range 100 {
		k := fmt.Sprint("line ", i)
		m.put(k, "enc "+k)
		m.put(k, "enc "+k)
		if v, ok := m.get(k); !ok || v != "enc "+k {
			t.Fatalf("get(%q) = %q, %v right after the second put", k, v, ok)
		}
		if len(m.m) > 8 || len(m.seen) > 8 {
			t.Fatalf("memo holds %d entries and %d hashes, bound 8", len(m.m), len(m.seen))
		}
	}
}

// TestMemoKeepsOnlyRepeatedLines: a line put once (a greeting, a link with
// a token) is not kept, so one-off lines do not push out the lines every
// message shares.
func TestMemoKeepsOnlyRepeatedLines(t *testing.T) {
	t.Parallel()
	m := memo{max: 64}
	m.put("Ihr Angebot\n", "Ihr Angebot\r\n")
	m.put("Ihr Angebot\n", "Ihr Angebot\r\n")
	for i := range 1000 {
		k := fmt.Sprintf("https://herold.example/u/tok%d\n", i)
		m.put(k, k)
		if _, ok := m.get(k); ok {
			t.Fatalf("a line put once is kept: %q", k)
		}
	}
	if v, ok := m.get("Ihr Angebot\n"); !ok || v != "Ihr Angebot\r\n" {
		t.Errorf("the shared line is gone after 1000 one-off lines: %q, %v", v, ok)
	}
	if len(m.seen) > 64 {
		t.Errorf("%d hashes of one-off lines kept, bound 64", len(m.seen))
	}
}
