// Package denokv maps Deno KV values to flowkv entries: V8-serialized
// values (what Deno and @deno/kv send) decoded and encoded in Go, and the
// rule that keeps JSON-representable values as plain JSON for every other
// face while other values are stored exactly (see value.go).
package denokv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"unicode/utf16"
)

// The V8 ValueSerializer format (v8/src/objects/value-serializer.cc),
// versions 13 to 16: a header 0xFF <version>, then one tagged value.
// Reference types get ids in the order they are first met; a repeated
// reference is '^' <id>.

// Kind is the type of a Value.
type Kind uint8

// Value kinds. Primitives carry their value inline; the others point to an
// Object, shared by every reference to the same JS object.
const (
	Undefined Kind = iota
	Null
	Bool
	Number // float64 (V8's Int32, Uint32 and Double)
	BigInt
	String
	Hole // an absent element of a dense array
	Ref  // an object: Value.Obj
)

// Value is one decoded JS value.
type Value struct {
	Kind Kind
	B    bool
	N    float64
	I    *big.Int
	S    []uint16 // JS strings are UTF-16 (lone surrogates allowed)
	Obj  *Object
}

// ObjType is the type of an Object.
type ObjType uint8

// Object types.
const (
	PlainObject ObjType = iota
	DenseArray
	SparseArray
	Date
	RegExp
	Map
	Set
	ArrayBuffer
	ArrayBufferView // typed array or DataView over Buffer
	BooleanObject
	NumberObject
	BigIntObject
	StringObject
	Error
)

// Prop is one own property: the key is a String or a Number.
type Prop struct {
	Key, Val Value
}

// Object is a JS object of any ObjType.
type Object struct {
	Type ObjType
	// PlainObject, arrays: own properties (arrays: beyond the elements).
	Props []Prop
	// DenseArray: the elements (Hole for absent ones); arrays: length.
	Elems  []Value
	Length uint32
	// Date: ms since the epoch; NumberObject: the number.
	N float64
	// RegExp: source and flags bits; StringObject: S.
	S     []uint16
	Flags uint32
	// Map: key, value, key, value…; Set: the values.
	Items []Value
	// ArrayBuffer: the bytes; MaxLen > 0 for a resizable buffer.
	Bytes  []byte
	MaxLen uint32
	// ArrayBufferView: the view's kind (V8's subtag: 'B' Uint8Array, …),
	// its buffer, offset, length and flags.
	SubTag         byte
	Buffer         *Object
	Offset, ByteLn uint32
	// BooleanObject: B; BigIntObject: I.
	B bool
	I *big.Int
	// Error: prototype tag (0 = Error), message and stack (nil if absent),
	// cause (nil if absent).
	ErrProto       byte
	Message, Stack *[]uint16
	Cause          *Value
}

// Serialization tags.
const (
	tVersion        = 0xFF
	tPadding        = 0x00
	tVerifyCount    = '?'
	tHole           = '-'
	tUndefined      = '_'
	tNull           = '0'
	tTrue           = 'T'
	tFalse          = 'F'
	tInt32          = 'I'
	tUint32         = 'U'
	tDouble         = 'N'
	tBigInt         = 'Z'
	tUTF8String     = 'S'
	tOneByteString  = '"'
	tTwoByteString  = 'c'
	tObjectRef      = '^'
	tBeginObject    = 'o'
	tEndObject      = '{'
	tBeginSparse    = 'a'
	tEndSparse      = '@'
	tBeginDense     = 'A'
	tEndDense       = '$'
	tDate           = 'D'
	tTrueObject     = 'y'
	tFalseObject    = 'x'
	tNumberObject   = 'n'
	tBigIntObject   = 'z'
	tStringObject   = 's'
	tRegExp         = 'R'
	tBeginMap       = ';'
	tEndMap         = ':'
	tBeginSet       = '\''
	tEndSet         = ','
	tArrayBuffer    = 'B'
	tResizableAB    = '~'
	tArrayBufferVw  = 'V'
	tError          = 'r'
	tHostObject     = '\\'
	writeVersion    = 15 // what Node 20 (V8 11) and Deno both read
	maxVersion      = 16 // Deno 2.9 (V8 15) writes 16, same layout for KV values
	minVersion      = 13
	maxDecodeDepth  = 256
	maxDecodeLength = 1 << 24
)

// ErrUnsupported is returned for V8 data this decoder does not model
// (shared memory, WebAssembly, unknown host objects, versions before 13).
var ErrUnsupported = errors.New("unsupported V8 value")

