// Package consoletest checks the emulator's console page in a real browser: headless Chromium, driven
// over the DevTools protocol by the small client in internal/cdp, which the relay's status page test
// shares.
//
// The test needs /usr/bin/chromium (Debian's chromium package; `make browser-deps` installs it), or the
// browser named by $CHROMIUM. Without one it skips, except under CI=true, where it fails.
package consoletest
