package console

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/policy"
)

// The console's languages.
const (
	de = "de"
	en = "en"
)

// langCookie remembers the language picked with the switch.
const langCookie = "herold_console_lang"

// Locale is one request's language and the zone times are shown in.
type Locale struct {
	Tag  string
	Zone *time.Location
}

var langMatcher = language.NewMatcher([]language.Tag{language.English, language.German})

// negotiate picks the language: ?lang=, then the switch's cookie, then
// Accept-Language; English when nothing matches.
func negotiate(r *http.Request) Locale {
	if l := r.URL.Query().Get("lang"); l == de || l == en {
		return Locale{Tag: l}
	}
	if ck, err := r.Cookie(langCookie); err == nil && (ck.Value == de || ck.Value == en) {
		return Locale{Tag: ck.Value}
	}
	if tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language")); err == nil && len(tags) > 0 {
		if _, i, conf := langMatcher.Match(tags...); conf != language.No {
			return Locale{Tag: []string{en, de}[i]}
		}
	}
	return Locale{Tag: en}
}

// T returns the text for key in the locale's language, formatted with args.
// A missing key shows as itself, so a gap is visible (and TestTexts fails).
func (l Locale) T(key string, args ...any) string {
	m, ok := texts[key]
	if !ok {
		return key
	}
	s, ok := m[l.Tag]
	if !ok {
		s = m[en]
	}
	if len(args) > 0 && strings.Contains(s, "%") {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Date writes t in the console's zone as the language writes it; "–" for none.
func (l Locale) Date(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	z := l.Zone
	if z == nil {
		z = time.UTC
	}
	t = t.In(z)
	if l.Tag == de {
		return t.Format("02.01.2006, 15:04:05 MST")
	}
	return t.Format("2 Jan 2006, 15:04:05 MST")
}

// Day writes the date of t.
func (l Locale) Day(t time.Time) string {
	if l.Tag == de {
		return t.Format("02.01.")
	}
	return t.Format("2 Jan")
}

// Age writes a short duration such as the age of the oldest task.
func (l Locale) Age(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.0f s", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%.0f min", d.Minutes())
	}
	return fmt.Sprintf("%.1f h", d.Hours())
}

// Seconds writes n seconds in words.
func (l Locale) Seconds(n int) string {
	if n >= 120 {
		return l.T("unit.minutes", (n+59)/60)
	}
	return l.T("unit.seconds", n)
}