// nodeViewTypes are Node's host-object typed arrays (lib/v8.js
// arrayBufferViewTypes), by index, as V8 subtags.
var nodeViewTypes = []byte{'b', 'B', 'C', 'w', 'W', 'd', 'D', 'f', 'F', '?', 'B', 'q', 'Q', 'h'}

// viewElemSize is the element size of each view subtag.
var viewElemSize = map[byte]uint32{'b': 1, 'B': 1, 'C': 1, 'w': 2, 'W': 2, 'd': 4, 'D': 4, 'h': 2, 'f': 4, 'F': 8, 'q': 8, 'Q': 8, '?': 1}

// ViewName names a view subtag as JS does.
func ViewName(sub byte) string {
	switch sub {
	case 'b':
		return "Int8Array"
	case 'B':
		return "Uint8Array"
	case 'C':
		return "Uint8ClampedArray"
	case 'w':
		return "Int16Array"
	case 'W':
		return "Uint16Array"
	case 'd':
		return "Int32Array"
	case 'D':
		return "Uint32Array"
	case 'h':
		return "Float16Array"
	case 'f':
		return "Float32Array"
	case 'F':
		return "Float64Array"
	case 'q':
		return "BigInt64Array"
	case 'Q':
		return "BigUint64Array"
	case '?':
		return "DataView"
	}
	return "ArrayBufferView"
}

type decoder struct {
	b     []byte
	pos   int
	objs  []*Object
	refs  bool // a repeated reference was met
	host  bool // a Node host object was met
	depth int
}

// Decoded is a decoded V8 value and what the decoder saw on the way.
type Decoded struct {
	Value Value
	// Shared is true when some object is referenced more than once (its
	// identity matters: JSON would copy it).
	Shared bool
	// Host is true when the data held Node host objects (its typed
	// arrays), which Deno cannot read.
	Host bool
}

// DecodeV8 decodes a V8-serialized value (Deno's and Node's, with Node's
// host-object typed arrays read as typed arrays).
func DecodeV8(b []byte) (Decoded, error) {
	d := &decoder{b: b}
	if len(b) < 2 || b[0] != tVersion {
		return Decoded{}, fmt.Errorf("%w: no V8 header", ErrUnsupported)
	}
	d.pos = 1
	ver, err := d.varint()
	if err != nil {
		return Decoded{}, err
	}
	if ver < minVersion || ver > maxVersion {
		return Decoded{}, fmt.Errorf("%w: format version %d", ErrUnsupported, ver)
	}
	v, err := d.value()
	if err != nil {
		return Decoded{}, err
	}
	for d.pos < len(d.b) && d.b[d.pos] == tPadding {
		d.pos++
	}
	if d.pos != len(d.b) {
		return Decoded{}, fmt.Errorf("V8 value: %d trailing bytes", len(d.b)-d.pos)
	}
	return Decoded{Value: v, Shared: d.refs, Host: d.host}, nil
}

var errTruncated = errors.New("V8 value: truncated")

func (d *decoder) byte() (byte, error) {
	if d.pos >= len(d.b) {
		return 0, errTruncated
	}
	c := d.b[d.pos]
	d.pos++
	return c, nil
}

func (d *decoder) tag() (byte, error) {
	for {
		c, err := d.byte()
		if err != nil || c != tPadding {
			return c, err
		}
	}
}

func (d *decoder) peekTag() (byte, error) {
	p := d.pos
	c, err := d.tag()
	d.pos = p
	return c, err
}

func (d *decoder) varint() (uint64, error) {
	var v uint64
	for shift := 0; shift < 64; shift += 7 {
		c, err := d.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, nil
		}
	}
	return 0, errors.New("V8 value: varint too long")
}

func (d *decoder) u32() (uint32, error) {
	v, err := d.varint()
	if err != nil {
		return 0, err
	}
	if v > math.MaxUint32 {
		return 0, errors.New("V8 value: varint out of range")
	}
	return uint32(v), nil
}

