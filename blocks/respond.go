package blocks

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/flowkv/flowkv/store"
)

// Response is what a flow's webhook answers for a run that succeeded,
// from its respond option (Run.Response; nil without one).
type Response struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

// httpStatus reads a respond status: an integer 100–599 (a number or
// digits).
func httpStatus(v any) (int, error) {
	var f float64
	switch x := v.(type) {
	case json.Number:
		n, err := x.Float64()
		if err != nil {
			return 0, fmt.Errorf("status %q is not a number", x.String())
		}
		f = n
	case float64:
		f = x
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case string:
		n, err := strconv.Atoi(x)
		if err != nil {
			return 0, fmt.Errorf("status %q is not a number", x)
		}
		f = float64(n)
	default:
		return 0, fmt.Errorf("status %s is not a number", quoteValue(v))
	}
	if f != math.Trunc(f) || f < 100 || f > 599 {
		return 0, fmt.Errorf("status %v is not an HTTP status (100–599)", f)
	}
	return int(f), nil
}

// respond evaluates the respond option after the last block succeeded.
func (cf *compiledFlow) respond(sc scope, output json.RawMessage) (*Response, error) {
	if cf.respondStatus == nil && cf.respondBody == nil {
		return nil, nil
	}
	resp := &Response{Status: 200, Body: output}
	if cf.respondStatus != nil {
		v, err := cf.respondStatus.eval(sc)
		if err != nil {
			return nil, store.Errorf(store.CodeInvalidArgument, "respond.status: %v", err)
		}
		if v, err = resolve(v); err != nil {
			return nil, err
		}
		if resp.Status, err = httpStatus(v); err != nil {
			return nil, store.Errorf(store.CodeInvalidArgument, "respond.status: %v", err)
		}
	}
	if cf.respondBody != nil {
		v, err := cf.respondBody.eval(sc)
		if err != nil {
			return nil, store.Errorf(store.CodeInvalidArgument, "respond.body: %v", err)
		}
		if v, err = resolve(v); err != nil {
			return nil, err
		}
		if resp.Body, err = json.Marshal(v); err != nil {
			return nil, store.Errorf(store.CodeInvalidArgument, "respond.body: %v", err)
		}
	}
	return resp, nil
}
