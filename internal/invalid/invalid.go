// Package invalid is Herold's one error for bad input: every field that is
// wrong, each named with what is wrong with it, so a producer can fix a
// request without guessing. Services and validators return an *Error and write
// nothing; the HTTP API answers it as 400 with one entry per field.
package invalid

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Field names one bad field and says what is wrong with it.
type Field struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error lists every bad field of an input.
type Error struct {
	Fields []Field
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// WithPrefix returns a copy whose field names start with prefix, e.g.
// "recipient." for a recipient inlined in a message.
func (e *Error) WithPrefix(prefix string) *Error {
	out := &Error{Fields: slices.Clone(e.Fields)}
	for i := range out.Fields {
		out.Fields[i].Field = prefix + out.Fields[i].Field
	}
	return out
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// List collects bad fields while validating.
type List []Field

// Add records a problem with field.
func (l *List) Add(field, format string, args ...any) {
	*l = append(*l, Field{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Merge adds the fields of e (nil: none).
func (l *List) Merge(e *Error) {
	if e != nil {
		*l = append(*l, e.Fields...)
	}
}

// Err returns an *Error listing the fields, or nil when there are none.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return &Error{Fields: slices.Clone(l)}
}
