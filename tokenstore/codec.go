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

// FormatVersion is the version of the stored record layout this build writes and reads.
const FormatVersion = 1

// Codec turns records into bytes and back. With keys it seals the secrets
// (access and refresh token) with AES-256-GCM, the account id as associated data;
// the first key seals, every key may open (key rotation).
// The zero Codec stores secrets in plain text.
type Codec struct {
	keys []sealKey
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

// Sealed reports whether the codec encrypts secrets.
func (c *Codec) Sealed() bool { return c != nil && len(c.keys) > 0 }

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
	Sealed            *sealedBlock `json:"sealed,omitempty"`
}

type sealedBlock struct {
	KeyID      string `json:"kid"`
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ct"`
}

type secrets struct {
	AccessToken  string `json:"a,omitempty"`
	RefreshToken string `json:"r,omitempty"`
}

// Encode serialises rec.
func (c *Codec) Encode(rec Record) ([]byte, error) {
	sr := c.toStored(rec)
	if err := c.seal(&sr); err != nil {
		return nil, err
	}
	return json.Marshal(sr)
}

func (c *Codec) toStored(rec Record) storedRecord {
	return storedRecord{
		Format: FormatVersion, Account: rec.Account, Version: rec.Version, Status: rec.Status,
		Scope: rec.Scope, ExpiresAt: rec.Expiry.UTC(), ObtainedAt: rec.ObtainedAt.UTC(),
		AuthorizedAt: rec.AuthorizedAt.UTC(), RefreshedAt: rec.RefreshedAt.UTC(), ReauthAt: rec.ReauthAt.UTC(),
		RefreshTrigger:    rec.RefreshTrigger,
		ClientCredentials: rec.ClientCredentials, AccessToken: rec.AccessToken, RefreshToken: rec.RefreshToken,
	}
}

func (c *Codec) seal(sr *storedRecord) error {
	if !c.Sealed() {
		return nil
	}
	plain, err := json.Marshal(secrets{AccessToken: sr.AccessToken, RefreshToken: sr.RefreshToken})
	if err != nil {
		return err
	}
	k := c.keys[0]
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("tokenstore: nonce: %w", err)
	}
	sr.Sealed = &sealedBlock{KeyID: k.id, Nonce: nonce, Ciphertext: k.aead.Seal(nil, nonce, plain, []byte(sr.Account))}
	sr.AccessToken, sr.RefreshToken = "", ""
	return nil
}

// Decode parses a record stored for account. Any failure wraps ErrCorrupt and names
// the account; a record sealed with an unknown or wrong key says so.
func (c *Codec) Decode(account string, data []byte) (Record, error) {
	var sr storedRecord
	if err := json.Unmarshal(data, &sr); err != nil {
		return Record{}, fmt.Errorf("%w: account %q: %v", ErrCorrupt, account, jsonErrText(err))
	}
	return c.fromStored(account, sr)
}

func (c *Codec) fromStored(account string, sr storedRecord) (Record, error) {
	if sr.Format != FormatVersion {
		return Record{}, fmt.Errorf("%w: account %q: record format %d, this build reads format %d", ErrCorrupt, account, sr.Format, FormatVersion)
	}
	if sr.Account != account {
		return Record{}, fmt.Errorf("%w: account %q: record names account %q", ErrCorrupt, account, sr.Account)
	}
	if sr.Sealed != nil {
		if err := c.open(&sr); err != nil {
			return Record{}, err
		}
	}
	switch sr.Status {
	case StatusOK, StatusReauthRequired:
	default:
		return Record{}, fmt.Errorf("%w: account %q: unknown status %q", ErrCorrupt, account, sr.Status)
	}
	return Record{
		Account: sr.Account, Version: sr.Version, AccessToken: sr.AccessToken, RefreshToken: sr.RefreshToken,
		Expiry: sr.ExpiresAt, Scope: sr.Scope, ObtainedAt: sr.ObtainedAt, AuthorizedAt: sr.AuthorizedAt,
		RefreshedAt: sr.RefreshedAt, RefreshTrigger: sr.RefreshTrigger, Status: sr.Status, ReauthAt: sr.ReauthAt,
		ClientCredentials: sr.ClientCredentials,
	}, nil
}

func (c *Codec) open(sr *storedRecord) error {
	if !c.Sealed() {
		return fmt.Errorf("%w: account %q: record is encrypted (key %s) and TOKEN_ENCRYPTION_KEY is not set", ErrCorrupt, sr.Account, sr.Sealed.KeyID)
	}
	for _, k := range c.keys {
		if k.id != sr.Sealed.KeyID {
			continue
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
	return fmt.Errorf("%w: account %q: record is sealed with key %s, which is not among the configured keys", ErrCorrupt, sr.Account, sr.Sealed.KeyID)
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
