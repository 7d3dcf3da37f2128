package changes

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"time"
)

// DecodeAfter fills the struct dst points to from the after image. It
// returns ErrNoImage when the event has none (a delete, a tombstone).
func (e *Event) DecodeAfter(dst any) error { return decodeImage(e.After, dst) }

// DecodeBefore fills the struct dst points to from the before image. It
// returns ErrNoImage when the event has none.
func (e *Event) DecodeBefore(dst any) error { return decodeImage(e.Before, dst) }

// DecodeKey fills the struct dst points to from the record key. It
// returns ErrNoImage for a table without a primary key.
func (e *Event) DecodeKey(dst any) error { return decodeImage(e.Key, dst) }

// DecodeValue fills dst from the value of a KindOther record: a record
// value as DecodeInto does, a JSON value (an outbox event's json or jsonb
// payload) with json.Unmarshal into dst, any other value into the value
// dst points to by DecodeInto's rules. It returns ErrNoImage when the
// event has no such value (changes and tombstones).
func (e *Event) DecodeValue(dst any) error {
	switch v := e.Value.(type) {
	case nil:
		return ErrNoImage
	case map[string]any:
		return DecodeInto(v, dst)
	case json.RawMessage:
		return json.Unmarshal(v, dst)
	default:
		rv := reflect.ValueOf(dst)
		if rv.Kind() != reflect.Pointer || rv.IsNil() {
			return fmt.Errorf("%w: DecodeValue needs a non-nil pointer, got %T", ErrConfig, dst)
		}
		if err := assign(rv.Elem(), v); err != nil {
			return &FieldError{Field: rv.Elem().Type().String(), Column: "value", Value: fmt.Sprintf("%T", v), Err: err}
		}
		return nil
	}
}

func decodeImage(img map[string]any, dst any) error {
	if img == nil {
		return ErrNoImage
	}
	return DecodeInto(img, dst)
}

// DecodeInto fills the struct dst points to from a row image (Event.Key,
// Before or After, or a record Value).
//
// A field takes the column named by its tag `change:"name"`; without a
// tag, the column whose name equals the field's name ignoring case and
// underscores (field CustomerID takes column customer_id). `change:"-"`
// skips the field. Columns without a field are ignored; fields without a
// column are left as they are. Embedded structs' fields are promoted as
// in encoding/json.
//
// A value goes into a field of its own Go type (the package doc lists
// them), of type any, or one of these:
//
//   - NULL sets the field's zero value (a nil pointer).
//   - Unavailable leaves the field as it was: decode onto the previous
//     state of the row to keep an unchanged TOASTed value.
//   - A pointer field gets a new value, decoded by these rules.
//   - Integers go into any integer or float field they fit; floats into
//     float fields.
//   - *big.Rat (decimals) into *big.Rat or big.Rat; into a string as its
//     exact decimal text (or a fraction a/b when it has none); into
//     float32 or float64 as the nearest float; into a type implementing
//     encoding.TextUnmarshaler (a decimal library's type) from that text.
//   - time.Time into time.Time; Infinity into Infinity only (a time.Time
//     cannot hold it: use a field of type any to accept both).
//   - json.RawMessage into json.RawMessage, []byte or string, or into any
//     other type with json.Unmarshal (a struct, a map, a slice).
//   - A string into a string kind, []byte, or a TextUnmarshaler
//     (uuid.UUID, netip.Addr, ...).
//   - An array into a slice, element by element.
//
// Anything else is a *FieldError; the fields before it are already set.
func DecodeInto(img map[string]any, dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("%w: DecodeInto needs a non-nil pointer to a struct, got %T", ErrConfig, dst)
	}
	st := rv.Elem()
	plan := planFor(st.Type())
	for col, v := range img {
		f, ok := plan.byTag[col]
		if !ok {
			f, ok = plan.byName[normalize(col)]
		}
		if !ok {
			continue
		}
		fv, err := st.FieldByIndexErr(f.index)
		if err != nil {
			// A nil embedded pointer: allocate the path.
			fv = fieldAlloc(st, f.index)
		}
		if err := assign(fv, v); err != nil {
			return &FieldError{Field: f.name, Column: col, Value: fmt.Sprintf("%T", v), Err: err}
		}
	}
	return nil
}

func fieldAlloc(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

type fieldPlan struct {
	name  string
	index []int
}

type structPlan struct {
	byTag  map[string]fieldPlan
	byName map[string]fieldPlan
}

var plans sync.Map // reflect.Type -> *structPlan

func planFor(t reflect.Type) *structPlan {
	if p, ok := plans.Load(t); ok {
		return p.(*structPlan)
	}
	p := &structPlan{byTag: map[string]fieldPlan{}, byName: map[string]fieldPlan{}}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("change") == "" {
			continue
		}
		tag := f.Tag.Get("change")
		if tag == "-" {
			continue
		}
		fp := fieldPlan{name: f.Name, index: f.Index}
		if tag != "" {
			p.byTag[tag] = fp
			continue
		}
		if _, dup := p.byName[normalize(f.Name)]; !dup || len(f.Index) == 1 {
			p.byName[normalize(f.Name)] = fp
		}
	}
	plans.Store(t, p)
	return p
}

