package chartcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// specMetrics are the metric names of the README's metrics reference with their labels and, where it
// fixes them, the label values.
var specMetrics = map[string]map[string][]string{
	"spotify_proxy_requests_total":                  {"method": nil, "code": nil},
	"spotify_proxy_request_duration_seconds":        {"method": nil},
	"spotify_proxy_upstream_retries_total":          {"reason": {"unauthorized", "upstream_5xx", "connection"}, "result": {"success", "failure"}},
	"spotify_proxy_token_refreshes_total":           {"trigger": {"ahead", "expired", "unauthorized", "login", "admin", "validate"}, "result": {"success", "invalid_grant", "error"}},
	"spotify_proxy_token_refresh_duration_seconds":  {},
	"spotify_proxy_token_refresh_races_total":       {"outcome": {"coalesced", "peer_refreshed", "lock_timeout", "stale_write_rejected", "invalid_grant_recovered"}},
	"spotify_proxy_lock_wait_seconds":               {},
	"spotify_proxy_store_errors_total":              {"op": {"read", "write", "delete", "list", "lock", "ratelimit"}},
	"spotify_proxy_upstream_rate_limited_total":     {},
	"spotify_proxy_accounts":                        {"status": {"ok", "reauth_required"}},
	"spotify_proxy_refresh_token_age_seconds":       {},
	"spotify_proxy_accounts_refresh_token_expiring": {},
	"spotify_proxy_events_total": {"type": {"account.linked", "account.reauth_required", "account.recovered",
		"account.refresh_token_expiring", "account.deleted"}},
	"spotify_proxy_event_deliveries_total":       {"result": {"delivered", "retried", "dropped"}},
	"spotify_proxy_event_oldest_pending_seconds": {},
	"spotify_proxy_rate_limit_blocked_seconds":   {},
	"spotify_proxy_rate_limited_requests_total":  {"outcome": {"waited", "rejected"}, "cause": {"upstream_429", "budget"}},
	"spotify_proxy_rate_limit_wait_seconds":      {},
}

var histograms = []string{
	"spotify_proxy_request_duration_seconds",
	"spotify_proxy_token_refresh_duration_seconds",
	"spotify_proxy_lock_wait_seconds",
	"spotify_proxy_rate_limit_wait_seconds",
}

// targetLabels are attached by Prometheus and the operator to every scraped series.
var targetLabels = []string{"namespace", "job", "pod", "instance", "service", "container", "endpoint"}

// seriesLabels returns the labels a queried series may carry, or ok=false when the
// name is not one that the proxy exports (the README's metrics reference, histogram
// series, go_/process_ runtime metrics).
func seriesLabels(name string) (map[string][]string, bool) {
	if l, ok := specMetrics[name]; ok && !slices.Contains(histograms, name) {
		return l, true
	}
	for _, h := range histograms {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if name == h+suffix {
				l := map[string][]string{}
				for k, v := range specMetrics[h] {
					l[k] = v
				}
				if suffix == "_bucket" {
					l["le"] = nil
				}
				return l, true
			}
		}
	}
	if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
		return nil, true // any labels
	}
	return nil, false
}

// checkExpr parses a PromQL expression and reports every selector and grouping that
// does not fit the exported metrics. It returns the metric names used.
func checkExpr(t *testing.T, where, expr string) []string {
	t.Helper()
	names, problems := exprProblems(expr)
	for _, p := range problems {
		t.Errorf("%s: %s", where, p)
	}
	return names
}

// exprProblems parses a PromQL expression and checks it against specMetrics.
func exprProblems(expr string) (names, problems []string) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, []string{fmt.Sprintf("does not parse: %v\n%s", err, expr)}
	}
	report := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	parser.Inspect(e, func(node parser.Node, path []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			name := n.Name
			for _, m := range n.LabelMatchers {
				if m.Name == labels.MetricName && name == "" {
					name = m.Value
				}
			}
			known, ok := seriesLabels(name)
			if !ok {
				report("queries %q, which the proxy does not export", name)
				return nil
			}
			names = append(names, name)
			if known == nil {
				return nil
			}
			for _, m := range n.LabelMatchers {
				if m.Name == labels.MetricName || slices.Contains(targetLabels, m.Name) {
					continue
				}
				allowed, ok := known[m.Name]
				if !ok {
					report("%s has no label %q", name, m.Name)
					continue
				}
				if allowed == nil {
					continue
				}
				var values []string
				switch m.Type {
				case labels.MatchEqual, labels.MatchNotEqual:
					values = []string{m.Value}
				default:
					values = strings.Split(m.Value, "|")
				}
				for _, v := range values {
					if !slices.Contains(allowed, v) {
						report("%s{%s} uses value %q, not one of %v", name, m.Name, v, allowed)
					}
				}
			}
		case *parser.AggregateExpr:
			var inner []string
			parser.Inspect(n.Expr, func(node parser.Node, _ []parser.Node) error {
				if vs, ok := node.(*parser.VectorSelector); ok {
					inner = append(inner, vs.Name)
				}
				return nil
			})
			for _, g := range n.Grouping {
				if slices.Contains(targetLabels, g) {
					continue
				}
				has := false
				for _, name := range inner {
					l, ok := seriesLabels(name)
					_, hasLabel := l[g]
					has = has || (ok && (l == nil || hasLabel))
				}
				if !has {
					report("groups by %q, which none of %v carries", g, inner)
				}
			}
		}
		return nil
	})
	return names, problems
}

