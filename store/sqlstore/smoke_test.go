package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/flowkv/flowkv/internal/testenv"
	"github.com/flowkv/flowkv/store"
)

func TestSmoke(t *testing.T) {
	for _, dsn := range []func(t *testing.T) string{
		func(t *testing.T) string { return testenv.SQLiteDSN(t) },
		func(t *testing.T) string { return testenv.PostgresDSN(t) },
	} {
		ctx := context.Background()
		d := dsn(t)
		s, err := Open(ctx, d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Insert(ctx, "a", "b", []byte(`{"y":1, "x":[1.0]}`), store.WriteOptions{TTL: time.Hour})
		t.Log(e, err)
		_, err = s.Insert(ctx, "a", "b", []byte(`{"y":1}`), store.WriteOptions{})
		t.Log(err, store.CodeOf(err))
		g, err := s.FindNameKey(ctx, "a", "b")
		t.Log(string(g.Data), g, err)
		p, err := s.Fetch(ctx, store.FetchQuery{Data: []byte(`{"x":[1],"y":1}`)})
		t.Log(p, err)
		r, err := s.Atomic(ctx, []store.Check{{Name: "a", Key: "c"}}, []store.Mutation{{Op: store.OpSum, Name: "a", Key: "c", Data: []byte("2")}})
		t.Log(r, err)
		ok, err := s.Delete(ctx, "a", "b", store.DeleteOptions{})
		t.Log(ok, err)
		im, err := s.Import(ctx, store.Entry{Name: "a", Key: "z", Data: []byte(`1`), Version: 1000})
		t.Log(im, err)
		u, err := s.Upsert(ctx, "a", "z", []byte(`2`), store.WriteOptions{})
		t.Log(u.Version, err)
		ns, err := s.Names(ctx)
		t.Log(ns, err)
		l, err := s.List(ctx, "a", "", "", 1)
		t.Log(l, err)
		l, err = s.List(ctx, "a", "", l.NextCursor, 1)
		t.Log(l, err)
		s.Close()
		s, err = Open(ctx, d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.Migrations(ctx)
		t.Log(m, err)
		s.Close()
	}
}