func normalize(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }

var (
	ratType    = reflect.TypeFor[*big.Rat]()
	timeType   = reflect.TypeFor[time.Time]()
	textType   = reflect.TypeFor[encoding.TextUnmarshaler]()
	rawType    = reflect.TypeFor[json.RawMessage]()
	errNoFit   = errors.New("the field's type cannot hold this value")
	errOverflw = errors.New("the value overflows the field")
)

func assign(fv reflect.Value, v any) error {
	if v == Unavailable {
		return nil
	}
	if v == nil {
		fv.SetZero()
		return nil
	}
	ft := fv.Type()
	vv := reflect.ValueOf(v)
	if vv.Type().AssignableTo(ft) {
		fv.Set(vv)
		return nil
	}
	if ft.Kind() == reflect.Pointer {
		nv := reflect.New(ft.Elem())
		if err := assign(nv.Elem(), v); err != nil {
			return err
		}
		fv.Set(nv)
		return nil
	}
	switch x := v.(type) {
	case int8, int16, int32, int64:
		i := vv.Int()
		switch ft.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			if fv.OverflowInt(i) {
				return errOverflw
			}
			fv.SetInt(i)
			return nil
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if i < 0 || fv.OverflowUint(uint64(i)) {
				return errOverflw
			}
			fv.SetUint(uint64(i))
			return nil
		case reflect.Float32, reflect.Float64:
			fv.SetFloat(float64(i))
			return nil
		}
	case float32, float64:
		if ft.Kind() == reflect.Float32 || ft.Kind() == reflect.Float64 {
			fv.SetFloat(vv.Float())
			return nil
		}
	case *big.Rat:
		if ft == ratType.Elem() {
			fv.Set(reflect.ValueOf(*new(big.Rat).Set(x)))
			return nil
		}
		switch ft.Kind() {
		case reflect.Float32, reflect.Float64:
			f, _ := x.Float64()
			if ft.Kind() == reflect.Float32 && math.Abs(f) > math.MaxFloat32 {
				return errOverflw
			}
			fv.SetFloat(f)
			return nil
		case reflect.String:
			fv.SetString(RatString(x))
			return nil
		}
		if reflect.PointerTo(ft).Implements(textType) {
			return fv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(RatString(x)))
		}
	case json.RawMessage:
		switch {
		case ft.Kind() == reflect.String:
			fv.SetString(string(x))
			return nil
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Uint8:
			fv.SetBytes(append([]byte(nil), x...))
			return nil
		}
		return json.Unmarshal(x, fv.Addr().Interface())
	case string:
		if reflect.PointerTo(ft).Implements(textType) {
			return fv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(x))
		}
		switch {
		case ft.Kind() == reflect.String:
			fv.SetString(x)
			return nil
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Uint8:
			fv.SetBytes([]byte(x))
			return nil
		}
	case []byte:
		if ft.Kind() == reflect.String {
			fv.SetString(string(x))
			return nil
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Uint8 {
			fv.SetBytes(x)
			return nil
		}
	case []any:
		if ft.Kind() == reflect.Slice && ft != rawType {
			s := reflect.MakeSlice(ft, len(x), len(x))
			for i, e := range x {
				if err := assign(s.Index(i), e); err != nil {
					return fmt.Errorf("element %d: %w", i, err)
				}
			}
			fv.Set(s)
			return nil
		}
	case Infinity:
		if ft == timeType {
			return fmt.Errorf("%w: %s has no time.Time; declare the field as any to receive changes.Infinity", errNoFit, x)
		}
	case time.Duration:
		if ft.Kind() == reflect.Int64 {
			fv.SetInt(int64(x))
			return nil
		}
	}
	return fmt.Errorf("%w (%s)", errNoFit, ft)
}

// RatString formats a decimal as its exact decimal text ("19.99",
// "-0.005", "12"), or as the fraction "a/b" when it has no finite decimal
// expansion (never the case for decoded Decimal columns).
func RatString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	// The denominator of a decoded decimal is a power of ten after
	// reduction only when it is 2^a·5^b; find the digits needed.
	d := new(big.Int).Set(r.Denom())
	digits := 0
	two, five, ten := big.NewInt(2), big.NewInt(5), big.NewInt(10)
	rem := new(big.Int)
	for d.Cmp(big.NewInt(1)) != 0 {
		switch {
		case rem.Mod(d, ten).Sign() == 0:
			d.Div(d, ten)
		case rem.Mod(d, two).Sign() == 0:
			d.Div(d, two)
		case rem.Mod(d, five).Sign() == 0:
			d.Div(d, five)
		default:
			return r.String()
		}
		digits++
	}
	return r.FloatString(digits)
}
