package scripting

import (
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/file"
	"github.com/dop251/goja/parser"
	"github.com/evanw/esbuild/pkg/api"

	"github.com/flowkv/flowkv/store"
)

// A script is the body of an async function. It is compiled as
//
//	(async function () {<source>
//	})()
//
// (the prefix stays on the first line so line numbers match the source),
// and the parse tree is checked to be exactly that call with the source as
// the whole function body, so a script cannot close the wrapper and run
// code outside it.
const (
	wrapPrefix = "(async function () {"
	wrapSuffix = "\n})()"
)

// MaxNesting bounds bracket nesting in a script's source, so the parser
// (which recurses) never goes deep.
const MaxNesting = 1000

func compile(name, source string) (*goja.Program, error) {
	if err := checkNesting(source); err != nil {
		return nil, store.Errorf(store.CodeInvalidArgument, "script %s: %s", name, err.Error())
	}
	wrapped := wrapPrefix + source + wrapSuffix
	prog, perr := parser.ParseFile(nil, name, wrapped, 0, parser.WithDisableSourceMaps)
	if perr == nil {
		if !wrappedOnly(prog, len(wrapPrefix)+len(source)+1) {
			return nil, store.Errorf(store.CodeInvalidArgument, "script %s: the source closes the function it is the body of (unbalanced braces)", name)
		}
		p, err := goja.CompileAST(prog, false)
		if err != nil {
			return nil, store.Errorf(store.CodeInvalidArgument, "script %s: %s", name, oneLine(err.Error()))
		}
		return p, nil
	}
	// Not plain JavaScript goja parses: try it as TypeScript, and with
	// `for await` / async generators lowered to what goja runs.
	res := api.Transform(wrapped, api.TransformOptions{
		Loader:            api.LoaderTS,
		Sourcefile:        name,
		Sourcemap:         api.SourceMapExternal,
		Supported:         map[string]bool{"for-await": false, "async-generator": false},
		LegalComments:     api.LegalCommentsNone,
		Charset:           api.CharsetUTF8,
		LogLevel:          api.LogLevelSilent,
		TsconfigRaw:       `{"compilerOptions":{"useDefineForClassFields":true}}`,
		MinifySyntax:      false,
		KeepNames:         false,
		IgnoreAnnotations: true,
	})
	if len(res.Errors) > 0 {
		return nil, store.Errorf(store.CodeInvalidArgument, "script %s: SyntaxError: %s", name, oneLine(syntaxText(perr)))
	}
	code := string(res.Code)
	prog2, err := parser.ParseFile(nil, name, code, 0, parser.WithDisableSourceMaps)
	if err != nil || !loweredOnly(prog2) {
		return nil, store.Errorf(store.CodeInvalidArgument, "script %s: SyntaxError: %s", name, oneLine(syntaxText(perr)))
	}
	// The helpers become `let` bindings: scripts' global object does not
	// take the non-configurable properties `var` declarations make.
	if len(prog2.Body) > 1 {
		b := []byte(code)
		for _, st := range prog2.Body[:len(prog2.Body)-1] {
			if i := int(st.(*ast.VariableStatement).Var) - 1; i >= 0 && i+3 <= len(b) && string(b[i:i+3]) == "var" {
				copy(b[i:], "let")
			}
		}
		code = string(b)
		if prog2, err = parser.ParseFile(nil, name, code, 0, parser.WithDisableSourceMaps); err != nil {
			return nil, store.Errorf(store.CodeInvalidArgument, "script %s: SyntaxError: %s", name, oneLine(syntaxText(perr)))
		}
	}
	// Positions in the lowered code map back to the wrapped source
	// through esbuild's source map (then sourcePositions takes off the
	// wrapper's prefix on line 1).
	if sm, ok := oneBasedSourceMap(name, res.Map); ok {
		prog2.File.SetSourceMap(sm)
	}
	p, err := goja.CompileAST(prog2, false)
	if err != nil {
		return nil, store.Errorf(store.CodeInvalidArgument, "script %s: %s", name, oneLine(err.Error()))
	}
	return p, nil
}

func syntaxText(err error) string {
	if el, ok := err.(parser.ErrorList); ok && len(el) > 0 {
		e := el[0]
		return e.Message + " at line " + itoa(e.Position.Line) + " column " + itoa(col(e.Position))
	}
	return err.Error()
}

