package pages

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/text/language"
)

// Locales the pages speak, in matcher order.
const (
	de = "de"
	en = "en"
)

// langCookie remembers the language a person picked with the switch.
const langCookie = "herold_lang"

// texts is the compiled translation table: key → locale → text. The texts
// that end up in the ledger are not here but in statements.go, built from
// clauses that keep every combination grammatical.
var texts = map[string]map[string]string{
	"lang.name":            {de: "Deutsch", en: "English"},
	"lang.switch":          {de: "Sprache", en: "Language"},
	"skip":                 {de: "Zum Inhalt springen", en: "Skip to content"},
	"footer.imprint":       {de: "Impressum", en: "Imprint"},
	"footer.privacy":       {de: "Datenschutz", en: "Privacy notice"},
	"footer.notice":        {de: "So kontaktieren wir Sie", en: "How we contact you"},
	"footer.prefs":         {de: "Ihre Einstellungen verwalten", en: "Manage your preferences"},
	"required":             {de: "Pflichtfeld", en: "required"},
	"optional":             {de: "optional", en: "optional"},
	"error.title":          {de: "Das hat nicht geklappt", en: "That did not work"},
	"error.internal":       {de: "Ein technischer Fehler ist aufgetreten. Bitte versuchen Sie es später noch einmal.", en: "A technical error occurred. Please try again later."},
	"error.unavailable":    {de: "Der Dienst ist gerade nicht erreichbar. Bitte versuchen Sie es in ein paar Minuten noch einmal – Ihre Angaben wurden nicht gespeichert.", en: "The service cannot be reached right now. Please try again in a few minutes – nothing you entered was saved."},
	"error.csrf":           {de: "Das Formular ist abgelaufen oder wurde nicht von dieser Seite gesendet. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.", en: "The form has expired or was not sent from this page. Please reload the page and try again."},
	"error.link":           {de: "Dieser Link ist ungültig oder abgelaufen. Bitte nutzen Sie den Link aus Ihrer neuesten E-Mail.", en: "This link is invalid or has expired. Please use the link from your most recent e-mail."},
	"error.used":           {de: "Dieser Link wurde bereits verwendet.", en: "This link has already been used."},
	"error.nolist":         {de: "Diesen Newsletter gibt es nicht.", en: "This newsletter does not exist."},
	"error.rate":           {de: "Zu viele Anfragen. Bitte versuchen Sie es später noch einmal.", en: "Too many requests. Please try again later."},
	"error.form":           {de: "Bitte prüfen Sie Ihre Eingaben.", en: "Please check your entries."},
	"error.email":          {de: "Bitte geben Sie eine gültige E-Mail-Adresse ein, z. B. name@beispiel.de.", en: "Please enter a valid e-mail address, e.g. name@example.com."},
	"error.name":           {de: "Der Name darf höchstens 100 Zeichen lang sein.", en: "The name may be at most 100 characters long."},
	"error.consent":        {de: "Bitte bestätigen Sie die Einwilligung, um sich anzumelden.", en: "Please tick the consent box to sign up."},
	"error.action":         {de: "Diese Änderung ist nicht möglich.", en: "This change is not possible."},
	"subscribe.title":      {de: "Newsletter abonnieren: %s", en: "Subscribe to the newsletter: %s"},
	"subscribe.intro":      {de: "Tragen Sie Ihre E-Mail-Adresse ein. Sie erhalten danach eine E-Mail mit einem Bestätigungslink (Double-Opt-In); erst mit der Bestätigung ist Ihre Anmeldung wirksam.", en: "Enter your e-mail address. We will then send you an e-mail with a confirmation link (double opt-in); your sign-up takes effect only once you confirm."},
	"subscribe.email":      {de: "E-Mail-Adresse", en: "E-mail address"},
	"subscribe.name":       {de: "Name", en: "Name"},
	"subscribe.agree":      {de: "Einwilligung", en: "Consent"},
	"subscribe.submit":     {de: "Anmelden", en: "Sign up"},
	"subscribe.done.title": {de: "Bitte bestätigen Sie Ihre Anmeldung", en: "Please confirm your sign-up"},
	"subscribe.done": {de: "Wenn die Adresse eine Anmeldung braucht, haben wir Ihnen soeben eine E-Mail mit einem Bestätigungslink geschickt. Der Link ist %s gültig. Ohne Bestätigung löschen wir die Anmeldung automatisch.",
		en: "If the address needs a sign-up, we have just sent you an e-mail with a confirmation link. The link works for %s. Without confirmation, we delete the sign-up automatically."},
	"confirm.title":         {de: "Anmeldung bestätigen: %s", en: "Confirm your sign-up: %s"},
	"confirm.intro":         {de: "Bitte bestätigen Sie mit dem Knopf, dass Sie den Newsletter erhalten möchten.", en: "Please confirm with the button that you want to receive the newsletter."},
	"confirm.submit":        {de: "Anmeldung bestätigen", en: "Confirm sign-up"},
	"confirm.done.title":    {de: "Vielen Dank!", en: "Thank you!"},
	"confirm.done":          {de: "Ihre Anmeldung zum Newsletter „%s“ ist bestätigt.", en: "Your sign-up to the newsletter “%s” is confirmed."},
	"confirm.gone":          {de: "Zu diesem Link gibt es keine offene Anmeldung (mehr). Bitte melden Sie sich erneut an.", en: "There is no (longer an) open sign-up for this link. Please sign up again."},
	"confirm.already.title": {de: "Bereits bestätigt", en: "Already confirmed"},
	"confirm.already":       {de: "Sie haben Ihre Anmeldung zum Newsletter „%s“ bereits bestätigt. In Ihren Einstellungen sehen und ändern Sie, welche Nachrichten Sie von uns erhalten.", en: "You have already confirmed your sign-up to the newsletter “%s”. In your preferences you can see and change which messages you get from us."},
	"confirm.used":          {de: "Dieser Link wurde bereits verwendet. In Ihren Einstellungen sehen und ändern Sie, welche Nachrichten Sie von uns erhalten.", en: "This link has already been used. In your preferences you can see and change which messages you get from us."},
	"prefs.title":           {de: "Ihre Einstellungen", en: "Your preferences"},
	"prefs.intro":           {de: "Hier sehen Sie, wofür und auf welchem Weg wir Sie kontaktieren dürfen. Tippen Sie auf ein Feld, um es zu ändern; jede Änderung gilt sofort und wird mit Zeitpunkt und Wortlaut protokolliert.", en: "Here you see what we may contact you about and on which channel. Tap a cell to change it; every change takes effect at once and is recorded with its time and wording."},
	"prefs.saved":           {de: "Ihre Änderung ist gespeichert.", en: "Your change has been saved."},
	"prefs.purpose":         {de: "Wofür", en: "What"},
	"prefs.legend":          {de: "✓ ja · – nein · … Bestätigung ausstehend · ✕ widersprochen", en: "✓ yes · – no · … confirmation pending · ✕ objected"},
	"prefs.allads.title":    {de: "Keine Werbung mehr", en: "No more advertising"},
	"prefs.allads.submit":   {de: "Jeder Werbung widersprechen", en: "Object to all advertising"},
	"prefs.pending":         {de: "Wir haben Ihnen eine E-Mail mit einem Bestätigungslink geschickt.", en: "We have sent you an e-mail with a confirmation link."},
	"prefs.cell":            {de: "%s, %s: %s", en: "%s, %s: %s"},
	"purpose.advertising":   {de: "Angebote", en: "Offers"},
	"purpose.survey":        {de: "Umfragen", en: "Surveys"},
	"purpose.usage_data":    {de: "Nutzungsdaten für Angebote", en: "Usage data for offers"},
	"purpose.newsletter":    {de: "Newsletter „%s“", en: "Newsletter “%s”"},
	"purpose.type":          {de: "„%s“", en: "“%s”"},
	"channel.email":         {de: "E-Mail", en: "E-mail"},
	"channel.sms":           {de: "SMS", en: "SMS"},
	"channel.whatsapp":      {de: "WhatsApp", en: "WhatsApp"},
	"channel.rcs":           {de: "RCS", en: "RCS"},
	"channel.all":           {de: "alle Kanäle", en: "all channels"},
	"status.granted":        {de: "Eingewilligt am %s", en: "Consent given on %s"},
	"status.granted_doi":    {de: "Eingewilligt und bestätigt am %s", en: "Consent given and confirmed on %s"},
	"status.withdrawn":      {de: "Einwilligung widerrufen am %s", en: "Consent withdrawn on %s"},
	"status.objected":       {de: "Widersprochen am %s", en: "Objected on %s"},
	"status.pending":        {de: "Angemeldet am %s, wartet auf Ihre Bestätigung per E-Mail", en: "Signed up on %s, waiting for your confirmation by e-mail"},
	"status.none":           {de: "Keine Einwilligung", en: "No consent"},
	"status.none_li":        {de: "Keine Einwilligung; als Kunde erhalten Sie per E-Mail Angebote zu ähnlichen eigenen Produkten, solange Sie nicht widersprechen", en: "No consent; as a customer you receive offers for similar products of ours by e-mail unless you object"},
	"status.allowed":        {de: "Erlaubt, solange Sie nicht widersprechen", en: "Allowed unless you object"},
	"action.grant":          {de: "Einwilligen", en: "Give consent"},
	"action.withdraw":       {de: "Einwilligung widerrufen", en: "Withdraw consent"},
	"action.object":         {de: "Widersprechen", en: "Object"},
	"action.lift":           {de: "Widerspruch zurücknehmen", en: "Take back the objection"},
	"action.subscribe":      {de: "Anmelden (mit Bestätigung per E-Mail)", en: "Sign up (confirmed by e-mail)"},
	"unsub.title":           {de: "Abmelden", en: "Unsubscribe"},
	"unsub.ask":             {de: "Mit „Abmelden“ erklären Sie:", en: "By choosing “Unsubscribe” you declare:"},
	"unsub.submit":          {de: "Abmelden", en: "Unsubscribe"},
	"unsub.done.title":      {de: "Sie sind abgemeldet", en: "You are unsubscribed"},
	"unsub.done":            {de: "Ihre Abmeldung ist gespeichert.", en: "Your unsubscription has been saved."},
	"unsub.undo.ask":        {de: "Versehentlich abgemeldet? Mit „Rückgängig machen“ erklären Sie – wenn Sie vorher eingewilligt hatten:", en: "Unsubscribed by mistake? By choosing “Undo” you declare – if you had consented before:"},
	"unsub.undo.submit":     {de: "Rückgängig machen", en: "Undo"},
	"unsub.undo.done":       {de: "Ihre vorherige Einwilligung gilt wieder.", en: "Your previous consent applies again."},
	"unsub.undo.none":       {de: "Es gibt nichts wiederherzustellen: Vor der Abmeldung lag keine Einwilligung vor. Ihr Widerspruch bleibt bestehen. Wenn Sie wieder Nachrichten erhalten möchten, können Sie in Ihren Einstellungen einwilligen.", en: "There is nothing to restore: there was no consent before you unsubscribed. Your objection stays in force. If you want to receive messages again, you can give consent in your preferences."},
}

