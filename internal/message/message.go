// Package message holds the values every part of Herold talks about: message
// types, channels, queue classes and recipient ids. It does no I/O.
package message

import (
	"fmt"
	"log/slog"
	"regexp"
)

// Type is a message type key, such as "invoice"; the catalog decides which exist.
type Type string

// Class is a queue class. It fixes the asynq queue a message waits in, so an
// invoice never waits behind a campaign.
type Class string

// The queue classes, highest priority first.
const (
	Transactional Class = "transactional"
	Service       Class = "service"
	Marketing     Class = "marketing"
)

// Classes returns every class, highest priority first.
func Classes() []Class { return []Class{Transactional, Service, Marketing} }

// ParseClass returns the class named s, or an error that names s.
func ParseClass(s string) (Class, error) {
	switch c := Class(s); c {
	case Transactional, Service, Marketing:
		return c, nil
	}
	return "", fmt.Errorf("unknown queue class %q (want transactional, service or marketing)", s)
}

var recipientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// RecipientID is the producer's customer or prospect id. It is the only
// identifier of a person that may appear in logs.
type RecipientID string

// ParseRecipientID validates s: 1–128 characters of [A-Za-z0-9._:-].
func ParseRecipientID(s string) (RecipientID, error) {
	if !recipientIDPattern.MatchString(s) {
		return "", fmt.Errorf("recipient id must be 1-128 characters of A-Z a-z 0-9 . _ : -")
	}
	return RecipientID(s), nil
}

// LogValue lets a RecipientID be logged as is: it is opaque by contract.
func (id RecipientID) LogValue() slog.Value { return slog.StringValue(string(id)) }
