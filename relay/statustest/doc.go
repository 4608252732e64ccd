// Package statustest checks the relay's status page in a real browser: headless Chromium, driven over
// the DevTools protocol by internal/cdp, shows every stack of a running cascade in its state, read from
// the DOM, while a relay in process deploys against the Pulumi Cloud emulator with timed deployments.
//
// The test needs /usr/bin/chromium (Debian's chromium package; `make browser-deps` installs it), or the
// browser named by $CHROMIUM. Without one it skips, except under CI=true, where it fails.
package statustest
