package tokenstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// FormatVersion is the layout of plaintext records (a Codec without keys): the
// record's fields in clear JSON. It is also the layout of the token file.
const FormatVersion = 1

// SealedFormatVersion is the layout of records written with a key: only the format,
// the version (which Redis compares on every write) and the key id are in clear; the
// whole record is sealed with AES-256-GCM, its account id, format and version as
// associated data, so a sealed record is authentic and only opens as the record of
// the account and version it was written for.
const SealedFormatVersion = 2

// Codec turns records into bytes and back. With keys it seals records (format 2);
// the first key seals, every key may open (key rotation). A codec with keys refuses
// plaintext records (anyone with access to the store could have written them) unless
// it accepts them for a migration (WithAcceptPlaintext); they are sealed at their
// next write. Records of the first sealed layout (format 1 with only the tokens
// sealed, written with a key by earlier releases) are read and re-sealed at their
// next write: their tokens are authentic, only their metadata was not authenticated.
// The zero Codec stores records in plain text.
type Codec struct {
	keys            []sealKey
	acceptPlaintext bool
}

type sealKey struct {
	id   string
	aead cipher.AEAD
}

// NewCodec builds a codec from raw 32-byte keys; the first one seals.
func NewCodec(keys ...[]byte) (*Codec, error) {
	c := &Codec{}
	for i, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("tokenstore: encryption key %d is %d bytes, want 32", i+1, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("tokenstore: encryption key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("tokenstore: encryption key %d: %w", i+1, err)
		}
		sum := sha256.Sum256(k)
		c.keys = append(c.keys, sealKey{id: hex.EncodeToString(sum[:4]), aead: aead})
	}
	return c, nil
}

// WithAcceptPlaintext returns a copy of c that, when accept is true, reads plaintext
// records although it has keys (a one-time migration to encrypted records; each is
// sealed at its next write).
func (c *Codec) WithAcceptPlaintext(accept bool) *Codec {
	d := &Codec{}
	if c != nil {
		*d = *c
	}
	d.acceptPlaintext = accept
	return d
}

// refusesPlaintext reports whether plaintext records are refused: the codec has keys
// and is not migrating.
func (c *Codec) refusesPlaintext() bool { return c.Sealed() && !c.acceptPlaintext }

// ParseKeys decodes base64 keys (standard or URL alphabet, padded or not).
func ParseKeys(b64 ...string) ([][]byte, error) {
	var out [][]byte
	for i, s := range b64 {
		var k []byte
		var err error
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if k, err = enc.DecodeString(s); err == nil {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("key %d is not base64", i+1)
		}
		if len(k) != 32 {
			return nil, fmt.Errorf("key %d decodes to %d bytes, want 32", i+1, len(k))
		}
		out = append(out, k)
	}
	return out, nil
}

// Sealed reports whether the codec encrypts records.
func (c *Codec) Sealed() bool { return c != nil && len(c.keys) > 0 }

// storedRecord is a plaintext record (format 1), and the plaintext inside a sealed one.
type storedRecord struct {
	Format            int          `json:"format"`
	Account           string       `json:"account"`
	Version           int64        `json:"version"`
	Status            Status       `json:"status,omitempty"`
	Scope             string       `json:"scope,omitempty"`
	ExpiresAt         time.Time    `json:"expires_at,omitzero"`
	ObtainedAt        time.Time    `json:"obtained_at,omitzero"`
	AuthorizedAt      time.Time    `json:"authorized_at,omitzero"`
	RefreshedAt       time.Time    `json:"refreshed_at,omitzero"`
	RefreshTrigger    string       `json:"refresh_trigger,omitempty"`
	ReauthAt          time.Time    `json:"reauth_at,omitzero"`
	ClientCredentials bool         `json:"client_credentials,omitempty"`
	AccessToken       string       `json:"access_token,omitempty"`
	RefreshToken      string       `json:"refresh_token,omitempty"`
	TraceParent       string       `json:"traceparent,omitempty"` // optional: older records have none, older readers ignore it
	Sealed            *sealedBlock `json:"sealed,omitempty"`      // format 1 written with a key: the tokens only

	// Format 2 (sealed): the whole record is in Ciphertext.
	KeyID      string `json:"kid,omitempty"`
	Nonce      []byte `json:"nonce,omitempty"`
	Ciphertext []byte `json:"ct,omitempty"`
}

