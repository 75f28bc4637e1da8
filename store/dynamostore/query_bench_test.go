package dynamostore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/flowkv/flowkv/store"
)

// BenchmarkDynamoQuery: an indexed search returning 10 entries through the
// store against the raw SDK Query the store sends (the index partition of
// the declared index between the value's sort keys), on 2,000 entries of
// DynamoDB Local:
//
//	go test -run '^$' -bench DynamoQuery -benchtime 1000x ./store/dynamostore/
func BenchmarkDynamoQuery(b *testing.B) {
	s := open(b, store.Limits{})
	ctx := context.Background()
	const n = 2000
	for i := range n {
		if _, err := s.Insert(ctx, "benchq", fmt.Sprintf("k%06d", i), raw(fmt.Sprintf(`{"customer":"c%04d","total":%d}`, i/10, i)), store.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.CreateIndex(ctx, "benchq", "customer"); err != nil {
		b.Fatal(err)
	}
	customer := func(i int64) string { return fmt.Sprintf("c%04d", (i*7919)%(n/10)) }
	b.Run("indexed-eq-10/api", func(b *testing.B) {
		run(b, false, func(i int64) error {
			p, err := s.Query(ctx, store.Query{Name: "benchq", Where: []store.Condition{{Field: "customer", Op: store.OpEq, Value: raw(`"` + customer(i) + `"`)}}})
			if err == nil && len(p.Entries) != 10 {
				err = fmt.Errorf("%d entries", len(p.Entries))
			}
			return err
		})
	})
	b.Run("indexed-eq-10/raw-sdk", func(b *testing.B) {
		db, table := s.Client(), aws.String(s.Table())
		kc := "#p = :p AND begins_with(#s, :v)"
		run(b, false, func(i int64) error {
			out, err := db.Query(ctx, &dynamodb.QueryInput{
				TableName: table, IndexName: aws.String("qx0"), KeyConditionExpression: &kc, Limit: aws.Int32(1000),
				ExpressionAttributeNames:  map[string]string{"#p": "xp0", "#s": "xs0"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":p": S("benchq\x01customer"), ":v": S("2" + customer(i) + "\x00\x00")},
			})
			if err == nil && len(out.Items) != 10 {
				err = fmt.Errorf("%d items", len(out.Items))
			}
			return err
		})
	})
}