// Locale is one request's language: it translates and formats.
type Locale struct {
	Tag string // "de" or "en"
}

// T returns the text for key, formatted with args; a missing key shows as
// the key itself, so a gap is visible and never an empty label.
func (l Locale) T(key string, args ...any) string {
	m, ok := texts[key]
	if !ok {
		return key
	}
	s, ok := m[l.Tag]
	if !ok {
		s = m[en]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// Date formats t in loc, the person's time zone (or the brand's), the way
// the locale writes dates: "25.11.2026, 13:25 Uhr", "25 November 2026, 13:25".
func (l Locale) Date(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	if l.Tag == de {
		return t.Format("02.01.2006, 15:04") + " Uhr"
	}
	return t.Format("2 January 2006, 15:04")
}

// Duration writes d in hours or days, e.g. "48 Stunden" / "48 hours".
func (l Locale) Duration(d time.Duration) string {
	h := int(d.Round(time.Hour) / time.Hour)
	switch {
	case h >= 1 && l.Tag == de:
		return fmt.Sprintf("%d Stunden", h)
	case h >= 1:
		return fmt.Sprintf("%d hours", h)
	case l.Tag == de:
		return fmt.Sprintf("%d Minuten", int(d/time.Minute))
	default:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	}
}

// matcher picks de or en from Accept-Language.
var matcher = language.NewMatcher([]language.Tag{language.German, language.English})

// negotiate picks the locale: an explicit ?lang= (or form field) first, then
// the switch's cookie, then Accept-Language, then the configured default.
func negotiate(r *http.Request, def string) Locale {
	if l := strings.ToLower(r.URL.Query().Get("lang")); l == de || l == en {
		return Locale{Tag: l}
	}
	if r.Method == http.MethodPost {
		if l := r.PostFormValue("lang"); l == de || l == en {
			return Locale{Tag: l}
		}
	}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == de || c.Value == en) {
		return Locale{Tag: c.Value}
	}
	if al := r.Header.Get("Accept-Language"); al != "" {
		tags, _, err := language.ParseAcceptLanguage(al)
		if err == nil && len(tags) > 0 {
			_, idx, conf := matcher.Match(tags...)
			if conf != language.No {
				return Locale{Tag: []string{de, en}[idx]}
			}
		}
	}
	return Locale{Tag: def}
}
