// Package policy decides, for one message on one channel at one moment,
// whether the law lets it go out and on which legal basis.
//
// It is pure: it imports nothing that does I/O and reads no clock; the time is
// part of the Facts. Decide never returns an error: anything it cannot prove
// is a denial with a Reason.
package policy
