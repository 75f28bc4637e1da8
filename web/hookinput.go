package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/flowkv/flowkv/blocks"
	"github.com/flowkv/flowkv/store"
)

// MaxHookFields bounds the fields of a form body a webhook takes (and the
// parts of a multipart one): a larger form is refused with 413 too_large.
const MaxHookFields = 1000

// hookInput turns a webhook body into the run's input by its Content-Type:
//
//   - JSON (application/json, anything +json): the value; invalid JSON is
//     400. An empty body is null whatever the type.
//   - application/x-www-form-urlencoded and multipart/form-data: an object
//     of the fields, a text for a field sent once and an array of texts for
//     one sent more than once; a multipart file part becomes
//     {filename, contentType, size} (its content is not kept).
//   - text/* and XML: the body as one text.
//   - no Content-Type: JSON when the body is valid JSON, else text.
//   - anything else: text when the body is UTF-8, else 400 (binary bodies
//     are not taken).
func hookInput(contentType string, body []byte) (json.RawMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return json.RawMessage("null"), nil
	}
	if contentType == "" {
		if json.Valid(body) {
			return body, nil
		}
		return textInput(contentType, body)
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, store.Errorf(store.CodeInvalidArgument, "the Content-Type %q does not parse: %v", contentType, err)
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		if !json.Valid(body) {
			return nil, store.Errorf(store.CodeInvalidArgument, "the body is not valid JSON (Content-Type %s)", mt)
		}
		return body, nil
	case mt == "application/x-www-form-urlencoded":
		if n := bytes.Count(body, []byte("&")) + 1; n > MaxHookFields {
			return nil, store.Errorf(store.CodeTooLarge, "the form has %d fields, the limit is %d", n, MaxHookFields)
		}
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, store.Errorf(store.CodeInvalidArgument, "the form body does not parse: %v", err)
		}
		return json.Marshal(fieldValues(vals, ""))
	case mt == "multipart/form-data":
		return multipartInput(body, params["boundary"])
	case strings.HasPrefix(mt, "text/") || mt == "application/xml" || strings.HasSuffix(mt, "+xml"):
		return textInput(mt, body)
	}
	return textInput(mt, body)
}

func textInput(mt string, body []byte) (json.RawMessage, error) {
	if !utf8.Valid(body) {
		return nil, store.Errorf(store.CodeInvalidArgument, "the body is binary (Content-Type %q): a webhook takes JSON, form fields or text", mt)
	}
	return json.Marshal(string(body))
}

// fieldValues is a form's (or query's) fields: a text for a field given
// once, an array of texts for one given more often; drop is left out.
func fieldValues(vals url.Values, drop string) map[string]any {
	out := make(map[string]any, len(vals))
	for k, vs := range vals {
		switch {
		case k == drop:
		case len(vs) == 1:
			out[k] = vs[0]
		default:
			out[k] = vs
		}
	}
	return out
}

// multipartInput reads a multipart/form-data body's fields.
func multipartInput(body []byte, boundary string) (json.RawMessage, error) {
	if boundary == "" {
		return nil, store.Errorf(store.CodeInvalidArgument, "multipart/form-data without a boundary")
	}
	r := multipart.NewReader(bytes.NewReader(body), boundary)
	fields := url.Values{}
	files := map[string][]any{}
	for n := 0; ; n++ {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, store.Errorf(store.CodeInvalidArgument, "the multipart body does not parse: %v", err)
		}
		if n >= MaxHookFields {
			return nil, store.Errorf(store.CodeTooLarge, "the form has more than %d parts", MaxHookFields)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, store.Errorf(store.CodeInvalidArgument, "the multipart body does not parse: %v", err)
		}
		name := p.FormName()
		if p.FileName() != "" {
			files[name] = append(files[name], map[string]any{"filename": p.FileName(), "contentType": p.Header.Get("Content-Type"), "size": len(data)})
			continue
		}
		if !utf8.Valid(data) {
			return nil, store.Errorf(store.CodeInvalidArgument, "form field %q is not text", name)
		}
		fields.Add(name, string(data))
	}
	out := fieldValues(fields, "")
	for k, fs := range files {
		if len(fs) == 1 {
			out[k] = fs[0]
		} else {
			out[k] = fs
		}
	}
	return json.Marshal(out)
}

// hiddenHookHeaders never reach a run: the webhook secret and credentials.
var hiddenHookHeaders = map[string]bool{
	strings.ToLower(HookSecretHeader): true, "authorization": true, "proxy-authorization": true, "cookie": true,
}

// hookRequest is what a webhook run sees of its request besides the body.
func hookRequest(r *http.Request) *blocks.Request {
	q := &blocks.Request{Method: r.Method, Path: r.URL.Path, Query: fieldValues(r.URL.Query(), "secret"), Headers: map[string]string{}}
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		lk := strings.ToLower(k)
		if hiddenHookHeaders[lk] {
			continue
		}
		q.Headers[lk] = strings.Join(r.Header[k], ", ")
	}
	if r.Host != "" {
		q.Headers["host"] = r.Host
	}
	return q
}
