// Package bounce brings bounces and complaints back: a signed VERP
// Return-Path per message, a parser and classifier for DSNs (RFC 3464),
// ARF feedback reports (RFC 5965) and automatic replies (RFC 3834), an SMTP
// listener for the bounce domain and a Processor that keeps every report
// (raw, TTL-bound) and hands hard bounces, soft bounces and complaints to
// the delivery core's Effects.
//
// # Classification
//
//   - hard: a DSN recipient with Action failed and a 5.x.x status about the
//     address (5.1.1 unknown user, 5.1.2 no such domain, 5.1.10 null MX,
//     5.2.1 mailbox disabled, and other permanent codes);
//   - soft: 4.x.x, Action delayed, and the 5.x.x codes that are about the
//     message or the sender rather than the address (5.2.2 mailbox full,
//     5.2.3 and 5.3.4 message too big, 5.7.x policy and spam rejections);
//   - complaint: an ARF report with Feedback-Type abuse;
//   - auto_reply: Auto-Submitted other than "no", X-Autoreply and kin, or an
//     out-of-office subject, without a DSN. Never a bounce: listmonk's users
//     lost subscribers to vacation replies (listmonk #1334);
//   - ignored: the rest (successful DSNs, other feedback types, mail).
//
// # Trust
//
// A report changes something only when an address in it is a VERP address
// whose HMAC verifies: the envelope recipient, the DSN's To, ARF's
// Original-Mail-From or the original message's Return-Path. A forged or
// unknown address is stored and counted, and changes nothing. The address
// is in the Return-Path of every delivered message, so its recipient (or
// anyone they forward it to) can make a report for that one message: the
// worst it does is suppress that recipient's own address, which the
// unsubscribe link in the same message does too.
package bounce
