package tokenstore

import (
	"context"
	"errors"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/spotify-token-proxy/spotify-token-proxy/tracing"
)

// Tracing configures the Source's spans (see "Spans" in the package documentation).
// The zero value, or a no-op provider, records none: the Source then starts no span
// and tracing costs nothing. The cache-hit path never starts a span either way.
type Tracing struct {
	Provider trace.TracerProvider
	// AccountIDs records the account as spotify_proxy.account. Account ids can be
	// personal data, so it is off by default.
	AccountIDs bool
}

// Span names.
const (
	SpanRefresh  = "token refresh"      // one flight: obtaining an account's token
	SpanRecheck  = "token recheck"      // a flight re-reading the store in the background
	SpanRead     = "token store read"   // the flight's first read of the record
	SpanLock     = "token refresh lock" // waiting for the refresh lock
	SpanReread   = "token store reread" // the read after the lock wait (a peer may have refreshed)
	SpanEndpoint = "token endpoint"     // the call to the token endpoint
	SpanWrite    = "token store write"  // the compare-and-set write of the result
)

// Attributes of the Source's spans and links.
const (
	AttrAccount = tracing.AttrAccount
	// AttrCause is why the flight runs: ahead, expired, unauthorized, admin, or
	// recheck.
	AttrCause = attribute.Key("spotify_proxy.refresh.cause")
	// AttrOutcome is how the flight ended (see the package documentation).
	AttrOutcome = attribute.Key("spotify_proxy.refresh.outcome")
	// AttrRace is on links to another refresh's span: coalesced (the caller took a
	// flight another caller started), peer_refreshed, lock_timeout,
	// invalid_grant_recovered or stale_write_rejected (the flight took the token a
	// peer's refresh stored).
	AttrRace = attribute.Key("spotify_proxy.refresh.race")
	// AttrCoalesced marks the caller's span when it took the result of a flight
	// another caller had started (the link says which).
	AttrCoalesced = attribute.Key("spotify_proxy.refresh.coalesced")
	AttrLock      = attribute.Key("spotify_proxy.lock.result")     // acquired, timeout or error
	AttrVersion   = attribute.Key("spotify_proxy.record.version")  // 0: no record
	AttrChanged   = attribute.Key("spotify_proxy.record.changed")  // the reread found another version
	AttrGrant     = attribute.Key("spotify_proxy.token.grant")     // refresh_token or client_credentials
	AttrResult    = attribute.Key("spotify_proxy.refresh.result")  // success, invalid_grant or error
	AttrRotated   = attribute.Key("spotify_proxy.refresh.rotated") // the answer carried a new refresh token
	AttrWrite     = attribute.Key("spotify_proxy.write.result")    // written, overwritten, conflict or error
	// AttrErrorReason is the token endpoint's OAuth error code (invalid_grant, …).
	AttrErrorReason = tracing.AttrErrorReason
)

// Outcomes of a flight (AttrOutcome).
const (
	outcomeStored        = "stored"         // the store held a token that answers
	outcomePeerRefreshed = "peer_refreshed" // after the lock wait, a peer's token
	outcomeLockTimeout   = "lock_timeout"   // the lock stayed taken
	outcomeWritten       = "written"        // refreshed and stored
	outcomeConflict      = "conflict"       // refreshed, but the record changed meanwhile: ours was discarded
	outcomeUnstored      = "unstored"       // refreshed, the store did not take it: served from memory
	outcomeRecovered     = "invalid_grant_recovered"
	outcomeReauth        = "reauth_required"
	outcomeNoToken       = "no_token"
	outcomeTooSoon       = "refresh_too_soon"
	outcomeBackoff       = "backoff"        // the token endpoint is backed off
	outcomeEndpointError = "endpoint_error" // a temporary token-endpoint failure
	outcomeStoreError    = "store_error"
)

// EndpointError is implemented by a Refresher's errors that know what the token
// endpoint answered; the token endpoint span records it.
type EndpointError interface {
	error
	// EndpointAnswer is the HTTP status (0: no answer came) and the OAuth error code
	// ("" if none).
	EndpointAnswer() (status int, code string)
}

