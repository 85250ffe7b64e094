// Package invalid reports bad input field by field, so that an API answer
// can name every field to fix. Packages that validate input return an
// *Error; internal/api turns it into a 400 Problem in one place.
package invalid

import (
	"errors"
	"fmt"
	"strings"
)

// Field names one bad field and what is wrong with it.
type Field struct {
	Name    string
	Message string
}

// Error lists the bad fields of one input. Nothing was written.
type Error struct {
	Subject string // what was validated, e.g. "webhook endpoint"
	Fields  []Field
}

// New returns an empty Error about subject.
func New(subject string) *Error { return &Error{Subject: subject} }

// Add records a problem with field name.
func (e *Error) Add(name, format string, args ...any) {
	e.Fields = append(e.Fields, Field{Name: name, Message: fmt.Sprintf(format, args...)})
}

// Err returns e when it holds a field, else nil.
func (e *Error) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Name + ": " + f.Message
	}
	return "invalid " + e.Subject + ": " + strings.Join(parts, "; ")
}

// As returns the *Error in err's chain, if there is one.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
