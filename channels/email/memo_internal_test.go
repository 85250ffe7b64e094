package email

import (
	"fmt"
	"testing"
)

// TestMemoIsBounded: one-off lines (greetings, links) cannot grow the memo
// past its bound; it starts again when full and keeps answering right.
func TestMemoIsBounded(t *testing.T) {
	t.Parallel()
	m := memo{max: 8}
	for i := range 100 {
		k := fmt.Sprint("line ", i)
		m.put(k, "enc "+k)
		if v, ok := m.get(k); !ok || v != "enc "+k {
			t.Fatalf("get(%q) = %q, %v right after put", k, v, ok)
		}
		if len(m.m) > 8 {
			t.Fatalf("memo holds %d entries, bound 8", len(m.m))
		}
	}
}