// sealedEnvelope is what a format 2 record shows in clear.
type sealedEnvelope struct {
	Format     int    `json:"format"`
	Version    int64  `json:"version"`
	KeyID      string `json:"kid"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ct"`
}

// sealedBlock holds the tokens of a format 1 record written with a key.
type sealedBlock struct {
	KeyID      string `json:"kid"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ct"`
}

type secrets struct {
	AccessToken  string `json:"a,omitempty"`
	RefreshToken string `json:"r,omitempty"`
}

// sealedAD is the associated data of a format 2 record: it binds the ciphertext to
// its account, layout and version.
func sealedAD(account string, version int64) []byte {
	return fmt.Appendf(nil, "spotify-token-proxy record\x00format %d\x00account %s\x00version %d", SealedFormatVersion, account, version)
}

// Encode serialises rec: in clear without keys, sealed (format 2) with them.
func (c *Codec) Encode(rec Record) ([]byte, error) {
	sr := c.toStored(rec)
	if !c.Sealed() {
		return json.Marshal(sr)
	}
	plain, err := json.Marshal(sr)
	if err != nil {
		return nil, err
	}
	k := c.keys[0]
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("tokenstore: nonce: %w", err)
	}
	return json.Marshal(sealedEnvelope{
		Format: SealedFormatVersion, Version: rec.Version, KeyID: k.id, Nonce: nonce,
		Ciphertext: k.aead.Seal(nil, nonce, plain, sealedAD(rec.Account, rec.Version)),
	})
}

func (c *Codec) toStored(rec Record) storedRecord {
	return storedRecord{
		Format: FormatVersion, Account: rec.Account, Version: rec.Version, Status: rec.Status,
		Scope: rec.Scope, ExpiresAt: rec.Expiry.UTC(), ObtainedAt: rec.ObtainedAt.UTC(),
		AuthorizedAt: rec.AuthorizedAt.UTC(), RefreshedAt: rec.RefreshedAt.UTC(), ReauthAt: rec.ReauthAt.UTC(),
		RefreshTrigger:    rec.Cause.String(),
		ClientCredentials: rec.ClientCredentials, AccessToken: rec.AccessToken, RefreshToken: rec.RefreshToken,
		TraceParent: rec.TraceParent,
	}
}

// Decode parses a record stored for account. Any failure wraps ErrCorrupt and names
// the account: a record sealed with an unknown or wrong key, a tampered one, one
// sealed for another account or version, and — with keys — a plaintext one.
func (c *Codec) Decode(account string, data []byte) (Record, error) {
	var sr storedRecord
	if err := json.Unmarshal(data, &sr); err != nil {
		return Record{}, fmt.Errorf("%w: account %q: %v", ErrCorrupt, account, jsonErrText(err))
	}
	switch sr.Format {
	case SealedFormatVersion:
		inner, err := c.openRecord(account, sr)
		if err != nil {
			return Record{}, err
		}
		sr = inner
	case FormatVersion:
		if sr.Account != account {
			return Record{}, fmt.Errorf("%w: account %q: record names account %q", ErrCorrupt, account, sr.Account)
		}
		switch {
		case sr.Sealed != nil:
			if err := c.openTokens(&sr); err != nil {
				return Record{}, err
			}
		case c.refusesPlaintext():
			return Record{}, fmt.Errorf("%w: account %q: plaintext record refused: an encryption key is configured, so records must be sealed (anyone with access to the store could have written this one); accepting plaintext records (WithAcceptPlaintext) reads them once to migrate them", ErrCorrupt, account)
		}
	default:
		return Record{}, fmt.Errorf("%w: account %q: record format %d, this build reads formats %d and %d", ErrCorrupt, account, sr.Format, FormatVersion, SealedFormatVersion)
	}
	switch sr.Status {
	case StatusOK, StatusReauthRequired:
	default:
		return Record{}, fmt.Errorf("%w: account %q: unknown status %q", ErrCorrupt, account, sr.Status)
	}
	return Record{
		Account: sr.Account, Version: sr.Version, AccessToken: sr.AccessToken, RefreshToken: sr.RefreshToken,
		Expiry: sr.ExpiresAt, Scope: sr.Scope, ObtainedAt: sr.ObtainedAt, AuthorizedAt: sr.AuthorizedAt,
		RefreshedAt: sr.RefreshedAt, Cause: parseCause(sr.RefreshTrigger), Status: sr.Status, ReauthAt: sr.ReauthAt,
		ClientCredentials: sr.ClientCredentials, TraceParent: sr.TraceParent,
	}, nil
}