// TestExprCheckerCatchesMistakes: the checker itself refuses unknown metrics, labels
// and label values.
func TestExprCheckerCatchesMistakes(t *testing.T) {
	for _, expr := range []string{
		`rate(spotify_proxy_request_total[5m])`,
		`spotify_proxy_token_refreshes_total{result="failed"}`,
		`spotify_proxy_token_refreshes_total{trigger=~"ahead|timer"}`,
		`spotify_proxy_accounts{state="ok"}`,
		`sum by (outcome) (spotify_proxy_accounts)`,
		`spotify_proxy_upstream_requests_total`,
		`up{job="x"} == 0`,
		`histogram_quantile(0.9, rate(spotify_proxy_lock_wait_seconds[5m]))`,
		`sum(rate(spotify_proxy_requests_total[5m]`,
	} {
		if _, problems := exprProblems(expr); len(problems) == 0 {
			t.Errorf("%s: accepted", expr)
		}
	}
	if _, problems := exprProblems(`histogram_quantile(0.9, sum by (le, method) (rate(spotify_proxy_request_duration_seconds_bucket{namespace="x", method="GET"}[5m])))`); len(problems) > 0 {
		t.Errorf("a valid expression was refused: %v", problems)
	}
}

// grafanaVars replaces Grafana's interval variables so that expressions parse.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "${__rate_interval}", "5m")

type grafanaPanel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource map[string]any `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

// TestDashboard: the dashboard JSON parses, every query parses and uses only exported
// metrics, and it shows what operators need.
func TestDashboard(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "files", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID        string         `json:"uid"`
		Title      string         `json:"title"`
		Panels     []grafanaPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard needs a uid and a title")
	}
	var panels []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			panels = append(panels, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	ids := map[int]bool{}
	used := map[string]bool{}
	var exprs []string
	for _, p := range panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos == nil {
			t.Errorf("panel %q has no gridPos", p.Title)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource["uid"] != "${datasource}" {
			t.Errorf("panel %q does not use the datasource variable", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			where := fmt.Sprintf("panel %q query %s", p.Title, tg.RefID)
			for _, n := range checkExpr(t, where, grafanaVars.Replace(tg.Expr)) {
				used[n] = true
			}
			exprs = append(exprs, tg.Expr)
		}
	}
	vars := map[string]bool{}
	labelValues := regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)`)
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type == "query" {
			m := labelValues.FindStringSubmatch(v.Definition)
			if m == nil {
				t.Errorf("variable %s: unexpected query %q", v.Name, v.Definition)
			} else if _, ok := seriesLabels(m[1]); !ok {
				t.Errorf("variable %s queries %q, which the proxy does not export", v.Name, m[1])
			}
		}
	}
	for _, v := range []string{"datasource", "namespace", "job"} {
		if !vars[v] {
			t.Errorf("dashboard lacks the %s variable", v)
		}
	}
	// What the dashboard must show (issue 5).
	all := strings.Join(exprs, "\n")
	for _, want := range []struct{ what, pattern string }{
		{"requests", `spotify_proxy_requests_total`},
		{"latency", `spotify_proxy_request_duration_seconds_bucket`},
		{"refreshes by trigger and result", `by \(trigger, result\) \([^\n]*spotify_proxy_token_refreshes_total`},
		{"races by outcome", `by \(outcome\) \([^\n]*spotify_proxy_token_refresh_races_total`},
		{"lock wait", `spotify_proxy_lock_wait_seconds_bucket`},
		{"store errors", `spotify_proxy_store_errors_total`},
		{"token age", `spotify_proxy_refresh_token_age_seconds`},
		{"accounts", `spotify_proxy_accounts`},
		{"requests held by rate limiting", `by \(outcome, cause\) \([^\n]*spotify_proxy_rate_limited_requests_total`},
		{"rate-limit block", `spotify_proxy_rate_limit_blocked_seconds`},
		{"rate-limit wait", `spotify_proxy_rate_limit_wait_seconds_bucket`},
		{"retries by reason", `by \(reason, result\) \([^\n]*spotify_proxy_upstream_retries_total`},
	} {
		if !regexp.MustCompile(want.pattern).MatchString(all) {
			t.Errorf("dashboard does not show %s (no query matches %s)", want.what, want.pattern)
		}
	}
	for name := range specMetrics {
		if !used[name] && !used[name+"_bucket"] {
			t.Logf("note: dashboard does not query %s", name)
		}
	}
}

