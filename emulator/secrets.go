package emulator

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// sealer encrypts the secret outputs of stacks, as the service does for a stack whose secrets provider
// is the service: the checkpoint carries ciphertexts, and only batch-decrypt turns them back.
//
// It is AES-256-GCM under a key drawn when the emulator starts, with a random nonce per value, so the
// same value encrypted twice gives two ciphertexts. That is on purpose: a consumer that decides whether a
// secret changed by comparing ciphertexts would pass against a service that happens to reuse them and
// fail in production; here it fails in its tests. The stack's id is the associated data, so a
// ciphertext of one stack does not decrypt for another, nor for a new stack of the same name.
type sealer struct {
	aead cipher.AEAD
}

func newSealer() *sealer {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(fmt.Sprintf("emulator: reading a random key: %v", err))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(fmt.Sprintf("emulator: AES: %v", err))
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(fmt.Sprintf("emulator: GCM: %v", err))
	}
	return &sealer{aead: aead}
}

// seal encrypts plaintext for the stack and returns the ciphertext as a checkpoint carries it: base64.
func (s *sealer) seal(stackID string, plaintext []byte) string {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("emulator: reading a random nonce: %v", err))
	}
	return base64.StdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plaintext, []byte(stackID)))
}

var errForeignCiphertext = errors.New("not a ciphertext of this stack's secrets")

// open decrypts a ciphertext (raw bytes, not base64) that seal made for the stack.
func (s *sealer) open(stackID string, ciphertext []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(ciphertext) < n+s.aead.Overhead() {
		return nil, errForeignCiphertext
	}
	plain, err := s.aead.Open(nil, ciphertext[:n], ciphertext[n:], []byte(stackID))
	if err != nil {
		return nil, errForeignCiphertext
	}
	return plain, nil
}

// openString decrypts a ciphertext in the base64 form seal returns.
func (s *sealer) openString(stackID, ciphertext string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(ciphertext)
	if err != nil {
		return nil, errForeignCiphertext
	}
	return s.open(stackID, raw)
}