func (d *decoder) raw(n uint64) ([]byte, error) {
	if n > uint64(len(d.b)-d.pos) {
		return nil, errTruncated
	}
	r := d.b[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return r, nil
}

func (d *decoder) double() (float64, error) {
	r, err := d.raw(8)
	if err != nil {
		return 0, err
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(r)), nil
}

func (d *decoder) bigint() (*big.Int, error) {
	bf, err := d.u32()
	if err != nil {
		return nil, err
	}
	n := uint64(bf >> 1)
	r, err := d.raw(n)
	if err != nil {
		return nil, err
	}
	be := make([]byte, n)
	for i := range r {
		be[len(r)-1-i] = r[i]
	}
	v := new(big.Int).SetBytes(be)
	if bf&1 == 1 {
		v.Neg(v)
	}
	return v, nil
}

// stringBody reads the body of a string tag.
func (d *decoder) stringBody(tag byte) ([]uint16, error) {
	n, err := d.varint()
	if err != nil {
		return nil, err
	}
	r, err := d.raw(n)
	if err != nil {
		return nil, err
	}
	switch tag {
	case tOneByteString:
		s := make([]uint16, len(r))
		for i, c := range r {
			s[i] = uint16(c)
		}
		return s, nil
	case tTwoByteString:
		if n%2 != 0 {
			return nil, errors.New("V8 value: odd two-byte string length")
		}
		s := make([]uint16, n/2)
		for i := range s {
			s[i] = binary.LittleEndian.Uint16(r[2*i:])
		}
		return s, nil
	default: // tUTF8String
		return utf16.Encode([]rune(string(r))), nil
	}
}

// str reads a tagged string (RegExp sources, error messages).
func (d *decoder) str() ([]uint16, error) {
	tag, err := d.tag()
	if err != nil {
		return nil, err
	}
	if tag != tOneByteString && tag != tTwoByteString && tag != tUTF8String {
		return nil, errors.New("V8 value: expected a string")
	}
	return d.stringBody(tag)
}

func (d *decoder) newObj(t ObjType) *Object {
	o := &Object{Type: t}
	d.objs = append(d.objs, o)
	return o
}

func (d *decoder) value() (Value, error) {
	v, err := d.valueInner()
	if err != nil {
		return v, err
	}
	// An ArrayBufferView consumes the ArrayBuffer before it.
	if v.Kind == Ref && v.Obj.Type == ArrayBuffer {
		if t, err := d.peekTag(); err == nil && t == tArrayBufferVw {
			_, _ = d.tag()
			return d.view(v.Obj)
		}
	}
	return v, nil
}

func (d *decoder) view(buf *Object) (Value, error) {
	sub, err := d.byte()
	if err != nil {
		return Value{}, err
	}
	off, err := d.u32()
	if err != nil {
		return Value{}, err
	}
	ln, err := d.u32()
	if err != nil {
		return Value{}, err
	}
	flags, err := d.u32()
	if err != nil {
		return Value{}, err
	}
	size, ok := viewElemSize[sub]
	if !ok {
		return Value{}, fmt.Errorf("V8 value: unknown view type %q", sub)
	}
	if uint64(off)+uint64(ln) > uint64(len(buf.Bytes)) || off%size != 0 || ln%size != 0 {
		return Value{}, errors.New("V8 value: view out of its buffer's bounds")
	}
	o := d.newObj(ArrayBufferView)
	o.SubTag, o.Buffer, o.Offset, o.ByteLn, o.Flags = sub, buf, off, ln, flags
	return Value{Kind: Ref, Obj: o}, nil
}

func (d *decoder) valueInner() (Value, error) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > maxDecodeDepth {
		return Value{}, errors.New("V8 value: nested too deeply")
	}
	tag, err := d.tag()
	if err != nil {
		return Value{}, err
	}
	switch tag {
	case tVerifyCount:
		if _, err := d.varint(); err != nil {
			return Value{}, err
		}
		return d.valueInner()
	case tUndefined:
		return Value{Kind: Undefined}, nil
	case tNull:
		return Value{Kind: Null}, nil
	case tTrue:
		return Value{Kind: Bool, B: true}, nil
	case tFalse:
		return Value{Kind: Bool}, nil
	case tInt32:
		u, err := d.varint()
		if err != nil {
			return Value{}, err
		}
		return Value{Kind: Number, N: float64(int32(uint32(u>>1) ^ -uint32(u&1)))}, nil
	case tUint32:
		u, err := d.u32()
		return Value{Kind: Number, N: float64(u)}, err
	case tDouble:
		f, err := d.double()
		return Value{Kind: Number, N: f}, err
	case tBigInt:
		i, err := d.bigint()
		return Value{Kind: BigInt, I: i}, err
	case tOneByteString, tTwoByteString, tUTF8String:
		s, err := d.stringBody(tag)
		return Value{Kind: String, S: s}, err
	case tObjectRef:
		id, err := d.u32()
		if err != nil {
			return Value{}, err
		}
		if int(id) >= len(d.objs) {
			return Value{}, errors.New("V8 value: reference to an unknown object")
		}
		d.refs = true
		return Value{Kind: Ref, Obj: d.objs[id]}, nil
	case tBeginObject:
		o := d.newObj(PlainObject)
		if err := d.props(o, tEndObject); err != nil {
			return Value{}, err
		}
		if _, err := d.u32(); err != nil {
			return Value{}, err
		}
		return Value{Kind: Ref, Obj: o}, nil
	case tBeginSparse:
		o := d.newObj(SparseArray)
		ln, err := d.u32()
		if err != nil {
			return Value{}, err
		}
		o.Length = ln
		if err := d.props(o, tEndSparse); err != nil {
			return Value{}, err
		}
		if _, err := d.u32(); err != nil {
			return Value{}, err
		}
		if _, err := d.u32(); err != nil {
			return Value{}, err
		}
		return Value{Kind: Ref, Obj: o}, nil
	case tBeginDense:
		o := d.newObj(DenseArray)
		ln, err := d.u32()
		if err != nil {
			return Value{}, err
		}
		if ln > uint32(len(d.b)-d.pos) { // every element takes a byte
			return Value{}, errTruncated
		}
		o.Length = ln
		o.Elems = make([]Value, 0, ln)
		for i := uint32(0); i < ln; i++ {
			if t, err := d.peekTag(); err == nil && t == tHole {
				_, _ = d.tag()
				o.Elems = append(o.Elems, Value{Kind: Hole})
				continue
			}
			e, err := d.value()
			if err != nil {
				return Value{}, err
			}
			o.Elems = append(o.Elems, e)
		}
		if err := d.props(o, tEndDense); err != nil {
			return Value{}, err
		}
		if _, err := d.u32(); err != nil {
			return Value{}, err
		}
		if _, err := d.u32(); err != nil {
			return Value{}, err
		}
		return Value{Kind: Ref, Obj: o}, nil
	case tDate:
		o := d.newObj(Date)
		f, err := d.double()
		o.N = f
		return Value{Kind: Ref, Obj: o}, err
	case tTrueObject, tFalseObject:
		o := d.newObj(BooleanObject)
		o.B = tag == tTrueObject
		return Value{Kind: Ref, Obj: o}, nil
	case tNumberObject:
		o := d.newObj(NumberObject)
		f, err := d.double()
		o.N = f
		return Value{Kind: Ref, Obj: o}, err
	case tBigIntObject:
		o := d.newObj(BigIntObject)
		i, err := d.bigint()
		o.I = i
		return Value{Kind: Ref, Obj: o}, err
	case tStringObject:
		o := d.newObj(StringObject)
		s, err := d.str()
		o.S = s
		return Value{Kind: Ref, Obj: o}, err
	case tRegExp:
		o := d.newObj(RegExp)
		s, err := d.str()
		if err != nil {
			return Value{}, err
		}
		o.S = s
		o.Flags, err = d.u32()
		return Value{Kind: Ref, Obj: o}, err
	case tBeginMap, tBeginSet:
		t, end := Map, byte(tEndMap)
		if tag == tBeginSet {
			t, end = Set, tEndSet
		}
		o := d.newObj(t)
		for {
			n, err := d.peekTag()
			if err != nil {
				return Value{}, err
			}
			if n == end {
				_, _ = d.tag()
				break
			}
			v, err := d.value()
			if err != nil {
				return Value{}, err
			}
			o.Items = append(o.Items, v)
		}
		if _, err := d.u32(); err != nil {
			return Value{}, err
		}
		if t == Map && len(o.Items)%2 != 0 {
			return Value{}, errors.New("V8 value: a Map with an odd number of items")
		}
		return Value{Kind: Ref, Obj: o}, nil
	case tArrayBuffer, tResizableAB:
		o := d.newObj(ArrayBuffer)
		n, err := d.u32()
		if err != nil {
			return Value{}, err
		}
		if tag == tResizableAB {
			if o.MaxLen, err = d.u32(); err != nil {
				return Value{}, err
			}
		}
		r, err := d.raw(uint64(n))
		if err != nil {
			return Value{}, err
		}
		o.Bytes = append([]byte{}, r...)
		return Value{Kind: Ref, Obj: o}, nil
	case tHostObject: // Node: typed arrays and Buffers
		idx, err := d.u32()
		if err != nil {
			return Value{}, err
		}
		if int(idx) >= len(nodeViewTypes) {
			return Value{}, fmt.Errorf("%w: Node host object %d", ErrUnsupported, idx)
		}
		n, err := d.u32()
		if err != nil {
			return Value{}, err
		}
		r, err := d.raw(uint64(n))
		if err != nil {
			return Value{}, err
		}
		d.host = true
		sub := nodeViewTypes[idx]
		if n%viewElemSize[sub] != 0 {
			return Value{}, errors.New("V8 value: typed array length is not a multiple of its element size")
		}
		// The host object has one id; its buffer none (it is not shared).
		o := d.newObj(ArrayBufferView)
		o.SubTag, o.ByteLn = sub, n
		o.Buffer = &Object{Type: ArrayBuffer, Bytes: append([]byte{}, r...)}
		return Value{Kind: Ref, Obj: o}, nil
	case tError:
		o := d.newObj(Error)
		for {
			t, err := d.byte()
			if err != nil {
				return Value{}, err
			}
			switch t {
			case 'E', 'R', 'F', 'S', 'T', 'U':
				o.ErrProto = t
			case 'm':
				s, err := d.str()
				if err != nil {
					return Value{}, err
				}
				o.Message = &s
			case 's':
				s, err := d.str()
				if err != nil {
					return Value{}, err
				}
				o.Stack = &s
			case 'c':
				c, err := d.value()
				if err != nil {
					return Value{}, err
				}
				o.Cause = &c
			case '.':
				return Value{Kind: Ref, Obj: o}, nil
			default:
				return Value{}, fmt.Errorf("V8 value: unknown error tag %q", t)
			}
		}
	}
	return Value{}, fmt.Errorf("%w: tag %q", ErrUnsupported, tag)
}

