package principal

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
)

func TestAllowsWorkspaceComparesUUIDsCaseInsensitively(t *testing.T) {
	p := &Principal{Workspaces: []string{"8C5D7F4E-3B2A-4C1D-9E8F-7A6B5C4D3E2F"}}
	require.True(t, p.AllowsWorkspace("8c5d7f4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f"))
	require.True(t, p.AllowsWorkspace("8C5D7F4E-3B2A-4C1D-9E8F-7A6B5C4D3E2F"))
	require.False(t, p.AllowsWorkspace("9c5d7f4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f"))
	require.False(t, p.AllowsWorkspace(""))

	all := &Principal{Workspaces: []string{Wildcard}}
	require.True(t, all.AllowsWorkspace("9c5d7f4e-3b2a-4c1d-9e8f-7a6b5c4d3e2f"))
}

func TestAllowsSignal(t *testing.T) {
	p := &Principal{Scopes: []string{SignalLogs}}
	require.True(t, p.AllowsSignal(SignalLogs))
	require.False(t, p.AllowsSignal(SignalTraces))
	require.True(t, (&Principal{Scopes: []string{Wildcard}}).AllowsSignal(SignalMetrics))
}

func TestContextRoundTripKeepsMetadata(t *testing.T) {
	md := client.NewMetadata(map[string][]string{"x-workspace-id": {"w"}})
	ctx := client.NewContext(context.Background(), client.Info{Metadata: md})
	_, ok := FromContext(ctx)
	require.False(t, ok, "no principal before authentication")

	p := &Principal{Kind: KindAPIKey, KeyID: "tfk_1"}
	ctx = NewContext(ctx, p)
	got, ok := FromContext(ctx)
	require.True(t, ok)
	require.Same(t, p, got)
	require.Equal(t, []string{"w"}, client.FromContext(ctx).Metadata.Get("x-workspace-id"))
	require.Equal(t, "tfk_1", client.FromContext(ctx).Auth.GetAttribute(AttrKeyID))
}
