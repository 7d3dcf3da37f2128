// Package avrowalk guards Avro decoders against untrusted bytes. It owns
// two things: parsing an Avro schema into a tree of types ([Parse],
// [ParseJSON]), just enough to walk binary data, and walking a binary
// datum against that tree without building values ([Check]).
//
// goavro preallocates an array or map from the block count it reads (up
// to 2^31 entries), so a few crafted bytes on a topic can make it
// allocate tens of gigabytes. Every decoder of records from Kafka (the
// changes package, schema.Decoder behind `sluice tail`) runs Check before
// goavro sees the bytes; Check refuses a block count larger than the
// bytes left, which no datum whose items take at least one byte can have.
//
// The tree keeps each schema object's other attributes ([Node.Props]:
// connect.name, logicalType, ...) for callers that give types a meaning;
// this package gives them none.
package avrowalk