// props reads key/value pairs up to the end tag.
func (d *decoder) props(o *Object, end byte) error {
	for {
		t, err := d.peekTag()
		if err != nil {
			return err
		}
		if t == end {
			_, _ = d.tag()
			return nil
		}
		k, err := d.value()
		if err != nil {
			return err
		}
		if k.Kind != String && k.Kind != Number {
			return errors.New("V8 value: a property key is not a string or number")
		}
		v, err := d.value()
		if err != nil {
			return err
		}
		o.Props = append(o.Props, Prop{Key: k, Val: v})
		if len(o.Props) > maxDecodeLength {
			return errors.New("V8 value: too many properties")
		}
	}
}

// EncodeV8 serializes v in V8's format version 15, which both clients
// read (Deno 2.9 writes 16, which Node 20 cannot read): typed arrays as
// ArrayBuffer + view, as Deno writes them (Node reads those too), repeated
// references as references.
func EncodeV8(v Value) []byte {
	e := &encoder{b: []byte{tVersion, writeVersion}, ids: map[*Object]uint32{}}
	e.value(v)
	return e.b
}

type encoder struct {
	b   []byte
	ids map[*Object]uint32
	n   uint32
}

func (e *encoder) varint(v uint64) {
	e.b = binary.AppendUvarint(e.b, v)
}