// tracer starts the Source's spans; a nil *tracer starts none.
type tracer struct {
	tr         trace.Tracer
	accountIDs bool
}

func newTracer(t Tracing) *tracer {
	if !tracing.Enabled(t.Provider) {
		return nil
	}
	return &tracer{tr: t.Provider.Tracer(tracing.ScopeName), accountIDs: t.AccountIDs}
}

// noSpan is the span of what is not traced: it records nothing.
func noSpan() trace.Span { return trace.SpanFromContext(context.Background()) }

// parent is the span context of ctx's caller, which a flight it starts continues:
// only a sampled one (zero otherwise), so that a flight is traced exactly when its
// caller is.
func (t *tracer) parent(ctx context.Context) trace.SpanContext {
	if t == nil {
		return trace.SpanContext{}
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
		return sc
	}
	return trace.SpanContext{}
}

// startFlight begins a flight's span, a child of the sampled caller that started it
// (parent). Without one the flight records nothing: its caller is not traced. The
// flight is detached from the caller, so ctx carries only parent's span context.
func (t *tracer) startFlight(ctx context.Context, parent trace.SpanContext, account string, cause Cause) (context.Context, trace.Span) {
	if t == nil || !parent.IsValid() {
		return ctx, noSpan()
	}
	ctx = trace.ContextWithSpanContext(ctx, parent)
	name, c := SpanRefresh, cause.String()
	if cause == CauseNone {
		name, c = SpanRecheck, "recheck"
	}
	attrs := make([]attribute.KeyValue, 1, 2)
	attrs[0] = AttrCause.String(c)
	if t.accountIDs {
		attrs = append(attrs, AttrAccount.String(account))
	}
	return t.tr.Start(ctx, name, trace.WithAttributes(attrs...))
}

// refreshing renames a recheck whose stored token had expired: it refreshes now.
func (t *tracer) refreshing(ctx context.Context) {
	if span := trace.SpanFromContext(ctx); t != nil && span.IsRecording() {
		span.SetName(SpanRefresh)
		span.SetAttributes(AttrCause.String(CauseExpired.String()))
	}
}

// settled records how the flight ended on its span.
func (t *tracer) settled(ctx context.Context, outcome string, err error) {
	span := trace.SpanFromContext(ctx)
	if t == nil || !span.IsRecording() {
		return
	}
	if outcome != "" {
		span.SetAttributes(AttrOutcome.String(outcome))
	}
	if err != nil {
		span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
		span.SetStatus(codes.Error, "")
	}
}

// joined records on the caller's span that it took the result of a flight another
// caller had started: a link to the flight's span.
func (t *tracer) joined(ctx context.Context, flight trace.SpanContext) {
	span := trace.SpanFromContext(ctx)
	if t == nil || !flight.IsValid() || !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrCoalesced.Bool(true))
	span.AddLink(trace.Link{SpanContext: flight, Attributes: []attribute.KeyValue{AttrRace.String("coalesced")}})
}

// linkPeer links the flight's span to the span of the peer's refresh that obtained
// the token it takes (Record.TraceParent), race saying how it came to take it.
func (t *tracer) linkPeer(ctx context.Context, traceparent, race string) {
	span := trace.SpanFromContext(ctx)
	if t == nil || traceparent == "" || !span.IsRecording() {
		return
	}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), traceparentCarrier(traceparent)))
	if !sc.IsValid() {
		return
	}
	span.AddLink(trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{AttrRace.String(race)}})
}

// traceparentCarrier is a stored traceparent as a propagation carrier.
type traceparentCarrier string

func (c traceparentCarrier) Get(key string) string {
	if key == "traceparent" {
		return string(c)
	}
	return ""
}
func (traceparentCarrier) Set(string, string) {}
func (traceparentCarrier) Keys() []string     { return []string{"traceparent"} }

// traceparent is the W3C traceparent of the flight's span when it is sampled, ""
// otherwise: stored with the token it obtains, for peers to link to.
func (t *tracer) traceparent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if t == nil || !sc.IsSampled() {
		return ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// traceID is the trace id of the flight's span when it is sampled (the exemplar of
// the refresh duration), "" otherwise.
func (t *tracer) traceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if t == nil || !sc.IsSampled() {
		return ""
	}
	return sc.TraceID().String()
}

