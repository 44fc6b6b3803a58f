// Package metrics holds the proxy's Prometheus collectors as one struct built on a
// registry the caller creates (never the default registry). The metric names and
// labels are the product's contract (README.md, "Metrics reference"): dashboards and alerts
// depend on them. Every contract label value is initialised to zero by New, so
// every series exists from the first scrape.
//
// A nil *Metrics records nothing, which keeps tests of other packages short.
//
// The request and refresh duration histograms take the trace id of a sampled span as
// an exemplar (ObserveRequestTrace, RefreshTrace; label trace_id), served when the
// scraper asks for OpenMetrics. An observation without one allocates nothing.
package metrics
