package dynamostore_test

// Benchmarks of the backend against the raw SDK sending the same request
// to the same table of DynamoDB Local (the physical limit of the design):
//
//	go test -run '^$' -bench . -benchtime 2000x ./store/dynamostore/
//
// Figures go to BENCHMARKS.md, "DynamoDB backend".

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowkv/flowkv/store"
	"github.com/flowkv/flowkv/store/dynamostore"
)

const benchEntries = 1000

// benchStore opens a table holding benchEntries entries in "bench" (read
// benchmarks) and in "benchw" (write benchmarks).
func benchStore(b *testing.B) *dynamostore.Store {
	s := open(b, store.Limits{})
	ctx := context.Background()
	for _, name := range []string{"bench", "benchw"} {
		for i := range benchEntries {
			d := fmt.Sprintf(`{"n":%d,"tag":"t%d"}`, i, i%100)
			if name == "benchw" {
				d = fmt.Sprintf(`{"n":%d,"tag":"w"}`, i)
			}
			if _, err := s.Insert(ctx, name, fmt.Sprintf("k%06d", i), raw(d), store.WriteOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	return s
}

func S(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func N(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// run runs f b.N times on one goroutine, or spread over 8 goroutines.
func run(b *testing.B, par bool, f func(i int64) error) {
	b.ReportAllocs()
	b.ResetTimer()
	if !par {
		for i := range b.N {
			if err := f(int64(i)); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(4) // 4 × GOMAXPROCS(2) = 8 goroutines
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := f(n.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkDynamo(b *testing.B) {
	s := benchStore(b)
	db, table := s.Client(), aws.String(s.Table())
	ctx := context.Background()
	key := func(i int64) string { return fmt.Sprintf("k%06d", i%benchEntries) }
	for _, par := range []bool{false, true} {
		mode := "1g"
		if par {
			mode = "8g"
		}
		b.Run("FindNameKey/"+mode, func(b *testing.B) {
			run(b, par, func(i int64) error { _, err := s.FindNameKey(ctx, "bench", key(i)); return err })
		})
		b.Run("RawGetItem/"+mode, func(b *testing.B) {
			run(b, par, func(i int64) error {
				out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, ConsistentRead: aws.Bool(true),
					Key: map[string]types.AttributeValue{"pk": S("bench"), "sk": S(key(i))}})
				if err == nil && out.Item == nil {
					err = fmt.Errorf("no item")
				}
				return err
			})
		})
		b.Run("Upsert/"+mode, func(b *testing.B) {
			run(b, par, func(i int64) error {
				_, err := s.Upsert(ctx, "benchw", key(i), raw(fmt.Sprintf(`{"n":%d,"tag":"u"}`, i)), store.WriteOptions{})
				return err
			})
		})
		b.Run("RawPutItem/"+mode, func(b *testing.B) {
			run(b, par, func(i int64) error {
				now := time.Now().UnixMicro()
				d := fmt.Sprintf(`{"n":%d,"tag":"r"}`, i)
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{
					"pk": S("benchw"), "sk": S(key(i)), "nk": S("benchw\x01" + key(i)), "v": N(now), "w": S("0123456789abcdef"),
					"d": S(d), "h": S(store.DataHash([]byte(d))), "c": N(now), "u": N(now),
				}})
				return err
			})
		})
		// The request Upsert sends for an existing entry, written out.
		b.Run("RawUpdateItem/"+mode, func(b *testing.B) {
			run(b, par, func(i int64) error {
				now := time.Now().UnixMicro()
				d := fmt.Sprintf(`{"n":%d,"tag":"r"}`, i)
				_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table,
					Key:                      map[string]types.AttributeValue{"pk": S("benchw"), "sk": S(key(i))},
					UpdateExpression:         aws.String("SET nk = :nk, v = :v, w = :w, u = :now, c = if_not_exists(c, :now), d = :d, h = :h REMOVE del, n, p, f, e, #ttl"),
					ConditionExpression:      aws.String("(attribute_exists(v) AND attribute_not_exists(del) AND (attribute_not_exists(e) OR e > :now)) AND (attribute_not_exists(v) OR v < :v)"),
					ExpressionAttributeNames: map[string]string{"#ttl": "ttl"},
					ExpressionAttributeValues: map[string]types.AttributeValue{
						":nk": S("benchw\x01" + key(i)), ":d": S(d), ":h": S(store.DataHash([]byte(d))), ":v": N(now), ":now": N(now), ":w": S("0123456789abcdef"),
					},
					ReturnValues:                        types.ReturnValueAllOld,
					ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
				})
				return err
			})
		})
		b.Run("AtomicSum/"+mode, func(b *testing.B) {
			run(b, par, func(i int64) error {
				_, err := s.Atomic(ctx, nil, []store.Mutation{{Op: store.OpSum, Name: "sums", Key: key(i), Data: raw("1")}})
				return err
			})
		})
		b.Run("RawTransactAdd/"+mode, func(b *testing.B) {
			run(b, par, func(i int64) error {
				_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Update: &types.Update{
					TableName: table, Key: map[string]types.AttributeValue{"pk": S("rawsums"), "sk": S(key(i))},
					UpdateExpression:          aws.String("SET v = :v ADD n :one"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":v": N(time.Now().UnixMicro()), ":one": N(1)},
				}}}})
				return err
			})
		})
	}
	b.Run("FetchByData", func(b *testing.B) {
		run(b, false, func(i int64) error {
			p, err := s.Fetch(ctx, store.FetchQuery{Data: raw(`{"tag":"t7","n":507}`)})
			if err == nil && len(p.Entries) != 1 {
				err = fmt.Errorf("found %d", len(p.Entries))
			}
			return err
		})
	})
	b.Run("RawQueryDataIndex", func(b *testing.B) {
		h := store.DataHash([]byte(`{"n":507,"tag":"t7"}`))
		run(b, false, func(i int64) error {
			out, err := db.Query(ctx, &dynamodb.QueryInput{TableName: table, IndexName: aws.String("data"),
				KeyConditionExpression:    aws.String("h = :h"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":h": S(h)}, Limit: aws.Int32(101)})
			if err == nil && len(out.Items) != 1 {
				err = fmt.Errorf("found %d", len(out.Items))
			}
			return err
		})
	})
	// A page of 100 at depth 500 by cursor.
	cur := ""
	for range 5 {
		p, err := s.List(ctx, "bench", "", cur, 100)
		if err != nil {
			b.Fatal(err)
		}
		cur = p.NextCursor
	}
	b.Run("ListPage100", func(b *testing.B) {
		run(b, false, func(i int64) error {
			p, err := s.List(ctx, "bench", "", cur, 100)
			if err == nil && len(p.Entries) != 100 {
				err = fmt.Errorf("page of %d", len(p.Entries))
			}
			return err
		})
	})
	b.Run("RawQueryPage100", func(b *testing.B) {
		run(b, false, func(i int64) error {
			out, err := db.Query(ctx, &dynamodb.QueryInput{TableName: table, ConsistentRead: aws.Bool(true),
				KeyConditionExpression:    aws.String("pk = :p"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":p": S("bench")},
				ExclusiveStartKey:         map[string]types.AttributeValue{"pk": S("bench"), "sk": S("k000499")},
				Limit:                     aws.Int32(101)})
			if err == nil && len(out.Items) != 101 {
				err = fmt.Errorf("page of %d", len(out.Items))
			}
			return err
		})
	})
}
