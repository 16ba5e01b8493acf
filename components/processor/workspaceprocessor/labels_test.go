package workspaceprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWorkspaceLabelsAreBounded(t *testing.T) {
	l := newWorkspaceLabels(2)
	assert.Equal(t, "a", l.label("a"))
	assert.Equal(t, "b", l.label("b"))
	assert.Equal(t, workspaceLabelOther, l.label("c"))
	assert.Equal(t, "a", l.label("a"), "known workspaces keep their label")

	off := newWorkspaceLabels(0)
	assert.Equal(t, workspaceLabelNone, off.label("a"))
}
