package ui

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/launcher"
	"github.com/go-rod/rod/lib/launcher/flags"
	"github.com/go-rod/rod/lib/proto"

	"github.com/flowkv/flowkv/internal/testenv"
)

// chromium returns the Chromium binary: FLOWKV_CHROMIUM (set by
// scripts/setup-chromium.sh) or /usr/bin/chromium. Without one the test
// skips, or fails under CI=true.
func chromium(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("FLOWKV_CHROMIUM")
	if bin == "" {
		bin = "/usr/bin/chromium"
	}
	if _, err := os.Stat(bin); err != nil {
		testenv.Missing(t, "Chromium is not installed at %s (make test installs Debian's chromium)", bin)
	}
	return bin
}

// newBrowser starts headless Chromium with a fresh profile; it is closed
// when t ends.
func newBrowser(t *testing.T) *rod.Browser {
	t.Helper()
	l := launcher.New().Bin(chromium(t)).Headless(true).NoSandbox(true).Leakless(false).
		UserDataDir(t.TempDir()).
		Set(flags.Flag("disable-gpu")).
		Set(flags.Flag("disable-quic")).
		Set(flags.Flag("no-first-run")).
		Set(flags.Flag("disable-background-networking")).
		Set(flags.Flag("disable-component-update")).
		Set(flags.Flag("disable-sync")).
		Set(flags.Flag("window-size"), "1366,900")
	u, err := l.Launch()
	if err != nil {
		t.Fatalf("launch chromium: %v", err)
	}
	b := rod.New().ControlURL(u)
	if err := b.Connect(); err != nil {
		l.Kill()
		t.Fatalf("connect to chromium: %v", err)
	}
	t.Cleanup(func() {
		_ = b.Close()
		l.Kill()
		l.Cleanup()
	})
	return b
}

// tab is one browser page against the harness, counting JavaScript
// dialogs (an XSS payload that runs would open one).
type tab struct {
	t       *testing.T
	h       *harness
	p       *rod.Page
	dialogs atomic.Int32
}

func (h *harness) tab(t *testing.T, b *rod.Browser) *tab {
	t.Helper()
	p, err := b.Page(proto.TargetCreateTarget{URL: "about:blank"})
	if err != nil {
		t.Fatalf("new page: %v", err)
	}
	_ = proto.EmulationSetDeviceMetricsOverride{Width: 1366, Height: 900, DeviceScaleFactor: 1}.Call(p)
	tb := &tab{t: t, h: h, p: p}
	go p.EachEvent(func(e *proto.PageJavascriptDialogOpening) {
		tb.dialogs.Add(1)
		_ = proto.PageHandleJavaScriptDialog{Accept: true}.Call(p)
	})()
	return tb
}

// page returns the page with a time limit for the next actions.
func (tb *tab) page() *rod.Page { return tb.p.Timeout(20 * time.Second) }

func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.page().MustNavigate(tb.h.URL + path).MustWaitLoad()
}

func (tb *tab) url() string { return tb.p.MustInfo().URL }

func (tb *tab) text(sel string) string {
	return tb.page().MustElement(sel).MustText()
}

func (tb *tab) has(sel string) bool {
	ok, _, err := tb.p.Has(sel)
	return err == nil && ok
}

// waitFor waits until the JavaScript expression js (a function body
// returning a boolean) holds.
func (tb *tab) waitFor(js string, args ...any) {
	tb.t.Helper()
	tb.page().MustWait(js, args...)
}

// submit clicks sel and waits for the next page to load.
func (tb *tab) submit(sel string) {
	tb.t.Helper()
	wait := tb.p.WaitNavigation(proto.PageLifecycleEventNameLoad)
	tb.page().MustElement(sel).MustClick()
	wait()
}

// setEditor replaces the text of a textarea that may be a CodeMirror
// editor.
func (tb *tab) setEditor(sel, text string) {
	tb.t.Helper()
	tb.page().MustElement(sel).MustEval(`function (text) { window.FlowkvEditor ? window.FlowkvEditor.setValue(this, text) : (this.value = text) }`, text)
}

// shot writes a screenshot of the page to artifacts/ui/NAME.png.
func (tb *tab) shot(name string) {
	dir := filepath.Join("..", "..", "artifacts", "ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Logf("screenshot dir: %v", err)
		return
	}
	img, err := tb.p.Screenshot(true, nil)
	if err != nil {
		tb.t.Logf("screenshot %s: %v", name, err)
		return
	}
	_ = os.WriteFile(filepath.Join(dir, name+".png"), img, 0o644)
}

// signIn signs in through the login form.
func (tb *tab) signIn(token string) {
	tb.t.Helper()
	tb.open("/")
	if !strings.Contains(tb.url(), "/login") {
		tb.t.Fatalf("signed-out / went to %s, want /login", tb.url())
	}
	tb.page().MustElement("#token").MustInput(token)
	tb.submit("#signin")
	if !strings.Contains(tb.url(), "/namespaces") {
		tb.t.Fatalf("after sign-in at %s: %s", tb.url(), tb.p.MustElement("body").MustText())
	}
}

// dragTo drags the element from onto the element to with the mouse
// (SortableJS runs in fallback mode, driven by mouse events).
func (tb *tab) dragTo(from, to *rod.Element, below bool) {
	tb.t.Helper()
	fs := from.MustShape().Box()
	ts := to.MustShape().Box()
	m := tb.p.Mouse
	m.MustMoveTo(fs.X+fs.Width/2, fs.Y+fs.Height/2)
	m.MustDown(proto.InputMouseButtonLeft)
	y := ts.Y + ts.Height/2
	if below {
		y = ts.Y + ts.Height - 4
	}
	_ = m.MoveLinear(proto.Point{X: fs.X + fs.Width/2 + 20, Y: fs.Y + fs.Height/2 + 20}, 5)
	_ = m.MoveLinear(proto.Point{X: ts.X + ts.Width/2, Y: y}, 20)
	time.Sleep(200 * time.Millisecond) // let Sortable settle (not an assertion)
	m.MustUp(proto.InputMouseButtonLeft)
}

// selectValue picks the option with value v in the select el.
func selectValue(t *testing.T, el *rod.Element, v string) {
	t.Helper()
	if err := el.Select([]string{`option[value="` + v + `"]`}, true, rod.SelectorTypeCSSSector); err != nil {
		t.Fatalf("select %s: %v", v, err)
	}
}