// key returns the configured key with id kid.
func (c *Codec) key(account, kid string) (sealKey, error) {
	if !c.Sealed() {
		return sealKey{}, fmt.Errorf("%w: account %q: record is encrypted (key %s) and no encryption key is configured", ErrCorrupt, account, kid)
	}
	for _, k := range c.keys {
		if k.id == kid {
			return k, nil
		}
	}
	return sealKey{}, fmt.Errorf("%w: account %q: record is sealed with key %s, which is not among the configured keys", ErrCorrupt, account, kid)
}

// openRecord opens a format 2 record: everything but the version and key id comes
// from the ciphertext, which only opens for this account and version.
func (c *Codec) openRecord(account string, env storedRecord) (storedRecord, error) {
	k, err := c.key(account, env.KeyID)
	if err != nil {
		return storedRecord{}, err
	}
	if len(env.Nonce) != k.aead.NonceSize() {
		return storedRecord{}, fmt.Errorf("%w: account %q: bad nonce", ErrCorrupt, account)
	}
	plain, err := k.aead.Open(nil, env.Nonce, env.Ciphertext, sealedAD(account, env.Version))
	if err != nil {
		return storedRecord{}, fmt.Errorf("%w: account %q: the sealed record does not open with key %s (tampered, wrong key, or sealed for another account or version)", ErrCorrupt, account, k.id)
	}
	var inner storedRecord
	if err := json.Unmarshal(plain, &inner); err != nil {
		return storedRecord{}, fmt.Errorf("%w: account %q: sealed record: %v", ErrCorrupt, account, jsonErrText(err))
	}
	if inner.Account != account || inner.Version != env.Version || inner.Sealed != nil || inner.Ciphertext != nil {
		return storedRecord{}, fmt.Errorf("%w: account %q: the sealed record disagrees with where it is stored", ErrCorrupt, account)
	}
	return inner, nil
}

// openTokens opens the tokens of a format 1 record written with a key by an earlier
// release (the account id is their associated data).
func (c *Codec) openTokens(sr *storedRecord) error {
	k, err := c.key(sr.Account, sr.Sealed.KeyID)
	if err != nil {
		return err
	}
	if len(sr.Sealed.Nonce) != k.aead.NonceSize() {
		return fmt.Errorf("%w: account %q: bad nonce", ErrCorrupt, sr.Account)
	}
	plain, err := k.aead.Open(nil, sr.Sealed.Nonce, sr.Sealed.Ciphertext, []byte(sr.Account))
	if err != nil {
		return fmt.Errorf("%w: account %q: decryption with key %s failed (wrong key or tampered record)", ErrCorrupt, sr.Account, k.id)
	}
	var s secrets
	if err := json.Unmarshal(plain, &s); err != nil {
		return fmt.Errorf("%w: account %q: sealed secrets: %v", ErrCorrupt, sr.Account, jsonErrText(err))
	}
	sr.AccessToken, sr.RefreshToken = s.AccessToken, s.RefreshToken
	return nil
}

// jsonErrText describes a JSON error without quoting the input (which may hold secrets).
func jsonErrText(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	default:
		return "invalid JSON"
	}
}
