// Package policy decides, for one message on one channel at one moment,
// whether the law lets it go out and on which legal basis.
//
// It is pure: it imports nothing that does I/O and reads no clock; the time is
// part of the Facts. Decide never returns an error: anything it cannot prove
// is a denial with a Reason.
//
// # Catalog
//
// The message catalog (catalog.yaml, embedded; DefaultCatalog) is YAML a
// compliance officer can review. Each type names its purpose, queue class,
// channels and, per channel, one or more legal-basis rules. A rule is one of a
// closed set of kinds (RuleKind) whose checks live in this package: the
// catalog configures the rules, the code enforces them, so no catalog edit can
// invent a legal basis. ParseCatalog validates strictly and reports every
// problem with its location.
//
// # Rules
//
//   - Contract (Art. 6(1)(b) GDPR): contract active or ended less than the
//     blocking period ago; service replies also to anybody with an open request.
//   - Legitimate interest (Art. 6(1)(f) GDPR with §7(3) UWG): own-product
//     advertising by e-mail to a customer with an active contract whose address
//     was collected in a sale with the objection notice.
//   - Consent (Art. 6(1)(a) GDPR): a consent in force for the purpose on the
//     channel, optionally confirmed by double opt-in, given for that very
//     channel, with a verified number.
//   - Advertising types (including surveys, BGH VI ZR 225/17) stop at any
//     objection (Art. 21 GDPR) and end with the contract, even with a
//     consent given during it; a consent given after the contract ended is a
//     new decision of the person and counts.
//   - Blocking (Sperrung): from the end of the blocking period on, counted
//     as §§187(1), 188(2),(3) BGB count it, nothing rests on the contract any
//     more. Only a ground of its own stands against it ("wenn keine weiteren
//     Gründe dem entgegenstehen"): an open request, or a consent or signup
//     given after the contract ended; the old contract data stay blocked.
//   - Suppression (erasure, hard bounce, provider STOP): the contact point
//     is not used, unless a ground that arose after the suppression lifts it
//     (see lifts: a new contract or consent after an erasure; a new consent
//     for that channel after a STOP; never a hard bounce).
//
// # Precedence
//
// When several denial reasons apply, the earliest in Precedence wins, so the
// answer does not depend on evaluation order or on the order of rules in the
// catalog.
package policy