func (e *encoder) double(f float64) {
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(f))
}

func (e *encoder) bigintBody(i *big.Int) {
	mag := new(big.Int).Abs(i).Bytes()
	n := (len(mag) + 7) / 8 * 8
	bf := uint64(n) << 1
	if i.Sign() < 0 {
		bf |= 1
	}
	e.varint(bf)
	le := make([]byte, n)
	for k := range mag {
		le[k] = mag[len(mag)-1-k]
	}
	e.b = append(e.b, le...)
}

func (e *encoder) str(s []uint16) {
	one := true
	for _, c := range s {
		if c > 0xff {
			one = false
			break
		}
	}
	if one {
		e.b = append(e.b, tOneByteString)
		e.varint(uint64(len(s)))
		for _, c := range s {
			e.b = append(e.b, byte(c))
		}
		return
	}
	n := uint64(len(s) * 2)
	// V8 aligns two-byte string data on an even offset.
	if (len(e.b)+1+varintLen(n))&1 != 0 {
		e.b = append(e.b, tPadding)
	}
	e.b = append(e.b, tTwoByteString)
	e.varint(n)
	for _, c := range s {
		e.b = binary.LittleEndian.AppendUint16(e.b, c)
	}
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (e *encoder) number(f float64) {
	if f == math.Trunc(f) && f >= -(1<<30) && f < 1<<30 && !(f == 0 && math.Signbit(f)) {
		e.b = append(e.b, tInt32)
		i := int32(f)
		e.varint(uint64(uint32(i<<1) ^ uint32(i>>31)))
		return
	}
	e.b = append(e.b, tDouble)
	e.double(f)
}

func (e *encoder) value(v Value) {
	switch v.Kind {
	case Undefined:
		e.b = append(e.b, tUndefined)
	case Null:
		e.b = append(e.b, tNull)
	case Bool:
		if v.B {
			e.b = append(e.b, tTrue)
		} else {
			e.b = append(e.b, tFalse)
		}
	case Number:
		e.number(v.N)
	case BigInt:
		e.b = append(e.b, tBigInt)
		e.bigintBody(v.I)
	case String:
		e.str(v.S)
	case Hole:
		e.b = append(e.b, tHole)
	case Ref:
		e.object(v.Obj)
	}
}

func (e *encoder) object(o *Object) {
	if id, ok := e.ids[o]; ok {
		e.b = append(e.b, tObjectRef)
		e.varint(uint64(id))
		return
	}
	if o.Type == ArrayBufferView {
		// The buffer is written (and numbered) first, then the view.
		e.object(o.Buffer)
		e.ids[o] = e.n
		e.n++
		e.b = append(e.b, tArrayBufferVw, o.SubTag)
		e.varint(uint64(o.Offset))
		e.varint(uint64(o.ByteLn))
		e.varint(uint64(o.Flags))
		return
	}
	e.ids[o] = e.n
	e.n++
	switch o.Type {
	case PlainObject:
		e.b = append(e.b, tBeginObject)
		e.props(o.Props)
		e.b = append(e.b, tEndObject)
		e.varint(uint64(len(o.Props)))
	case DenseArray:
		e.b = append(e.b, tBeginDense)
		e.varint(uint64(o.Length))
		for _, el := range o.Elems {
			e.value(el)
		}
		e.props(o.Props)
		e.b = append(e.b, tEndDense)
		e.varint(uint64(len(o.Props)))
		e.varint(uint64(o.Length))
	case SparseArray:
		e.b = append(e.b, tBeginSparse)
		e.varint(uint64(o.Length))
		e.props(o.Props)
		e.b = append(e.b, tEndSparse)
		e.varint(uint64(len(o.Props)))
		e.varint(uint64(o.Length))
	case Date:
		e.b = append(e.b, tDate)
		e.double(o.N)
	case RegExp:
		e.b = append(e.b, tRegExp)
		e.str(o.S)
		e.varint(uint64(o.Flags))
	case Map, Set:
		begin, end, n := byte(tBeginMap), byte(tEndMap), len(o.Items)
		if o.Type == Set {
			begin, end = tBeginSet, tEndSet
		}
		e.b = append(e.b, begin)
		for _, it := range o.Items {
			e.value(it)
		}
		e.b = append(e.b, end)
		e.varint(uint64(n))
	case ArrayBuffer:
		if o.MaxLen > 0 {
			e.b = append(e.b, tResizableAB)
			e.varint(uint64(len(o.Bytes)))
			e.varint(uint64(o.MaxLen))
		} else {
			e.b = append(e.b, tArrayBuffer)
			e.varint(uint64(len(o.Bytes)))
		}
		e.b = append(e.b, o.Bytes...)
	case BooleanObject:
		if o.B {
			e.b = append(e.b, tTrueObject)
		} else {
			e.b = append(e.b, tFalseObject)
		}
	case NumberObject:
		e.b = append(e.b, tNumberObject)
		e.double(o.N)
	case BigIntObject:
		e.b = append(e.b, tBigIntObject)
		e.bigintBody(o.I)
	case StringObject:
		e.b = append(e.b, tStringObject)
		e.str(o.S)
	case Error:
		e.b = append(e.b, tError)
		if o.ErrProto != 0 {
			e.b = append(e.b, o.ErrProto)
		}
		if o.Message != nil {
			e.b = append(e.b, 'm')
			e.str(*o.Message)
		}
		if o.Stack != nil {
			e.b = append(e.b, 's')
			e.str(*o.Stack)
		}
		if o.Cause != nil {
			e.b = append(e.b, 'c')
			e.value(*o.Cause)
		}
		e.b = append(e.b, '.')
	}
}

func (e *encoder) props(ps []Prop) {
	for _, p := range ps {
		e.value(p.Key)
		e.value(p.Val)
	}
}