// sourcePositions rewrites the positions "NAME:1:COL" in text (a stack
// frame, an exception's " at …") from the wrapped program's to the
// source's: only line 1 holds the wrapper's prefix, so only its columns
// move. Other lines are the source's own.
func sourcePositions(name, text string) string {
	mark := name + ":1:"
	var b strings.Builder
	for {
		i := strings.Index(text, mark)
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		j := i + len(mark)
		k := j
		for k < len(text) && text[k] >= '0' && text[k] <= '9' {
			k++
		}
		b.WriteString(text[:j])
		if n, err := strconv.Atoi(text[j:k]); err == nil && n > len(wrapPrefix) {
			b.WriteString(itoa(n - len(wrapPrefix)))
		} else {
			b.WriteString(text[j:k])
		}
		text = text[k:]
	}
}

func col(p file.Position) int {
	if p.Line == 1 && p.Column > len(wrapPrefix) {
		return p.Column - len(wrapPrefix)
	}
	return p.Column
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// wrapperCall returns the async function literal of `(async function(){…})()`.
func wrapperCall(st ast.Statement) *ast.FunctionLiteral {
	es, ok := st.(*ast.ExpressionStatement)
	if !ok {
		return nil
	}
	call, ok := es.Expression.(*ast.CallExpression)
	if !ok || len(call.ArgumentList) != 0 {
		return nil
	}
	fn, ok := call.Callee.(*ast.FunctionLiteral)
	if !ok || !fn.Async || fn.Generator || fn.Body == nil {
		return nil
	}
	return fn
}

// wrappedOnly reports whether prog is exactly the wrapper call whose body
// ends at byte offset end (the wrapper's closing brace).
func wrappedOnly(prog *ast.Program, end int) bool {
	if len(prog.Body) != 1 {
		return false
	}
	fn := wrapperCall(prog.Body[0])
	return fn != nil && int(fn.Body.RightBrace) == end+1 && int(fn.Body.LeftBrace) == len(wrapPrefix)
}

// loweredOnly accepts esbuild's output: helper declarations
// (`var __name = (…) => …`) followed by the wrapper call.
func loweredOnly(prog *ast.Program) bool {
	n := len(prog.Body)
	if n == 0 || wrapperCall(prog.Body[n-1]) == nil {
		return false
	}
	for _, st := range prog.Body[:n-1] {
		vs, ok := st.(*ast.VariableStatement)
		if !ok {
			return false
		}
		for _, b := range vs.List {
			id, ok := b.Target.(*ast.Identifier)
			if !ok || !strings.HasPrefix(string(id.Name), "__") {
				return false
			}
			if _, ok := b.Initializer.(*ast.ArrowFunctionLiteral); !ok {
				return false
			}
		}
	}
	return true
}

// checkNesting refuses sources nested deeper than MaxNesting brackets.
// Every bracket counts, in strings and comments too: that can only
// overestimate, and nothing can hide deep nesting from it.
func checkNesting(src string) error {
	depth := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '(', '[', '{':
			depth++
			if depth > MaxNesting {
				return store.Errorf(store.CodeInvalidArgument, "source is nested deeper than %d brackets", MaxNesting)
			}
		case ')', ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}

// generatorSyntax finds what can define a generator function (function*,
// *method(), *[computed]()): only then does a run need its generator
// constructor disabled. Code generation from strings is off, so a
// generator cannot appear any other way. It may match multiplications; that
// only costs the patch.
var generatorSyntax = regexp.MustCompile(`function\s*\*|\*\s*\[|\*\s*[A-Za-z_$][\w$]*\s*\(`)

// programCache keeps compiled programs by (name, source); a goja Program
// is immutable and runs in any number of runtimes at once.
type programCache struct {
	mu    sync.Mutex
	max   int
	m     map[cacheKey]*cached
	order []cacheKey
}

type cacheKey struct{ name, src string }

type cached struct {
	once sync.Once
	prg  *goja.Program
	gens bool // the source may define generator functions
	err  error
}

func newProgramCache(max int) *programCache {
	return &programCache{max: max, m: map[cacheKey]*cached{}}
}

func (c *programCache) get(name, src string) (*goja.Program, bool, error) {
	k := cacheKey{name, src}
	c.mu.Lock()
	e, ok := c.m[k]
	if !ok {
		if len(c.order) >= c.max {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		e = &cached{}
		c.m[k] = e
		c.order = append(c.order, k)
	}
	c.mu.Unlock()
	e.once.Do(func() {
		e.prg, e.err = compile(name, src)
		// esbuild's lowering of async generators writes generators too.
		e.gens = generatorSyntax.MatchString(src) || strings.Contains(src, "for await")
	})
	return e.prg, e.gens, e.err
}
