package scripting

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/flowkv/flowkv/store"
)

// Values read from the store reach scripts exactly as JSON.parse would
// build them.
func TestFromJSONMatchesJSONParse(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	st := openStore(t)
	for i, v := range []string{
		`null`, `true`, `false`, `0`, `-12`, `1.5`, `1e300`, `9007199254740993`, `-0.000001`,
		`"plain"`, `"esc \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00 é"`, `[]`, `{}`,
		`[1,"a",[null,{"b":[true]}]]`, `{"__proto__":{"x":1},"a":{"b":{"c":"d"}}}`, `{"":1,"k":[{},[]]}`,
	} {
		key := "k" + itoa(i)
		if _, err := st.Upsert(context.Background(), "j", key, json.RawMessage(v), store.WriteOptions{}); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		out := mustRun(t, e, st, `const e = await dataStore.findNameKey('j', input.k);
const viaParse = JSON.parse(input.raw);
const d = e.data;
return [JSON.stringify(d) === JSON.stringify(viaParse), d === null || typeof d !== "object" || Array.isArray(d) || Object.getPrototypeOf(d) === Object.prototype];`,
			map[string]string{"k": key, "raw": v})
		if out != "[true,true]" {
			t.Errorf("%s: %s", v, out)
		}
	}
}