// start begins a step of a flight, a child of the flight's span. Steps of a flight
// that is not recorded are not started.
func (t *tracer) start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if t == nil || !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, noSpan()
	}
	return t.tr.Start(ctx, name, trace.WithAttributes(attrs...))
}

// endRead ends a read's span: the version read (0: none), or the failure.
func endRead(span trace.Span, rec Record, err error) {
	if span.IsRecording() {
		switch {
		case err == nil:
			span.SetAttributes(AttrVersion.Int64(rec.Version))
		case errors.Is(err, ErrNotFound):
			span.SetAttributes(AttrVersion.Int64(0))
		default:
			failed(span, storeErrorType(err))
		}
	}
	span.End()
}

// endLock ends the lock wait's span with its result.
func endLock(span trace.Span, err error) {
	if span.IsRecording() {
		switch {
		case err == nil:
			span.SetAttributes(AttrLock.String("acquired"))
		case errors.Is(err, ErrLockTimeout):
			span.SetAttributes(AttrLock.String("timeout"))
		default:
			span.SetAttributes(AttrLock.String("error"))
			failed(span, "store")
		}
	}
	span.End()
}

// endReread ends the reread's span: the version read, and whether it is not the
// version first read (a peer wrote meanwhile).
func endReread(span trace.Span, first int64, rec Record, err error) {
	if span.IsRecording() && err == nil {
		span.SetAttributes(AttrChanged.Bool(rec.Version != first))
	}
	endRead(span, rec, err)
}

// grant is the OAuth grant of a token call on rec.
func grant(rec Record) attribute.KeyValue {
	if rec.ClientCredentials {
		return AttrGrant.String("client_credentials")
	}
	return AttrGrant.String("refresh_token")
}

// endEndpoint ends the token call's span: its result and, on failure, what the
// endpoint answered (status and OAuth error code; never a token).
func endEndpoint(span trace.Span, rotated bool, err error) {
	if span.IsRecording() {
		switch {
		case err == nil:
			span.SetAttributes(AttrResult.String("success"), AttrRotated.Bool(rotated))
		default:
			result, etype := "error", "_OTHER"
			if errors.Is(err, ErrInvalidGrant) {
				result, etype = "invalid_grant", "invalid_grant"
			} else if errors.Is(err, context.DeadlineExceeded) {
				etype = "timeout"
			}
			span.SetAttributes(AttrResult.String(result))
			var ee EndpointError
			if errors.As(err, &ee) {
				status, code := ee.EndpointAnswer()
				if status > 0 {
					span.SetAttributes(semconv.HTTPResponseStatusCode(status))
					if etype == "_OTHER" {
						etype = strconv.Itoa(status)
					}
				}
				if code != "" {
					span.SetAttributes(AttrErrorReason.String(code))
				}
			}
			failed(span, etype)
		}
	}
	span.End()
}

// endWrite ends the write's span with its result and the version written.
func endWrite(span trace.Span, result string, version int64) {
	if span.IsRecording() {
		span.SetAttributes(AttrWrite.String(result))
		if version > 0 {
			span.SetAttributes(AttrVersion.Int64(version))
		}
		if result == "error" {
			failed(span, "store")
		}
	}
	span.End()
}

func failed(span trace.Span, errorType string) {
	span.SetAttributes(semconv.ErrorTypeKey.String(errorType))
	span.SetStatus(codes.Error, "")
}

// storeErrorType names a store failure without its text.
func storeErrorType(err error) string {
	if errors.Is(err, ErrCorrupt) {
		return "corrupt"
	}
	return "store"
}

// errorType names a flight's failure without its text.
func errorType(err error) string {
	var ue *UnavailableError
	switch {
	case errors.Is(err, ErrReauthRequired):
		return "reauth_required"
	case errors.Is(err, ErrNoToken):
		return "no_token"
	case errors.Is(err, ErrRefreshTooSoon):
		return "refresh_too_soon"
	case errors.As(err, &ue):
		return "unavailable"
	}
	return "_OTHER"
}
