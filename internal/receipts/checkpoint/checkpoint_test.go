package checkpoint

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRoundTripUnsignedAndSigned(t *testing.T) {
	cp := Checkpoint{Origin: "tfocol/observability/ws-1", Size: 42, Root: bytes.Repeat([]byte{7}, 32)}
	raw, err := cp.Marshal(nil)
	require.NoError(t, err)
	require.Equal(t, "tfocol/observability/ws-1\n42\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n", string(raw))
	f, err := Parse(raw, nil)
	require.NoError(t, err)
	require.Equal(t, cp, f.Checkpoint)
	require.False(t, f.Signed)

	skey, vkey, err := GenerateKey("tfocol-test")
	require.NoError(t, err)
	signer, err := NewSigner(skey)
	require.NoError(t, err)
	verifier, err := NewVerifier(vkey)
	require.NoError(t, err)
	signed, err := cp.Marshal(signer)
	require.NoError(t, err)
	f, err = Parse(signed, verifier)
	require.NoError(t, err)
	require.True(t, f.Verified)
	require.Equal(t, cp, f.Checkpoint)

	// An unsigned ROOT is rejected when a key is expected.
	_, err = Parse(raw, verifier)
	require.Error(t, err)

	// Any flipped byte of a signed ROOT fails verification.
	for i := range signed {
		for _, mask := range []byte{0x01, 0x02, 0x10, 0x80} {
			bad := bytes.Clone(signed)
			bad[i] ^= mask
			_, err := Parse(bad, verifier)
			require.Error(t, err, "flip at %d ^%#x accepted", i, mask)
		}
	}
	// A different key does not verify.
	_, vkey2, err := GenerateKey("tfocol-test")
	require.NoError(t, err)
	v2, err := NewVerifier(vkey2)
	require.NoError(t, err)
	_, err = Parse(signed, v2)
	require.Error(t, err)
}

func TestParseBodyRejectsNonCanonical(t *testing.T) {
	for _, in := range []string{
		"o\n1\nAAAA\nextra\n", "o\n01\nAAAA\n", "o\n1\nAAAA", "\n1\nAAAA\n", "o\n-1\nAAAA\n", "o\n1\nAA=A\n",
	} {
		_, err := ParseBody([]byte(in))
		require.Error(t, err, "%q", in)
	}
}
