package e2e

import "testing"

// TestNginxOrigin mounts the shared tree from Debian's nginx serving the
// publish output as plain static files.
func TestNginxOrigin(t *testing.T) {
	url := startNginxOrigin(t, fx.out)
	m := startMount(t, url, t.TempDir())
	runChecks(t, m.dir, sampleChecks)
	m.Stop(t)
}
