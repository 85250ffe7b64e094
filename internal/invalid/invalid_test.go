package invalid_test

import (
	"fmt"
	"testing"

	"github.com/heroldhq/herold/internal/invalid"
)

func TestList(t *testing.T) {
	t.Parallel()
	var bad invalid.List
	if bad.Err() != nil {
		t.Fatal("an empty list is an error")
	}
	bad.Add("url", "must be https, not %q", "ftp")
	bad.Add("batch_size", "want 1..100")
	err := fmt.Errorf("create: %w", bad.Err())
	got, ok := invalid.As(err)
	if !ok || len(got.Fields) != 2 || got.Fields[0].Field != "url" {
		t.Fatalf("As(%v) = %+v, %v", err, got, ok)
	}
	if want := `create: invalid input: url: must be https, not "ftp"; batch_size: want 1..100`; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if p := got.WithPrefix("hook."); p.Fields[1].Field != "hook.batch_size" || got.Fields[1].Field != "batch_size" {
		t.Errorf("WithPrefix: %+v (original %+v)", p.Fields, got.Fields)
	}
	var more invalid.List
	more.Merge(got)
	more.Merge(nil)
	if len(more) != 2 {
		t.Errorf("Merge: %+v", more)
	}
	if _, ok := invalid.As(fmt.Errorf("other")); ok {
		t.Error("As found an Error in a plain error")
	}
}
