// Package segment parses, checks and evaluates segment expressions: the
// saved, named definitions of "who" a marketing team sends to, over what
// Herold knows of a person — profile, custom attributes, newsletter lists,
// the consent ledger and what the policy says right now.
//
// # The language
//
// A segment is a boolean expression with and, or, not and parentheses (not
// binds tightest, then and, then or):
//
//	kind = customer and locale = de and attributes.product in [dsl]
//	  and reachable(promo_offer, email)
//
// Predicates compare a field with a value (=, !=, <, <=, >, >=), test it
// against a list (in [a, b], not in [a, b]) or test that it is there
// (field exists, exists(field)). Fields:
//
//	id                        the recipient id
//	kind                      customer | prospect
//	locale                    de | en (none: the field does not exist)
//	time_zone                 an IANA zone name such as Europe/Berlin
//	contract.state            none | active | ended | blocked (ended longer than the
//	                          catalog's blocking period ago)
//	contract.started_at, contract.ended_at, created_at, updated_at,
//	mobile.verified_at        times: compare with 2026-01-31, "2026-01-31T09:00:00Z",
//	                          now, now-30d, now+12h, now-2w
//	open_request              true | false (alone: true)
//	email, mobile             exist or not (email exists, not exists(mobile))
//	attributes.<key>          a custom attribute: = and != compare strings, numbers and
//	                          booleans, in tests against a list, < <= > >= compare
//	                          numbers (also numeric strings); a list attribute matches
//	                          when one of its items does
//
// and functions:
//
//	consent(purpose, channel)  the consent state of purpose on channel (or all):
//	                           none | granted | withdrawn | objected | doi_pending;
//	                           alone it means "= granted". purpose is advertising,
//	                           survey, usage_data, newsletter:<list> or a message type
//	list(name)                 the person's state on newsletter list name:
//	                           confirmed | pending | withdrawn | none; alone: confirmed
//	reachable(type, channel)   the policy allows a message of type on channel to the
//	                           person right now (a decision that must wait for the
//	                           end of quiet hours counts as reachable)
//
// Values are bare words (customer, dsl), quoted strings ("Europe/Berlin",
// 'a b'), numbers, true and false. A != or not in is true for a person
// without the field, as "not (field = value)".
//
// # Checking
//
// Compile checks the expression against the catalog before anything is
// saved: unknown fields, functions, types, channels, lists, purposes and
// values are errors that name the bad part and where it is (an
// *invalid.Error on field "expression").
//
// # Evaluating
//
// Match decides one person from a recipient.Snapshot. Scan streams over
// every recipient in id order, a batch at a time (never the whole set in
// memory), loads only what the expression needs (profiles alone when it asks
// nothing of the ledger) and evaluates batches in parallel, handing the
// matches to the caller in order. reachable asks the caller's Reachable, so
// the decision is the one deliveries make (delivery.Deliverer.Decide), never a
// copy of it. The package does no I/O of its own: the Loader does.
package segment
