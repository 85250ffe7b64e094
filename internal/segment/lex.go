package segment

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF    tokKind = iota
	tWord           // identifier, field path, bare value, number, date
	tString         // quoted
	tLParen
	tRParen
	tLBrack
	tRBrack
	tComma
	tOp // = == != < <= > >=
)

type token struct {
	kind tokKind
	text string
	pos  int // byte offset
}

// describe is how an error names a token.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "the end of the expression"
	case tString:
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

// maxExpression bounds a segment expression; a segment is a definition, not
// a list of ids (campaigns upload those).
const maxExpression = 8 << 10

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == ':' || c == '-' || c == '+' || c == '/'
}

// lex splits src into tokens; an error names the column.
func lex(src string) ([]token, error) {
	var out []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, token{tLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tRParen, ")", i})
			i++
		case c == '[':
			out = append(out, token{tLBrack, "[", i})
			i++
		case c == ']':
			out = append(out, token{tRBrack, "]", i})
			i++
		case c == ',':
			out = append(out, token{tComma, ",", i})
			i++
		case c == '=' || c == '!' || c == '<' || c == '>':
			op, n := string(c), 1
			if i+1 < len(src) && src[i+1] == '=' {
				op, n = op+"=", 2
			}
			switch op {
			case "!":
				return nil, posErr(src, i, "a lone \"!\": write != or not")
			case "==":
				op = "="
			}
			out = append(out, token{tOp, op, i})
			i += n
		case c == '"' || c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(src) && src[j] != c; j++ {
				if src[j] == '\\' && j+1 < len(src) {
					j++
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, posErr(src, i, "a string that is never closed")
			}
			out = append(out, token{tString, b.String(), i})
			i = j + 1
		case isWordByte(c):
			j := i
			for j < len(src) && isWordByte(src[j]) {
				j++
			}
			out = append(out, token{tWord, src[i:j], i})
			i = j
		default:
			r, _ := utf8.DecodeRuneInString(src[i:])
			return nil, posErr(src, i, fmt.Sprintf("unexpected character %q", r))
		}
	}
	return append(out, token{kind: tEOF, pos: len(src)}), nil
}

// posErr is an error at byte offset pos of src, given as a column (1-based, in characters).
func posErr(src string, pos int, msg string) error {
	return &syntaxError{col: utf8.RuneCountInString(src[:min(pos, len(src))]) + 1, msg: msg}
}

type syntaxError struct {
	col int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("at column %d: %s", e.col, e.msg) }
