package notice

import "fmt"

// texts holds the words the notice derives from the rules, by key and
// language. They say what the code in internal/policy enforces: change a
// text only together with the rule it describes.
var texts = map[string][2]string{ // {de, en}
	"title": {"Kommunikation mit Ihnen", "Communicating with you"},
	"intro": {
		"Während unserer Vertragsbeziehung – und wann immer Sie sich an uns wenden – stehen wir miteinander in Kontakt: Sie richten Anliegen an uns, und wir schicken Ihnen Informationen zu Ihrem Vertrag, zu Ihren Rechnungen und zu unseren Produkten. Für jede Art von Nachricht steht hier, wozu wir sie schicken, auf welcher Rechtsgrundlage und über welche Kanäle, welche Daten wir dafür nutzen, wie lange wir sie speichern und wie Sie widersprechen oder Ihre Einwilligung widerrufen können.",
		"During our contractual relationship – and whenever you contact us – we are in touch with each other: you send us requests, and we send you information about your contract, your invoices and our products. For each kind of message, this section says why we send it, on which legal basis and on which channels, which data we use for it, how long we keep them and how you can object or withdraw your consent.",
	},
	"record.title": {"Verzeichnis von Verarbeitungstätigkeiten: Kommunikation", "Record of processing activities: communication"},
	"record.intro": {
		"Einträge nach Art. 30 Abs. 1 DSGVO für die Nachrichten, die über Herold versandt werden, erzeugt aus dem Nachrichtenkatalog (Version %s). Name und Kontaktdaten des Verantwortlichen und des Datenschutzbeauftragten (lit. a) stehen im Kopf des Gesamtverzeichnisses.",
		"Entries under Art. 30(1) GDPR for the messages sent through Herold, generated from the message catalog (version %s). The name and contact details of the controller and of the data protection officer (point (a)) are given at the head of the complete record.",
	},
	"record.words": {
		"Zweck, Daten und Speicherzeit sind mit den Worten des Datenschutzhinweises beschrieben, also an die betroffene Person gerichtet; so stimmen Verzeichnis und Hinweis wörtlich überein.",
		"Purpose, data and storage period are described in the words of the privacy notice, that is, addressed to the data subject, so that the record and the notice agree word for word.",
	},
	"record.safeguards": {"Technische und organisatorische Maßnahmen (Art. 30 Abs. 1 lit. g, Art. 32 DSGVO)", "Technical and organisational measures (Art. 30(1)(g), Art. 32 GDPR)"},
	"record.safeguard.policy": {
		"Was nicht nachweisbar erlaubt ist, wird nicht versandt: Unbekannte Nachrichtentypen, Empfänger ohne Rechtsgrundlage, gesperrte Daten und widerrufene Einwilligungen führen zur Unterdrückung der Nachricht.",
		"What cannot be shown to be allowed is not sent: unknown message types, recipients without a legal basis, blocked data and withdrawn consents suppress the message.",
	},
	"record.no_transfer": {"Keine Übermittlung in ein Drittland.", "No transfer to a third country."},

	"label.type":       {"Nachrichtentyp im Katalog", "Message type in the catalog"},
	"label.purpose":    {"Zweck", "Purpose"},
	"label.basis":      {"Rechtsgrundlage", "Legal basis"},
	"label.channels":   {"Kanäle", "Channels"},
	"label.subjects":   {"Kategorien betroffener Personen", "Categories of data subjects"},
	"label.data":       {"Gespeicherte und genutzte Daten", "Data stored and used"},
	"label.storage":    {"Speicherzeit", "Storage period"},
	"label.recipients": {"Empfänger", "Recipients"},
	"label.transfers":  {"Übermittlung in Drittländer", "Transfers to third countries"},
	"label.rights":     {"Widerspruch und Widerruf", "Objection and withdrawal"},

	"channel.email":    {"E-Mail", "e-mail"},
	"channel.sms":      {"SMS", "SMS"},
	"channel.whatsapp": {"WhatsApp", "WhatsApp"},
	"channel.rcs":      {"RCS", "RCS"},
	"via":              {"Per %s", "By %s"},
	"and":              {" und ", " and "},
	"or":               {" oder ", " or "},
	"channels.sms_fallback": {
		"Kann eine RCS-Nachricht nicht zugestellt werden, schicken wir sie stattdessen per SMS – aber nur, wenn wir Ihnen Werbung auch per SMS schicken dürfen.",
		"If an RCS message cannot be delivered, we send it by SMS instead – but only if we may also send you advertising by SMS.",
	},

	"basis.otherwise":                {"; andernfalls ", "; otherwise "},
	"basis.contract":                 {"Vertragsdurchführung (Art. 6 Abs. 1 lit. b DSGVO)", "performance of your contract (Art. 6(1)(b) GDPR)"},
	"basis.contract_or_open_request": {"Vertragsdurchführung bzw. Bearbeitung Ihrer Anfrage (Art. 6 Abs. 1 lit. b DSGVO)", "performance of your contract or handling of your request (Art. 6(1)(b) GDPR)"},
	"basis.li_existing_customer": {
		"unser berechtigtes Interesse an Werbung für eigene ähnliche Produkte (Art. 6 Abs. 1 lit. f DSGVO, § 7 Abs. 3 UWG), solange Ihr Vertrag läuft und wenn wir Ihre E-Mail-Adresse im Zusammenhang mit einem Kauf erhalten und Sie dabei auf Ihr Widerspruchsrecht hingewiesen haben",
		"our legitimate interest in advertising similar products of our own (Art. 6(1)(f) GDPR, §7(3) UWG), while your contract runs and if we received your e-mail address in connection with a sale and told you then of your right to object",
	},
	"basis.li_active_contract": {
		"unser berechtigtes Interesse, Sie über Ihre Produkte zu informieren (Art. 6 Abs. 1 lit. f DSGVO), solange Ihr Vertrag läuft",
		"our legitimate interest in informing you about your products (Art. 6(1)(f) GDPR), while your contract runs",
	},
	"basis.consent":          {"Ihre Einwilligung (Art. 6 Abs. 1 lit. a DSGVO)", "your consent (Art. 6(1)(a) GDPR)"},
	"basis.consent.doi":      {", bestätigt im Double-Opt-In-Verfahren", ", confirmed by double opt-in"},
	"basis.consent.explicit": {", ausdrücklich für diesen Kanal erteilt", ", given expressly for this channel"},
	"basis.consent.verified": {"; außerdem muss Ihre Mobilfunknummer bestätigt sein", "; your mobile number must also be confirmed"},
	"basis.doi_request": {
		"Ihre Anfrage (Art. 6 Abs. 1 lit. b DSGVO): Die Bestätigungs-E-Mail haben Sie mit Ihrer Anmeldung angefordert; sie dient zugleich dem Nachweis Ihrer Einwilligung (Art. 7 Abs. 1 DSGVO)",
		"your request (Art. 6(1)(b) GDPR): you asked for the confirmation e-mail when you signed up; it also serves as proof of your consent (Art. 7(1) GDPR)",
	},

	"data.contact":        {"Anrede, Vor- und Nachname, Firmenname (bei Gewerbekunden)", "salutation, first and last name, company name (for business customers)"},
	"data.email":          {"E-Mail-Adresse", "e-mail address"},
	"data.phone":          {"Mobilfunknummer", "mobile number"},
	"data.phone_verified": {"Mobilfunknummer und der Zeitpunkt, zu dem Sie sie bestätigt haben", "mobile number and the time you confirmed it"},
	"data.contract":       {"Ihre Verträge und gebuchten Produkte mit Vertragsbeginn und -ende", "your contracts and products, with contract start and end"},
	"data.invoice":        {"Rechnungsdaten: Rechnungsnummer, Zeitraum, Betrag, Fälligkeit und Zahlungsweise", "invoice data: number, period, amount, due date and payment method"},
	"data.service":        {"Inhalte Ihrer Anfragen", "the content of your requests"},
	"data.newsletter":     {"die Newsletter, die Sie gewählt haben", "the newsletters you chose"},
	"data.survey":         {"Ihre Antworten", "your answers"},
	"data.doi":            {"Zeitpunkte und IP-Adressen Ihrer Anmeldung und Ihrer Bestätigung sowie der Text, dem Sie zugestimmt haben", "times and IP addresses of your sign-up and your confirmation, and the text you agreed to"},
	"data.usage_traffic":  {"Nutzungs- und Verkehrsdaten, z. B. das verbrauchte Datenvolumen – nur, wenn Sie der Verwendung dieser Daten gesondert zugestimmt haben", "usage and traffic data, e.g. the data volume used – only if you have separately agreed to the use of this data"},
	"data.usage":          {"Nutzungsdaten, z. B. das verbrauchte Datenvolumen – nur, wenn Sie der Verwendung dieser Daten gesondert zugestimmt haben", "usage data, e.g. the data volume used – only if you have separately agreed to the use of this data"},
	"data.traffic":        {"Verkehrsdaten – nur, wenn Sie der Verwendung dieser Daten gesondert zugestimmt haben", "traffic data – only if you have separately agreed to the use of this data"},

	"storage.advertising_ends":  {"Die Zusendung endet mit Ihrem Widerspruch bzw. dem Widerruf Ihrer Einwilligung, spätestens mit dem Ende Ihres Vertrags.", "Sending ends when you object or withdraw your consent, at the latest when your contract ends."},
	"storage.consent_after_end": {"Eine Einwilligung, die Sie erst nach dem Ende Ihres Vertrags erteilen, gilt bis zu ihrem Widerruf.", "A consent you give only after your contract has ended applies until you withdraw it."},
	"storage.blocking":          {"{blocking} nach dem Ende Ihres Vertrags sperren wir Ihre Daten für diesen Zweck, wenn keine weiteren Gründe dem entgegenstehen.", "{blocking} after your contract ends, we block your data for this purpose unless other grounds stand against it."},
	"storage.grounds":           {"Ein solcher Grund ist %s.", "Such a ground is %s."},
	"ground.open_request":       {"ein offenes Anliegen", "an open request"},
	"ground.consent":            {"eine nach dem Vertragsende erteilte Einwilligung", "a consent given after the contract ended"},

	"rights.object": {
		"Sie können der Verwendung Ihrer Daten für diese Nachrichten jederzeit widersprechen (Art. 21 Abs. 2 DSGVO) – für diese Art von Nachrichten, für einen einzelnen Kanal oder für jede Werbung.",
		"You can object at any time to the use of your data for these messages (Art. 21(2) GDPR) – to this kind of message, on a single channel or to all advertising.",
	},
	"rights.opt_out_notice":  {"Jede Nachricht enthält einen Hinweis, wie Sie sich kostenlos abmelden.", "Every message tells you how to unsubscribe free of charge."},
	"rights.not_advertising": {"Ein Widerspruch gegen Werbung betrifft diese Nachrichten nicht.", "An objection to advertising does not affect these messages."},
	"rights.withdraw":        {"Ihre Einwilligung können Sie jederzeit mit Wirkung für die Zukunft widerrufen (Art. 7 Abs. 3 DSGVO).", "You can withdraw your consent at any time with effect for the future (Art. 7(3) GDPR)."},

	"recipient.transfer": {"; Übermittlung in ein Drittland: %s", "; transfer to a third country: %s"},

	"subjects.customers":        {"Kunden und ehemalige Kunden bis zur Sperrung ihrer Daten", "customers, and former customers until their data are blocked"},
	"subjects.open_request":     {"Interessenten mit einer offenen Anfrage", "prospects with an open request"},
	"subjects.active_customers": {"Kunden mit laufendem Vertrag", "customers with a running contract"},
	"subjects.consented":        {"Kunden und Interessenten, die eingewilligt haben", "customers and prospects who have consented"},
	"subjects.subscribers":      {"Abonnenten des Newsletters (Kunden und Interessenten)", "newsletter subscribers (customers and prospects)"},
	"subjects.signups":          {"Personen, die sich zum Newsletter angemeldet, die Anmeldung aber noch nicht bestätigt haben", "people who signed up for a newsletter but have not confirmed yet"},

	"closing.withdraw": {
		"Ihre Einwilligungen können Sie jederzeit widerrufen und der Verwendung Ihrer Daten für Werbung widersprechen: %s. Der Widerruf wirkt für die Zukunft; bereits zugestellte Nachrichten bleiben davon unberührt.",
		"You can withdraw your consents and object to the use of your data for advertising at any time: %s. A withdrawal takes effect for the future; messages already delivered are not affected.",
	},
	"closing.cap":     {"Insgesamt schicken wir Ihnen höchstens %d Werbenachrichten innerhalb von %s.", "In total we send you at most %d advertising messages within %s."},
	"closing.version": {"Dieser Abschnitt ist aus unserem Nachrichtenkatalog (Version %s) erzeugt, nach dem jede einzelne Nachricht unmittelbar vor dem Versand geprüft wird.", "This section is generated from our message catalog (version %s), against which every single message is checked right before it is sent."},
}

// tr returns the text for key in lang, formatted with args. A missing key
// is a programming error that the golden tests catch: it shows as the key.
func tr(lang, key string, args ...any) string {
	t, ok := texts[key]
	if !ok {
		return key
	}
	s := t[1]
	if lang == "de" {
		s = t[0]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}