// TestAlerts: every alert expression parses and references exported metrics and label
// values; the alerts cover the failure modes of issue 5; annotations are valid
// Prometheus templates.
func TestAlerts(t *testing.T) {
	for _, file := range []string{"all-enabled-values.yaml", "sidecar-values.yaml"} {
		t.Run(file, func(t *testing.T) {
			b := renderFile(t, filepath.Join(chartDir, "ci", file))
			if len(b.rules) != 1 {
				t.Fatalf("want one PrometheusRule, got %d", len(b.rules))
			}
			alerts := map[string]string{}
			for _, g := range b.rules[0].Spec.Groups {
				for _, r := range g.Rules {
					if r.Alert == "" {
						continue
					}
					where := "alert " + r.Alert
					expr := r.Expr.String()
					alerts[r.Alert] = expr
					used := checkExpr(t, where, expr)
					if len(used) == 0 {
						t.Errorf("%s: queries no metric", where)
					}
					if !strings.Contains(expr, `namespace="`+Release.Namespace+`"`) {
						t.Errorf("%s: not scoped to the release namespace: %s", where, expr)
					}
					if s := r.Labels["severity"]; s != "warning" && s != "critical" {
						t.Errorf("%s: severity %q", where, s)
					}
					if r.For == nil || *r.For == "" {
						t.Errorf("%s: needs a `for` duration", where)
					}
					for _, k := range []string{"summary", "description"} {
						text := r.Annotations[k]
						if text == "" {
							t.Errorf("%s: no %s", where, k)
						}
						if _, err := template.New(k).Funcs(promTemplateFuncs).Parse(promTemplateHeader + text); err != nil {
							t.Errorf("%s: %s is not a valid template: %v", where, k, err)
						}
					}
				}
			}
			for _, want := range []struct{ what, pattern string }{
				{"refresh failures", `spotify_proxy_token_refreshes_total\{[^}]*result="error"`},
				{"accounts needing re-auth", `spotify_proxy_accounts\{[^}]*status="reauth_required"`},
				{"refresh token within 3 days of config.refreshTokenLifetime (4380h)", `spotify_proxy_refresh_token_age_seconds\{[^}]*\}\) > 15768000 - 3 \* 86400`},
				{"accounts within the expiry warning", `spotify_proxy_accounts_refresh_token_expiring\{[^}]*\}\) > 0`},
				{"no successful refresh while tokens near expiry", `(?s)trigger=~"ahead\|expired\|unauthorized".*unless.*result="success"`},
				{"store errors", `spotify_proxy_store_errors_total`},
				{"upstream 5xx", `spotify_proxy_requests_total\{[^}]*code=~"5\.\."`},
				{"upstream 429", `spotify_proxy_upstream_rate_limited_total`},
				{"webhook deliveries failing", `spotify_proxy_event_deliveries_total\{[^}]*result=~"retried\|dropped"`},
				{"events dropped", `spotify_proxy_event_deliveries_total\{[^}]*result="dropped"`},
				{"rate-limit block holding callers", `(?s)spotify_proxy_rate_limit_blocked_seconds.*spotify_proxy_rate_limited_requests_total\{[^}]*outcome="rejected"`},
			} {
				re := regexp.MustCompile(want.pattern)
				found := false
				for _, expr := range alerts {
					found = found || re.MatchString(expr)
				}
				if !found {
					t.Errorf("no alert for %s (pattern %s)", want.what, want.pattern)
				}
			}
		})
	}
}

// The refresh token's lifetime in the alert follows config.refreshTokenLifetime, in
// any Go duration form; with 0 (no limit) there is no alert on it.
func TestAlertFollowsRefreshTokenLifetime(t *testing.T) {
	for _, c := range []struct{ lifetime, want string }{
		{"4380h", "> 15768000 - 3 * 86400"},
		{"1h30m", "> 5400 - 3 * 86400"},
		{"2160h0m0s", "> 7776000 - 3 * 86400"},
		{"0", ""},
	} {
		b := renderBundle(t, overlay(t, minimalValues(), "prometheusRule: {enabled: true}\nconfig: {refreshTokenLifetime: \""+c.lifetime+"\"}"))
		expr := ""
		for _, g := range b.rules[0].Spec.Groups {
			for _, r := range g.Rules {
				if r.Alert == "SpotifyTokenProxyRefreshTokenExpiring" {
					expr = r.Expr.String()
				}
			}
		}
		if c.want == "" && expr != "" || c.want != "" && !strings.Contains(expr, c.want) {
			t.Errorf("refreshTokenLifetime %s: alert expr %q, want %q", c.lifetime, expr, c.want)
		}
	}
}

// promTemplateHeader defines the variables Prometheus gives alert templates.
const promTemplateHeader = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"

// promTemplateFuncs names the functions of Prometheus' alert templates, so that the
// annotations parse with text/template.
var promTemplateFuncs = func() template.FuncMap {
	m := template.FuncMap{}
	for _, f := range []string{"humanize", "humanize1024", "humanizeDuration", "humanizePercentage",
		"humanizeTimestamp", "query", "first", "label", "value", "reReplaceAll", "title",
		"toUpper", "toLower", "match", "args", "safeHtml", "stripPort", "externalURL", "pathPrefix"} {
		m[f] = func(...any) any { return nil }
	}
	return m
}()