// Num writes n with the language's thousands separator.
func (l Locale) Num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	sep := ","
	if l.Tag == de {
		sep = "."
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Sum adds up counters by reason or class.
func (l Locale) Sum(m map[string]int64) string { return l.Num(sum(m)) }

// Reason says a decision's reason code in words.
func (l Locale) Reason(code string) string {
	if _, ok := texts["reason."+code]; ok {
		return l.T("reason." + code)
	}
	return code
}

// Class names a message class.
func (l Locale) Class(c string) string {
	if _, ok := texts["class."+c]; ok {
		return l.T("class." + c)
	}
	return c
}

// Status names a message status.
func (l Locale) Status(st string) string {
	if _, ok := texts["mstatus."+st]; ok {
		return l.T("mstatus." + st)
	}
	return st
}

// Basis says a legal basis in words.
func (l Locale) Basis(b string) string {
	if b == "" {
		return "–"
	}
	if _, ok := texts["basis."+b]; ok {
		return l.T("basis." + b)
	}
	return b
}

// Purpose says a consent purpose in words ("newsletter:news" included).
func (l Locale) Purpose(p string) string {
	if list, ok := strings.CutPrefix(p, consent.NewsletterPrefix); ok {
		return l.T("purpose.newsletter", list)
	}
	if _, ok := texts["purpose."+p]; ok {
		return l.T("purpose." + p)
	}
	return l.T("purpose.type", p)
}

// Chan names a channel, or "all channels".
func (l Locale) Chan(ch string) string {
	if ch == "" {
		return "–"
	}
	if _, ok := texts["channel."+ch]; ok {
		return l.T("channel." + ch)
	}
	return ch
}

// Text picks the language's version of a catalog text.
func (l Locale) Text(t policy.Text) string { return t.In(l.Tag) }

// Explain says a decision in a sentence a non-lawyer understands.
func (l Locale) Explain(d policy.Decision) string {
	what := l.T("why.denied", l.Chan(string(d.Channel)), l.Reason(string(d.Reason)))
	if d.Allowed {
		what = l.T("why.allowed", l.Chan(string(d.Channel)), l.Basis(string(d.Basis)))
	}
	if x, ok := texts["explain."+string(d.Reason)]; ok && !d.Allowed {
		what += " " + x[l.Tag]
	}
	if d.Allowed && d.Basis != "" {
		what += " " + l.T("explain.basis."+string(d.Basis))
	}
	return what
}

// texts is the translation table: key → language → text.
var texts = map[string]map[string]string{
	"console":      {de: "Konsole", en: "console"},
	"skip":         {de: "Zum Inhalt springen", en: "Skip to content"},
	"lang.switch":  {de: "Sprache", en: "Language"},
	"nav.label":    {de: "Bereiche", en: "Sections"},
	"signout":      {de: "Abmelden", en: "Sign out"},
	"yes":          {de: "ja", en: "yes"},
	"no":           {de: "nein", en: "no"},
	"since":        {de: "seit", en: "since"},
	"cancel":       {de: "Abbrechen", en: "Cancel"},
	"form.errors":  {de: "Bitte korrigieren Sie diese Angaben:", en: "Please correct these entries:"},
	"unit.seconds": {de: "%d Sekunden", en: "%d seconds"},
	"unit.minutes": {de: "%d Minuten", en: "%d minutes"},

	"nav.overview":     {de: "Übersicht", en: "Overview"},
	"nav.campaigns":    {de: "Kampagnen", en: "Campaigns"},
	"nav.segments":     {de: "Segmente", en: "Segments"},
	"nav.lists":        {de: "Listen", en: "Lists"},
	"nav.people":       {de: "Personen", en: "People"},
	"nav.suppressions": {de: "Sperrliste", en: "Suppressions"},
	"nav.catalog":      {de: "Katalog", en: "Catalog"},
	"nav.webhooks":     {de: "Webhooks", en: "Webhooks"},
	"nav.audit":        {de: "Protokoll", en: "Audit log"},
	"nav.users":        {de: "Benutzer", en: "Users"},

	"role.viewer":     {de: "Lesen", en: "viewer"},
	"role.marketing":  {de: "Marketing", en: "marketing"},
	"role.compliance": {de: "Datenschutz", en: "compliance"},
	"role.admin":      {de: "Administration", en: "admin"},

	"signin.title":    {de: "Anmelden", en: "Sign in"},
	"signin.name":     {de: "Benutzername", en: "User name"},
	"signin.password": {de: "Passwort", en: "Password"},
	"signin.submit":   {de: "Anmelden", en: "Sign in"},
	"signin.wrong":    {de: "Benutzername oder Passwort ist falsch.", en: "The user name or the password is wrong."},
	"signin.wait":     {de: "Zu viele fehlgeschlagene Anmeldungen. Bitte warten Sie %s und versuchen Sie es dann noch einmal.", en: "Too many failed sign-ins. Please wait %s, then try again."},

	"error.title.400":    {de: "Ungültige Anfrage", en: "Bad request"},
	"error.title.403":    {de: "Nicht erlaubt", en: "Not allowed"},
	"error.title.404":    {de: "Nicht gefunden", en: "Not found"},
	"error.title.409":    {de: "Nicht möglich", en: "Not possible"},
	"error.title.500":    {de: "Fehler", en: "Error"},
	"error.back":         {de: "Zur Übersicht", en: "Back to the overview"},
	"error.internal":     {de: "Ein technischer Fehler ist aufgetreten; er ist protokolliert. Bitte versuchen Sie es später noch einmal.", en: "A technical error occurred and was logged. Please try again later."},
	"error.forbidden":    {de: "Ihre Rolle erlaubt diese Aktion nicht. Der Versuch wurde protokolliert.", en: "Your role does not allow this. The attempt was recorded."},
	"error.csrf":         {de: "Das Formular ist abgelaufen oder kam nicht von dieser Seite. Bitte laden Sie die Seite neu.", en: "The form has expired or did not come from this page. Please reload the page."},
	"error.session":      {de: "Ihre Sitzung ist abgelaufen. Bitte melden Sie sich neu an.", en: "Your session has ended. Please sign in again."},
	"error.form":         {de: "Das Formular konnte nicht gelesen werden.", en: "The form could not be read."},
	"error.notfound":     {de: "Das gibt es nicht (mehr).", en: "This does not exist (any more)."},
	"error.notyet":       {de: "Für diese Person gibt es in der Kampagne (noch) keine Entscheidung.", en: "There is no decision for this person in the campaign (yet)."},
	"error.notavailable": {de: "Diese Ansicht ist in dieser Installation nicht verfügbar.", en: "This screen is not available in this installation."},
	"error.state":        {de: "Das ist im jetzigen Zustand der Kampagne nicht möglich.", en: "This is not possible in the campaign's current state."},
	"error.audit":        {de: "Die Änderung wurde ausgeführt, konnte aber nicht protokolliert werden. Bitte informieren Sie den Betrieb.", en: "The change was made but could not be written to the audit log. Please tell operations."},

	"done.created":  {de: "Die Kampagne ist angelegt.", en: "The campaign has been created."},
	"done.started":  {de: "Die Kampagne startet jetzt.", en: "The campaign starts now."},
	"done.paused":   {de: "Die Kampagne ist angehalten.", en: "The campaign is paused."},
	"done.resumed":  {de: "Die Kampagne läuft weiter.", en: "The campaign goes on."},
	"done.canceled": {de: "Die Kampagne ist abgebrochen.", en: "The campaign is canceled."},
	"done.erased":   {de: "Die Person ist gelöscht; ihre Adressen bleiben nur als Prüfsumme auf der Sperrliste.", en: "The person is erased; their addresses stay on the suppression list as hashes only."},
	"done.saved":    {de: "Gespeichert.", en: "Saved."},
	"done.deleted":  {de: "Gelöscht.", en: "Deleted."},
	"done.lifted":   {de: "Die Sperre ist aufgehoben.", en: "The suppression is lifted."},
	"done.replayed": {de: "Die Zustellung wird wiederholt.", en: "The delivery is sent again."},
	"done.dryrun":   {de: "Probelauf: jede Person wurde jetzt entschieden, nichts wurde gesendet.", en: "Dry run: everybody was decided now, nothing was sent."},

	"overview.title":           {de: "Übersicht", en: "Overview"},
	"overview.queues":          {de: "Warteschlangen", en: "Queues"},
	"overview.queues.caption":  {de: "Aufgaben je Warteschlange (asynq) und Alter der ältesten wartenden", en: "Tasks per queue (asynq) and age of the oldest waiting one"},
	"overview.queue":           {de: "Warteschlange", en: "Queue"},
	"overview.pending":         {de: "wartend", en: "pending"},
	"overview.active":          {de: "aktiv", en: "active"},
	"overview.scheduled":       {de: "geplant", en: "scheduled"},
	"overview.retry":           {de: "Wiederholung", en: "retry"},
	"overview.archived":        {de: "archiviert", en: "archived"},
	"overview.today":           {de: "heute erledigt / fehlgeschlagen", en: "today done / failed"},
	"overview.latency":         {de: "älteste wartet seit", en: "oldest waits"},
	"overview.days":            {de: "Aufgaben der letzten 7 Tage", en: "Tasks of the last 7 days"},
	"overview.days.hint":       {de: "Erledigte und fehlgeschlagene Aufgaben je Warteschlange und Tag (Zähler von asynq).", en: "Tasks done and failed per queue and day (asynq's counters)."},
	"overview.ok":              {de: "erledigt", en: "done"},
	"overview.failed":          {de: "fehlgeschlagen", en: "failed"},
	"overview.suppressed":      {de: "Unterdrückt nach Grund", en: "Suppressed by reason"},
	"overview.suppressed.hint": {de: "Summe der %d neuesten Kampagnen.", en: "Sum over the %d newest campaigns."},
	"overview.suppressed7d":    {de: "Unterdrückt nach Grund, 7 Tage", en: "Suppressed by reason, 7 days"},
	"overview.none":            {de: "Keine.", en: "None."},
	"overview.deliveries24h":   {de: "Zustellungen der letzten 24 Stunden", en: "Deliveries of the last 24 hours"},
	"overview.deliveries7d":    {de: "Zustellungen der letzten 7 Tage", en: "Deliveries of the last 7 days"},
	"overview.bounces":         {de: "Bounce- und Beschwerdequote", en: "Bounce and complaint rates"},
	"overview.webhooks":        {de: "Webhook-Endpunkte mit Fehlern", en: "Failing webhook endpoints"},

	"campaigns.title":   {de: "Kampagnen", en: "Campaigns"},
	"campaigns.new":     {de: "Neue Kampagne", en: "New campaign"},
	"campaigns.caption": {de: "Kampagnen, neueste zuerst", en: "Campaigns, newest first"},
	"campaigns.none":    {de: "Noch keine Kampagne.", en: "No campaign yet."},

	"campaign.name":            {de: "Name", en: "Name"},
	"campaign.type":            {de: "Nachrichtentyp", en: "Message type"},
	"campaign.state":           {de: "Zustand", en: "State"},
	"campaign.progress":        {de: "Fortschritt", en: "Progress"},
	"campaign.audience":        {de: "Empfänger", en: "Audience"},
	"campaign.delivered":       {de: "zugestellt", en: "delivered"},
	"campaign.suppressed":      {de: "unterdrückt", en: "suppressed"},
	"campaign.failed":          {de: "fehlgeschlagen", en: "failed"},
	"campaign.queued":          {de: "offen", en: "queued"},
	"campaign.waiting":         {de: "davon verzögert", en: "of which delayed"},
	"campaign.duplicates":      {de: "doppelt", en: "duplicates"},
	"campaign.canceled":        {de: "abgebrochen", en: "canceled"},
	"campaign.created":         {de: "Angelegt", en: "Created"},
	"campaign.started":         {de: "Gestartet", en: "Started"},
	"campaign.finished":        {de: "Beendet", en: "Finished"},
	"campaign.start_at":        {de: "Start", en: "start"},
	"campaign.id":              {de: "Kennung", en: "Id"},
	"campaign.channel":         {de: "Kanal", en: "Channel"},
	"campaign.channels":        {de: "Kanäle", en: "Channels"},
	"campaign.channels.hint":   {de: "In Reihenfolge der Vorliebe; ohne Auswahl die Kanäle des Typs laut Katalog.", en: "In order of preference; none chosen: the type's channels from the catalog."},
	"campaign.data":            {de: "Gemeinsame Daten (JSON)", en: "Shared data (JSON)"},
	"campaign.data.hint":       {de: "Ein JSON-Objekt je Datenkategorie, z. B. {\"offer\": {\"headline\": \"…\"}}.", en: "One JSON object per data category, e.g. {\"offer\": {\"headline\": \"…\"}}."},
	"campaign.locale":          {de: "Sprache", en: "Language"},
	"campaign.locale.each":     {de: "die jeder Person", en: "each person's own"},
	"campaign.when":            {de: "Start", en: "Start"},
	"campaign.when.now":        {de: "sofort", en: "at once"},
	"campaign.when.later":      {de: "zur Sendezeit", en: "at the send time"},
	"campaign.when.draft":      {de: "als Entwurf (Probelauf möglich)", en: "as a draft (dry run possible)"},
	"campaign.send_at":         {de: "Sendezeit", en: "Send time"},
	"campaign.send_at.hint":    {de: "RFC 3339 (2026-12-01T09:00:00+01:00) oder Ortszeit jeder Person (09:00, 2026-12-01T09:00).", en: "RFC 3339 (2026-12-01T09:00:00+01:00) or each person's local time (09:00, 2026-12-01T09:00)."},
	"campaign.throttle":        {de: "Höchstens pro Minute", en: "At most per minute"},
	"campaign.quiet":           {de: "Eigene Ruhezeiten", en: "Own quiet hours"},
	"campaign.quiet.hint":      {de: "Ortszeit der Person, zusätzlich zu den Ruhezeiten des Katalogs.", en: "The person's local time, on top of the catalog's quiet hours."},
	"campaign.quiet.start":     {de: "von", en: "from"},
	"campaign.quiet.end":       {de: "bis", en: "to"},
	"campaign.quiet.catalog":   {de: "die des Katalogs", en: "the catalog's"},
	"campaign.segment":         {de: "Segment", en: "Segment"},
	"campaign.segment.none":    {de: "kein Segment", en: "no segment"},
	"campaign.ids":             {de: "Empfänger-Kennungen", en: "Recipient ids"},
	"campaign.ids.hint":        {de: "Eine je Zeile (oder durch Komma getrennt), höchstens 10.000; mehr als Datei.", en: "One per line (or comma-separated), at most 10,000; more as a file."},
	"campaign.file":            {de: "oder Datei (CSV oder NDJSON)", en: "or a file (CSV or NDJSON)"},
	"campaign.create":          {de: "Kampagne anlegen", en: "Create campaign"},
	"campaign.actions":         {de: "Steuern", en: "Control"},
	"campaign.details":         {de: "Angaben", en: "Details"},
	"campaign.rate":            {de: "Zustellungen pro Minute (live)", en: "Deliveries per minute (live)"},
	"campaign.perminute":       {de: "Zustellungen pro Minute seit dem Start", en: "Deliveries per minute since the start"},
	"campaign.reasons":         {de: "Gründe", en: "Reasons"},
	"campaign.reasons.caption": {de: "Nicht zugestellt, nach Grund", en: "Not delivered, by reason"},
	"campaign.reasons.none":    {de: "Bisher wurde niemand unterdrückt und nichts schlug fehl.", en: "Nobody was suppressed and nothing failed so far."},
	"campaign.outcomes":        {de: "Ergebnis je Empfänger", en: "Outcome per recipient"},

	"action.start":  {de: "Jetzt starten", en: "Start now"},
	"action.pause":  {de: "Anhalten", en: "Pause"},
	"action.resume": {de: "Fortsetzen", en: "Resume"},
	"action.cancel": {de: "Abbrechen (endgültig)", en: "Cancel (for good)"},
	"action.dryrun": {de: "Probelauf", en: "Dry run"},

	"state.scheduled": {de: "geplant", en: "scheduled"},
	"state.running":   {de: "läuft", en: "running"},
	"state.paused":    {de: "angehalten", en: "paused"},
	"state.done":      {de: "fertig", en: "done"},
	"state.canceled":  {de: "abgebrochen", en: "canceled"},
	"state.draft":     {de: "Entwurf", en: "draft"},

	"class.transactional": {de: "transaktional", en: "transactional"},
	"class.service":       {de: "Service", en: "service"},
	"class.marketing":     {de: "Marketing", en: "marketing"},

	"channel.email":    {de: "E-Mail", en: "e-mail"},
	"channel.sms":      {de: "SMS", en: "SMS"},
	"channel.whatsapp": {de: "WhatsApp", en: "WhatsApp"},
	"channel.rcs":      {de: "RCS", en: "RCS"},
	"channel.all":      {de: "alle Kanäle", en: "all channels"},

	"dryrun.title":      {de: "Probelauf", en: "Dry run"},
	"dryrun.caption":    {de: "%s Empfänger, entschieden am", en: "%s recipients, decided on"},
	"dryrun.count":      {de: "Anzahl", en: "Count"},
	"dryrun.sample":     {de: "Beispiele", en: "Examples"},
	"dryrun.outcome":    {de: "Ergebnis", en: "Outcome"},
	"dryrun.allowed":    {de: "würde gesendet", en: "would be sent"},
	"dryrun.delayed":    {de: "würde warten", en: "would wait"},
	"dryrun.suppressed": {de: "unterdrückt", en: "suppressed"},
	"dryrun.total":      {de: "Summe (= Zielgruppe)", en: "Total (= audience)"},
	"dryrun.segment":    {de: "Segment %s, Version %d: jetzt %s Personen. Beim Start wird es erneut ausgewertet.", en: "Segment %s, version %d: %s people now. It is evaluated again at the start."},

	"outcomes.back":      {de: "Zurück zur Kampagne", en: "Back to the campaign"},
	"outcomes.caption":   {de: "Empfänger mit ihrem Ergebnis und der Entscheidung", en: "Recipients with their outcome and the decision"},
	"outcomes.recipient": {de: "Empfänger", en: "Recipient"},
	"outcomes.status":    {de: "Status", en: "Status"},
	"outcomes.done":      {de: "Erledigt", en: "Done"},
	"outcomes.none":      {de: "Noch kein Ergebnis.", en: "No outcome yet."},
	"outcome.delivered":  {de: "zugestellt", en: "delivered"},
	"outcome.suppressed": {de: "unterdrückt", en: "suppressed"},
	"outcome.failed":     {de: "fehlgeschlagen", en: "failed"},
	"outcome.waiting":    {de: "wartet", en: "waiting"},
	"outcome.sending":    {de: "wird gesendet", en: "sending"},
	"outcome.queued":     {de: "offen", en: "queued"},

	"upload.title":   {de: "Empfängerdatei", en: "Audience file"},
	"upload.report":  {de: "%d Zeilen übernommen, %d abgelehnt.", en: "%d lines added, %d rejected."},
	"upload.errors":  {de: "Abgelehnte Zeilen", en: "Rejected lines"},
	"upload.line":    {de: "Zeile", en: "Line"},
	"upload.problem": {de: "Problem", en: "Problem"},
	"upload.go":      {de: "Zur Kampagne", en: "To the campaign"},

	"people.title":    {de: "Personen", en: "People"},
	"people.q":        {de: "Kennung, E-Mail-Adresse oder Mobilnummer", en: "Id, e-mail address or mobile number"},
	"people.q.hint":   {de: "Genaue Übereinstimmung; Nummern international (+49 …) oder national.", en: "Exact match; numbers international (+49 …) or national."},
	"people.find":     {de: "Suchen", en: "Find"},
	"people.notfound": {de: "Niemand gefunden.", en: "Nobody found."},

	"person.title":             {de: "Person %s", en: "Person %s"},
	"person.profile":           {de: "Profil", en: "Profile"},
	"person.id":                {de: "Kennung", en: "Id"},
	"person.kind":              {de: "Art", en: "Kind"},
	"person.name":              {de: "Name", en: "Name"},
	"person.emails":            {de: "E-Mail-Adressen", en: "E-mail addresses"},
	"person.sale":              {de: "beim Kauf erhoben", en: "collected in a sale"},
	"person.suppressed":        {de: "gesperrt", en: "suppressed"},
	"person.mobile":            {de: "Mobilnummer", en: "Mobile number"},
	"person.verified":          {de: "bestätigt", en: "verified"},
	"person.unverified":        {de: "nicht bestätigt", en: "not verified"},
	"person.locale":            {de: "Sprache · Zeitzone", en: "Language · time zone"},
	"person.contract":          {de: "Vertrag", en: "Contract"},
	"person.request":           {de: "Offene Anfrage", en: "Open request"},
	"person.created":           {de: "Angelegt", en: "Created"},
	"person.updated":           {de: "geändert", en: "updated"},
	"person.export":            {de: "Auskunft herunterladen (JSON)", en: "Download export (JSON)"},
	"person.erase":             {de: "Person löschen …", en: "Erase person …"},
	"person.campaigns.link":    {de: "Kampagnennachrichten", en: "Campaign messages"},
	"person.campaigns":         {de: "Kampagnennachrichten an %s", en: "Campaign messages to %s"},
	"person.campaigns.caption": {de: "Nachrichten aus Kampagnen mit ihrer Entscheidung", en: "Messages of campaigns with their decision"},
	"person.campaigns.none":    {de: "Keine Kampagnennachricht.", en: "No campaign message."},
	"person.back":              {de: "Zurück zur Person", en: "Back to the person"},
	"person.matrix":            {de: "Was die Regeln jetzt erlauben", en: "What the rules allow now"},
	"person.matrix.hint":       {de: "Jeder Nachrichtentyp auf jedem Kanal, entschieden am %s wie beim Senden.", en: "Every message type on every channel, decided on %s as a send would be."},
	"person.matrix.caption":    {de: "Entscheidung je Nachrichtentyp und Kanal", en: "Decision per message type and channel"},
	"person.notoffered":        {de: "nicht vorgesehen", en: "not offered"},
	"person.state":             {de: "Einwilligungen und Widersprüche jetzt", en: "Consents and objections now"},
	"person.state.caption":     {de: "Stand aus dem Einwilligungsprotokoll", en: "State folded from the consent ledger"},
	"person.state.none":        {de: "Keine Einwilligung und kein Widerspruch.", en: "No consent and no objection."},
	"person.ledger":            {de: "Einwilligungsprotokoll", en: "Consent ledger"},
	"person.ledger.count":      {de: "%d Einträge, neueste zuerst, mit dem genauen Wortlaut.", en: "%d entries, newest first, with the exact words."},
	"person.messages":          {de: "Nachrichten", en: "Messages"},
	"person.messages.count":    {de: "%d Nachrichten, neueste zuerst.", en: "%d messages, newest first."},
	"person.messages.caption":  {de: "Nachrichten mit Status und Entscheidung", en: "Messages with status and decision"},
	"person.messages.none":     {de: "Keine Nachricht.", en: "No message."},

	"kind.customer": {de: "Kunde", en: "customer"},
	"kind.prospect": {de: "Interessent", en: "prospect"},

	"contract.none":    {de: "kein Vertrag", en: "no contract"},
	"contract.active":  {de: "aktiv", en: "active"},
	"contract.ended":   {de: "beendet", en: "ended"},
	"contract.blocked": {de: "gesperrt (Sperrfrist abgelaufen)", en: "blocked (blocking period over)"},

	"ledger.purpose": {de: "Zweck", en: "Purpose"},
	"ledger.channel": {de: "Kanal", en: "Channel"},
	"ledger.status":  {de: "Stand", en: "Status"},
	"ledger.since":   {de: "seit", en: "since"},
	"ledger.doi":     {de: "Double-Opt-In", en: "double opt-in"},
	"ledger.by":      {de: "erfasst von", en: "recorded by"},
	"ledger.ua":      {de: "Browser", en: "User agent"},
	"ledger.notext":  {de: "ohne Wortlaut", en: "no text recorded"},
	"ledger.version": {de: "Textversion", en: "Text version"},
	"ledger.none":    {de: "Keine Einträge.", en: "No entries."},

	"ekind.grant":       {de: "Einwilligung", en: "Consent given"},
	"ekind.withdraw":    {de: "Widerruf", en: "Consent withdrawn"},
	"ekind.object":      {de: "Widerspruch", en: "Objection"},
	"ekind.doi_request": {de: "Anmeldung (Double-Opt-In angefragt)", en: "Sign-up (double opt-in requested)"},
	"ekind.doi_confirm": {de: "Bestätigung (Double-Opt-In)", en: "Confirmation (double opt-in)"},

	"cstatus.granted":     {de: "eingewilligt", en: "consent given"},
	"cstatus.withdrawn":   {de: "widerrufen", en: "withdrawn"},
	"cstatus.objected":    {de: "widersprochen", en: "objected"},
	"cstatus.doi_pending": {de: "Bestätigung ausstehend", en: "confirmation pending"},
	"cstatus.":            {de: "keine", en: "none"},

	"source.web_form":          {de: "Webformular", en: "web form"},
	"source.customer_portal":   {de: "Kundenportal", en: "customer portal"},
	"source.phone":             {de: "Telefon", en: "phone"},
	"source.email":             {de: "E-Mail", en: "e-mail"},
	"source.letter":            {de: "Brief", en: "letter"},
	"source.sms_keyword":       {de: "SMS-Stichwort", en: "SMS keyword"},
	"source.messenger_keyword": {de: "Messenger-Stichwort", en: "messenger keyword"},
	"source.provider":          {de: "Meldung des Anbieters", en: "provider report"},
	"source.complaint":         {de: "Spam-Beschwerde", en: "spam complaint"},
	"source.api":               {de: "API", en: "API"},

	"purpose.advertising": {de: "Werbung", en: "advertising"},
	"purpose.survey":      {de: "Umfragen", en: "surveys"},
	"purpose.usage_data":  {de: "Nutzungsdaten für Angebote", en: "usage data for offers"},
	"purpose.newsletter":  {de: "Newsletter „%s“", en: "newsletter “%s”"},
	"purpose.type":        {de: "Typ „%s“", en: "type “%s”"},

	"mstatus.scheduled":   {de: "geplant", en: "scheduled"},
	"mstatus.queued":      {de: "wartet", en: "queued"},
	"mstatus.sending":     {de: "wird gesendet", en: "sending"},
	"mstatus.delivered":   {de: "zugestellt", en: "delivered"},
	"mstatus.suppressed":  {de: "unterdrückt", en: "suppressed"},
	"mstatus.failed":      {de: "fehlgeschlagen", en: "failed"},
	"mstatus.canceled":    {de: "storniert", en: "canceled"},
	"mstatus.read":        {de: "gelesen", en: "read"},
	"mstatus.undelivered": {de: "nicht zustellbar", en: "undelivered"},
	"mstatus.bounced":     {de: "gebounct", en: "bounced"},
	"bounce.hard":         {de: "Hard Bounce", en: "hard bounce"},
	"bounce.soft":         {de: "Soft Bounce", en: "soft bounce"},
	"bounce.complaint":    {de: "Beschwerde", en: "complaint"},
	"message.created":     {de: "Angenommen", en: "Accepted"},

	"erase.title":    {de: "%s löschen", en: "Erase %s"},
	"erase.explain":  {de: "Löschen entfernt Profil, Einwilligungsprotokoll, Nachrichten und Kampagneneinträge der Person endgültig (Art. 17 DSGVO). Ihre Adressen bleiben nur als Prüfsumme auf der Sperrliste, damit sie nicht versehentlich wieder angeschrieben wird. Laden Sie vorher die Auskunft herunter, wenn Sie sie brauchen.", en: "Erasing removes the person's profile, consent ledger, messages and campaign entries for good (Art. 17 GDPR). Their addresses stay on the suppression list as hashes only, so they are not contacted again by accident. Download the export first if you need it."},
	"erase.confirm":  {de: "Geben Sie zur Bestätigung die Kennung %s ein", en: "Type the id %s to confirm"},
	"erase.mismatch": {de: "Die Eingabe stimmt nicht mit der Kennung überein; nichts wurde gelöscht.", en: "What you typed is not the id; nothing was erased."},
	"erase.submit":   {de: "Endgültig löschen", en: "Erase for good"},

	"why.title":      {de: "Warum? – %s", en: "Why? – %s"},
	"why.short":      {de: "Warum?", en: "Why?"},
	"why.answer":     {de: "Antwort", en: "Answer"},
	"why.allowed":    {de: "Erlaubt: Die Nachricht durfte per %s gesendet werden, gestützt auf %s.", en: "Allowed: the message could go out by %s, on the ground of %s."},
	"why.denied":     {de: "Nicht gesendet per %s: %s.", en: "Not sent by %s: %s."},
	"why.reason":     {de: "Grund", en: "Reason"},
	"why.basis":      {de: "Rechtsgrundlage", en: "Legal basis"},
	"why.rule":       {de: "Regel", en: "Rule"},
	"why.decided":    {de: "Entschieden am", en: "Decided on"},
	"why.catalog":    {de: "Katalogversion", en: "Catalog version"},
	"why.data":       {de: "Erlaubte Datenkategorien", en: "Data categories allowed"},
	"why.optout":     {de: "Mit Abmeldehinweis", en: "With opt-out notice"},
	"why.hold":       {de: "frühestens", en: "not before"},
	"why.evidence":   {de: "Belege", en: "Evidence"},
	"why.noevidence": {de: "Keine gespeichert (oder die Nachprüfung gegen das Protokoll ergab eine andere Entscheidung).", en: "None kept (or replaying the ledger gave another decision)."},
	"why.undecided":  {de: "Diese Nachricht wurde noch nicht entschieden.", en: "This message has not been decided yet."},
	"why.message":    {de: "Die Nachricht", en: "The message"},
	"why.messageid":  {de: "Nachricht", en: "Message"},
	"why.campaign":   {de: "Kampagne", en: "Campaign"},
	"why.considered": {de: "Alle geprüften Kanäle, in Reihenfolge", en: "Every channel considered, in order"},
	"why.then":       {de: "Das Einwilligungsprotokoll zum Zeitpunkt der Entscheidung", en: "The consent ledger at the moment of the decision"},
	"why.then.hint":  {de: "Nur die Einträge bis zur Entscheidung; %d spätere Einträge sind hier nicht gezeigt (ein späterer Widerruf wirkt nicht zurück).", en: "Only the entries up to the decision; %d later entries are not shown here (a later withdrawal is not retroactive)."},
	"why.state":      {de: "Stand zum Zeitpunkt der Entscheidung", en: "State at the moment of the decision"},
	"why.gone":       {de: "Die Person ist gelöscht; ihr Protokoll gibt es nicht mehr.", en: "The person has been erased; their ledger no longer exists."},

	"basis.contract":            {de: "Vertrag (Art. 6 Abs. 1 lit. b DSGVO)", en: "contract (Art. 6(1)(b) GDPR)"},
	"basis.legitimate_interest": {de: "berechtigtes Interesse (Art. 6 Abs. 1 lit. f DSGVO, § 7 Abs. 3 UWG)", en: "legitimate interest (Art. 6(1)(f) GDPR, § 7(3) UWG)"},
	"basis.consent":             {de: "Einwilligung (Art. 6 Abs. 1 lit. a DSGVO)", en: "consent (Art. 6(1)(a) GDPR)"},

	"explain.basis.contract":            {de: "Die Nachricht gehört zum Vertrag oder zur Anfrage der Person; dafür braucht es keine Einwilligung.", en: "The message belongs to the person's contract or request; that needs no consent."},
	"explain.basis.legitimate_interest": {de: "Bestandskunden dürfen per E-Mail Werbung für ähnliche eigene Produkte bekommen, solange sie nicht widersprechen und jede Nachricht den Abmeldehinweis trägt.", en: "Existing customers may get e-mail offers for similar products of ours as long as they do not object and every message carries the opt-out notice."},
	"explain.basis.consent":             {de: "Die Person hat dafür eingewilligt und die Einwilligung nicht widerrufen.", en: "The person consented to this and has not withdrawn the consent."},

	"reason.allowed":             {de: "erlaubt", en: "allowed"},
	"reason.unknown_type":        {de: "unbekannter Nachrichtentyp", en: "unknown message type"},
	"reason.channel_not_allowed": {de: "Kanal für diesen Typ nicht vorgesehen", en: "channel not allowed for this type"},
	"reason.unknown_recipient":   {de: "Person unbekannt", en: "unknown person"},
	"reason.suppressed":          {de: "Adresse gesperrt", en: "address suppressed"},
	"reason.blocked":             {de: "Daten gesperrt (Vertragsende plus Sperrfrist)", en: "data blocked (contract end plus blocking period)"},
	"reason.no_contact_point":    {de: "keine Adresse für diesen Kanal", en: "no address for this channel"},
	"reason.unverified_contact":  {de: "Nummer nicht bestätigt", en: "number not verified"},
	"reason.objection":           {de: "Widerspruch", en: "objection"},
	"reason.consent_withdrawn":   {de: "Einwilligung widerrufen", en: "consent withdrawn"},
	"reason.contract_ended":      {de: "Vertrag beendet", en: "contract ended"},
	"reason.no_contract":         {de: "kein Vertrag", en: "no contract"},
	"reason.no_open_request":     {de: "keine offene Anfrage", en: "no open request"},
	"reason.doi_pending":         {de: "Double-Opt-In nicht bestätigt", en: "double opt-in not confirmed"},
	"reason.no_consent":          {de: "keine Einwilligung", en: "no consent"},
	"reason.frequency_cap":       {de: "Höchstzahl an Werbenachrichten erreicht", en: "frequency cap reached"},
	"reason.quiet_hours":         {de: "Ruhezeit", en: "quiet hours"},

	"explain.suppressed":         {de: "Die Adresse steht auf der Sperrliste (z. B. nach einer Löschung, einem harten Bounce oder STOP).", en: "The address is on the suppression list (e.g. after an erasure, a hard bounce or a STOP)."},
	"explain.blocked":            {de: "Der Vertrag ist länger als die Sperrfrist beendet; ohne anderen Grund darf nichts mehr gesendet werden.", en: "The contract ended longer ago than the blocking period; without another ground nothing may be sent."},
	"explain.no_contact_point":   {de: "Für diesen Kanal ist keine Adresse oder Nummer bekannt.", en: "No address or number is known for this channel."},
	"explain.unverified_contact": {de: "Für Messenger muss die Nummer bestätigt sein; eine Web- oder E-Mail-Anmeldung beweist nicht, wem eine Nummer gehört.", en: "Messengers need a verified number; a web or e-mail sign-up does not prove who holds a number."},
	"explain.objection":          {de: "Die Person hat der Werbung widersprochen (Art. 21 DSGVO); das gilt sofort und uneingeschränkt.", en: "The person objected to advertising (Art. 21 GDPR); that applies at once and absolutely."},
	"explain.consent_withdrawn":  {de: "Die Person hat ihre Einwilligung widerrufen; frühere Nachrichten bleiben davon unberührt.", en: "The person withdrew their consent; earlier messages are not affected."},
	"explain.contract_ended":     {de: "Werbung und vertragsbezogene Nachrichten enden mit dem Vertrag.", en: "Advertising and contract messages end with the contract."},
	"explain.no_contract":        {de: "Dieser Typ setzt einen Vertrag voraus.", en: "This type needs a contract."},
	"explain.no_open_request":    {de: "Eine Antwort setzt eine offene Anfrage oder einen Vertrag voraus.", en: "A reply needs an open request or a contract."},
	"explain.doi_pending":        {de: "Die Anmeldung wurde noch nicht über den Link in der E-Mail bestätigt.", en: "The sign-up has not been confirmed with the link in the e-mail yet."},
	"explain.no_consent":         {de: "Für diesen Zweck und Kanal liegt keine Einwilligung vor.", en: "There is no consent for this purpose and channel."},
	"explain.frequency_cap":      {de: "Die Person hat im Zeitraum des Katalogs schon die Höchstzahl an Werbenachrichten bekommen.", en: "The person already got the most advertising messages the catalog allows in its window."},
	"explain.unknown_recipient":  {de: "Zu dieser Kennung gibt es keine Person (mehr).", en: "There is no (longer a) person with this id."},

	"catalog.title":       {de: "Katalog", en: "Catalog"},
	"catalog.version":     {de: "Version", en: "Version"},
	"catalog.class":       {de: "Klasse", en: "Class"},
	"catalog.data":        {de: "Datenkategorien", en: "Data categories"},
	"catalog.advertising": {de: "Werbung", en: "Advertising"},
	"catalog.retention":   {de: "Aufbewahrung", en: "Retention"},
	"catalog.lists":       {de: "Listen", en: "Lists"},
	"catalog.rules":       {de: "Rechtsgrundlagen je Kanal (die erste zutreffende entscheidet)", en: "Legal bases per channel (the first that holds decides)"},
	"catalog.rule":        {de: "Regel", en: "Rule"},
	"catalog.law":         {de: "Vorschrift", en: "Law"},
	"catalog.doi":         {de: "nur mit Double-Opt-In", en: "double opt-in only"},
	"catalog.explicit":    {de: "nur für genau diesen Kanal", en: "for this very channel only"},
	"catalog.verified":    {de: "nur mit bestätigter Nummer", en: "verified number only"},
	"catalog.fallback":    {de: "SMS-Ersatz nur wenn erlaubt für", en: "SMS fallback only if allowed for"},
	"catalog.notice":      {de: "Datenschutzhinweis (aus demselben Katalog)", en: "Privacy notice (from the same catalog)"},

	"audit.title":   {de: "Protokoll der Änderungen", en: "Audit log"},
	"audit.caption": {de: "Jede Änderung in der Konsole, neueste zuerst", en: "Every change made in the console, newest first"},
	"audit.csv":     {de: "Als CSV exportieren", en: "Export as CSV"},
	"audit.ndjson":  {de: "Als NDJSON exportieren", en: "Export as NDJSON"},
	"audit.at":      {de: "Zeit", en: "Time"},
	"audit.user":    {de: "Benutzer", en: "User"},
	"audit.action":  {de: "Aktion", en: "Action"},
	"audit.target":  {de: "Ziel", en: "Target"},
	"audit.ip":      {de: "IP-Adresse", en: "IP address"},
	"audit.detail":  {de: "Einzelheiten", en: "Detail"},
	"audit.none":    {de: "Noch keine Einträge.", en: "No entries yet."},

	"users.title":   {de: "Benutzer", en: "Users"},
	"users.hint":    {de: "Benutzer stehen in HEROLD_CONSOLE_USERS_FILE; `herold console user add NAME ROLLE` legt einen an.", en: "Users live in HEROLD_CONSOLE_USERS_FILE; `herold console user add NAME ROLE` makes one."},
	"users.caption": {de: "Konsolenbenutzer und ihre Rollen", en: "Console users and their roles"},
	"users.role":    {de: "Rolle", en: "Role"},

	"segments.title":           {de: "Segmente", en: "Segments"},
	"segments.new":             {de: "Neues Segment", en: "New segment"},
	"segments.caption":         {de: "Gespeicherte Segmente", en: "Saved segments"},
	"segments.none":            {de: "Noch kein Segment.", en: "No segment yet."},
	"segments.version":         {de: "Version", en: "Version"},
	"segments.edit":            {de: "Segment", en: "Segment"},
	"segments.count":           {de: "Jetzt %s Personen, z. B.:", en: "%s people now, e.g.:"},
	"segments.expression":      {de: "Ausdruck", en: "Expression"},
	"segments.expression.hint": {de: "z. B. kind=customer and locale=de and reachable(promo_offer, email)", en: "e.g. kind=customer and locale=de and reachable(promo_offer, email)"},
	"segments.save":            {de: "Speichern", en: "Save"},
	"segments.delete":          {de: "Segment löschen", en: "Delete segment"},
	"segments.now":             {de: "Jetzt im Segment", en: "In the segment now"},
	"segments.campaign":        {de: "Kampagne aus diesem Segment anlegen", en: "Create a campaign from this segment"},
	"segments.description":     {de: "Beschreibung", en: "Description"},
	"segments.conflict":        {de: "Das Segment wurde inzwischen geändert: laden Sie es neu und ändern Sie es dann.", en: "The segment was changed meanwhile: reload it, then change it."},

	"lists.title":       {de: "Newsletter-Listen", en: "Newsletter lists"},
	"lists.caption":     {de: "Listen mit bestätigten und offenen Anmeldungen", en: "Lists with confirmed and pending sign-ups"},
	"lists.confirmed":   {de: "bestätigt", en: "confirmed"},
	"lists.pending":     {de: "offen", en: "pending"},
	"lists.none":        {de: "Keine Liste.", en: "No list."},
	"lists.empty":       {de: "Niemand.", en: "Nobody."},
	"lists.requested":   {de: "Angemeldet", en: "Signed up"},
	"lists.confirmedat": {de: "Bestätigt", en: "Confirmed"},
	"lists.members":     {de: "Mitglieder", en: "Members"},

	"suppressions.title":   {de: "Sperrliste", en: "Suppression list"},
	"suppressions.q":       {de: "Adresse oder Nummer", en: "Address or number"},
	"suppressions.caption": {de: "Gesperrte Adressen und Nummern", en: "Suppressed addresses and numbers"},
	"suppressions.kind":    {de: "Art", en: "Kind"},
	"suppressions.source":  {de: "Quelle", en: "Source"},
	"suppressions.lift":    {de: "Aufheben", en: "Lift"},
	"suppressions.reason":  {de: "Begründung", en: "Reason"},
	"suppressions.none":    {de: "Keine Einträge.", en: "No entries."},
	"suppressions.q.hint":  {de: "E-Mail-Adresse oder Mobilnummer; leer: die ganze Liste", en: "E-mail address or mobile number; empty: the whole list"},

	"webhooks.title":    {de: "Webhooks", en: "Webhooks"},
	"webhooks.caption":  {de: "Endpunkte der Produzenten", en: "Producers' endpoints"},
	"webhooks.events":   {de: "Ereignisse", en: "Events"},
	"webhooks.enabled":  {de: "aktiv", en: "enabled"},
	"webhooks.disabled": {de: "abgeschaltet", en: "disabled"},
	"webhooks.none":     {de: "Kein Endpunkt.", en: "No endpoint."},
	"webhooks.log":      {de: "Zustellungen, neueste zuerst", en: "Deliveries, newest first"},
	"webhooks.last":     {de: "Letzter Versuch", en: "Last attempt"},
	"webhooks.replay":   {de: "Wiederholen", en: "Replay"},
	"webhooks.nolog":    {de: "Noch keine Zustellung.", en: "No delivery yet."},
}
